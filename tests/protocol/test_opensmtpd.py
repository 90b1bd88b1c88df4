"""OpenSMTPD's readings, pure: the command line (smtp_command) and the MAIL and RCPT paths
(smtp_mailaddr and the option loops), against OpenSMTPD 6.8.0p2's smtp_session.c and util.c and
the real server's replies on this machine (tests/opensmtpd_server.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaypot.personas import model
from relaypot.protocol.lines import read_line
from relaypot.protocol.opensmtpd_envelope import read_mail, read_rcpt, valid_domainpart, valid_localpart

OPENSMTPD = model.load("opensmtpd")


@pytest.mark.parametrize(("line", "verb", "refusal", "argument"), [
    (b"MAIL FROM:<a@b>", "MAIL", "", "<a@b>"),
    (b"mail from: <a@b>", "MAIL", "", "<a@b>"),
    (b"MAIL alice@example.org", "", "", "MAIL alice@example.org"),  # "MAIL" is no command
    (b"NOOP ", "NOOP", "command.unexpected_argument", ""),  # an empty argument is one
    (b"HELP MAIL", "HELP", "command.unexpected_argument", "MAIL"),
    (b"RSET x", "RSET", "command.unexpected_argument", "x"),
    (b"EHLO ", "EHLO", "", " "),  # smtp_check_ehlo gets "", which is no domain
    (b"EHLO", "EHLO", "", ""),
    (b"WIZ", "WIZ", "command.wiz", ""),
    (b"NOOP\r", "", "", "NOOP\r"),  # one CR is the line end's, another is the command's
    (b"NOOP\x00x", "NOOP", "", ""),  # a C string
    (b"N" * 2048, "", "command.too_long", "N" * 64),
])
def test_the_command_line_is_read_as_smtp_command_reads_it(line, verb, refusal, argument):
    _, got_refusal, got_verb, _, got_argument, _ = read_line(line, OPENSMTPD.lines)
    assert (got_verb, got_refusal, got_argument) == (verb, refusal, argument)


@pytest.mark.parametrize(("argument", "refusal", "address"), [
    ("<alice@example.org>", "", "alice@example.org"),
    ("<>", "", ""),
    ("<@>", "", ""),  # text_to_mailaddr's empty user and domain: a null sender
    ("alice@example.org", "mail.bad_address", ""),  # no <>: 553
    ("<alice@example.org> SIZE=99999999999", "", "alice@example.org"),  # taken, not checked
    ("<root>", "", "root@mail.example.com"),  # the server's name
    ("<@route.example:a@b.example>", "", "a@b.example"),
    ("<a b@c.example>", "mail.bad_address", ""),
    ("<a@-c.example>", "mail.bad_address", ""),
    ("<a@c.example.>", "mail.bad_address", ""),
    ("<a@[192.0.2.1]>", "", "a@[192.0.2.1]"),
    ("<a@[300.1.1.1]>", "mail.bad_address", ""),
    ("<a@b.example> FOO=BAR", "mail.unsupported_option", "a@b.example"),
    ("<a@b.example> BODY=BINARYMIME", "mail.unsupported_option", "a@b.example"),
])
def test_mail_from_as_smtp_mailaddr_reads_it(argument, refusal, address):
    read = read_mail(argument, True, "mail.example.com")
    assert (read.refusal, read.address) == (refusal, address)


def test_dsn_options_only_where_the_listener_has_dsn():
    assert read_mail("<a@b.example> RET=HDRS", True, "h").refusal == ""
    assert read_mail("<a@b.example> RET=HDRS", False, "h").refusal == "mail.unsupported_option"
    assert read_rcpt("<a@b.example> NOTIFY=NEVER,SUCCESS", True, "h").refusal == "rcpt.bad_notify"
    assert read_rcpt("<a@b.example> ORCPT=rfc822;x..y", True, "h").refusal == "rcpt.bad_orcpt"
    assert read_rcpt("<a@b.example> FOO", True, "h").option == "FOO"


def test_local_parts_and_domains():
    assert valid_localpart("a.b+c=d") and not valid_localpart("a..b") and not valid_localpart('"a b"')
    assert valid_domainpart("a_b.example") and not valid_domainpart("a" * 64 + ".example")
    assert valid_domainpart("[IPv6:::1]") and not valid_domainpart("[1.2.3.4]x")


@pytest.mark.parametrize(("name", "taken"), [
    # the real OpenSMTPD on Debian 12 (glibc 2.36's res_hnok), as an EHLO name and the domain of
    # MAIL and RCPT, 2026-12-07 (tests/reference/opensmtpd/helo_names.json and the cases here)
    ("bad-.example.org", True), ("-bad.example.org", False), ("a.-b.example", True), ("_a.example", True),
    ("a-.b-", True), ("a\\065b.example", True), ("a\\.b.example", False), ("a\\", False), ("a..b.example", False),
    ("example.org.", False), ("x" * 63 + ".org", True), ("x" * 64 + ".org", False),
    (("x" * 63 + ".") * 3 + "x" * 60, True), (("x" * 63 + ".") * 3 + "x" * 62, False),  # 255 bytes on the wire
])
def test_a_domain_is_what_glibcs_res_hnok_takes(name, taken):
    assert valid_domainpart(name) is taken


@given(st.text(max_size=80))
def test_any_argument_is_read_without_an_error_escaping(text):
    read_mail(text, True, "mail.example.com")
    read_rcpt(text, True, "mail.example.com")


def test_a_mail_after_a_hundred_messages_is_refused_and_the_session_goes_on():
    """session max-mails (100): captured from the real OpenSMTPD 6.8.0p2 (2026-12-07), 100
    messages in one session, then each MAIL "452 4.5.3 Too many recipients: Too many messages
    sent", its address unread (`MAIL FROM:<bad` too), RCPT refused for want of a transaction, RSET,
    NOOP and QUIT answered as ever."""
    from support import Driver, make_session

    driver = Driver(make_session("opensmtpd", relay="closed")).feed(b"EHLO client.example.org\r\n")
    for _ in range(100):
        for line in (b"MAIL FROM:<a@client.example.org>", b"RCPT TO:<postmaster@mail.example.com>", b"DATA",
                     b"Subject: x\r\n\r\nbody\r\n."):
            driver.feed(line + b"\r\n")
    assert driver.replies[-1].data.endswith(b" Message accepted for delivery\r\n")
    start = len(driver.replies)
    for line in (b"MAIL FROM:<a@client.example.org>", b"MAIL FROM:<bad", b"RCPT TO:<postmaster@mail.example.com>",
                 b"RSET", b"MAIL FROM:<>", b"NOOP", b"QUIT"):
        driver.feed(line + b"\r\n")
    too_many = b"452 4.5.3 Too many recipients: Too many messages sent\r\n"
    assert [reply.data for reply in driver.replies[start:]] == [
        too_many, too_many, b"503 5.5.1 Invalid command: Command not allowed at this point.\r\n",
        b"250 2.0.0 Reset state\r\n", too_many, b"250 2.0.0 Ok\r\n", b"221 2.0.0 Bye\r\n"]


LINE_TOO_LONG = b"500 5.0.0 Line too long\r\n"


def _session(**limits):
    from support import make_session

    return make_session("opensmtpd", relay="closed", **limits)


def _in_data(**limits):
    """A session at its 354, each command in a read of its own (OpenSMTPD takes no pipelining)."""
    from support import Driver

    driver = Driver(_session(**limits))
    for line in (b"EHLO client.example.org", b"MAIL FROM:<a@client.example.org>",
                 b"RCPT TO:<postmaster@mail.example.com>", b"DATA"):
        driver.feed(line + b"\r\n")
    assert driver.replies[-1].code == 354
    return driver


@pytest.mark.parametrize("max_line_length", [32768, 100_000])  # relaypot's own bound under SMTP_LINE_MAX, or over
@pytest.mark.parametrize(("length", "reply"), [(2047, b"500 5.5.4 Invalid command arguments: command does not "
                                                      b"accept arguments.\r\n"),
                                               (2048, b"500 5.0.0 Command line too long\r\n"),
                                               (65533, b"500 5.0.0 Command line too long\r\n"),
                                               (65534, LINE_TOO_LONG), (70000, LINE_TOO_LONG)])
def test_a_command_line_at_smtp_line_max_is_line_too_long(max_line_length, length, reply):
    """smtp_io(): SMTP_LINE_MAX (65535) bytes before the LF, its CR counted, whatever relaypot's
    own [limits] max_line_length (captured: tests/reference/opensmtpd/line_lengths.json)."""
    from support import Driver

    driver = Driver(_session(max_line_length=max_line_length)).feed(b"EHLO client.example.org\r\n")
    driver.feed(b"NOOP " + b"x" * (length - 5) + b"\r\n")
    assert driver.replies[2].data == reply
    assert (driver.closed is not None) == (length >= 2048)


@pytest.mark.parametrize("max_line_length", [32768, 100_000])
def test_a_line_not_yet_ended_is_answered_once_smtp_line_max_bytes_are_in(max_line_length):
    """The real server said "Line too long" before the line's end was sent (command_unended_70000):
    on the read that brings the 65535th byte, not before; what came is kept as the line."""
    from support import Driver

    driver = Driver(_session(max_line_length=max_line_length)).feed(b"EHLO client.example.org\r\n")
    driver.feed(b"NOOP " + b"x" * 65529)  # 65534 bytes: under the bound
    assert len(driver.replies) == 2 and driver.closed is None
    driver.feed(b"x")
    assert driver.replies[-1].data == LINE_TOO_LONG and driver.closed == "protocol"
    driver.finish()
    assert [(k.what, k.received) for k in driver.kept] in ([("line", 65535)], [("unread", 65535)])
    assert driver.of("smtp.command")[-1].raw_line.startswith(b"NOOP xxx")


@pytest.mark.parametrize("sizes", [[1 << 20], [1000] * 200, [65533, 1, 1, 5000]])
@pytest.mark.parametrize(("length", "taken"), [(65533, True), (65534, False), (70000, False)])
def test_a_message_line_at_smtp_line_max_ends_the_session(sizes, length, taken):
    """A body line of 65533 bytes is taken, of 65534 (its CR the 65535th) the session ends,
    however the body comes in reads; the body so far is kept, the transaction's envelope with it."""
    driver = _in_data()
    body = b"Subject: x\r\n\r\n" + b"short line\r\n" * 3 + b"z" * length + b"\r\nafter\r\n.\r\n"
    at = 0
    for size in [*sizes, len(body)]:
        if driver.closed:
            break
        driver.feed(body[at : at + size])
        at += size
    driver.finish()
    if taken:
        assert driver.replies[-1].data.endswith(b" Message accepted for delivery\r\n") and len(driver.delivered) == 1
        return
    assert driver.replies[-1].data == LINE_TOO_LONG and not driver.delivered
    assert driver.of("session.closed")[0].reason == "protocol"
    (kept,) = [k for k in driver.kept if k.what == "message"]
    assert kept.data.startswith(b"Subject: x\r\n") and kept.rcpt_to == ("postmaster@mail.example.com",)
    assert "line_too_long" in [v.violation for v in driver.of("smtp.violation")]


