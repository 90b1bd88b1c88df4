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


def ended(persona: str, lines: list[bytes]) -> tuple[object, Close]:
    """A session of `persona` driven line by line until it closes: (the session, its Close)."""
    session = make_session(persona, relay="closed", client_ip="127.0.0.1")
    session.start()
    session.greet()
    session.receive_data(b"HELO client.example.org\r\n")
    for line in lines:
        closes = [item for item in session.receive_data(line) if isinstance(item, Close)]
        if closes:
            return session, closes[0]
    raise AssertionError("the session did not close")


def test_what_comes_after_the_session_decided_to_close_is_never_read():
    """Measured from the real Postfix: past its 20th error it sleeps a second (the tar pit), says
    "421 4.7.0 ... too many errors" and closes without reading again; a lock-step client's next
    command, sent on the 20th error's reply, meets a reset after the 421 (whether it waits 0 ms or
    200 ms). Its Close is decided before that command comes: the session counts it unread."""
    session, close = ended("postfix", [b"XX\r\n"] * 25)
    assert not close.reset and not session.reset_at_close()
    session.receive_data(b"XX\r\n")  # the lock-step client's 21st command, behind the delayed 421
    assert session.reset_at_close()


def test_exims_drain_takes_what_came_after_the_decision_before_its_close():
    """The daemon's child reads 17 x 128 bytes before it exits: less than that is read (a FIN)."""
    session, close = ended("exim", [b"XX1\r\n", b"XX2\r\n", b"XX3\r\n", b"XX4\r\n"])
    assert close.lag == EXIM_CLOSE_LAG and not close.reset
    session.receive_data(b"x" * 2176)
    assert not session.reset_at_close()
    session.receive_data(b"x")
    assert session.reset_at_close()


# Measured from the real Exim on loopback (a client of its own process sends RSET this many ms
# after "500 Too many unrecognized commands" reached it; R a reset, E a FIN; six tries each):
# 0: RRRRRR  0.1: RRRRRR  0.2: RRRRER  0.3: RRRRRE  0.35: RRRRRE  0.4: REEEEE  0.5: EEEEEE  1: EEEEEE
# The child drains, exits and its socket closes 0.35 ms after the reply; bytes within are unread.
EXIM_CLOSE_LAG = 0.00035


def test_exims_closes_come_a_moment_after_their_reply_but_a_corked_quit_leaves_with_its_close():
    _, close = ended("exim", [b"NOOP\r\n"] * 3 + [b"MAIL FROM:<\r\n"] * 4)
    assert close.lag == EXIM_CLOSE_LAG
    session = make_session("exim", relay="closed", client_ip="127.0.0.1")
    session.start()
    session.greet()
    out = session.receive_data(b"QUIT\r\n")
    close = next(item for item in out if isinstance(item, Close))
    quit_reply = next(item for item in out if isinstance(item, Reply))
    assert close.lag == 0 and quit_reply.corked and quit_reply.delay == 0.2
    postfix = make_session("postfix", relay="closed", client_ip="127.0.0.1")
    postfix.start()
    assert next(item for item in postfix.receive_data(b"QUIT\r\n") if isinstance(item, Close)).lag == 0


def test_sendmails_close_inside_a_message_comes_a_millisecond_after_its_reply():
    """Measured from the real Sendmail (from 127.0.0.2): "421 4.5.0 Bare carriage return (CR) not
    allowed" reached the client 0.8 to 1.2 ms before the FIN (five tries); a QUIT sent 0.5 ms after
    it met a reset (5 of 5), 2 ms after a FIN (4 of 5); "421 4.7.0 ... Too many bad commands"
    between commands: the FIN 20 us on, a FIN at once (25 of 25)."""
    session = make_session("sendmail", relay="closed", client_ip="127.0.0.2")
    session.start()
    session.greet()
    session.receive_data(b"HELO client.example.org\r\n")
    session.receive_data(b"MAIL FROM:<a@client.example.org>\r\nRCPT TO:<postmaster@mail.example.com>\r\n")
    session.receive_data(b"DATA\r\n")
    out = session.receive_data(b"Subject: x\r\n\r\nbody\r\n.\r\r\n")
    assert [item.lag for item in out if isinstance(item, Close)] == [0.001]
    _, between = ended("sendmail", [b"XX\r\n"] * 30)
    assert between.lag == 0
