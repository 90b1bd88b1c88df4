"""Exim's readings, pure: the command table, MAIL/RCPT/VRFY arguments, HELO names, the message
size BDAT reports, and the three counters. The expected values are the real Exim 4.96's answers
on this machine (tests/exim_server.py), each as it replied; the differential test
(tests/personas/test_differential.py) checks the same against the running server."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaypot.personas import model
from relaypot.protocol.accounting import ProtocolCounters
from relaypot.protocol.data import exim_message_size
from relaypot.protocol.exim_envelope import bdat_argument as exim_bdat_argument
from relaypot.protocol.exim_envelope import extract_address, read_mail, read_rcpt, read_vrfy, restricted, strtoul_size
from relaypot.protocol.lines import read_line
from relaypot.protocol.states import between_chunks, exim_helo_ok
from support import Driver, make_session

EXIM = model.load("exim")

# BDAT <n> LAST with these bytes: Exim's "250- n byte chunk, total T" (captured)
TOTALS = [(b"abc", 6), (b"a\nb\n", 7), (b"a\nb", 7), (b"Subject: x\r\n\r\nb", 17), (b"Subject: x\r\nb\r\n", 16),
          (b"\r\n", 2), (b"From x\r\n", 9), (b"x\r\n", 4), (b"x\r\n\r\n", 6), (b"Subject: x\r\n", 12),
          (b"a\rb\r\n", 7), (b"Subject x\r\n", 12), (b".\r\n", 4), (b"\r\nabc", 7), (b"", 2)]


@pytest.mark.parametrize(("body", "total"), TOTALS)
def test_the_size_bdat_reports_is_exims(body, total):
    assert exim_message_size(body) == total


# MAIL FROM arguments and the real server's reply (after "MAIL FROM:", EHLO given)
MAIL = [
    ("<alice@example.org>", "250 OK"),
    ("alice@example.org", "250 OK"),
    ("<>", "250 OK"),
    ("<a@b> FOO=BAR", "501 <a@b> FOO=BAR: malformed address: FOO=BAR may not follow <a@b> "),
    ("a+tag@MAIL.EXAMPLE.COM SIZE=1_000", "250 OK"),  # a SIZE that is no number is cut off, not put back
    ("<<a%b>> FOO=BAR BODY SIZE=1_000", "501 <<a%b>> FOO=BAR BODY: missing or malformed local part"),
    ("<@route.example:> SIZE RET RET=bogus", "501 <@route.example:>: missing or malformed local part"),
    ("abuse@MAIL.EXAMPLE.COM> ENVID ENVID= SIZE=10240001",
     "501 abuse@MAIL.EXAMPLE.COM> ENVID: malformed address: > ENVID may not follow abuse@MAIL.EXAMPLE.COM"),
    ("<root> RET=FULL", "501 <root>: sender address must contain a domain"),  # RET: DSN is not offered, ignored
    ("<alice@example.org> SIZE=99999999999", "552 Message size exceeds maximum permitted"),
    ("root", "501 root: sender address must contain a domain"),
    ("<a@[192.0.2.1]>", "501 <a@[192.0.2.1]>: domain literals not allowed"),
    ("<a", '501 <a: "@" or "." expected after "a"'),
    ("a b", '501 a b: missing or malformed local part (expected word or "<")'),
]


def reply(read, command: str) -> str:
    if not read.refusal:
        return "250 OK" if command == "mail" else "250 Accepted"
    template = EXIM.replies[read.refusal]
    return template.render({"argument": read.argument, "reason": read.reason})[0]


@pytest.mark.parametrize(("argument", "expected"), MAIL)
def test_mail_is_read_as_exim_reads_it(argument, expected):
    assert reply(read_mail(argument, True, EXIM.message.size_limit), "mail") == expected


def test_after_helo_no_option_is_read():
    """fl.esmtp is off after HELO: the whole argument is the address (the real server's reply)."""
    assert reply(read_mail("<root> RET=FULL", False, EXIM.message.size_limit), "mail") == (
        "501 <root> RET=FULL: malformed address: RET=FULL may not follow <root> ")


def test_rcpt_puts_a_bare_option_back_behind_an_equals_sign():
    """smtp_in.c restores name[-1] then value[-1], the same byte, for an option with no "=": the
    real server's "malformed address: =FOO may not follow <a@b>"."""
    read = read_rcpt("<a@b> FOO", True, "mail.example.com")
    assert reply(read, "rcpt") == "501 <a@b>=FOO: malformed address: =FOO may not follow <a@b>"


def test_only_postmaster_may_come_without_a_domain():
    assert read_rcpt("<Postmaster>", True, "mail.example.com").address == "Postmaster@mail.example.com"
    assert reply(read_rcpt("<root>", True, "mail.example.com"), "rcpt") == (
        "501 <root>: recipient address must contain a domain")
    assert read_vrfy("", "mail.example.com").reason == "empty address"


def test_debian_refuses_local_parts_that_route_or_run_things():
    assert restricted("a%b", local=True) and restricted(".a", local=True) and restricted("a/b", local=True)
    assert not restricted("a/b", local=False) and restricted("a/../b", local=False) and restricted("|x", local=False)
    assert not restricted("a.b+tag", local=True)


@given(st.text(max_size=80))
def test_any_argument_is_read_without_an_error_escaping(text):
    address, reason, _ = extract_address(text, True)
    assert (address is None) == bool(reason)
    read_mail(text, True, 52428800)
    read_rcpt(text, True, "mail.example.com")


@given(st.from_regex(r"[a-z0-9]{1,12}(\.[a-z0-9]{1,12}){0,2}", fullmatch=True),
       st.from_regex(r"[a-z0-9]{1,12}(\.[a-z0-9]{1,12}){1,3}", fullmatch=True))
def test_a_plain_address_in_brackets_is_itself(local, domain):
    assert extract_address(f"<{local}@{domain}>", False) == (f"{local}@{domain}", "", True)


@pytest.mark.parametrize(("name", "ok"), [
    ("client.example.org", True), ("user-3i39rqqo1r", True), ("[127.0.0.1]", True), ("[IPv6:::1]", True),
    ("127.0.0.1", True), ("-bad-.example", True), ("a_b.example", False), ("a b", False), ("[300.1.1.1]", False),
    ("[IPv4:::1]", False), ("jöhn", False)])
def test_helo_names_as_check_helo_takes_them(name, ok):
    assert exim_helo_ok(name) is ok


@pytest.mark.parametrize(("line", "verb", "refusal", "argument"), [
    (b"MAIL FROM: <a@b>", "MAIL", "", "<a@b>"),
    (b"mail from:<a@b>  \t", "MAIL", "", "<a@b>"),
    (b"MAIL alice@example.org", "", "", "MAIL alice@example.org"),  # "mail from:" is the verb
    (b"MAIL FROM :<a@b>", "", "", "MAIL FROM :<a@b>"),
    (b"NOOPX", "", "", "NOOPX"),
    (b"HELO\tfoo", "", "", "HELO\tfoo"),  # only a space may follow a verb
    (b"RSET x", "RSET", "command.unexpected_argument", "x"),
    (b"QUIT x", "QUIT", "command.unexpected_argument", "x"),
    (b"NOOP\x00x", "", "command.nul", "NOOP\x00x"),
    (b"noop anything", "NOOP", "", "anything"),
])
def test_the_command_table_is_exims(line, verb, refusal, argument):
    _, got_refusal, got_verb, _, got_argument, forbidden = read_line(line, EXIM.lines)
    assert (got_verb, got_refusal, got_argument, forbidden) == (verb, refusal, argument, False)


def test_the_counters_end_a_session_one_past_each_limit():
    counters = ProtocolCounters(EXIM.errors)
    assert [counters.protocol_error() for _ in range(4)] == [False, False, False, True]
    assert [counters.unknown_command() for _ in range(4)] == [False, False, False, True]
    counters = ProtocolCounters(EXIM.errors)
    assert not counters.nonmail_command("EHLO")  # the first greeting is free
    assert [counters.nonmail_command("NOOP") for _ in range(11)] == [False] * 10 + [True]
    counters = ProtocolCounters(EXIM.errors)
    assert not counters.nonmail_command("HELO") and counters.nonmail_command("EHLO") is False
    assert counters.nonmail == 1  # the second greeting counts


@pytest.mark.parametrize(("chunking", "line", "key"), [
    ("open", b"BDAT 3", None), ("open", b"BDAT 0 LAST", None), ("open", b"BDAT 0", "bdat.zero_size"),
    ("open", b"BDAT x", ""), ("open", b"NOOP", "noop.ok"), ("open", b"RSET", ""), ("open", b"QUIT", "quit.ok"),
    ("open", b"MAIL FROM:<a@b>", "bdat.only_bdat"), ("open", b"RSET x", "bdat.only_bdat"),
    ("rset", b"NOOP", "bdat.only_rset"), ("rset", b"QUIT", "quit.ok"), ("rset", b"BDAT 3", "bdat.only_rset")])
def test_between_bdat_chunks_exim_takes_only_bdat_noop_or_quit(chunking, line, key):
    """The real server's replies between chunks (RSET, or a BDAT without a size, crash it)."""
    _, refusal, verb, _, argument, _ = read_line(line, EXIM.lines)
    assert between_chunks(chunking, verb, refusal, argument) == key


def test_a_size_is_ascii_digits_as_strtoul_reads_them():
    assert strtoul_size("+52428800") == 52428800 and strtoul_size("-1") == 2**31 - 1
    assert strtoul_size("\u0661\u0662") is None and strtoul_size("1_000") is None


def _exim_replies(wire: bytes) -> list[bytes]:
    from support import Driver, make_session

    driver = Driver(make_session("exim", relay="closed")).feed(b"EHLO client.example.org\r\n")
    driver.feed(wire)
    return [reply.data for reply in driver.replies[2:]]


def test_a_flood_of_bad_recipients_meets_debians_acl_as_on_the_real_exim():
    """Captured (pipelined, 2026-12-06): ten unknown recipients are "Unrouteable", from the
    eleventh on, with fewer than half accepted, "Rejected for too many bad recipients"; a local
    postmaster is accepted before that check, a local user is not; DATA then has a recipient."""
    rcpts = [b"RCPT TO:<u%d@mail.example.com>\r\n" % n for n in range(12)] + [
        b"RCPT TO:<Postmaster@mail.example.com>\r\n", b"RCPT TO:<root@mail.example.com>\r\n",
        b"RCPT TO:<victim@example.net>\r\n", b"RCPT TO:<u99@mail.example.com>\r\n"]
    bad = b"550 Rejected for too many bad recipients\r\n"
    assert _exim_replies(b"MAIL FROM:<a@client.example.org>\r\n" + b"".join(rcpts) + b"DATA\r\n") == [
        b"250 OK\r\n", *[b"550 Unrouteable address\r\n"] * 10, bad, bad, b"250 Accepted\r\n", bad, bad, bad,
        b'354 Enter message, ending with "." on a line by itself\r\n']


def test_data_after_recipients_pipelined_behind_a_refused_sender_is_no_protocol_error():
    """smtp_in.c's last_was_rcpt: a RCPT answered "sender not yet given" behind a refused MAIL of
    a pipelining client was a RCPT still, so DATA says "Valid RCPT command" (no protocol error);
    without the refused MAIL the RCPT is a protocol error, and DATA says "valid" (captured)."""
    intro = b"503-All RCPT commands were rejected with this error:\r\n503-503 sender not yet given\r\n"
    assert _exim_replies(b"MAIL FROM:<;sleep 66;>\r\nRCPT TO:<root>\r\nDATA\r\n") == [
        b"501 <;sleep 66;>: missing or malformed local part\r\n", b"503 sender not yet given\r\n",
        intro + b"503 Valid RCPT command must precede DATA\r\n"]
    assert _exim_replies(b"RCPT TO:<root>\r\nDATA\r\n") == [
        b"503 sender not yet given\r\n", intro + b"503 valid RCPT command must precede DATA\r\n"]


@pytest.mark.parametrize("unknown", [b"RCPT TO :<postmaster@mail.example.com>",
                                     b"RCPT  TO:<postmaster@mail.example.com>", b"RCPTX"])
def test_an_unrecognized_command_spelled_like_rcpt_is_no_rcpt_for_data(unknown):
    """The command table matches "rcpt to:" by prefix: "RCPT TO :" is "500 unrecognized command",
    after which DATA's refusal is the lower-case one, last_was_rcpt being false (captured:
    tests/reference/exim/spellings.json recipient_3 and recipient_4)."""
    driver = Driver(make_session("exim", relay="closed")).feed(b"EHLO client.example.org\r\n")
    for line in (b"MAIL FROM:<a@client.example.org>", unknown, b"DATA"):
        driver.feed(line + b"\r\n")  # each waited for: no synchronization error
    assert [reply.data for reply in driver.replies[2:]] == [
        b"250 OK\r\n", b"500 unrecognized command\r\n", b"503 valid RCPT command must precede DATA\r\n"]


def test_the_1001st_mail_of_a_connection_is_refused_and_the_session_goes_on():
    """smtp_accept_max_per_connection (1000): captured from the real Exim (2026-12-07), 1000
    messages in one connection, then MAIL "421 too many messages in this connection", RCPT "503
    sender not yet given", NOOP, MAIL 421 again, RSET, QUIT: the session is not ended by the 421."""
    driver = Driver(make_session("exim", relay="closed")).feed(b"EHLO client.example.org\r\n")
    for _ in range(1000):
        driver.feed(b"MAIL FROM:<a@client.example.org>\r\n").feed(b"RCPT TO:<postmaster@mail.example.com>\r\n")
        driver.feed(b"DATA\r\n").feed(b"Subject: x\r\n\r\nbody\r\n.\r\n")
    assert [reply.code for reply in driver.replies[-4:]] == [250, 250, 354, 250]
    start = len(driver.replies)
    for line in (b"MAIL FROM:<a@client.example.org>", b"RCPT TO:<postmaster@mail.example.com>", b"NOOP",
                 b"MAIL FROM:<a@client.example.org>", b"RSET", b"QUIT"):
        driver.feed(line + b"\r\n")
    assert [reply.data for reply in driver.replies[start:]] == [
        b"421 too many messages in this connection\r\n", b"503 sender not yet given\r\n", b"250 OK\r\n",
        b"421 too many messages in this connection\r\n", b"250 Reset OK\r\n",
        b"221 mail.example.com closing connection\r\n"]


def test_a_bdat_without_its_size_is_a_protocol_error():
    """smtp_in.c BDAT_CMD: "501 missing size for BDAT command" is a synprot_error(), so the next
    error past the three is the session's last (captured from the real Exim, plain and with TLS
    and AUTH; the differential test found it)."""
    for persona in ("exim", "exim-tls-auth"):
        driver = Driver(make_session(persona, relay="closed"))
        for line in (b"DATA", b"STARTTLS", b"EHLO client.example.org", b"BDAT", b"abcQUIT"):
            driver.feed(line + b"\r\n")
        replies = [reply.data for reply in driver.replies[1:]]
        assert replies[:2] + replies[3:] == [
            b"503 valid RCPT command must precede DATA\r\n", b"503 STARTTLS command used when not advertised\r\n",
            b"501 missing size for BDAT command\r\n",
            b"500-unrecognized command\r\n500 Too many syntax or protocol errors\r\n"], persona
        assert driver.closed


@pytest.mark.parametrize(("sent", "replies"), [
    # captured from the real Exim 4.96 after EHLO, each piece sent at once (2026-12-07): a BDAT
    # refused for its size leaves pipe_connect_acceptable on, so an unknown command with input
    # behind it is no synchronization error; a BDAT past its size check turns it off
    (b"BDAT\r\nabc\r\nNOOP\r\n", [b"501 missing size for BDAT command\r\n500 unrecognized command\r\n250 OK\r\n"]),
    (b"BDAT x\r\nabc\r\nNOOP\r\n", [b"501 missing size for BDAT command\r\n500 unrecognized command\r\n250 OK\r\n"]),
    (b"BDAT 0\r\nabc\r\nNOOP\r\n", [b"503 valid RCPT command must precede BDAT\r\n554 SMTP synchronization error\r\n"]),
    (b"DATA\r\nabc\r\nNOOP\r\n", [b"503 valid RCPT command must precede DATA\r\n554 SMTP synchronization error\r\n"]),
])
def test_a_bdat_refused_for_its_size_does_not_start_exims_synchronization_checks(sent, replies):
    driver = Driver(make_session("exim", relay="closed"))
    driver.feed(b"EHLO client.example.org\r\n")
    start = len(driver.replies)
    driver.feed(sent)
    assert [b"".join(reply.data for reply in driver.replies[start:])] == replies


@pytest.mark.parametrize(("wire", "replies"), [
    (b"x" * 16384 + b"\r\n", 2), (b"x" * 16385 + b"\r\n", 2), (b"NOOP " + b"a" * 20000 + b"\r\n", 2),
    (b"a" * 16384 + b"NOOP\r\n", 2), (b"MAIL FROM:<" + b"a" * 17000 + b"@x.org>\r\n", 2), (b"y" * 16383 + b"\r\n", 1),
])
def test_a_line_past_exims_command_buffer_is_cut_where_the_buffer_filled(wire, replies):
    """Captured from the real Exim 4.96 after EHLO (2026-12-06): smtp_read_command returns once
    16384 bytes are read and one more comes that is no LF (that byte lost), an unrecognised
    command; the rest of the line is read as the next one (NOOP's "OOP" is unrecognised too)."""
    assert _exim_replies(wire) == [b"500 unrecognized command\r\n"] * replies


def test_a_65536_byte_line_is_four_commands_and_the_fourth_ends_the_session():
    """Captured: 16385 bytes a command, so the fourth is Exim's fourth unrecognised command, "500
    Too many unrecognized commands", and the close; the QUIT behind it is never read."""
    from support import Driver, make_session

    driver = Driver(make_session("exim", relay="closed")).feed(b"EHLO client.example.org\r\n")
    driver.feed(b"x" * 65536 + b"\r\nQUIT\r\n")
    assert [reply.data for reply in driver.replies[2:]] == [b"500 unrecognized command\r\n"] * 3 + [
        b"500 Too many unrecognized commands\r\n"]
    assert driver.closed is not None


def _bdat(body: bytes, last: bool = True) -> bytes:
    return b"BDAT %d%s\r\n" % (len(body), b" LAST" if last else b"") + body


ENVELOPE = b"MAIL FROM:<a@example.org>\r\nRCPT TO:<postmaster@mail.example.com>\r\n"
NOT_CRLF = b"552 Message header not CRLF terminated\r\n"


@pytest.mark.parametrize(("steps", "expected"), [
    ([_bdat(b"Subject: x\n\nbody\n")], [NOT_CRLF]),
    ([_bdat(b"Subject: x\r\n\r\nbody\n")], [b"250- 19 byte chunk, total 20\r\n250 OK id=ID\r\n"]),
    ([_bdat(b"hello\n")], [b"250- 6 byte chunk, total 8\r\n250 OK id=ID\r\n"]),
    ([_bdat(b"\nbody\n")], [b"250- 6 byte chunk, total 8\r\n250 OK id=ID\r\n"]),
    ([_bdat(b"Subject: x\r\nX: y\n\r\nbody\r\n")], [b"250- 25 byte chunk, total 26\r\n250 OK id=ID\r\n"]),
    ([_bdat(b"Subject: x\nX: y\r\n", False), _bdat(b"\r\nbody\r\n")],
     [NOT_CRLF, b"503 valid RCPT command must precede BDAT\r\n"]),
    ([_bdat(b"Subject: x\n", False), _bdat(b"X: y\r\n\r\nbody\r\n")], [b"250 11 byte chunk received\r\n", NOT_CRLF]),
    ([_bdat(b"Subject: x\n y\r\n\r\nb\r\n")], [NOT_CRLF]),
    ([_bdat(b"From someone\n\r\nb\r\n")], [b"250- 18 byte chunk, total 20\r\n250 OK id=ID\r\n"]),
    ([_bdat(b"Subject: x\n\nbody\n"), b"MAIL FROM:<b@example.org>\r\n"], [NOT_CRLF, b"250 OK\r\n"]),
])
def test_a_first_header_line_ended_by_a_bare_lf_is_refused_under_chunking_as_by_the_real_exim(steps, expected):
    """Captured from the real Exim 4.96 (2026-12-06), each BDAT sent after the last reply:
    receive.c refuses a message sent by BDAT whose first line ends with a bare LF and is a header,
    at the chunk that brings the byte after that header (it looks for a continuation), and
    forgets the transaction; a CRLF first line, a blank one or one that is no header is taken.
    DATA takes them all."""
    from support import Driver, make_session

    driver = Driver(make_session("exim", relay="closed")).feed(b"EHLO client.example.org\r\n" + ENVELOPE)
    seen = []
    for step in steps:
        before = len(driver.replies)
        driver.feed(step)
        seen.append(b"".join(reply.data for reply in driver.replies[before:]))
    assert [re.sub(rb"id=\S+", b"id=ID", said) for said in seen] == expected
    if expected[0] == NOT_CRLF:
        assert any(kept.reason == "header_not_crlf" for kept in driver.kept)  # refused, and kept


@given(st.binary(max_size=80), st.integers(0, 80))
def test_the_chunked_header_verdict_is_the_same_however_the_message_is_cut(message, cut):
    """Whatever the chunks, a verdict once known does not change as more of the message comes."""
    from relaypot.protocol.content import chunked_header_refused

    whole = chunked_header_refused(message, True)
    assert whole in (True, False)
    early = chunked_header_refused(message[:cut], False)
    assert early is None or early == whole


@pytest.mark.parametrize(("option", "answer"), [
    # measured from the real Exim 4.96: the 501 echoing a 16260-byte option is 16383 bytes, written;
    # one byte more and smtp_vprintf() cannot write it: "421 Unexpected error", and smtp_closedown()
    (b"X=" + b"y" * 16260, b"501 <a@client.example.org> X="),
    (b"X=" + b"y" * 16261, b"421 Unexpected error\r\n"),
])
def test_a_reply_past_exims_buffer_is_never_written(option, answer):
    driver = Driver(make_session("exim", relay="closed"))
    driver.feed(b"EHLO client.example.org\r\n")
    driver.feed(b"MAIL FROM:<a@client.example.org> " + option + b"\r\n")
    reply = driver.replies[-1].data
    assert reply.startswith(answer)
    if answer.startswith(b"501"):
        assert len(reply) == 16383 and driver.closed is None
        return
    assert [e.violation for e in driver.of("smtp.violation")] == ["reply_too_long"]
    # smtp_closedown(): every command the 421 again, RSET its 250, QUIT the end
    replies = []
    for line in (b"NOOP", b"MAIL FROM:<a@client.example.org>", b"rset", b"QUIT"):
        driver.feed(line + b"\r\n")
        replies.append(driver.replies[-1].data)
    assert replies == [b"421 Unexpected error\r\n", b"421 Unexpected error\r\n", b"250 Reset OK\r\n",
                       b"221 mail.example.com closing connection\r\n"]
    assert driver.closed == "quit"


@pytest.mark.parametrize(("early", "answer"), [
    # measured from the real Exim 4.96 (a client that writes as soon as it connects): banner and
    # replies in one segment, 203.6 ms on where QUIT's corked 221 is among them
    (b"QUIT\r\n", [b"221 mail.example.com closing connection\r\n"]),
    (b"NOOP\r\nQUIT\r\n", [b"250 OK\r\n221 mail.example.com closing connection\r\n"]),
    (b"EHLO client.example.org\r\n", [b"250-mail.example.com Hello client.example.org [192.0.2.10]\r\n"]),
])
def test_input_during_exims_set_up_is_answered_behind_the_banner_not_refused(early, answer):
    session = make_session("exim", relay="closed")
    opening = session.start()
    assert [type(item).__name__ for item in opening] == ["GreetPause"]  # the set-up time
    out = session.receive_data(early)
    replies = [item for item in out if type(item).__name__ == "Reply"]
    assert replies[0].data.startswith(b"220 mail.example.com ESMTP Exim 4.96 ")
    assert b"".join(r.data for r in replies[1:]).startswith(answer[0])
    assert not session.rejecting and not [e for e in out if getattr(e, "violation", "") == "early_talker"]
    if early.endswith(b"QUIT\r\n"):
        # one write: the transport joins the replies before a delayed one (the corked 221) to it
        assert replies[-1].delay == EXIM.server.quit_delay and all(r.delay == 0 for r in replies[:-1])
    assert session.greet() == []  # the set-up time's end says nothing more


@pytest.mark.parametrize(("argument", "read"), [
    # sscanf("%u %n") and strcmpic(rest, "LAST"), as the real Exim answered each (measured: the
    # chunk "abc" then NOOP after MAIL and RCPT; a chunk of 4294967295 bytes waits for them)
    ("3 LAST", (3, True)), ("3  LAST", (3, True)), ("3\t LAST", (3, True)), ("3LAST", (3, True)),
    ("3 last", (3, True)), ("00003 LAST", (3, True)), ("3 x", (3, False)), ("3 LAST x", (3, False)),
    ("3 LASTX", (3, False)), ("+3", (3, False)), ("0x3", (0, False)), ("-1", (4294967295, False)),
    ("4294967296", (0, False)), ("18446744073709551616", (4294967295, False)), ("", (None, False)),
    ("x", (None, False)),
])
def test_a_bdat_size_is_read_as_sscanf_reads_it(argument, read):
    assert exim_bdat_argument(argument) == read


def test_a_bdat_refused_for_the_transaction_is_answered_before_its_chunk():
    """Measured: `BDAT 18446744073709551616` (4294967295 bytes) without MAIL gets its 503 at once;
    the chunk that follows is dropped as it comes."""
    driver = Driver(make_session("exim", relay="closed")).feed(b"EHLO client.example.org\r\n")
    driver.feed(b"BDAT 100\r\n")
    assert driver.replies[-1].data == b"503 valid RCPT command must precede BDAT\r\n"
    assert driver.of("smtp.command")[-1].reply_code == 503
    driver.feed(b"x" * 100 + b"NOOP\r\n")
    assert [r.data for r in driver.replies[-2:]] == [b"503 valid RCPT command must precede BDAT\r\n", b"250 OK\r\n"]


def test_a_size_of_any_length_saturates_as_strtoul_does_and_never_raises():
    """SIZE= with 5,000 digits (past Python's 4300-digit int() guard; Exim's line takes 16,384
    bytes): strtoul() saturates it, so it is refused as 99999999999 is, not an internal error."""
    for digits in ("9" * 11, "9" * 5000, "0" * 5000 + "1"):
        driver = Driver(make_session("exim", relay="closed")).feed(b"EHLO client.example.org\r\n")
        driver.feed(b"MAIL FROM:<alice@example.org> SIZE=" + digits.encode() + b"\r\n")
        assert "internal_error" not in [v.violation for v in driver.of("smtp.violation")]
        expected = b"250 OK\r\n" if digits.endswith("01") else b"552 Message size exceeds maximum permitted\r\n"
        assert driver.replies[-1].data == expected
    assert exim_bdat_argument("9" * 5000) == (4294967295, False)