def test_a_long_message_line_is_counted_across_what_the_memory_bound_drops():
    """Past relaypot's own message bound the body is dropped as it comes, all but a tail; the line
    being read keeps its count across the drop."""
    driver = _in_data(max_message_size=4096)
    driver.feed(b"Subject: x\r\n\r\n" + b"y" * 3000)
    feeds = 0
    while not driver.closed and feeds < 40:
        driver.feed(b"z" * 2000)
        feeds += 1
    assert driver.replies[-1].data == LINE_TOO_LONG
    assert feeds == 32  # the line's 65535th byte came with the 32nd read: 3000 + 31 * 2000 bytes were under
    assert driver.session.intake.overflow  # the body was being dropped


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 70_000), min_size=1, max_size=3), st.integers(300, 9000))
def test_any_body_is_ended_at_its_first_line_of_smtp_line_max(lengths, read):
    """Whatever its lines' lengths and the size of the reads: the session ends at the first line of
    65534 bytes or more (its CR the 65535th), and takes the message where there is none."""
    driver = _in_data()
    body = b"Subject: x\r\n\r\n" + b"".join(b"z" * n + b"\r\n" for n in lengths) + b".\r\n"
    for at in range(0, len(body), read):
        driver.feed(body[at : at + read])
        if driver.closed:
            break
    too_long = any(n >= 65534 for n in lengths)
    assert (driver.replies[-1].data == LINE_TOO_LONG) == too_long
    assert len(driver.delivered) == (not too_long)
