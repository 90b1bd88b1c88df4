"""The postfix persona counts a message as Postfix's cleanup writes it to its queue file, the size
message_size_limit bounds: each conversation of tests/reference/queue_files.py, captured with the
queue file the real Postfix 3.7.11 wrote for it (tests/reference/postfix/queue-files.json), is
played through the persona's session, and the queue file it counts must be the real one's size
to the byte (the queue id, the arrival time and the ports as the real server had them)."""

from __future__ import annotations

import json
import random
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaypot.personas import model
from relaypot.protocol import postfix_queue_file as queue_file
from relaypot.protocol.listener import ListenerContext
from relaypot.protocol.logins import LoginPolicy
from relaypot.protocol.postfix_queue_file import LINE_LIMIT, QueueFileSize, line_records, record_size
from relaypot.protocol.session import Session
from support import REFERENCE, Driver, make_session

CAPTURED = json.loads((REFERENCE / "postfix" / "queue-files.json").read_text())
sys.path.insert(0, str(REFERENCE))
try:
    import queue_files
    from probes import filler
finally:
    sys.path.remove(str(REFERENCE))


def counted(case: dict) -> tuple[int, list[int]]:
    """The queue file's size as the persona's session counts it for `case`, and its replies."""
    seconds, micros = case["arrival"]
    context = ListenerContext(model.load("postfix"), "mail.example.com", "mail.example.com", tls_available=True,
                              clock=lambda: seconds + micros / 1_000_000, rng=random.Random(0),
                              logins=LoginPolicy(("user:secret",)))
    commands = case["commands"]
    tls = "STARTTLS" in commands
    if tls:  # the session after the handshake: what follows STARTTLS
        commands = commands[commands.index("STARTTLS") + 1 :]
    session = Session(context, "127.0.0.1", case["client_port"], "127.0.0.1", case["server_port"],
                      f"127.0.0.1:{case['server_port']}", relay="closed", tls_active=tls)
    driver = Driver(session)
    for command in commands:
        driver.feed(command.encode() + b"\r\n")
    message = queue_files.message_of(case)
    driver.feed(b"DATA\r\n" if case["how"] == "data" else b"BDAT %d LAST\r\n" % len(message))
    envelope = session.intake.queue_envelope
    assert envelope is not None, driver.replies
    envelope.queue_id = case["queue_id"]
    count = QueueFileSize(envelope, unstuff=case["how"] == "data")
    count.feed(message)
    return count.total(), driver.codes()


@pytest.mark.parametrize("case", CAPTURED, ids=[case["name"] for case in CAPTURED])
def test_the_persona_counts_the_queue_file_the_real_postfix_wrote(case):
    size, codes = counted(case)
    assert codes[-1] in (250, 354)  # the message was started, as with the real server
    assert size == case["size"], [(kind, length) for kind, length, _ in case["records"]]


def test_line_records_are_the_pieces_the_real_postfix_wrote():
    """line_pieces: lines of 126 to 128 bytes (the length's second byte), 2047 to 2049 (a piece of
    2048 without its line end, a CR that ends a piece taking the LF), 5000 and 20000 (several
    pieces): each line's records as line_records() counts them, and as the real server wrote them."""
    case = next(case for case in CAPTURED if case["name"] == "line_pieces")
    lines = queue_files.message_of(case).split(b"\r\n\r\n", 1)[1].split(b"\n")[:-1]
    lengths = [length for kind, length, _ in case["records"] if kind in "NL"]
    body = lengths[lengths.index(0, 3) + 1 :]  # after the blank line that ends the headers
    assert body[:4] == [126, 127, 128, 2047]
    assert sum(record_size(length) for length in body) == sum(
        line_records(len(line), len(line) - len(line.rstrip(b"\r")), False, True) for line in lines)


