"""A close with the client's input unread is a reset (protocol/reads.py): where each real server's
reads leave off. The figures are the real servers' on this machine, measured with a client that
sends EHLO, waits for its reply, then sends one segment (a NOOP line of `lead` bytes where lead is
not 0, QUIT, and filler) and reads until the FIN or the reset; the largest segment answered with a
FIN is below (binary search, twice, the same each time). The differential test
(tests/personas/test_differential.py, PIPELINED_CLOSES) plays the same against the servers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaypot.protocol.outputs import Close, Reply
from relaypot.protocol.reads import BufferedReads
from support import make_session

# (persona, lead, the largest segment that still ends in a FIN)
MEASURED = [
    ("postfix", 0, 4096), ("postfix", 3000, 4096), ("postfix", 4200, 8192), ("postfix", 8200, 12288),
    ("sendmail", 0, 4096), ("sendmail", 3000, 4096), ("sendmail", 4200, 8192), ("sendmail", 8200, 12288),
    # 8191 read, then the daemon's drain of 17 x 128 bytes
    ("exim", 0, 10367), ("exim", 100, 10367), ("exim", 3000, 10367), ("exim", 8200, 18558),
    ("opensmtpd", 0, 65536),
]


def segment(lead: int, total: int) -> bytes:
    head = b"NOOP " + b"x" * (lead - 7) + b"\r\n" if lead else b""
    head += b"QUIT\r\n"
    return head + b"x" * (total - len(head))


def close_of(persona: str, data: bytes) -> tuple[Close, list[Reply]]:
    session = make_session(persona, relay="closed", client_ip="127.0.0.1")
    session.start()
    session.greet()  # a greet pause or set-up time passes
    session.receive_data(b"EHLO client.example.org\r\n")
    out = session.receive_data(data)
    closes = [item for item in out if isinstance(item, Close)]
    assert len(closes) == 1
    return closes[0], [item for item in out if isinstance(item, Reply)]


@pytest.mark.parametrize(("persona", "lead", "largest_fin"), MEASURED)
def test_a_close_is_a_reset_exactly_past_what_the_real_server_read(persona, lead, largest_fin):
    assert not close_of(persona, segment(lead, largest_fin))[0].reset
    assert close_of(persona, segment(lead, largest_fin + 1))[0].reset


def test_exims_quit_with_more_unread_than_it_drains_loses_its_corked_reply():
    """Measured: QUIT then 17,000 bytes, or a 3000-byte NOOP, QUIT and 8,200 more: the real Exim's
    250 and 221 never arrive (the reset drops the corked write); with less behind it they come
    at once, the 200 ms wait for a FIN cut short by the waiting input."""
    close, replies = close_of("exim", segment(0, 17006))
    assert close.reset and replies == []
    close, replies = close_of("exim", segment(3000, 11206))
    assert close.reset and replies == []
    close, replies = close_of("exim", segment(0, 9006))
    assert not close.reset and [r.data for r in replies] == [b"221 mail.example.com closing connection\r\n"]
    assert replies[0].delay == 0
    close, replies = close_of("exim", b"QUIT\r\n")
    assert not close.reset and replies[0].delay == 0.2  # nothing waits: the FIN is waited for


# Sendmail, an over-long line (MAXLINE 2048 checked on what sfgets() read) and what follows it in
# the same segment: (line bytes with its CR LF, what follows, the real server's close)
SENDMAIL_LINES = [
    (3000, b"NOOP\r\n" * 40, False), (4095, b"N", False), (4095, b"NOOP\r\n", True), (4096, b"N", True),
    (4097, b"NOOP\r\n" * 40, False), (8192, b"N", True), (8193, b"NOOP\r\n" * 40, False), (12286, b"N", False),
    (12286, b"NOOP\r\n", True), (12287, b"N", False), (12287, b"NOOP\r\n", True), (12288, b"N", True),
    (16000, b"N", True),
]


@pytest.mark.parametrize(("size", "after", "reset"), SENDMAIL_LINES)
def test_sendmails_close_after_an_over_long_line_is_a_reset_where_its_reads_left_input(size, after, reset):
    line = b"XYZZY " + b"y" * (size - 8) + b"\r\n"
    close, replies = close_of("sendmail", line + after)
    assert replies[-1].data.startswith(b"421 4.7.0 mail.example.com Command too long")
    assert close.reset is reset


@given(st.integers(1, 5000), st.lists(st.integers(1, 20000), min_size=1, max_size=6), st.data())
def test_the_modelled_reads_never_pass_what_arrived_and_cover_what_was_consumed(block, arrivals, data):
    reads = BufferedReads(block)
    consumed = 0
    for size in arrivals:
        reads.fed(size, reads.arrived - consumed)
        consumed = data.draw(st.integers(consumed, reads.arrived))
        left = reads.in_kernel(reads.arrived - consumed)
        assert consumed <= reads.pulled <= reads.arrived and left == reads.arrived - reads.pulled
    assert reads.reset_at_close(reads.arrived - consumed) == (reads.in_kernel(reads.arrived - consumed) > 0)
