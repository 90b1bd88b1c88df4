"""Every byte a client sends is kept: unfinished messages, the heads of refused ones, XEXCH50
blobs, over-long lines, input left unread at a close or behind STARTTLS (smtp.fragment), while
the persona answers exactly as before."""

from __future__ import annotations

import hashlib

import pytest

from relaypot.events import Command, Fragment, Violation
from relaypot.protocol.outputs import Keep, StartTls
from relaypot.protocol.voice import MAX_FRAGMENTS
from support import Driver, make_session

ENVELOPE = b"EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\n"
PAYLOAD = b"Subject: () { :; }; /bin/sh -c 'id'\r\nX-Payload: ${run{/bin/sh -c id}}\r\n\r\nbody line\r\n"


def fragments(driver: Driver) -> list[Fragment]:
    return [e for e in driver.events if isinstance(e, Fragment)]


@pytest.mark.parametrize("persona", ["postfix", "exchange2000"])
@pytest.mark.parametrize("end", ["peer_closed", "timeout", "shutdown"])
def test_a_message_the_client_never_finished_is_kept_whole(persona, end):
    driver = Driver(make_session(persona, "mail.example.com")).feed(ENVELOPE + b"DATA\r\n" + PAYLOAD)
    if end == "timeout":
        driver.take(driver.session.timed_out())
    elif end == "shutdown":
        driver.take(driver.session.shutdown())
    driver.finish(end)
    [kept] = driver.kept
    assert kept.data == PAYLOAD and kept.received == len(PAYLOAD)
    [fragment] = fragments(driver)
    assert (fragment.what, fragment.reason, fragment.size) == ("message", end, len(PAYLOAD))
    assert fragment.mail_from == "a@example.org" and fragment.rcpt_to == ("b@example.com",)
    assert not [e for e in driver.events if e.kind == "smtp.message"]  # never counted as a message
    assert driver.events[-1].messages == 0


def test_bdat_chunks_already_answered_and_the_chunk_in_flight_are_kept_with_their_commands():
    driver = Driver(make_session("postfix")).feed(ENVELOPE + b"BDAT 3\r\nabcBDAT 10 LAST\r\nde")
    assert driver.codes()[-1] == 250  # the first chunk was answered
    driver.finish()
    [fragment] = fragments(driver)
    assert driver.kept[0].data == b"abcde" and (fragment.what, fragment.received) == ("message", 5)
    bdats = [e for e in driver.events if isinstance(e, Command) and e.verb == "BDAT"]
    assert [(c.argument, c.reply_code) for c in bdats] == [("3", 250), ("10 LAST", 0)]  # unanswered: 0


def test_an_xexch50_blob_is_kept_up_to_the_cap_with_its_length():
    blob = bytes(range(256)) * 4
    driver = Driver(make_session("exchange2000", max_fragment=100)).feed(
        ENVELOPE + b"XEXCH50 1024 2\r\n" + blob + b"NOOP\r\n")
    assert driver.codes()[-2:] == [250, 250]  # the blob's and NOOP's replies, as before
    [fragment] = fragments(driver)
    assert driver.kept[0].data == blob[:100]
    assert (fragment.what, fragment.reason, fragment.size, fragment.received) == ("xexch50", "complete", 100, 1024)


@pytest.mark.parametrize("persona", ["postfix", "exchange2000"])
def test_an_over_long_line_keeps_its_head_its_length_and_the_hash_of_all_of_it(persona):
    line = b"EHLO " + b"A" * 9000 + b"\r\n"
    driver = Driver(make_session(persona, max_fragment=1000)).feed(line + b"NOOP\r\n")
    [fragment] = fragments(driver)
    assert driver.kept[0].data == line[:1000]
    assert (fragment.what, fragment.reason, fragment.received) == ("line", "too_long", len(line))
    assert fragment.received_sha256 == hashlib.sha256(line).hexdigest()
    assert any(isinstance(e, Violation) and e.violation == "line_too_long" for e in driver.events)
    [command] = [e for e in driver.events if isinstance(e, Command) and e.raw_line.startswith(b"EHLO A")]
    assert line.startswith(command.raw_line) and len(command.raw_line) >= 2048  # its head, for every persona


def test_a_line_the_connection_ended_in_is_kept_too():
    driver = Driver(make_session("exchange2000", max_fragment=64)).feed(b"EHLO " + b"B" * 6000)
    driver.feed(b"B" * 3000).finish()
    [fragment] = fragments(driver)
    assert (fragment.what, fragment.reason, fragment.received, fragment.size) == ("line", "peer_closed", 9005, 64)


def test_a_message_refused_for_its_size_keeps_its_head():
    body = b"Subject: big\r\n\r\n" + b"x" * 5000 + b"\r\n"
    driver = Driver(make_session("postfix", message={"size_limit": 1000}, max_fragment=200)).feed(
        ENVELOPE + b"DATA\r\n" + body + b".\r\nQUIT\r\n")
    assert 552 in driver.codes()
    [fragment] = fragments(driver)
    assert driver.kept[0].data == body[:200]
    assert (fragment.what, fragment.reason, fragment.received) == ("oversize", "limit_message_size", len(body))


def test_what_was_pipelined_behind_a_hang_up_is_kept():
    driver = Driver(make_session("postfix")).feed(b"GET / HTTP/1.0\r\nHost: mail.example.com\r\n\r\n")
    assert driver.closed == "forbidden"
    driver.finish()
    [fragment] = fragments(driver)
    assert driver.kept[0].data == b"Host: mail.example.com\r\n\r\n"
    assert (fragment.what, fragment.reason) == ("unread", "forbidden")


def test_commands_injected_behind_starttls_are_kept_whenever_they_arrive():
    session = make_session("postfix", tls=True)
    session.start()
    out = session.receive_data(b"EHLO x\r\nSTARTTLS\r\nMAIL FROM:<evil@example.org>\r\n")
    assert any(isinstance(o, StartTls) for o in out)
    assert [o.data for o in out if isinstance(o, Keep)] == [b"MAIL FROM:<evil@example.org>\r\n"]
    session.receive_data(b"RCPT TO:<late@example.org>\r\n")  # arrives while the handshake is under way
    out = session.tls_started("TLSv1.3", "TLS_AES_256_GCM_SHA384", None)
    [late] = [o for o in out if isinstance(o, Keep)]
    assert (late.data, late.what, late.reason) == (b"RCPT TO:<late@example.org>\r\n", "unread", "starttls")
    assert [o.violation for o in out if isinstance(o, Violation)] == ["starttls_injection"]


def test_fragments_per_session_are_bounded_and_the_rest_counted():
    lines = b"".join(b"NOOP " + b"C" * 5000 + b"\r\n" for _ in range(MAX_FRAGMENTS + 5))
    driver = Driver(make_session("exchange2000")).feed(lines)
    assert len(driver.kept) == MAX_FRAGMENTS
    assert [e.violation for e in driver.events if isinstance(e, Violation)].count("limit_fragments") == 1


def test_an_ordinary_conversation_keeps_nothing():
    driver = Driver(make_session("postfix")).feed(ENVELOPE + b"DATA\r\nSubject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n")
    driver.finish()
    assert driver.kept == []