@given(st.integers(0, 5 * LINE_LIMIT), st.integers(0, 3), st.booleans())
def test_a_line_costs_at_least_its_text_and_a_record_header(length, crs, stuffed):
    crs = min(crs, length)
    cost = line_records(length, crs, stuffed and length > crs, True)
    text = length - crs - (stuffed and length > crs)
    pieces = max(1, -(-(length + 1) // LINE_LIMIT))
    assert text + 2 * pieces <= cost <= text + 3 * pieces + 1


@pytest.mark.slow
def test_the_stored_queue_files_are_what_the_real_postfix_writes():
    """The real Postfix run again: each case's queue file has the records stored (their kinds and,
    times, ids and ports aside, their lengths), and the persona counts its size."""
    from postfix_server import PostfixServer

    with PostfixServer() as server:
        fresh = queue_files.capture(server)
    assert [case["name"] for case in fresh] == [case["name"] for case in CAPTURED]
    for old, new in zip(CAPTURED, fresh):
        assert [kind for kind, *_ in new["records"]] == [kind for kind, *_ in old["records"]], new["name"]
        assert counted(new)[0] == new["size"], new["name"]


MESSAGES = [queue_files.message_of(case) for case in CAPTURED]


@given(st.sampled_from(MESSAGES + [b"Subject: x\r\n\r\n" + b"\r" * 70 + b"\r\n.." + b"y" * 3000 + b"\r\r\n"]),
       st.lists(st.integers(1, 4000), max_size=12), st.booleans())
def test_a_message_fed_in_pieces_counts_as_one_fed_whole(message, cuts, unstuff):
    """The intake feeds what it drops past its bound, then the rest: any cut gives the same size."""
    envelope = queue_file.Envelope("mail.example.com", "a@b", [queue_file.Recipient("c@d")], local=True)
    whole = QueueFileSize(envelope, unstuff)
    whole.feed(message)
    pieces = QueueFileSize(envelope, unstuff)
    start = 0
    for cut in cuts:
        pieces.feed(message, start, min(len(message), start + cut))
        start = min(len(message), start + cut)
    pieces.feed(message, start)
    assert (pieces.total(), pieces.saved) == (whole.total(), whole.saved)


@pytest.mark.parametrize(("size", "line", "code"), [(10_235_000, 1000, 552), (10_226_000, 1000, 250),
                                                    (10_239_400, 78, 552), (10_238_300, 78, 250)])
def test_a_message_past_the_operators_bound_is_still_judged_by_the_queue_file(size, line, code):
    """With [limits] max_message_size under Postfix's limit the body is dropped as it comes, counted
    as dropped: the reply is still the real server's (tests/reference/postfix/queue_file.json)."""
    session = make_session("postfix", client_ip="127.0.0.1", max_message_size=1024 * 1024)
    driver = Driver(session)
    for command in (b"EHLO client.example.org", b"MAIL FROM:<a@client.example.org>",
                    b"RCPT TO:<postmaster@mail.example.com>", b"DATA"):
        driver.feed(command + b"\r\n")
    body = filler("x", size, line=line) + b".\r\n"
    for start in range(0, len(body), 65536):
        driver.feed(body[start : start + 65536])
    assert driver.codes()[-1] == code


LINES = st.sampled_from([b"\n", b"\r\n", b"From x\n", b">From y\r\n", b".\n", b"..\r\n", b" z\n", b"X: y\r\n",
                         b"Bcc: q\r\n", b"x" * 130 + b"\r\n", b"y" * 2048 + b"\r\r\n", b"\r" * 40 + b"\n"])


@given(st.lists(LINES, max_size=60), st.booleans(), st.integers(1, 3000), st.booleans())
def test_a_message_said_to_fit_surely_fits(lines, unstuff, sender_length, bdat_tail):
    """fits_surely() spares the count for a message far below the limit: never for one that would
    not fit (bare LFs double, From_ lines grow by 16, cleanup adds headers, the From: a long
    sender; a BDAT message may end without a line end)."""
    message = b"".join(lines) + (b"x" if bdat_tail else b"")
    envelope = queue_file.Envelope("mail.example.com", "a" * sender_length + "@b", [queue_file.Recipient("c@d")],
                                   local=True)
    count = QueueFileSize(envelope, unstuff)
    count.feed(message)
    assert not queue_file.fits_surely(envelope, len(message), count.total() - 1)
