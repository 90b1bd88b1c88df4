#!/usr/bin/env python3
"""Probes beyond the shared battery, in groups: how a server treats a client that keeps making
errors ("errors"), lines a real client never sends ("lines"), and so on (GROUPS below:
"recipients" is who is local, who is a relay and who exists).

    python3 tests/reference/probes.py GROUP HOST PORT OUT.json

Runs each probe through battery.py's recorder (same format: bytes, and ms since connect for
every exchange, so delays are kept), on a fresh connection each. Point it only at servers you run
yourself, on loopback. tests/reference/postfix/GROUP.json is this script against the real
Postfix 3.7.11 of ../shared/reference-transcripts/configs/postfix-3.7.11 (the plain listener).
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from battery import esc, run_probe, unesc

HELO = ("send", b"HELO client.example.org\r\n", 1)
EHLO = ("send", b"EHLO client.example.org\r\n", 1)
QUIT = ("send", b"QUIT\r\n", 1)


def client_hello() -> bytes:
    """A real TLS ClientHello (Python's own), as Internet-wide scanners send to port 25 in clear."""
    import ssl

    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="mail.example.com")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def lines() -> list[tuple[str, str, list]]:
    return [
        ("line_nul", "NOOP, a NUL, then more", [("read", 1), ("send", b"NOOP\x00x\r\n", 1), ("send", b"QUIT\r\n", 1)]),
        ("line_cr_cr_lf", "NOOP ended by CR CR LF", [("read", 1), ("send", b"NOOP\r\r\n", 1),
                                                     ("send", b"QUIT\r\n", 1)]),
        ("line_leading_space", "a command after a space", [("read", 1), ("send", b" NOOP\r\n", 1),
                                                            ("send", b"QUIT\r\n", 1)]),
        ("line_leading_tab", "a command after a tab", [("read", 1), ("send", b"\tNOOP\r\n", 1),
                                                        ("send", b"QUIT\r\n", 1)]),
        ("tls_client_hello", "a TLS ClientHello on the plain port", [("read", 1), ("send", client_hello(), 1)]),
        # an unknown command echoed back (Sendmail: shortenstring() of 203 bytes or more)
        ("line_unknown_202", "an unknown command of 202 bytes", [("read", 1), ("send", b"X" * 202 + b"\r\n", 1),
                                                                 ("send", b"QUIT\r\n", 1)]),
        ("line_unknown_203", "an unknown command of 203 bytes", [("read", 1), ("send", b"X" * 203 + b"\r\n", 1),
                                                                 ("send", b"QUIT\r\n", 1)]),
        ("line_unknown_utf8", "an unknown command of 150 two-byte characters",
         [("read", 1), ("send", "é".encode() * 150 + b"\r\n", 1), ("send", b"QUIT\r\n", 1)]),
    ]


MAIL = ("send", b"MAIL FROM:<a@client.example.org>\r\n", 1)
RCPT = ("send", b"RCPT TO:<postmaster@mail.example.com>\r\n", 1)


def sequence() -> list[tuple[str, str, list]]:
    quit_ = ("send", b"QUIT\r\n", 1)
    return [
        ("rset_argument", "RSET with an argument", [("read", 1), HELO, ("send", b"RSET foo\r\n", 1), quit_]),
        ("noop_argument", "NOOP with an argument", [("read", 1), HELO, ("send", b"NOOP foo bar\r\n", 1), quit_]),
        ("vrfy_two_words", "VRFY John Smith", [("read", 1), HELO, ("send", b"VRFY John Smith\r\n", 1), quit_]),
        ("xclient", "XCLIENT from an unauthorized client",
         [("read", 1), HELO, ("send", b"XCLIENT NAME=spoof.example ADDR=192.0.2.9\r\n", 1), quit_]),
        ("xforward", "XFORWARD from an unauthorized client",
         [("read", 1), HELO, ("send", b"XFORWARD NAME=spoof.example\r\n", 1), quit_]),
        ("etrn_in_transaction", "ETRN after MAIL", [("read", 1), HELO, MAIL, ("send", b"ETRN example.net\r\n", 1),
                                                     quit_]),
        ("data_after_bdat", "DATA after a BDAT chunk",
         [("read", 1), HELO, MAIL, RCPT, ("send", b"BDAT 5\r\nhello", 1), ("send", b"DATA\r\n", 1), quit_]),
        ("bdat_bad_size", "BDAT with a size that is no number",
         [("read", 1), HELO, MAIL, RCPT, ("send", b"BDAT x\r\n", 1), quit_]),
        ("bdat_no_size", "BDAT with no size", [("read", 1), HELO, MAIL, RCPT, ("send", b"BDAT\r\n", 1), quit_]),
        ("bdat_bad_last", "BDAT 5 FOO", [("read", 1), HELO, MAIL, RCPT, ("send", b"BDAT 5 FOO\r\n", 1), quit_]),
        ("bdat_chunk_counts", "BDAT in three chunks: each reply counts its own chunk, the last the message",
         [("read", 1), HELO, MAIL, RCPT, ("send", b"BDAT 3\r\nabc", 1), ("send", b"BDAT 2\r\nde", 1),
          ("send", b"BDAT 4 LAST\r\nfg\r\n", 1), quit_]),
        ("bdat_stored_count", "BDAT with bare LFs and an unterminated last line: the message as stored is counted",
         [("read", 1), HELO, MAIL, RCPT, ("send", b"BDAT 6\r\na\nb\nc\n", 1), ("send", b"BDAT 3 LAST\r\nxyz", 1),
          quit_]),
        # etrn_cmd's checks, in order: the transaction, one word, a host name once # or @ is dropped
        ("etrn_arguments", "ETRN with a # alone, #domain, @domain, two words, a number, an address literal",
         [("read", 1), HELO, *[("send", b"ETRN " + argument + b"\r\n", 1) for argument in (
             b"#", b"#foo", b"@example.net", b"a b", b"127.0.0.1", b"[127.0.0.1]", b"-bad.example")], quit_]),
        ("etrn_bare_in_transaction", "ETRN with no argument after MAIL", [("read", 1), HELO, MAIL,
                                                                           ("send", b"ETRN\r\n", 1), quit_]),
        ("xclient_xforward_syntax", "XCLIENT and XFORWARD with no attribute, then in a transaction",
         [("read", 1), HELO, ("send", b"XCLIENT\r\n", 1), ("send", b"XFORWARD \r\n", 1), MAIL,
          ("send", b"XCLIENT NAME=spoof.example\r\n", 1), ("send", b"XFORWARD NAME=spoof.example\r\n", 1), quit_]),
        ("header_as_command", "a message header sent as a command (the body of a refused DATA)",
         [("read", 1), HELO, ("send", b"Subject: x\r\n", 1)]),
        # skip_bdat(): a refused chunk is read; the chunks after it are discarded until a LAST one
        ("bdat_null", "BDAT 0 without LAST, then MAIL, RCPT, DATA and a chunk while BDAT is refused",
         [("read", 1), HELO, ("send", b"BDAT 0\r\n", 1), MAIL, RCPT, ("send", b"DATA\r\n", 1),
          ("send", b"BDAT 3\r\nabc", 1), ("send", b"BDAT 2 LAST\r\nde", 1), MAIL, quit_]),
        ("bdat_no_recipient", "BDAT after MAIL with no recipient, then the transaction is over",
         [("read", 1), HELO, MAIL, ("send", b"BDAT 3 LAST\r\nabc", 1), ("send", b"ETRN example.net\r\n", 1),
          ("send", b"RCPT TO:<postmaster@mail.example.com>\r\n", 1), quit_]),
        ("data_end_cr_cr_lf", "a body ended by .<CR><CR><LF> (smtp_get drops every CR before the LF)",
         [("read", 1), HELO, MAIL, RCPT, ("send", b"DATA\r\n", 1), ("send", b"Subject: x\r\n\r\nbody\r\n.\r\r\n", 1),
          quit_]),
        ("bdat_first_chunk_refused", "a first BDAT without LAST and no transaction, then one more",
         [("read", 1), HELO, ("send", b"BDAT 3\r\nabc", 1), ("send", b"BDAT 3\r\nabc", 1),
          ("send", b"RCPT TO:<postmaster@mail.example.com>\r\n", 1), ("send", b"RSET\r\n", 1), MAIL, quit_]),
    ]


def params() -> list[tuple[str, str, list]]:
    ehlo = ("send", b"EHLO client.example.org\r\n", 1)
    quit_ = ("send", b"QUIT\r\n", 1)

    def mail(name: str, argument: bytes, desc: str) -> tuple[str, str, list]:
        return name, desc, [("read", 1), ehlo, ("send", b"MAIL FROM:" + argument + b"\r\n", 1), quit_]

    def rcpt(name: str, argument: bytes, desc: str) -> tuple[str, str, list]:
        return name, desc, [("read", 1), ehlo, MAIL, ("send", b"RCPT TO:" + argument + b"\r\n", 1), quit_]

    return [
        mail("mail_unknown_param", b"<a@client.example.org> FOO=BAR", "an unknown MAIL parameter"),
        mail("mail_body_binarymime", b"<a@client.example.org> BODY=BINARYMIME", "BODY=BINARYMIME"),
        mail("mail_body_bogus", b"<a@client.example.org> BODY=BOGUS", "BODY with a value that is none"),
        mail("mail_body_8bit", b"<a@client.example.org> BODY=8BITMIME", "BODY=8BITMIME"),
        mail("mail_size_letters", b"<a@client.example.org> SIZE=abc", "SIZE that is no number"),
        mail("mail_size_underscore", b"<a@client.example.org> SIZE=1_000", "SIZE=1_000 (Python's int() takes it)"),
        mail("mail_size_ok", b"<a@client.example.org> SIZE=1000", "a SIZE under the limit"),
        mail("mail_ret_bogus", b"<a@client.example.org> RET=BOGUS", "RET with a value that is none"),
        mail("mail_envid", b"<a@client.example.org> ENVID=abc123", "ENVID"),
        mail("mail_bad_literal", b"<a@[300.1.1.1]>", "an address literal that is no address"),
        mail("mail_utf8", "<jöhn@client.example.org>".encode(), "a UTF-8 address without SMTPUTF8"),
        mail("mail_smtputf8", "<jöhn@client.example.org> SMTPUTF8".encode(), "a UTF-8 address with SMTPUTF8"),
        rcpt("rcpt_notify_bogus", b"<postmaster@mail.example.com> NOTIFY=BOGUS", "NOTIFY with a value that is none"),
        rcpt("rcpt_notify_ok", b"<postmaster@mail.example.com> NOTIFY=SUCCESS,FAILURE", "NOTIFY=SUCCESS,FAILURE"),
        rcpt("rcpt_unknown_param", b"<postmaster@mail.example.com> FOO=BAR", "an unknown RCPT parameter"),
        rcpt("rcpt_orcpt", b"<postmaster@mail.example.com> ORCPT=rfc822;postmaster@mail.example.com", "ORCPT"),
        # mail_cmd's and rcpt_cmd's loops, extract_addr and the resolver's checks, as smtpd.c has them
        mail("mail_size_overflow", b"<a@client.example.org> SIZE=9223372036854775808", "SIZE past 2^63-1"),
        mail("mail_size_empty", b"<a@client.example.org> SIZE=", "SIZE= with no digits"),
        mail("mail_size_bare", b"<a@client.example.org> SIZE", "SIZE with no value"),
        mail("mail_envid_empty", b"<a@client.example.org> ENVID=", "an empty ENVID"),
        mail("mail_envid_bad_xtext", b"<a@client.example.org> ENVID=a+2", "ENVID with a broken xtext"),
        mail("mail_ret_twice", b"<a@client.example.org> RET=FULL RET=HDRS", "RET twice"),
        mail("mail_smtputf8_value", b"<a@client.example.org> SMTPUTF8=yes", "SMTPUTF8 with a value"),
        mail("mail_auth_twice", b"<a@client.example.org> AUTH=<> AUTH=a@b.example", "AUTH= twice"),
        mail("mail_junk_after_path", b"<a@client.example.org>junk", "a word glued after the path"),
        mail("mail_option_before_bad_path", b"a.b@localhost> FOO", "an unknown option after a half path"),
        mail("mail_hyphen_domain", b"<a@-example.org>", "a domain starting with a hyphen"),
        mail("mail_empty_label", b"<a@example..org>", "a domain with an empty label"),
        mail("mail_numeric_domain", b"<a@127.0.0.1>", "an IP address as the domain, unbracketed"),
        mail("mail_hyphen_user", b"<-a@client.example.org>", "a sender starting with a hyphen"),
        mail("mail_empty_domain", b"<a@>", "an address ending in @"),
        mail("mail_word_as_path", b" BODY=7BIT RET=HDRS AUTH", "no address: its first parameter is read as one"),
        rcpt("rcpt_orcpt_no_type", b"<postmaster@mail.example.com> ORCPT=x", "ORCPT with no type"),
        rcpt("rcpt_orcpt_bad_xtext", b"<postmaster@mail.example.com> ORCPT=rfc822;a+zz", "ORCPT with a broken xtext"),
        rcpt("rcpt_notify_twice", b"<postmaster@mail.example.com> NOTIFY=NEVER NOTIFY=DELAY", "NOTIFY twice"),
        rcpt("rcpt_notify_never_and", b"<postmaster@mail.example.com> NOTIFY=NEVER,SUCCESS", "NEVER with another"),
        rcpt("rcpt_empty", b"<>", "an empty recipient"),
        rcpt("rcpt_route_to_relay", b"<@route.example:@example.org.>", "a source route to a local part-less address"),
        # parameter words as fuzzers write them: where a keyword ends, what a value may hold
        mail("mail_param_keyword_dot", b"<a@client.example.org> A.B=1", "a keyword with a dot in it"),
        mail("mail_param_keyword_8bit", "<a@client.example.org> FÖ=1".encode(), "a keyword in UTF-8"),
        mail("mail_param_double_equals", b"<a@client.example.org> SIZE=100=5", "a value with an equals sign in it"),
        mail("mail_param_tab", b"<a@client.example.org> SIZE=100\tFOO=1", "two parameters parted by a tab"),
        mail("mail_param_empty_keyword", b"<a@client.example.org> =x", "a value with no keyword"),
        mail("mail_param_value_control", b"<a@client.example.org> SIZE=1\x01FOO", "a control character in a value"),
        mail("mail_params_nineteen", b"<a@client.example.org>" + b" SIZE=1" * 19, "19 parameters"),
        rcpt("rcpt_param_keyword_dot", b"<postmaster@mail.example.com> NOTIFY.X=NEVER", "a RCPT keyword with a dot"),
        rcpt("rcpt_params_nineteen", b"<postmaster@mail.example.com>" + b" NOTIFY=NEVER" * 19, "NOTIFY 19 times"),
        # what an echoed address holds: control characters, bytes that are no UTF-8
        mail("mail_control_in_address", b"<a\x01b@client.example.org>", "a control character in the sender"),
        mail("mail_latin1_in_address", b"<j\xf6hn@client.example.org>", "a Latin-1 byte (no UTF-8) in the sender"),
        rcpt("rcpt_control_in_address", b"<a\x1bb@mail.example.com>", "an escape character in the recipient"),
    ]


NO_LIMIT_PROBED = 52_428_800  # where the server advertises SIZE without a number: Exim's 50 MB


def advertised_size(host: str, port: int, source: str | None = None) -> tuple[int, bool]:
    """The SIZE the server's EHLO advertises (NO_LIMIT_PROBED where it names no number), and
    whether it advertises CHUNKING."""
    import re
    import socket

    with socket.create_connection((host, port), timeout=30, source_address=(source, 0) if source else None) as sock:
        reader = sock.makefile("rb")

        def reply() -> bytes:
            lines = [reader.readline()]
            while lines[-1][3:4] == b"-":
                lines.append(reader.readline())
            return b"".join(lines)

        reply()
        sock.sendall(b"EHLO client.example.org\r\n")
        ehlo = reply()
        found = re.search(rb"^250[ -]SIZE ?(\d*)\r$", ehlo, re.MULTILINE)
        sock.sendall(b"QUIT\r\n")
    if found is None:
        raise SystemExit("the server advertises no SIZE")
    return int(found.group(1) or NO_LIMIT_PROBED), re.search(rb"^250[ -]CHUNKING\r$", ehlo, re.MULTILINE) is not None


def filler(subject: str, size: int, stuffed: bool = False, line: int = 1000, every_line_stuffed: bool = False) -> bytes:
    """A message of `size` bytes as sent, its end marker aside: a Subject, a blank line, lines of
    `line` bytes ('x' and CRLF) and a shorter last one; `stuffed`: the first body line starts
    with a stuffed dot ("..", the same size); `every_line_stuffed`: every full line does."""
    head = f"Subject: {subject}\r\n\r\n".encode()
    full, rest = divmod(size - len(head), line)
    last = b"x" * (rest - 2) + b"\r\n" if rest >= 2 else b""
    each = b".." + b"x" * (line - 4) + b"\r\n" if every_line_stuffed else b"x" * (line - 2) + b"\r\n"
    body = head + each * full + last
    if rest == 1:  # no line of one byte: the last full line takes it
        body = head + each * (full - 1) + each[:-2] + b"x\r\n"
    if stuffed:
        body = head + b".." + body[len(head) + 2 :]
    assert len(body) == size, (size, rest)
    return body


def counted_at(limit: int) -> int:
    """The size as sent of the filler() a server that counts each line end as one byte (Exim,
    OpenSMTPD) counts as exactly `limit`."""
    size = limit
    while (counted := size - filler("x", size).count(b"\r\n")) < limit:
        size += limit - counted
    return size


def limits(limit: int = 10_240_000, chunking: bool = True) -> list[tuple[str, str, list]]:
    """A message just over the size limit and one just under it, in lines of 998 'x' (Postfix's
    10240000: 10300 and 10000 lines); then the edge as a server that stores LF line ends counts
    (Exim and OpenSMTPD do): a message it counts as the limit, one byte more, and that one with a
    stuffed line (Exim counts the message without the stuffed dot); where the server has
    CHUNKING, the edge again in a BDAT chunk."""
    ehlo = ("send", b"EHLO client.example.org\r\n", 1)
    over, under = limit // 1000 + 60, limit // 1000 - 240
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * over + b".\r\n"
    fits = b"Subject: fits\r\n\r\n" + (b"x" * 998 + b"\r\n") * under + b".\r\n"
    edge = counted_at(limit)

    def message(name: str, description: str, body: bytes) -> tuple[str, str, list]:
        return (name, description, [("read", 1), ehlo, MAIL, RCPT, ("send", b"DATA\r\n", 1), ("send", body, 1),
                                    ("send", b"QUIT\r\n", 1)])

    def chunk(name: str, description: str, body: bytes) -> tuple[str, str, list]:
        return (name, description, [("read", 1), ehlo, MAIL, RCPT, ("send", b"BDAT %d LAST\r\n" % len(body), 0),
                                    ("send", body, 1), ("send", b"QUIT\r\n", 1)])

    chunks = [
        chunk("bdat_lf_counted_at_size", "a BDAT chunk that is the SIZE with each line end counted as one byte",
              filler("edge", edge)),
        chunk("bdat_lf_counted_past_size", "one byte more", filler("past", edge + 1)),
        ("bdat_chunks_past_size", "a first chunk within the SIZE, then a last one that takes the message past it",
         [("read", 1), ehlo, MAIL, RCPT, ("send", b"BDAT %d\r\n" % (edge - 1000), 0),
          ("send", filler("first", edge - 1000), 1), ("send", b"BDAT 2000 LAST\r\n", 0),
          ("send", (b"x" * 998 + b"\r\n") * 2, 1), ("send", b"QUIT\r\n", 1)]),
    ] if chunking else []
    return [
        message("data_over_size", "DATA with a message over the advertised SIZE", big),
        message("data_under_size", "DATA with a message just under the advertised SIZE", fits),
        message("data_lf_counted_at_size", "a message that is the SIZE with each line end counted as one byte",
                filler("edge", edge) + b".\r\n"),
        message("data_lf_counted_past_size", "one byte more", filler("past", edge + 1) + b".\r\n"),
        message("data_lf_counted_past_size_stuffed", "one byte more, one line of it dot-stuffed",
                filler("stuffed", edge + 1, stuffed=True) + b".\r\n"),
        *chunks,
    ]


def queue_file(limit: int = 10_240_000) -> list[tuple[str, str, list]]:
    """Postfix's limit is on its queue file (cleanup runs under a file size limit of
    message_size_limit): messages that fit as sent but not as records (lines of 1000 take a byte
    more each; lines of 78 as many bytes as sent, the envelope and headers added), and one past
    the limit as sent whose stuffed lines the file keeps a byte shorter each."""
    ehlo = ("send", b"EHLO client.example.org\r\n", 1)

    def message(name: str, description: str, body: bytes) -> tuple[str, str, list]:
        return (name, description, [("read", 1), ehlo, MAIL, RCPT, ("send", b"DATA\r\n", 1),
                                    ("send", body + b".\r\n", 1), ("send", b"QUIT\r\n", 1)])

    def chunk(name: str, description: str, body: bytes) -> tuple[str, str, list]:
        return (name, description, [("read", 1), ehlo, MAIL, RCPT, ("send", b"BDAT %d LAST\r\n" % len(body), 0),
                                    ("send", body, 1), ("send", b"QUIT\r\n", 1)])

    return [
        message("data_lines_of_1000_past_the_file", "5,000 bytes under SIZE as sent, in lines of 1000",
                filler("near", limit - 5_000)),
        message("data_lines_of_1000_within_the_file", "14,000 bytes under SIZE as sent, in lines of 1000",
                filler("within", limit - 14_000)),
        message("data_lines_of_78_past_the_file", "600 bytes under SIZE as sent, in lines of 78",
                filler("near", limit - 600, line=78)),
        message("data_lines_of_78_within_the_file", "1,700 bytes under SIZE as sent, in lines of 78",
                filler("within", limit - 1_700, line=78)),
        message("data_stuffed_lines_past_size", "40,000 bytes past SIZE as sent, every line of 78 dot-stuffed",
                filler("stuffed", limit + 40_000, line=78, every_line_stuffed=True)),
        chunk("bdat_lines_of_1000_past_the_file", "a BDAT chunk 5,000 bytes under SIZE, in lines of 1000",
              filler("near", limit - 5_000)),
        chunk("bdat_lines_of_78_within_the_file", "a BDAT chunk 1,700 bytes under SIZE, in lines of 78",
              filler("within", limit - 1_700, line=78)),
    ]


def elide_bodies(conversation: dict) -> None:
    """Replace each message body the limits group sent with the marker the conformance test
    rebuilds it from (tests/personas/test_conformance.py, body())."""
    import re

    for entry in conversation["exchange"]:
        if entry[0] == "C" and len(entry[1]) > 100_000:
            subject = re.match(r"Subject: (\w+)", entry[1]).group(1)
            sent = unesc(entry[1])
            marker = sent.endswith(b"\r\n.\r\n")  # DATA's; a BDAT chunk has none
            lines = sent.split(b"\r\n", 4)  # the Subject, the blank line, then the body's first lines
            line = len(lines[2]) + 2
            if lines[3].startswith(b".."):
                stuffed = ", every line stuffed"
            else:
                stuffed = ", the first body line stuffed" if lines[2].startswith(b"..") else ""
            end = ", then the end marker" if marker else ""
            entry[1] = f"<body: Subject: {subject}, {len(sent) - 3 * marker} bytes in lines of {line}{stuffed}{end}>"
    conversation["notes"].append("the message body is elided here; tests/personas/test_conformance.py builds the "
                                 "same bytes")


def errors(junk: int = 124, unknown: int = 22) -> list[tuple[str, str, list]]:
    """`junk`: the NOOPs of errors_junk (past Postfix's junk limit of 100); `unknown`: the unknown
    commands of errors_unknown (past Postfix's hard error limit of 20)."""
    return [
        ("errors_unknown", "HELO, then unknown commands until the server gives up",
         [("read", 1), HELO] + [("send", b"FOO\r\n", 1)] * unknown),
        ("errors_sequence", "HELO, then RCPT before MAIL (503) again and again: sequence errors count",
         [("read", 1), HELO] + [("send", b"RCPT TO:<victim@example.net>\r\n", 1)] * 22),
        ("errors_then_good", "ten errors, then good commands: are they slowed down too?",
         [("read", 1), HELO] + [("send", b"FOO\r\n", 1)] * 10
         + [("send", b"NOOP\r\n", 1), ("send", b"MAIL FROM:<a@client.example.org>\r\n", 1), ("send", b"RSET\r\n", 1),
            ("send", b"QUIT\r\n", 1)]),
        ("errors_junk", "HELO, then NOOP after NOOP: past the junk limit each counts as an error",
         [("read", 1), HELO] + [("send", b"NOOP\r\n", 1)] * junk),
        ("errors_forgiven", "nine errors, a whole message, then nine more errors: a message forgives",
         [("read", 1), HELO] + [("send", b"FOO\r\n", 1)] * 9
         + [("send", b"MAIL FROM:<a@client.example.org>\r\n", 1),
            ("send", b"RCPT TO:<postmaster@mail.example.com>\r\n", 1),
            ("send", b"DATA\r\n", 1), ("send", b"Subject: x\r\n\r\nx\r\n.\r\n", 1)]
         + [("send", b"FOO\r\n", 1)] * 11 + [("send", b"QUIT\r\n", 1)]),
    ]


def recipients() -> list[tuple[str, str, list]]:
    """Who is local, who is a relay, who exists: nmap smtp-open-relay's sixteen forms (its own
    names: antispam, relaytest, nmap.scanme.org; the server's IP and name), local users and their
    spellings, and VRFY of each kind."""
    ehlo = ("send", b"EHLO client.example.org\r\n", 1)
    quit_ = ("send", b"QUIT\r\n", 1)
    ip, name, far = "127.0.0.1", "mail.example.com", "nmap.scanme.org"

    def rcpt(label: str, sender: str, recipient: str) -> tuple[str, str, list]:
        return (f"rcpt_{label}", f"MAIL FROM:<{sender}> RCPT TO:<{recipient}>",
                [("read", 1), ehlo, ("send", f"MAIL FROM:<{sender}>\r\n".encode(), 1),
                 ("send", f"RCPT TO:<{recipient}>\r\n".encode(), 1), quit_])

    relay = [
        ("", f"relaytest@{far}"), (f"antispam@{far}", f"relaytest@{far}"),
        (f"antispam@{name}", f"relaytest@{far}"), (f"antispam@[{ip}]", f"relaytest@{far}"),
        (f"antispam@[{ip}]", f"relaytest%{far}@[{ip}]"), (f"antispam@[{ip}]", f"relaytest%{far}@{name}"),
        (f"antispam@[{ip}]", f'"relaytest@{far}"'), (f"antispam@[{ip}]", f'"relaytest%{far}"'),
        (f"antispam@[{ip}]", f"relaytest@{far}@[{ip}]"), (f"antispam@[{ip}]", f'"relaytest@{far}"@[{ip}]'),
        (f"antispam@[{ip}]", f"relaytest@{far}@{name}"), (f"antispam@[{ip}]", f"@[{ip}]:relaytest@{far}"),
        (f"antispam@[{ip}]", f"@{name}:relaytest@{far}"), (f"antispam@[{ip}]", f"{far}!relaytest"),
        (f"antispam@[{ip}]", f"{far}!relaytest@[{ip}]"), (f"antispam@[{ip}]", f"{far}!relaytest@{name}"),
    ]
    local = [
        ("root", f"root@{name}"), ("root_upper", f"ROOT@{name.upper()}"), ("root_tag", f"root+tag@{name}"),
        ("postmaster", f"postmaster@{name}"), ("postmaster_bare", "Postmaster"), ("abuse", f"abuse@{name}"),
        ("www_data", f"www-data@{name}"), ("nobody", f"nobody@{name}"), ("unknown", f"nosuchuser@{name}"),
        ("unknown_tag", f"nosuchuser+tag@{name}"), ("localhost", "root@localhost"),
        ("localhost_unknown", "nosuchuser@localhost"), ("localhost_domain", "root@localhost.example.com"),
        ("literal", f"root@[{ip}]"), ("literal_unknown", f"nosuchuser@[{ip}]"), ("literal_other", "root@[192.0.2.1]"),
        ("parent_domain", "root@example.com"), ("bare", "root"), ("bare_unknown", "nosuchuser"),
        ("quoted_local", f'"root"@{name}'), ("trailing_dot", f"root@{name}."), ("far", "victim@example.net"),
    ]
    vrfy = [("root", "root"), ("root_upper", "ROOT"), ("root_tag", "root+tag"), ("unknown", "nosuchuser"),
            ("qualified", f"root@{name}"), ("bracketed", f"<root@{name}>"),
            ("qualified_unknown", f"nosuchuser@{name}"), ("far", "victim@example.net"),
            ("postmaster", "postmaster"), ("localhost", "root@localhost"), ("literal", f"nosuchuser@[{ip}]"),
            ("quoted", '"root"'), ("routed", f"relaytest%{far}@{name}")]
    probes = [rcpt(f"relay_{n + 1}", sender, recipient) for n, (sender, recipient) in enumerate(relay)]
    probes += [rcpt(label, "a@client.example.org", recipient) for label, recipient in local]
    probes += [(f"vrfy_{label}", f"VRFY {argument}",
                [("read", 1), ehlo, ("send", f"VRFY {argument}\r\n".encode(), 1), quit_])
               for label, argument in vrfy]
    probes.append(("rcpt_mixed", "a relay, an unknown user and a known one in one transaction, then DATA",
                   [("read", 1), ehlo, ("send", b"MAIL FROM:<a@client.example.org>\r\n", 1),
                    ("send", b"RCPT TO:<victim@example.net>\r\n", 1),
                    ("send", f"RCPT TO:<nosuchuser@{name}>\r\n".encode(), 1),
                    ("send", f"RCPT TO:<root@{name}>\r\n".encode(), 1),
                    ("send", b"DATA\r\n", 1), ("send", b"Subject: x\r\n\r\nx\r\n.\r\n", 1), quit_]))
    probes.append(("rcpt_limit", "1001 recipients in one transaction (smtpd_recipient_limit = 1000)",
                   [("read", 1), ehlo, ("send", b"MAIL FROM:<a@client.example.org>\r\n", 1),
                    ("send", f"RCPT TO:<root@{name}>\r\n".encode() * 1001, 1), ("send", b"RSET\r\n", 1), quit_]))
    probes.append(("rcpt_only_refused", "only refused recipients, then DATA",
                   [("read", 1), ehlo, ("send", b"MAIL FROM:<a@client.example.org>\r\n", 1),
                    ("send", b"RCPT TO:<victim@example.net>\r\n", 1), ("send", b"DATA\r\n", 1), quit_]))
    return probes


def verbs() -> list[tuple[str, str, list]]:
    """Every verb a scanner may try, in the forms it may write it (bare, with an argument, in lower
    case), before any greeting and after EHLO, one connection each: which the server knows, what
    each says with and without its argument, and where a session ends. (A bare STARTTLS is left to
    the tests over sockets: what follows it is a TLS handshake.)"""
    lines = [b"HELO", b"EHLO", b"HELO a b", b"EHLO a b", b"helo client.example.org", b"LHLO client.example.org",
             b"MAIL", b"MAIL FROM", b"MAIL TO:<a@example.net>", b"RCPT", b"RCPT TO", b"DATA x", b"BDAT", b"RSET x",
             b"VRFY", b"EXPN", b"EXPN root", b"EXPN postmaster", b"HELP", b"HELP MAIL", b"HELP help", b"HELP x y",
             b"help", b"NOOP", b"noop x", b"QUIT x", b"TURN", b"TURN x", b"ATRN", b"ATRN example.net", b"ETRN",
             b"SEND FROM:<a@example.net>", b"SOML FROM:<a@example.net>", b"SAML FROM:<a@example.net>", b"VERB",
             b"VERB x", b"ONEX", b"XUSR", b"XEXCH50 1 2", b"X-EXPS GSSAPI", b"X-LINK2STATE", b"XADR", b"XQLN",
             b"XSTA", b"AUTH", b"AUTH x", b"STARTTLS x", b"GET / HTTP/1.0", b"POST / HTTP/1.1",
             b"CONNECT 127.0.0.1:25 HTTP/1.0", b"USER root", b"PASS root", b"CAPA", b"HEAD / HTTP/1.0", b"DEBUG",
             b"WIZ", b"KILL", b"SHOW", b"RCPT  TO:<root>", b"MAIL FROM: <a@example.net>"]
    probes = []
    for n, line in enumerate(lines):
        probes.append((f"verb_{n + 1}", f"{line.decode()} before a greeting, then after EHLO",
                       [("read", 1), ("send", line + b"\r\n", 1), EHLO, ("send", line + b"\r\n", 1), QUIT]))
    return probes


def enumeration() -> list[tuple[str, str, list]]:
    """What user enumerators send (patator's smtp_vrfy and smtp_rcpt, smtp-user-enum): VRFY, EXPN
    and RCPT of a list of names on one connection, before HELO and after, known names among
    unknown ones and refusals among them, so a server that slows a flood down (Sendmail's
    checksmtpattack(): from the sixth VRFY or EXPN) shows how long each reply waits. Each reply
    comes within eight seconds: the reader waits ten."""
    def verify(*lines: bytes) -> list:
        return [("send", line + b"\r\n", 1) for line in lines]

    names = [b"root", b"postmaster", b"nobody", b"admin", b"user", b"nosuchuser", b"Root", b"www-data", b"info"]
    envelope = [EHLO, ("send", b"MAIL FROM:<a@client.example.org>\r\n", 1)]
    return [
        ("enum_vrfy_before_helo", "VRFY root nine times before any greeting",
         [("read", 1), *verify(*[b"VRFY root"] * 9), QUIT]),
        ("enum_vrfy_list", "EHLO, then VRFY of nine names, known and unknown (patator smtp_vrfy's order)",
         [("read", 1), EHLO, *verify(*[b"VRFY " + name for name in names]), QUIT]),
        ("enum_vrfy_refused_late", "EHLO, VRFY root six times, then VRFY with no argument, a bad address, EXPN root",
         [("read", 1), EHLO, *verify(*[b"VRFY root"] * 6, b"VRFY", b"VRFY <a@b@c>", b"EXPN root"), QUIT]),
        ("enum_expn_list", "EHLO, then EXPN of eight names",
         [("read", 1), EHLO, *verify(*[b"EXPN " + name for name in (b"root", b"postmaster", b"admin", b"nobody",
                                                                     b"mail", b"nosuchuser", b"abuse", b"Root")]),
          QUIT]),
        ("enum_vrfy_across_helo", "VRFY three times before EHLO, four after, RSET, two more: one count or several?",
         [("read", 1), *verify(*[b"VRFY root"] * 3), EHLO, *verify(*[b"VRFY root"] * 4, b"RSET", b"VRFY root",
                                                                    b"VRFY postmaster"), QUIT]),
        ("enum_rcpt_list", "EHLO, MAIL, then RCPT to nine names at the server's domain (patator smtp_rcpt)",
         [("read", 1), *envelope, *verify(*[b"RCPT TO:<" + name + b"@mail.example.com>" for name in names]), QUIT]),
        ("enum_rcpt_bare", "HELO, MAIL, then RCPT to nine bare names",
         [("read", 1), HELO, envelope[1], *verify(*[b"RCPT TO:<" + name + b">" for name in names]), QUIT]),
    ]


def helo_names() -> list[tuple[str, str, list]]:
    """The names a client gives in HELO and EHLO (RFC 5321 2.3.5, 4.1.4): a bare IP, literals good
    and bad, one label, the server's own name and address, bad characters, several words, blanks,
    quotes; each followed by a transaction's start, where a server may judge the name late."""
    names = [b"192.0.2.1", b"[192.0.2.1]", b"[300.1.1.1]", b"[IPv6:::1]", b"[IPv6:2001:db8::1]", b"[ipv6:::1]",
             b"[1.2.3]", b"[127.0.0.1", b"[abc]", b"mail.example.com", b"MAIL.EXAMPLE.COM", b"[127.0.0.1]",
             b"user-3i39rqqo1r", b"a_b.example.org", b"-bad.example.org", b"bad-.example.org", b"a..b.example.org",
             b"example.org.", b".", b"@", b"a@b.example", b'"quoted"', b"<client.example.org>",
             b"client.example.org extra words", b"client.example.org ", b" client.example.org", b"\tclient.example.org",
             b"x" * 64 + b".example.org", b"x" * 250 + b".example.org", "j\u00f6hn.example".encode(), b"a\x01b.example",
             b"a;b.example", b"a/b.example", b"a%b.example", b"a b", b"*", b"0", b"1.2.3.4.5", b"friend"]
    probes = []
    for n, name in enumerate(names):
        for verb in (b"EHLO", b"HELO"):
            probes.append((f"{verb.decode().lower()}_name_{n + 1}", f"{verb.decode()} {name!r}, then MAIL and RCPT",
                           [("read", 1), ("send", verb + b" " + name + b"\r\n", 1),
                            ("send", b"MAIL FROM:<a@client.example.org>\r\n", 1),
                            ("send", b"RCPT TO:<postmaster@mail.example.com>\r\n", 1), QUIT]))
    return probes


def address_forms() -> list[tuple[str, str, list]]:
    """Addresses as clients write them besides user@domain: no brackets, blanks around and inside,
    quoted local parts holding specials, comments, backslashes, literals, two addresses, display
    names; each as the sender, a recipient (at this host) and VRFY's argument."""
    forms = ["a@example.org", " <a@example.org>", "<a@example.org> <b@example.org>", "<a @example.org>",
             "<a@ example.org>", "< a@example.org >", '<"a b"@example.org>', '<"a@b"@example.org>',
             '<"a\\"b"@example.org>', '<"a"."b"@example.org>', "<a(comment)@example.org>", "<(c)a@example.org>",
             "<a@example.org(c)>", "<a\\@b@example.org>", "<a\\ b@example.org>", "<a.@example.org>", "<.a@example.org>",
             "<a..b@example.org>", "<a@[192.0.2.1]>", "<a@[IPv6:2001:db8::1]>", "<a@[192.0.2.1>", "<a@192.0.2.1>",
             "Name <a@example.org>", '"Name" <a@example.org>', "<a@example.org>,<b@example.org>",
             "<a+b=c@example.org>", "<a#b$c@example.org>", "<{a}|b~@example.org>", "<a'b@example.org>",
             "<a@EXAMPLE.ORG>", "<A@example.org>", "<a@example.org.>", "<a@-example.org>", "<a@example-.org>",
             "<a@exa_mple.org>", "<a@123>", "<a@1.2.3.4.5>", "<a@e.x.a.m.p.l.e>", "<postmaster>",
             "<Postmaster@[127.0.0.1]>", "<root@localhost.>", "<root%localhost@mail.example.com>"]
    probes = []
    for n, form in enumerate(forms):
        local = form.replace("example.org", "mail.example.com").encode()
        probes.append((f"form_{n + 1}", f"MAIL FROM:{form}, RCPT TO: and VRFY with it at this host",
                       [("read", 1), EHLO, ("send", b"MAIL FROM:" + form.encode() + b"\r\n", 1),
                        ("send", b"RSET\r\n", 1), ("send", b"MAIL FROM:<a@client.example.org>\r\n", 1),
                        ("send", b"RCPT TO:" + local + b"\r\n", 1), ("send", b"VRFY " + local + b"\r\n", 1), QUIT]))
    return probes


def routes() -> list[tuple[str, str, list]]:
    """Source routes and the commas and colons of RFC 821's "@a,@b:user@d" (relay scanners write
    them: nmap's "@[ip]:relaytest@far"), each as a sender, a recipient, and VRFY's and EXPN's
    argument, in one connection per address: what each server keeps of the route, and where it
    refuses one."""
    name = "mail.example.com"
    addresses = [
        "@a.example,b:c@example.net", "@a.example,@b.example:c@example.net", "@a.example:b:c@example.net",
        "@a.example:@b.example:c@example.net", "@[127.0.0.1]:root@localhost", f"@{name}:root",
        f"@{name}:relaytest@nmap.scanme.org", "@a.example,b:root@localhost", "@a.example, b:c@example.net",
        "@a.example,:c@example.net", "@,a.example:c@example.net", "@a.example,,b:c@example.net",
        "@a.example:b,c@example.net", "@a.example", "@a.example:", "@:c@example.net", "@a.example,@b.example:root",
        f"@a.example:root@{name}", "@x.example:postmaster", "@a.example:b@c.example:d@example.net",
        "@a.example:b c@example.net", "@a.example:@", "@", "@a.example,@b.example", "@a.example,b",
        "a,b@example.net", "a@example.net,c", "a,%b@example.net", "a@example.net@", "a@example.net:c",
        "@a.example:b@c.example:d", "@a.example:(x)root", f"@a.example:root@{name}.", "@a.example:root@[127.0.0.1]",
        '@a.example:"b c"@localhost', "@[1.2:3]:c@example.net",
    ]
    probes = []
    for n, address in enumerate(addresses):
        path = f"<{address}>".encode()
        probes.append((f"route_{n + 1}", f"{address} as sender, recipient, VRFY and EXPN",
                       [("read", 1), EHLO, ("send", b"MAIL FROM:" + path + b"\r\n", 1), ("send", b"RSET\r\n", 1),
                        ("send", b"MAIL FROM:<a@client.example.org>\r\n", 1),
                        ("send", b"RCPT TO:" + path + b"\r\n", 1), ("send", b"VRFY " + path + b"\r\n", 1),
                        ("send", b"EXPN " + path + b"\r\n", 1), QUIT]))
    for n, sender in enumerate(["@a.example:x@localhost", "@a.example:root", "@a.example,b:c@example.org",
                                "@a.example:b:c@example.org"]):
        probes.append((f"route_sender_{n + 1}", f"MAIL FROM:<{sender}>, then a local and a remote recipient",
                       [("read", 1), EHLO, ("send", f"MAIL FROM:<{sender}>\r\n".encode(), 1),
                        ("send", f"RCPT TO:<root@{name}>\r\n".encode(), 1),
                        ("send", b"RCPT TO:<a@example.net>\r\n", 1), QUIT]))
    for n, argument in enumerate(["<@a.example,b:root@localhost>, postmaster", "root, <@x,y:nobody@localhost>",
                                  "<@a.example,<b>:c@example.net>", "<@a.example>,<b>"]):
        probes.append((f"route_list_{n + 1}", f"VRFY {argument}",
                       [("read", 1), EHLO, ("send", f"VRFY {argument}\r\n".encode(), 1), QUIT]))
    return probes


def pipelining() -> list[tuple[str, str, list]]:
    """Commands sent in one write, as spam engines and bulk senders send them (RFC 2920): groups
    after EHLO and after HELO (where nothing was advertised), commands RFC 2920 puts last in a
    group (EHLO, DATA, VRFY, QUIT, AUTH) with more behind them, a body sent without
    waiting for 354, groups after a refusal, LF-only groups, BDAT chunks behind RCPT: which
    replies come, in what order, and where a server calls it a synchronization error. (STARTTLS
    with commands behind it is the differential test's: what follows it is a TLS handshake.)"""
    local, unknown, relay = b"postmaster@mail.example.com", b"nosuchuser@mail.example.com", b"victim@example.net"
    mail = b"MAIL FROM:<a@client.example.org>\r\n"

    def rcpt(address: bytes) -> bytes:
        return b"RCPT TO:<" + address + b">\r\n"

    body = b"Subject: pipelined\r\n\r\nhello\r\n.\r\n"
    group = [
        ("ehlo_mail_rcpt_data", "after EHLO: MAIL, RCPT and DATA in one write, then the body",
         [EHLO, ("send", mail + rcpt(local) + b"DATA\r\n", 3), ("send", body, 1)]),
        ("ehlo_all_refused_data_body", "after EHLO: MAIL, an unknown and a relay RCPT, DATA and the body in one write",
         [EHLO, ("send", mail + rcpt(unknown) + rcpt(relay) + b"DATA\r\n" + body, None)]),
        ("ehlo_data_body_unwaited", "after EHLO: MAIL, RCPT, DATA and the body in one write, no wait for 354",
         [EHLO, ("send", mail + rcpt(local) + b"DATA\r\n" + body, None)]),
        ("helo_mail_rcpt_data", "after HELO (nothing advertised): MAIL, RCPT and DATA in one write",
         [HELO, ("send", mail + rcpt(local) + b"DATA\r\n", None)]),
        ("helo_noops", "after HELO: two NOOPs in one write", [HELO, ("send", b"NOOP\r\nNOOP\r\n", None)]),
        ("helo_with_input", "HELO with MAIL behind it in one write", [("send", b"HELO client.example.org\r\n" + mail,
                                                                        None)]),
        ("ehlo_with_input", "EHLO with MAIL and RCPT behind it in one write",
         [("send", b"EHLO client.example.org\r\n" + mail + rcpt(local), None)]),
        ("ehlo_twice", "two EHLOs in one write", [("send", b"EHLO a.example.org\r\nEHLO b.example.org\r\n", None)]),
        ("rset_in_group", "after EHLO: MAIL, RCPT, RSET, MAIL, RCPT and DATA in one write, then the body",
         [EHLO, ("send", mail + rcpt(local) + b"RSET\r\n" + mail + rcpt(local) + b"DATA\r\n", 6),
          ("send", body, 1)]),
        ("noop_vrfy_noop", "after EHLO: NOOP, VRFY and NOOP in one write",
         [EHLO, ("send", b"NOOP\r\nVRFY postmaster\r\nNOOP\r\n", None)]),
        ("vrfy_then_mail", "after EHLO: VRFY and MAIL in one write",
         [EHLO, ("send", b"VRFY postmaster\r\n" + mail, None)]),
        ("expn_then_mail", "after EHLO: EXPN and MAIL in one write",
         [EHLO, ("send", b"EXPN postmaster\r\n" + mail, None)]),
        ("help_then_noop", "after EHLO: HELP and NOOP in one write", [EHLO, ("send", b"HELP\r\nNOOP\r\n", None)]),
        ("quit_mid_group", "after EHLO: MAIL, QUIT and RCPT in one write",
         [EHLO, ("send", mail + b"QUIT\r\n" + rcpt(local), None)]),
        ("bad_mail_group", "after EHLO: a MAIL with a bad path, RCPT and DATA in one write",
         [EHLO, ("send", b"MAIL FROM:<a@\r\n" + rcpt(local) + b"DATA\r\n", None)]),
        ("rcpt_without_mail_group", "after EHLO: RCPT, DATA and the body in one write, no MAIL",
         [EHLO, ("send", rcpt(local) + b"DATA\r\n" + body, None)]),
        ("lf_only_group", "after EHLO: MAIL, RCPT and DATA ended by bare LFs in one write, then the body",
         [EHLO, ("send", b"MAIL FROM:<a@client.example.org>\nRCPT TO:<postmaster@mail.example.com>\nDATA\n", 3),
          ("send", body, 1)]),
        ("rcpts_thirty", "after EHLO: MAIL, thirty RCPTs and DATA in one write, then the body",
         [EHLO, ("send", mail + rcpt(local) * 30 + b"DATA\r\n", 32), ("send", body, 1)]),
        ("mixed_rcpts_unknown_first", "after EHLO: MAIL, an unknown, a relay and a local RCPT and DATA in one write",
         [EHLO, ("send", mail + rcpt(unknown) + rcpt(relay) + rcpt(local) + b"DATA\r\n", 5), ("send", body, 1)]),
        ("body_then_transaction", "the body, its end, and a whole second transaction in one write",
         [EHLO, ("send", mail + rcpt(local) + b"DATA\r\n", 3),
          ("send", body + mail + rcpt(local) + b"DATA\r\n" + body + b"QUIT\r\n", None)]),
        ("auth_then_mail", "after EHLO: AUTH PLAIN with a response and MAIL in one write",
         [EHLO, ("send", b"AUTH PLAIN " + base64.b64encode(b"\0root\0root") + b"\r\n" + mail, None)]),
        ("bdat_behind_rcpt", "after EHLO: MAIL, RCPT and a BDAT LAST chunk in one write",
         [EHLO, ("send", mail + rcpt(local) + b"BDAT 7 LAST\r\nhello\r\n", None)]),
        ("bdat_chunks_one_write", "after EHLO and MAIL, RCPT: two BDAT chunks and MAIL in one write",
         [EHLO, ("send", mail, 1), ("send", rcpt(local), 1),
          ("send", b"BDAT 3\r\nabcBDAT 4 LAST\r\nde\r\n" + mail, None)]),
        ("noop_partial_line", "after EHLO: NOOP and half a MAIL in one write, the rest in the next",
         [EHLO, ("send", b"NOOP\r\nMAIL FROM:<a@cli", 1), ("send", b"ent.example.org>\r\n", 1)]),
    ]
    return [(name, desc, [("read", 1), *steps, QUIT]) for name, desc, steps in group]


def bodies() -> list[tuple[str, str, list]]:
    """Message bodies a real client does not send, each by DATA after a transaction the server
    takes: NULs, bare CRs and LFs, bytes past ASCII with and without BODY=8BITMIME, control
    bytes, a header folded past Postfix's header limit, dots: what the server says at the end of
    data, and whether it reads the end where it is. (Long lines are line_lengths'.)"""
    subject = b"Subject: x\r\n\r\n"

    def message(name: str, description: str, body: bytes, mail: bytes = MAIL[1]) -> tuple[str, str, list]:
        return (f"body_{name}", description, [("read", 1), EHLO, ("send", mail, 1), RCPT, ("send", b"DATA\r\n", 1),
                                              ("send", body + b".\r\n", 1), QUIT])

    eight_bit_mail = b"MAIL FROM:<a@client.example.org> BODY=8BITMIME\r\n"
    probes = [
        message("nul", "a NUL in a body line", subject + b"a\x00b\r\n"),
        message("nul_header", "a NUL in a header", b"Subject: a\x00b\r\n\r\nbody\r\n"),
        message("nul_line", "a body line of NULs alone", subject + b"\x00" * 16 + b"\r\n"),
        message("bare_cr", "a bare CR inside a body line", subject + b"a\rb\r\n"),
        message("bare_cr_end", "a body line ended by CR CR LF", subject + b"a\r\r\n"),
        message("bare_lf", "a bare LF inside a body line", subject + b"a\nb\r\n"),
        message("bare_lf_header", "header lines ended by bare LFs", b"Subject: x\nX-A: y\n\r\nbody\r\n"),
        message("eight_bit", "UTF-8 in the body, no BODY=8BITMIME", subject + "Grüße\r\n".encode()),
        message("eight_bit_declared", "UTF-8 in the body with BODY=8BITMIME", subject + "Grüße\r\n".encode(),
                eight_bit_mail),
        message("high_bytes", "every byte from 0x80 to 0xFF in a body line",
                subject + bytes(range(128, 256)) + b"\r\n"),
        message("controls", "every control byte but CR and LF in a body line",
                subject + bytes(b for b in range(32) if b not in (10, 13)) + b"\x7f\r\n"),
        message("seven_bit_declared_eight", "BODY=7BIT with bytes past ASCII in the body",
                subject + "Grüße\r\n".encode(), b"MAIL FROM:<a@client.example.org> BODY=7BIT\r\n"),
        message("header_line_998", "a header line of 998 bytes",
                b"X-Long: " + b"z" * 990 + b"\r\n" + subject + b"body\r\n"),
        message("header_folded_120k", "one header folded over 1,200 lines (120 kB, past Postfix's 102,400)",
                b"X-Folded: start\r\n" + (b"\t" + b"z" * 97 + b"\r\n") * 1200 + subject + b"body\r\n"),
        message("header_no_colon_middle", "a line with no colon between headers",
                b"Subject: x\r\nnot a header\r\nX-After: y\r\n\r\nbody\r\n"),
        message("header_blank_with_spaces", "headers parted from the body by a line of blanks",
                b"Subject: x\r\n   \r\nbody\r\n"),
        message("header_space_before_colon", "a header name with a blank before its colon",
                b"Subject : x\r\n\r\nbody\r\n"),
        message("dots", "lines of two and three dots and a dot with text (each stuffed once)",
                subject + b"..\r\n...\r\n..x\r\n.y\r\n"),
        message("space_dot", "a line of a blank and a dot (no end)", subject + b" .\r\nafter\r\n"),
        message("lines_20k", "20,000 short body lines", subject + b"z\r\n" * 20_000),
    ]
    return probes


def line_lengths() -> list[tuple[str, str, list]]:
    """Lines at and past each server's read bounds (RFC 5321's 512 and 1000, Postfix's 2048 and
    Exim's 998 for message lines, Sendmail's and OpenSMTPD's buffers of 2048 and 65535): command
    lines (NOOP and its padding; a NOOP after, to see whether the session goes on), message body
    and header lines, and lines whose end is slow to come. Each length counts the bytes before
    the CRLF."""
    noop = ("send", b"NOOP\r\n", None)

    def command(length: int) -> bytes:
        return b"NOOP " + b"x" * (length - 5) + b"\r\n"

    def message(name: str, description: str, body: bytes) -> tuple[str, str, list]:
        return (name, description, [("read", 1), EHLO, MAIL, RCPT, ("send", b"DATA\r\n", 1),
                                    ("send", body + b".\r\n", None), QUIT])

    subject = b"Subject: x\r\n\r\n"
    probes = [(f"command_line_{length}", f"a NOOP line of {length} bytes, then NOOP",
               [("read", 1), EHLO, ("send", command(length), None), noop, QUIT])
              for length in (510, 511, 512, 513, 998, 999, 1000, 2046, 2047, 2048, 4095, 4096, 8192, 16384,
                             65533, 65534, 65535)]
    probes += [message(f"body_line_{length}", f"a body line of {length} bytes", subject + b"z" * length + b"\r\n")
               for length in (998, 999, 1000, 2047, 2048, 4096, 8192, 16384, 65533, 65534, 65535)]
    probes += [message(f"header_line_{length}", f"a header line of {length} bytes",
                       b"X-Long: " + b"z" * (length - 8) + b"\r\n" + subject + b"body\r\n")
               for length in (999, 2048, 65535)]
    probes += [
        ("command_unended_70000", "70,000 bytes of a NOOP line with no end, a pause, then its end and NOOP",
         [("read", 1), EHLO, ("send", command(70_000)[:-2], None), ("send", b"\r\n", None), noop, QUIT]),
        ("body_unended_70000", "a body line of 70,000 bytes with no end, a pause, then its end and the message's",
         [("read", 1), EHLO, MAIL, RCPT, ("send", b"DATA\r\n", 1), ("send", subject + b"z" * 70_000, None),
          ("send", b"\r\n.\r\n", None), QUIT]),
        ("command_line_lf_65535", "a NOOP line of 65,535 bytes ended by a bare LF, then NOOP",
         [("read", 1), EHLO, ("send", command(65_535)[:-2] + b"\n", None), noop, QUIT]),
    ]
    return probes


def transactions() -> list[tuple[str, str, list]]:
    """Commands out of a transaction's order, one reply waited for at a time: MAIL twice, RCPT and
    DATA where they do not belong, a greeting, RSET, VRFY or NOOP in the middle, two messages in
    a session, DATA after a message, a HELO that is no greeting (RFC 5321 4.1.4: a HELO or EHLO
    mid-transaction ends it). (STARTTLS in a transaction is the tests' over sockets: Postfix and
    Exim start TLS there.)"""
    other = ("send", b"MAIL FROM:<b@client.example.org>\r\n", 1)
    data, body = ("send", b"DATA\r\n", 1), ("send", b"Subject: x\r\n\r\nbody\r\n.\r\n", 1)
    unknown = ("send", b"RCPT TO:<nosuchuser@mail.example.com>\r\n", 1)
    relay = ("send", b"RCPT TO:<victim@example.net>\r\n", 1)
    group = [
        ("mail_twice", "MAIL, then MAIL again", [EHLO, MAIL, other]),
        ("mail_twice_after_rcpt", "MAIL, RCPT, then MAIL again", [EHLO, MAIL, RCPT, other, RCPT]),
        ("rcpt_before_mail", "RCPT with no MAIL", [EHLO, RCPT, MAIL, RCPT]),
        ("data_before_mail", "DATA with no MAIL", [EHLO, data, MAIL, data]),
        ("data_before_rcpt", "DATA after MAIL, no RCPT", [EHLO, MAIL, data, RCPT, data, body]),
        ("data_after_unknown", "DATA after an unknown recipient only", [EHLO, MAIL, unknown, data, RCPT, data,
                                                                         body]),
        ("data_after_relay_and_unknown", "DATA after a relay and an unknown recipient",
         [EHLO, MAIL, relay, unknown, data]),
        ("mail_before_greeting", "MAIL, RCPT and DATA with no HELO", [MAIL, RCPT, data, body]),
        ("helo_mid_transaction", "HELO after MAIL and RCPT, then RCPT and DATA", [EHLO, MAIL, RCPT, HELO, RCPT,
                                                                                   data]),
        ("ehlo_mid_transaction", "EHLO after MAIL and RCPT, then RCPT and DATA", [EHLO, MAIL, RCPT, EHLO, RCPT,
                                                                                   data]),
        ("ehlo_after_helo", "HELO, then EHLO, then MAIL", [HELO, EHLO, MAIL]),
        ("helo_after_ehlo", "EHLO, then HELO, then MAIL", [EHLO, HELO, MAIL]),
        ("rset_mid_transaction", "RSET after RCPT, then RCPT and DATA", [EHLO, MAIL, RCPT, ("send", b"RSET\r\n", 1),
                                                                           RCPT, data]),
        ("rset_before_greeting", "RSET with no HELO, then MAIL", [("send", b"RSET\r\n", 1), MAIL]),
        ("noop_vrfy_mid_transaction", "NOOP and VRFY between RCPT and DATA",
         [EHLO, MAIL, RCPT, ("send", b"NOOP\r\n", 1), ("send", b"VRFY postmaster\r\n", 1), data, body]),
        ("two_messages", "two messages in one session, no RSET between", [EHLO, MAIL, RCPT, data, body, other, RCPT,
                                                                          data, body]),
        ("data_after_message", "DATA and RCPT straight after a message", [EHLO, MAIL, RCPT, data, body, data,
                                                                         RCPT]),
        ("rset_after_message", "RSET after a message, then RCPT", [EHLO, MAIL, RCPT, data, body,
                                                                   ("send", b"RSET\r\n", 1), RCPT]),
        ("empty_message_twice", "an empty message, then another", [EHLO, MAIL, RCPT, data, ("send", b".\r\n", 1),
                                                                   MAIL, RCPT, data, ("send", b".\r\n", 1)]),
        ("null_sender_twice", "MAIL FROM:<> twice", [EHLO, ("send", b"MAIL FROM:<>\r\n", 1),
                                                     ("send", b"MAIL FROM:<>\r\n", 1)]),
        ("quit_in_transaction", "QUIT after RCPT", [EHLO, MAIL, RCPT]),
        ("auth_in_transaction", "AUTH after MAIL", [EHLO, MAIL, ("send", b"AUTH PLAIN\r\n", 1)]),
        ("vrfy_expn_before_greeting", "VRFY and EXPN with no HELO", [("send", b"VRFY postmaster\r\n", 1),
                                                                     ("send", b"EXPN postmaster\r\n", 1)]),
    ]
    return [(name, desc, [("read", 1), *steps, QUIT]) for name, desc, steps in group]


def after_helo() -> list[tuple[str, str, list]]:
    """ESMTP after HELO, where nothing was advertised: each MAIL and RCPT parameter, BDAT, AUTH and
    STARTTLS; and the same parameters after EHLO for comparison where a server takes them."""
    def mail(name: str, argument: bytes) -> tuple[str, str, list]:
        return (f"helo_mail_{name}", f"after HELO: MAIL FROM:<a@client.example.org> {argument.decode()}",
                [("read", 1), HELO, ("send", b"MAIL FROM:<a@client.example.org> " + argument + b"\r\n", 1),
                 RCPT, QUIT])

    def rcpt(name: str, argument: bytes) -> tuple[str, str, list]:
        return (f"helo_rcpt_{name}", f"after HELO: RCPT TO:<postmaster@mail.example.com> {argument.decode()}",
                [("read", 1), HELO, MAIL, ("send", b"RCPT TO:<postmaster@mail.example.com> " + argument + b"\r\n", 1),
                 QUIT])

    probes = [mail(name, argument) for name, argument in (
        ("size", b"SIZE=1000"), ("body_8bit", b"BODY=8BITMIME"), ("body_7bit", b"BODY=7BIT"),
        ("body_binary", b"BODY=BINARYMIME"), ("ret", b"RET=HDRS"), ("envid", b"ENVID=abc"),
        ("smtputf8", b"SMTPUTF8"), ("auth", b"AUTH=<>"), ("unknown", b"FOO=BAR"))]
    probes += [rcpt(name, argument) for name, argument in (
        ("notify", b"NOTIFY=NEVER"), ("orcpt", b"ORCPT=rfc822;postmaster@mail.example.com"), ("unknown", b"FOO=BAR"))]
    probes += [
        ("helo_bdat", "after HELO, MAIL and RCPT: BDAT 5 LAST",
         [("read", 1), HELO, MAIL, RCPT, ("send", b"BDAT 5 LAST\r\nhello", None), QUIT]),
        ("helo_auth", "after HELO: AUTH PLAIN with a response",
         [("read", 1), HELO, ("send", b"AUTH PLAIN " + base64.b64encode(b"\0root\0root") + b"\r\n", 1), QUIT]),
        ("helo_starttls", "after HELO: STARTTLS with an argument", [("read", 1), HELO, ("send", b"STARTTLS x\r\n", 1),
                                                                     QUIT]),
        ("helo_utf8_sender", "after HELO: a UTF-8 sender with SMTPUTF8",
         [("read", 1), HELO, ("send", "MAIL FROM:<jöhn@client.example.org> SMTPUTF8\r\n".encode(), 1), RCPT, QUIT]),
    ]
    return probes


def exploits() -> list[tuple[str, str, list]]:
    """The inputs public exploits for SMTP servers send, as their proof-of-concept code sends them
    (the payloads harmless: `id`, `sleep`): CVE-2019-10149's ${run} recipients, CVE-2020-7247's
    shell in a sender and its payload as a message, 21Nails' AUTH= and option values
    (CVE-2020-28021, -28022), BDAT's (CVE-2017-16943, -16944), AUTH's base64 (CVE-2018-6789),
    PROXY protocol headers sent to a server that expects none (CVE-2023-42117), Sendmail's
    crackaddr() headers (CVE-2002-1337) and prescan() addresses (CVE-2003-0694). What each real
    server answers, and where it hangs up."""
    data, quit_ = ("send", b"DATA\r\n", 1), QUIT

    def rcpt(address: bytes) -> tuple[str, bytes, int]:
        return ("send", b"RCPT TO:<" + address + b">\r\n", 1)

    def mail(argument: bytes) -> tuple[str, bytes, int]:
        return ("send", b"MAIL FROM:" + argument + b"\r\n", 1)

    wizard = b"${run{\\x2Fbin\\x2Fsh\t-c\t\\x22id\\x22}}"
    smtpd_payload = b"\r\n".join(b"#%d" % n for n in range(14)) + b"\r\nid\r\n"
    group = [
        ("cve_2019_10149_local", "RCPT TO:<${run{...}}@localhost> (the Return of the WIZard's local form)",
         [EHLO, mail(b"<>"), rcpt(wizard + b"@localhost"), data, ("send", b"Received: 1\r\n" * 31 + b".\r\n", 1)]),
        ("cve_2019_10149_tagged", "RCPT TO:<root+${run{...}}@localhost>", [EHLO, mail(b"<>"),
                                                                          rcpt(b"root+" + wizard + b"@localhost")]),
        ("cve_2019_10149_here", "RCPT TO:<${run{...}}@mail.example.com>",
         [EHLO, mail(b"<>"), rcpt(wizard + b"@mail.example.com")]),
        ("cve_2019_10149_sender", "MAIL FROM:<${run{...}}@client.example.org>",
         [EHLO, mail(b"<" + wizard + b"@client.example.org>"), RCPT]),
        ("cve_2020_7247_sleep", "MAIL FROM:<;sleep 66;>", [HELO, mail(b"<;sleep 66;>"), RCPT]),
        ("cve_2020_7247_payload", "MAIL FROM:<;for i in ...;do read r;done;sh;exit 0;>, then the payload as a message",
         [EHLO, mail(b"<;for i in 0 1 2 3 4 5 6 7 8 9 a b c d;do read r;done;sh;exit 0;>"),
          rcpt(b"root"), data, ("send", smtpd_payload + b".\r\n", 1)]),
        ("cve_2020_7247_root", "MAIL FROM:<;id;> and RCPT TO:<root>", [EHLO, mail(b"<;id;>"), rcpt(b"root")]),
        ("cve_2020_28021", "MAIL FROM:<> AUTH=Raven+0AReyes (a newline in the AUTH= xtext)",
         [EHLO, mail(b"<> AUTH=Raven+0AReyes"), RCPT]),
        ("cve_2020_28021_long", "MAIL FROM:<> AUTH= and a long xtext of +0A",
         [EHLO, mail(b"<> AUTH=" + b"+0A" * 200), RCPT]),
        ("cve_2020_28022", "MAIL FROM:<> with an option value ending in a backslash",
         [EHLO, mail(b"<> XXX=\\"), mail(b"<a@client.example.org> SIZE=1\\")]),
        ("cve_2017_16943", "a BDAT chunk of DEL bytes, then an empty last one",
         [EHLO, MAIL, RCPT, ("send", b"BDAT 10\r\n" + b"\x7f" * 10, 1), ("send", b"BDAT 0 LAST\r\n", 1)]),
        ("cve_2017_16944", "BDAT with a dot line inside its chunk", [EHLO, MAIL, RCPT,
                                                                     ("send", b"BDAT 10\r\n.\r\nabcdefg", 1),
                                                                     ("send", b"BDAT 3 LAST\r\nxyz", 1)]),
        ("cve_2018_6789", "AUTH CRAM-MD5 with a base64 of 4n+3 bytes", [EHLO, ("send", b"AUTH CRAM-MD5\r\n", 1),
                                                                        ("send", b"d" * 27 + b"\r\n", 1)]),
        ("proxy_v1", "a PROXY protocol v1 header first", [("send", b"PROXY TCP4 192.0.2.1 192.0.2.2 4444 25\r\n", 1),
                                                          EHLO]),
        ("proxy_v1_unknown", "PROXY UNKNOWN first", [("send", b"PROXY UNKNOWN\r\n", 1), HELO]),
        ("proxy_v2", "a PROXY protocol v2 signature first",
         [("send", b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00\x02\x01\xc0\x00\x02\x02\x11\x5c\x00\x19", None)]),
        ("cve_2002_1337", "a From: header of 2,000 <> pairs (crackaddr's overflow)",
         [EHLO, MAIL, RCPT, data, ("send", b"From: " + b"<>" * 2000 + b"\r\nSubject: x\r\n\r\nbody\r\n.\r\n", 1)]),
        ("cve_2002_1337_comments", "a To: header of nested comments and angles",
         [EHLO, MAIL, RCPT, data, ("send", b"To: " + b"(<>" * 500 + b"\r\nSubject: x\r\n\r\nbody\r\n.\r\n", 1)]),
        ("cve_2003_0694", "RCPT TO: of 600 backslashed 0xFF and a domain",
         [EHLO, MAIL, rcpt(b"\\\xff" * 600 + b"@mail.example.com")]),
        ("etrn_format", "ETRN with printf conversions", [EHLO, ("send", b"ETRN %s%s%s%n\r\n", 1)]),
        ("helo_format", "HELO with printf conversions", [("send", b"HELO %s%s%n%x\r\n", 1), MAIL]),
        ("vrfy_format", "VRFY with printf conversions", [EHLO, ("send", b"VRFY %n%n%n\r\n", 1)]),
        ("mail_shell", "MAIL FROM with a shell command in backquotes and $()",
         [EHLO, mail(b"<`id`@client.example.org>"), ("send", b"RSET\r\n", 1), mail(b"<$(id)@client.example.org>")]),
        ("rcpt_pipe", "RCPT TO:<|/bin/sh -c id> and a quoted pipe", [EHLO, MAIL, rcpt(b"|/bin/sh -c id"),
                                                                      rcpt(b'"|/bin/sh -c id"@mail.example.com')]),
        ("rcpt_file", "RCPT TO: a file path", [EHLO, MAIL, rcpt(b"/etc/passwd"),
                                               rcpt(b'"/tmp/x"@mail.example.com')]),
    ]
    return [(name, desc, [("read", 1), *steps, quit_]) for name, desc, steps in group]


def chunks() -> list[tuple[str, str, list]]:
    """BDAT (RFC 3030) as clients and fuzzers write it: the size in other spellings, LAST in other
    cases, chunks split inside a line or a CR LF, a dot line inside a chunk, bodies no client
    sends (NUL, bare CR and LF, a line past 998 bytes), BDAT after the last chunk, and BDAT where
    the server has no CHUNKING (every chunk is then read as commands)."""
    def chunk(size: int | bytes, data: bytes, last: bool = False) -> tuple[str, bytes, int | None]:
        head = size if isinstance(size, bytes) else b"%d" % size
        return ("send", b"BDAT " + head + (b" LAST" if last else b"") + b"\r\n" + data, None)

    def message(name: str, description: str, *steps: tuple) -> tuple[str, str, list]:
        return name, description, [("read", 1), EHLO, MAIL, RCPT, *steps, QUIT]

    body = b"Subject: x\r\n\r\nbody\r\n"
    return [
        message("leading_zeros", "BDAT 0020 LAST", chunk(b"0020", body, True)),
        message("plus_sign", "BDAT +20 LAST", chunk(b"+20", body, True)),
        message("two_blanks", "BDAT 20  LAST (two blanks)", ("send", b"BDAT 20  LAST\r\n" + body, None)),
        message("tab", "BDAT 20<TAB>LAST", ("send", b"BDAT 20\tLAST\r\n" + body, None)),
        message("last_lower", "BDAT 20 last", ("send", b"BDAT 20 last\r\n" + body, None)),
        message("trailing_blank", "BDAT 20 LAST and a blank", ("send", b"BDAT 20 LAST \r\n" + body, None)),
        message("hex", "BDAT 0x14 LAST", chunk(b"0x14", body, True)),
        message("negative", "BDAT -1 LAST", chunk(b"-1", b"", True)),
        message("split_in_line", "a message in two chunks split inside a line",
                chunk(10, body[:10]), chunk(len(body) - 10, body[10:], True)),
        message("split_in_crlf", "chunks split between a CR and its LF",
                chunk(11, body[:11]), chunk(len(body) - 11, body[11:], True)),
        message("dot_line_inside", "a chunk holding a dot line and a CRLF.CRLF (no end of data in BDAT)",
                chunk(len(body) + 12, body + b".\r\nMAIL\r\n.\r\n", True)),
        message("nul", "a chunk holding a NUL", chunk(len(body) + 4, body + b"a\x00b\n", True)),
        message("bare_lf", "a chunk with bare LF line ends", chunk(22, b"Subject: x\n\nbody\nmore\n", True)),
        message("bare_cr", "a chunk with a bare CR", chunk(len(body) + 5, body + b"a\rb\r\n", True)),
        message("line_999", "a chunk with a line of 999 bytes", chunk(len(body) + 1001, body + b"z" * 999 + b"\r\n",
                                                                       True)),
        message("no_final_crlf", "a last chunk ending inside a line", chunk(len(body) + 4, body + b"tail", True)),
        message("only_last_empty", "BDAT 0 LAST as the only chunk", chunk(0, b"", True)),
        message("after_last", "BDAT after the last chunk", chunk(len(body), body, True), chunk(4, b"more", True)),
        message("many_small", "a message in twelve chunks of two bytes and a last",
                *[chunk(2, body[n : n + 2]) for n in range(0, 24, 2)], chunk(0, b"", True)),
        ("before_mail", "BDAT before MAIL, then MAIL", [("read", 1), EHLO, chunk(4, b"abcd", True), MAIL, QUIT]),
        ("after_helo", "BDAT after HELO, MAIL and RCPT", [("read", 1), HELO, MAIL, RCPT, chunk(len(body), body, True),
                                                          QUIT]),
    ]


def spellings() -> list[tuple[str, str, list]]:
    """The commands of a transaction as clients and hand-rolled scripts spell them: any case, blanks
    and tabs where none or one belong, a blank before the colon or after it, parameter keywords in
    lower case, trailing blanks; each whole transaction, so what a spelling costs shows later."""
    lines = [
        (b"EHLO  client.example.org", b"MAIL FROM:<a@client.example.org>"),
        (b"EHLO\tclient.example.org", b"MAIL FROM:<a@client.example.org>"),
        (b"EHLO client.example.org ", b"MAIL FROM:<a@client.example.org>"),
        (b"ehlo client.example.org", b"mail from:<a@client.example.org>"),
        (b"EHLO client.example.org", b"Mail From:<a@client.example.org>"),
        (b"EHLO client.example.org", b"MAIL FROM: <a@client.example.org>"),
        (b"EHLO client.example.org", b"MAIL FROM:  <a@client.example.org>"),
        (b"EHLO client.example.org", b"MAIL FROM :<a@client.example.org>"),
        (b"EHLO client.example.org", b"MAIL  FROM:<a@client.example.org>"),
        (b"EHLO client.example.org", b"MAIL\tFROM:<a@client.example.org>"),
        (b"EHLO client.example.org", b"MAIL FROM:<a@client.example.org> "),
        (b"EHLO client.example.org", b"MAIL FROM:<a@client.example.org>\t"),
        (b"EHLO client.example.org", b"MAIL FROM:<a@client.example.org>  SIZE=100"),
        (b"EHLO client.example.org", b"MAIL FROM:<a@client.example.org> size=100"),
        (b"EHLO client.example.org", b"MAIL FROM:<a@client.example.org> body=8bitmime"),
        (b"EHLO client.example.org", b"MAIL FROM:a@client.example.org"),
        (b"EHLO client.example.org", b"MAIL FROM:<A@CLIENT.EXAMPLE.ORG>"),
        (b"EHLO client.example.org", b"MAIL FROM:<>"),
        (b"EHLO client.example.org", b"MAIL FROM: <>"),
        (b"EHLO client.example.org", b"MAIL FROM:< >"),
        (b"HELO client.example.org", b"MAIL FROM:<a@client.example.org> SIZE=100"),
    ]
    rcpts = [b"rcpt to:<postmaster@mail.example.com>", b"RCPT TO: <postmaster@mail.example.com>",
             b"RCPT TO :<postmaster@mail.example.com>", b"RCPT  TO:<postmaster@mail.example.com>",
             b"RCPT TO:<postmaster@mail.example.com> notify=never", b"RCPT TO:postmaster@mail.example.com",
             b"RCPT TO:<POSTMASTER@MAIL.EXAMPLE.COM>", b"RCPT TO:<postmaster@mail.example.com> ",
             b"RCPT TO:<Postmaster>", b"RCPT TO:<postmaster@MAIL.example.com>"]
    ends = [b"DATA ", b"data", b"DATA\t", b"Data"]
    probes = []
    for n, (greeting, sender) in enumerate(lines):
        probes.append((f"sender_{n + 1}", f"{greeting.decode()!r}, then {sender.decode()!r} and RCPT",
                       [("read", 1), ("send", greeting + b"\r\n", 1), ("send", sender + b"\r\n", 1), RCPT, QUIT]))
    for n, rcpt in enumerate(rcpts):
        probes.append((f"recipient_{n + 1}", f"{rcpt.decode()!r}, then DATA",
                       [("read", 1), EHLO, MAIL, ("send", rcpt + b"\r\n", 1), ("send", b"DATA\r\n", 1),
                        ("send", b"Subject: x\r\n\r\nbody\r\n.\r\n", 1), QUIT]))
    for n, data in enumerate(ends):
        probes.append((f"data_{n + 1}", f"{data.decode()!r} after a recipient",
                       [("read", 1), EHLO, MAIL, RCPT, ("send", data + b"\r\n", 1),
                        ("send", b"Subject: x\r\n\r\nbody\r\n.\r\n", 1), QUIT]))
    for n, verb in enumerate([b"QUIT ", b"quit", b"RSET ", b"rset", b"NOOP ", b"Noop"]):
        probes.append((f"verb_{n + 1}", f"{verb.decode()!r} after MAIL, then RCPT",
                       [("read", 1), EHLO, MAIL, ("send", verb + b"\r\n", 1), RCPT, QUIT]))
    return probes


def sizes() -> list[tuple[str, str, list]]:
    """MAIL's SIZE at and around each server's limit (Postfix 10240000, OpenSMTPD 36700160, Exim
    52428800) and past what each reads it into (2^31, 2^32, 2^63, 2^64), with a sign, a blank or
    digits past any number; then RCPT, since a server may refuse the size only there."""
    values = [b"0", b"1", b"10239999", b"10240000", b"10240001", b"36700160", b"36700161", b"52428800", b"52428801",
              b"2147483647", b"2147483648", b"4294967295", b"4294967296", b"9223372036854775807",
              b"18446744073709551615", b"18446744073709551616", b"99999999999999999999999999", b"-1", b"+100",
              b" 100", b"100 ", b"00000000000000000000100", b"1e3", b"0x10"]
    probes = []
    for n, value in enumerate(values):
        probes.append((f"size_{n + 1}", f"MAIL FROM:<a@client.example.org> SIZE={value.decode()!r}, then RCPT",
                       [("read", 1), EHLO, ("send", b"MAIL FROM:<a@client.example.org> SIZE=" + value + b"\r\n", 1),
                        RCPT, QUIT]))
    return probes


def after_errors() -> list[tuple[str, str, list]]:
    """What a refusal leaves behind: after a MAIL taken, a MAIL refused, or none, one command of each
    kind (an unknown one, a RCPT refused for its syntax, its user, its relay, a NOOP, a VRFY, a
    HELP, a RSET), then DATA; each waited for, and pipelined in one write (Exim's last_was_rcpt
    and last_was_rej_mail, Postfix's and Sendmail's error counts)."""
    before = {"mail_taken": [b"MAIL FROM:<a@client.example.org>"], "mail_refused": [b"MAIL FROM:<a@>"],
              "no_mail": []}
    middle = {"unknown": b"XYZZY", "rcpt_syntax": b"RCPT TO:<a@>",
              "rcpt_unknown": b"RCPT TO:<nosuchuser@mail.example.com>", "rcpt_relay": b"RCPT TO:<victim@example.net>",
              "noop": b"NOOP", "vrfy": b"VRFY postmaster", "help": b"HELP", "rset": b"RSET"}
    probes = []
    for state, lines in before.items():
        for kind, line in middle.items():
            commands = [*lines, line, b"DATA"]
            probes.append((f"{state}_{kind}_waited", f"{' / '.join(c.decode() for c in commands)}, each waited for",
                           [("read", 1), EHLO, *[("send", c + b"\r\n", 1) for c in commands], QUIT]))
            probes.append((f"{state}_{kind}_pipelined", f"{' / '.join(c.decode() for c in commands)} in one write",
                           [("read", 1), EHLO, ("send", b"".join(c + b"\r\n" for c in commands), None), QUIT]))
    return probes


def auth(tls: bool = False) -> list[tuple[str, str, list]]:
    """SASL where sequence and encoding go wrong, and where they go right (the plain listener has
    no SASL: record against the Dovecot one, 127.0.0.1:2601, user "user", password "secret").
    `tls`: each conversation starts with STARTTLS, for a server that offers its password
    mechanisms only under TLS (the auth_tls group: Exim's template authenticators)."""
    ehlo = ("send", b"EHLO client.example.org\r\n", 1)
    start = [("read", 1), ehlo, ("send", b"STARTTLS\r\n", 1), ("tls",)] if tls else [("read", 1)]
    quit_ = ("send", b"QUIT\r\n", 1)
    mail = ("send", b"MAIL FROM:<a@client.example.org>\r\n", 1)
    good = base64.b64encode(b"\0user\0secret")
    wrong = base64.b64encode(b"\0user\0wrong")

    def steps(*lines: bytes) -> list:
        return [*start, ehlo, *[("send", line + b"\r\n", 1) for line in lines], quit_]

    return [
        ("auth_in_transaction", "AUTH after MAIL", [*start, ehlo, mail, ("send", b"AUTH PLAIN " + wrong + b"\r\n", 1),
                                                    quit_]),
        ("auth_plain_bad_initial", "AUTH PLAIN with an initial response that is no base64",
         steps(b"AUTH PLAIN !!!")),
        ("auth_login_bad_continued", "AUTH LOGIN, then a username that is no base64", steps(b"AUTH LOGIN", b"!!!")),
        ("auth_plain_bad_continued", "AUTH PLAIN, then a response that is no base64", steps(b"AUTH PLAIN", b"!!!")),
        ("auth_plain_empty_initial", "AUTH PLAIN = (an empty initial response)", steps(b"AUTH PLAIN =")),
        ("auth_cancel", "AUTH LOGIN, then * (cancel)", steps(b"AUTH LOGIN", b"*")),
        ("auth_login_initial", "AUTH LOGIN with the username on the same line",
         steps(b"AUTH LOGIN " + base64.b64encode(b"user"), base64.b64encode(b"wrong"))),
        ("auth_plain_no_nul", "AUTH PLAIN whose response has no NULs",
         steps(b"AUTH PLAIN " + base64.b64encode(b"user"))),
        ("auth_after_helo", "HELO, then AUTH",
         [*start, HELO, ("send", b"AUTH PLAIN " + wrong + b"\r\n", 1), quit_]),
        ("auth_lowercase_mechanism", "auth plain with a lower-case mechanism", steps(b"auth plain " + wrong)),
        ("auth_success", "AUTH PLAIN with the right password", steps(b"AUTH PLAIN " + good)),
        ("auth_twice", "AUTH again after a success", steps(b"AUTH PLAIN " + good, b"AUTH PLAIN " + good)),
        ("auth_then_relay", "a login, then mail to a relay recipient",
         steps(b"AUTH PLAIN " + good, b"MAIL FROM:<a@client.example.org>", b"RCPT TO:<victim@example.net>")),
        ("auth_login_success", "AUTH LOGIN with the right password",
         steps(b"AUTH LOGIN", base64.b64encode(b"user"), base64.b64encode(b"secret"))),
        ("auth_login_empty_initial", "AUTH LOGIN = (an empty initial response): the name is asked for",
         steps(b"AUTH LOGIN =", b"*")),
        ("auth_login_empty_username", "AUTH LOGIN, then an empty user name", steps(b"AUTH LOGIN", b"")),
        ("auth_plain_foreign_authzid", "AUTH PLAIN logging in as postmaster with user's password",
         steps(b"AUTH PLAIN " + base64.b64encode(b"postmaster\0user\0secret"))),
        ("auth_plain_own_authzid", "AUTH PLAIN naming user as the one to log in as",
         steps(b"AUTH PLAIN " + base64.b64encode(b"user\0user\0secret"))),
        ("auth_three_words", "AUTH PLAIN with a response and one word more", steps(b"AUTH PLAIN " + wrong + b" x")),
        ("auth_bare", "AUTH with no mechanism", steps(b"AUTH")),
        ("auth_login_equals_continued", "AUTH LOGIN, then = as the user name (no base64 in a continuation)",
         steps(b"AUTH LOGIN", b"=")),
        # the mechanism's name as scanners and fuzzers write it (RFC 4422 §3.1: upper-case letters,
        # digits, "-" and "_", at most 20)
        ("auth_mechanism_bad_characters", "AUTH with a mechanism name no SASL name could be",
         steps(b"AUTH PL@IN " + wrong)),
        ("auth_mechanism_8bit", "AUTH with a mechanism name in UTF-8", steps("AUTH PLÄIN".encode())),
        ("auth_mechanism_tab", "AUTH PLAIN, a tab, then the response", steps(b"AUTH PLAIN\t" + wrong)),
        ("auth_mechanism_spaces", "AUTH with two spaces before the mechanism and after it",
         steps(b"AUTH  PLAIN  " + wrong)),
        ("auth_unknown_with_response", "AUTH with an unknown mechanism and a response", steps(b"AUTH FOO " + wrong)),
        ("auth_mechanism_symbols", "AUTH with a name of the characters SASL allows (a dash, an underscore)",
         steps(b"AUTH X_Y-1")),
        ("auth_mechanism_long", "AUTH with a 100-character mechanism name", steps(b"AUTH " + b"X" * 100)),
        ("auth_trailing_space", "AUTH PLAIN with its response and a space after it",
         steps(b"AUTH PLAIN " + wrong + b" ")),
        ("auth_plain_initial_cancel", "AUTH PLAIN with * as its initial response", steps(b"AUTH PLAIN *")),
        ("auth_login_cancel_password", "AUTH LOGIN, a user name, then * for the password",
         steps(b"AUTH LOGIN", base64.b64encode(b"user"), b"*")),
        ("auth_plain_unpadded", "AUTH PLAIN whose base64 lacks its padding",
         steps(b"AUTH PLAIN " + base64.b64encode(b"\0user\0wrong").rstrip(b"="))),
        ("auth_plain_four_items", "AUTH PLAIN with the right password and a fourth NUL-separated item",
         steps(b"AUTH PLAIN " + base64.b64encode(b"\0user\0secret\0x"))),
        ("auth_login_nul_initial", "AUTH LOGIN whose initial response is the user name, a NUL and the password",
         steps(b"AUTH LOGIN " + base64.b64encode(b"user\0secret"))),
        ("auth_login_nul_username", "AUTH LOGIN, then the user name, a NUL and the password as the user name",
         steps(b"AUTH LOGIN", base64.b64encode(b"user\0secret"), b"*")),
        ("auth_plain_long_response", "AUTH PLAIN with a 1,500-byte response",
         steps(b"AUTH PLAIN " + base64.b64encode(b"\0user\0" + b"w" * 1494))),
        ("auth_cram_initial", "AUTH CRAM-MD5 with an initial response (the server speaks first there)",
         steps(b"AUTH CRAM-MD5 " + base64.b64encode(b"user 0123456789abcdef0123456789abcdef"))),
        ("auth_in_transaction_after_login", "a login, MAIL, then AUTH again",
         steps(b"AUTH PLAIN " + good, b"MAIL FROM:<a@client.example.org>", b"AUTH PLAIN " + good)),
        ("auth_after_rset", "AUTH after MAIL and RSET", steps(b"MAIL FROM:<a@client.example.org>", b"RSET",
                                                             b"AUTH PLAIN " + wrong)),
        # base64 as each server's decoder reads it: white space, padding where it cannot be, the
        # URL-safe alphabet, a line longer than a command may be, a bare LF
        ("auth_plain_spaced_initial", "AUTH PLAIN with the right password, its base64 split by a space",
         steps(b"AUTH PLAIN " + good[:8] + b" " + good[8:])),
        ("auth_plain_spaced_continued", "AUTH PLAIN, then the right base64 split inside a quantum by a space",
         steps(b"AUTH PLAIN", good[:6] + b" " + good[6:])),
        ("auth_plain_tab_continued", "AUTH PLAIN, then the right password's base64 split by a tab",
         steps(b"AUTH PLAIN", good[:8] + b"\t" + good[8:])),
        ("auth_plain_inner_padding", "AUTH PLAIN whose base64 has = inside it (two padded quanta)",
         steps(b"AUTH PLAIN " + base64.b64encode(b"\0user\0s") + base64.b64encode(b"ecret"))),
        ("auth_plain_extra_padding", "AUTH PLAIN with the right password and == more",
         steps(b"AUTH PLAIN " + good + b"==")),
        ("auth_plain_urlsafe", "AUTH PLAIN in base64's URL-safe alphabet (- and _)",
         steps(b"AUTH PLAIN " + base64.urlsafe_b64encode(b"\0user\0\xfb\xef\xff"))),
        ("auth_login_long_line", "AUTH LOGIN, then a user name of 20,000 base64 characters",
         steps(b"AUTH LOGIN", base64.b64encode(b"u" * 15_000), b"*")),
        ("auth_login_bare_lf", "AUTH LOGIN, then the user name and the password ended by a bare LF",
         [*start, ehlo, ("send", b"AUTH LOGIN\r\n", 1), ("send", base64.b64encode(b"user") + b"\n", 1),
          ("send", base64.b64encode(b"secret") + b"\n", 1), quit_]),
        ("auth_cram_spaced_response", "AUTH CRAM-MD5, then a response whose base64 has a space in it",
         steps(b"AUTH CRAM-MD5", base64.b64encode(b"user 0123456789abcdef0123456789abcdef")[:12] + b" "
               + base64.b64encode(b"user 0123456789abcdef0123456789abcdef")[12:])),
    ]


def auth_tls() -> list[tuple[str, str, list]]:
    return auth(tls=True)


def guessing() -> list[tuple[str, str, list]]:
    """What a password guesser (hydra, medusa) sends on one connection: AUTH after AUTH with
    another password each time, after STARTTLS (servers that offer AUTH only under TLS): how many
    failures a server takes, how late it answers them, and how it ends the session."""
    ehlo = ("send", b"EHLO client.example.org\r\n", 1)
    tls = [("send", b"STARTTLS\r\n", 1), ("tls",), ehlo]
    plain = [("send", b"AUTH PLAIN " + base64.b64encode(b"\0admin\0guess%d" % n) + b"\r\n", 1) for n in range(15)]
    login = [step for n in range(8) for step in (
        ("send", b"AUTH LOGIN\r\n", 1), ("send", base64.b64encode(b"admin") + b"\r\n", 1),
        ("send", base64.b64encode(b"guess%d" % n) + b"\r\n", 1))]
    quit_ = ("send", b"QUIT\r\n", 1)
    return [
        ("guessing_plain", "15 AUTH PLAIN, each with another password", [("read", 1), ehlo, *tls, *plain, quit_]),
        ("guessing_login", "8 AUTH LOGIN, each with another password", [("read", 1), ehlo, *tls, *login, quit_]),
    ]


def submission() -> list[tuple[str, str, list]]:
    """A submission service (port 587 in Debian's master.cf: smtpd_tls_security_level=encrypt,
    smtpd_tls_auth_only, relay only for SASL logins): record against 127.0.0.1:2603."""
    ehlo = ("send", b"EHLO client.example.org\r\n", 1)
    quit_ = ("send", b"QUIT\r\n", 1)
    tls = [("send", b"STARTTLS\r\n", 1), ("tls",), ehlo]
    good = b"AUTH PLAIN " + base64.b64encode(b"\0user\0secret") + b"\r\n"
    wrong = b"AUTH PLAIN " + base64.b64encode(b"\0user\0wrong") + b"\r\n"
    transaction = [("send", b"MAIL FROM:<a@client.example.org>\r\n", 1),
                   ("send", b"RCPT TO:<victim@example.net>\r\n", 1),
                   ("send", b"RCPT TO:<root@mail.example.com>\r\n", 1)]
    message = [("send", b"DATA\r\n", 1), ("send", b"Subject: x\r\n\r\nx\r\n.\r\n", 1)]
    return [
        ("sub_ehlo", "EHLO in the clear", [("read", 1), ehlo, quit_]),
        ("sub_before_tls", "commands before STARTTLS",
         [("read", 1), ehlo, *[("send", line + b"\r\n", 1) for line in (
             b"MAIL FROM:<a@client.example.org>", b"RSET", b"VRFY root", b"ETRN example.net", b"NOOP", b"HELP")],
          ("send", good, 1), quit_]),
        ("sub_tls_no_auth", "STARTTLS, then mail without a login", [("read", 1), ehlo, *tls, *transaction, quit_]),
        ("sub_tls_auth", "STARTTLS, a login, then relay",
         [("read", 1), ehlo, *tls, ("send", good, 1), *transaction, *message, quit_]),
        ("sub_tls_auth_wrong", "STARTTLS, a wrong login", [("read", 1), ehlo, *tls, ("send", wrong, 1), quit_]),
        ("sub_tls_vrfy", "STARTTLS, VRFY before and after a login (the recipient restrictions judge it)",
         [("read", 1), ehlo, *tls, ("send", b"VRFY root\r\n", 1), ("send", b"VRFY nosuchuser\r\n", 1),
          ("send", good, 1), ("send", b"VRFY nosuchuser\r\n", 1), ("send", b"VRFY victim@example.net\r\n", 1),
          quit_]),
    ]


def submissions() -> list[tuple[str, str, list]]:
    """Implicit TLS (port 465: smtpd_tls_wrappermode=yes): record against 127.0.0.1:2604; the
    recorder wraps each connection in TLS before the banner (see main)."""
    ehlo = ("send", b"EHLO client.example.org\r\n", 1)
    quit_ = ("send", b"QUIT\r\n", 1)
    good = b"AUTH PLAIN " + base64.b64encode(b"\0user\0secret") + b"\r\n"
    transaction = [("send", b"MAIL FROM:<a@client.example.org>\r\n", 1),
                   ("send", b"RCPT TO:<victim@example.net>\r\n", 1),
                   ("send", b"RCPT TO:<root@mail.example.com>\r\n", 1)]
    return [
        ("subs_ehlo", "EHLO", [("read", 1), ehlo, quit_]),
        ("subs_starttls", "STARTTLS inside TLS", [("read", 1), ehlo, ("send", b"STARTTLS\r\n", 1), quit_]),
        ("subs_vrfy", "VRFY before and after a login", [("read", 1), ehlo, ("send", b"VRFY root\r\n", 1),
                                                         ("send", good, 1), ("send", b"VRFY root\r\n", 1), quit_]),
        ("subs_no_auth", "mail without a login", [("read", 1), ehlo, *transaction, quit_]),
        ("subs_auth", "a login, then relay", [("read", 1), ehlo, ("send", good, 1), *transaction,
                                              ("send", b"DATA\r\n", 1),
                                              ("send", b"Subject: x\r\n\r\nx\r\n.\r\n", 1), quit_]),
    ]


class ImplicitTls:
    """battery.Conn, in TLS from the first byte (port 465)."""

    def __init__(self, conn_class: type) -> None:
        self.conn_class = conn_class

    def __call__(self, host: str, port: int, source: str | None = None):
        conn = self.conn_class(host, port, source)
        conn.start_tls()
        return conn


# The end-of-data variants the public SMTP smuggling scanners send (CVE-2023-51764/5/6), each
# followed by a smuggled second message and the real end.
SMUGGLING_ENDS = {"lf_lf": b"\n.\n", "lf_crlf": b"\n.\r\n", "cr_crlf": b"\r.\r\n", "crlf_cr": b"\r\n.\r",
                  "crlf_nul_dot_cr": b"\r\n\x00.\r", "crlf_nul_dot_lf": b"\r\n\x00.\n",
                  "crlf_nul_dot_crlf": b"\r\n\x00.\r\n", "crlf_dot_nul_crlf": b"\r\n.\x00\r\n",
                  "lf_lf_dot_crlf": b"\n\n.\r\n", "cr_cr": b"\r.\r"}


def smuggling() -> list[tuple[str, str, list]]:
    """Each end-of-data variant in a body, a second transaction behind it, then the real end; and a
    second transaction pipelined behind a proper end, before its reply."""
    quit_ = ("send", b"QUIT\r\n", 1)
    smuggled = (b"MAIL FROM:<admin@mail.example.com>\r\nRCPT TO:<postmaster@mail.example.com>\r\nDATA\r\n"
                b"Subject: smuggled\r\n")
    probes = [(f"smuggle_{name}", f"a body holding {esc(end)} and a smuggled message, then <CRLF>.<CRLF>",
               [("read", 1), HELO, MAIL, RCPT, ("send", b"DATA\r\n", 1),
                ("send", b"Subject: first\r\n\r\nbody" + end + smuggled + b"\r\nsmuggled body\r\n.\r\n", None),
                quit_]) for name, end in SMUGGLING_ENDS.items()]
    probes.append(("pipelined_second_transaction", "a second MAIL sent with the end of data, before its reply",
                   [("read", 1), HELO, MAIL, RCPT, ("send", b"DATA\r\n", 1),
                    ("send", b"Subject: first\r\n\r\nbody\r\n.\r\nMAIL FROM:<b@client.example.org>\r\n", None),
                    quit_]))
    return probes


def empty_local() -> list[tuple[str, str, list]]:
    """An address with no local part at the server's own domain (found by the differential test)."""
    return [
        ("vrfy_empty_local", "VRFY <<@mail.example.com>>",
         [("read", 1), EHLO, ("send", b"VRFY <<@mail.example.com>>\r\n", 1), QUIT]),
        ("rcpt_empty_local", "RCPT TO:<@mail.example.com>",
         [("read", 1), EHLO, MAIL, ("send", b"RCPT TO:<@mail.example.com>\r\n", 1), QUIT]),
        ("rcpt_empty_local_nested", "RCPT TO:<<@mail.example.com>>",
         [("read", 1), EHLO, MAIL, ("send", b"RCPT TO:<<@mail.example.com>>\r\n", 1), QUIT]),
    ]


def _dotted(length: int, head: bytes = b"", domain: bytes = b"@mail.example.com>") -> bytes:
    """An address in angle brackets of `length` bytes in all, made of one-letter words joined by
    dots (no token is long: only the address is)."""
    body = (head + b"a." * length)[:length - 1 - len(domain)]
    return b"<" + body.rstrip(b".").ljust(length - 1 - len(domain), b"b") + domain


def bytes_() -> list[tuple[str, str, list]]:
    """Bytes past ASCII and control bytes in commands and addresses, and addresses too long as a
    whole or in one token: what a server echoes of them, and what it refuses (Sendmail's
    invalidaddr(), prescan() and its 7-bit replies; found by probes of the lines group's kind)."""
    def line(name: str, data: bytes, desc: str, transaction: bool = False) -> tuple[str, str, list]:
        return name, desc, [("read", 1), EHLO, *([MAIL] if transaction else []), ("send", data + b"\r\n", 1), QUIT]

    return [
        line("unknown_cr", b"XYZ a\rb", "an unknown command with a bare CR inside"),
        line("unknown_high_cr", b"XYZ a\x8db", "an unknown command with 0x8D (a CR once its high bit is gone)"),
        line("unknown_high_lf", b"XYZ a\x8ab", "an unknown command with 0x8A (a LF once its high bit is gone)"),
        line("unknown_high_nul", b"XYZ a\x80b", "an unknown command with 0x80 (a NUL once its high bit is gone)"),
        line("unknown_high_crlf", b"XYZ \x8d\x8a", "an unknown command ending in 0x8D 0x8A"),
        line("unknown_utf8", b"XYZ \xc3\xa9", "an unknown command with a two-byte character"),
        line("help_cr", b"HELP a\rb", "HELP with a bare CR in its topic"),
        line("help_high_crlf", b"HELP \x8d\x8ax", "HELP with 0x8D 0x8A in its topic"),
        line("etrn_high_crlf", b"ETRN a\x8d\x8ab", "ETRN naming a node with 0x8D 0x8A inside"),
        line("etrn_high_nul", b"ETRN \x80", "ETRN naming a node of one 0x80"),
        line("notify_high_cr", b"RCPT TO:<postmaster@mail.example.com> NOTIFY=\x8d", "NOTIFY=0x8D", True),
        line("body_high_lf", b"MAIL FROM:<a@client.example.org> BODY=\x8a", "BODY=0x8A"),
        line("rcpt_cr", b"RCPT TO:<ro\rot>", "a recipient with a bare CR inside", True),
        line("rcpt_c1", b"RCPT TO:<a\x8db@mail.example.com>", "a recipient with a byte of 0x80-0x9F", True),
        line("rcpt_c1_parameter", b"RCPT TO:<a\x80b@mail.example.com> NOTIFY=FOO",
             "a recipient with 0x80 and a bad parameter", True),
        line("rcpt_c1_quoted", b"RCPT TO:<\"a\x8db\"@mail.example.com>", "a quoted local part with 0x8D", True),
        line("rcpt_c1_control", b"RCPT TO:<a\x80\x01b@mail.example.com>", "a recipient with 0x80 and 0x01", True),
        line("rcpt_utf8", b"RCPT TO:<a\xc3\xa9b@mail.example.com>", "a recipient with a two-byte character", True),
        line("rcpt_utf8_c1", b"RCPT TO:<a\xe2\x82\xacb@mail.example.com>",
             "a recipient with a euro sign (its middle byte 0x82)", True),
        line("rcpt_cyrillic", b"RCPT TO:<\xd1\x80oot@mail.example.com>", "a recipient starting with a Cyrillic er",
             True),
        line("rcpt_c1_unbalanced", b"RCPT TO:<a\x80b@mail.example.com", "an unclosed recipient with 0x80", True),
        line("rcpt_c1_route", b"RCPT TO:<a\x80b@@mail.example.com>", "a recipient with 0x80 and two @", True),
        line("mail_c1", b"MAIL FROM:<a\x8db@client.example.org>", "a sender with 0x8D"),
        line("mail_utf8_c1", b"MAIL FROM:<a\xe2\x82\xacb@client.example.org>", "a sender with a euro sign"),
        line("vrfy_c1", b"VRFY a\x9fb", "VRFY of a name with 0x9F"),
        line("vrfy_utf8_c1", b"VRFY a\xe2\x82\xacb", "VRFY of a name with a euro sign"),
        line("expn_c1", b"EXPN a\x8db", "EXPN of a name with 0x8D"),
        line("vrfy_control", b"VRFY a\x01b", "VRFY of a name with 0x01"),
        line("vrfy_control_remote", b"VRFY a\x01b@example.net", "VRFY of a remote address with 0x01"),
        line("expn_ff", b"EXPN a\xffb", "EXPN of a name with 0xFF"),
        line("vrfy_list_c1_first", b"VRFY a\x80b, root", "VRFY of a list whose first name has 0x80"),
        line("vrfy_list_c1_second", b"VRFY nobody, c\x80d", "VRFY of a list whose second name has 0x80"),
        line("vrfy_list_two_routes", b"VRFY a@@b, c@@d", "VRFY of two bad routes"),
        line("vrfy_list_route_then_unbalanced", b"VRFY root, a@@b, <c", "VRFY of a bad route, then an unclosed <"),
        line("vrfy_list_unbalanced_first", b"VRFY <c, root", "VRFY of a list that starts with an unclosed <"),
        line("vrfy_list_comment", b"VRFY (a, root", "VRFY of a list that starts with an unclosed ("),
        line("vrfy_list_closing", b"VRFY a>, root", "VRFY of a list whose first name has a stray >"),
        line("vrfy_list_in_brackets", b"VRFY <a, b>", "VRFY of two names inside one pair of brackets"),
        line("vrfy_list_blank_unbalanced", b"VRFY root <c", "VRFY of a name and an unclosed < after a blank"),
        line("expn_list_unbalanced", b"EXPN <root, postmaster", "EXPN of a list that starts with an unclosed <"),
        line("rcpt_255", b"RCPT TO:" + _dotted(255), "a recipient of 255 bytes with its brackets", True),
        line("rcpt_256", b"RCPT TO:" + _dotted(256), "a recipient of 256 bytes with its brackets", True),
        line("rcpt_300_c1", b"RCPT TO:" + _dotted(300, b"\x80"), "a recipient of 300 bytes starting with 0x80", True),
        line("mail_256", b"MAIL FROM:" + _dotted(256), "a sender of 256 bytes with its brackets"),
        line("vrfy_257", b"VRFY " + _dotted(257)[1:-1], "VRFY of a name of 257 bytes"),
        line("rcpt_token_255", b"RCPT TO:<" + b"a" * 255 + b">", "a recipient that is one token of 255 bytes", True),
        line("rcpt_token_256", b"RCPT TO:<" + b"a" * 256 + b">", "a recipient that is one token of 256 bytes", True),
        line("rcpt_token_c1_tail", b"RCPT TO:<" + b"a" * 300 + b"\x80@mail.example.com>",
             "a recipient whose long token ends in 0x80", True),
        line("rcpt_token_257", b"RCPT TO:<" + b"a" * 257 + b">", "a recipient that is one token of 257 bytes", True),
        line("rcpt_token_long_parameter", b"RCPT TO:<" + b"a" * 300 + b"> NOTIFY=NEVER",
             "a recipient of one long token, then a parameter", True),
        line("rcpt_many_tokens", b"RCPT TO:<" + b"a." * 600 + b"b@mail.example.com>",
             "a recipient of 1,200 one-letter tokens", True),
        line("rcpt_backslash_ff", b"RCPT TO:<" + b"\\\xff" * 300 + b"@mail.example.com>",
             "a recipient of 300 backslashed 0xFF (the shape of CVE-2003-0694's exploits)", True),
        line("rcpt_unbalanced_paren", b"RCPT TO:<a)b@mail.example.com>", "a recipient with a stray )", True),
        line("rcpt_backslash_blank", b"RCPT TO:a\\ b@mail.example.com", "a recipient with a backslashed blank",
             True),
        line("rcpt_ff", b"RCPT TO:<a\xffb@mail.example.com>", "a recipient with 0xFF", True),
        line("rcpt_a0", b"RCPT TO:<a\xa0b@mail.example.com>", "a recipient with 0xA0 (a blank once 7-bit)", True),
        line("vrfy_backslash_comma", b"VRFY a\\, root", "VRFY of a list whose comma is backslashed"),
        line("mail_envid_100", b"MAIL FROM:<a@client.example.org> ENVID=" + b"x" * 100, "an ENVID of 100 bytes"),
        line("mail_envid_101", b"MAIL FROM:<a@client.example.org> ENVID=" + b"x" * 101, "an ENVID of 101 bytes"),
        line("rcpt_orcpt_long", b"RCPT TO:<postmaster@mail.example.com> ORCPT=rfc822;" + b"x" * 300 + b"@example.net",
             "an ORCPT whose local part is 300 bytes", True),
        line("rcpt_long_comment", b"RCPT TO:<a.b.c(" + b"x" * 300 + b")@mail.example.com>",
             "a recipient with a comment of 300 bytes", True),
        line("rcpt_long_quoted", b"RCPT TO:\"" + b"a " * 140 + b"\"@mail.example.com",
             "a recipient whose quoted local part of 280 bytes holds blanks", True),
        line("rcpt_long_route", b"RCPT TO:" + _dotted(270, b"@", b":c@mail.example.com>"),
             "a recipient with a source route of 250 bytes", True),
    ]


def received(count: int, name: str = "Received") -> bytes:
    """`count` trace headers as relays before this one would have written them."""
    return b"".join(f"{name}: from relay{n}.example.net (relay{n}.example.net [192.0.2.{n % 250 + 1}])\r\n"
                    f"\tby mx{n}.example.net; Sat, 5 Dec 2026 10:00:00 +0000\r\n".encode() for n in range(count))


def content(chunking: bool = True) -> list[tuple[str, str, list]]:
    """Messages a server may judge by their content (hop counts, header sizes, no header at all),
    each sent by DATA after a transaction the server takes: Postfix's hopcount_limit (50),
    OpenSMTPD's MAX_HOPS_COUNT (100) and its RFC 5322 parser, Sendmail's MaxHopCount (25) and
    MaxHeadersLength (32768), Exim's header_maxsize (1 MB); where the server has CHUNKING, some
    again by BDAT."""
    ehlo = ("send", b"EHLO client.example.org\r\n", 1)

    def message(name: str, description: str, body: bytes) -> tuple[str, str, list]:
        return (name, description, [("read", 1), ehlo, MAIL, RCPT, ("send", b"DATA\r\n", 1),
                                    ("send", body + b".\r\n", 1), ("send", b"QUIT\r\n", 1)])

    subject = b"Subject: x\r\n"
    def filler(lines: int) -> bytes:  # header lines of 98 bytes each
        return b"".join(b"X-Filler-%05d: " % n + b"y" * 80 + b"\r\n" for n in range(lines))

    probes = [
        message("content_no_headers", "a message with no header: its first line has no colon", b"hello world\r\n"),
        message("content_no_blank_line", "a header, then a body line with no blank line before it",
                subject + b"hello world\r\n"),
        message("content_empty", "an empty message", b""),
        message("content_blank_first", "a blank line first: a body and no header", b"\r\nhello world\r\n"),
        message("content_folded_first", "a first line that continues a header there is not",
                b" folded\r\n" + subject + b"\r\nbody\r\n"),
        message("content_8bit_header", "a raw 8-bit header", "Subject: Grüße\r\n\r\nbody\r\n".encode()),
        message("content_header_line_40k", "one header line of 40,000 bytes",
                b"X-Long: " + b"z" * 40_000 + b"\r\n" + subject + b"\r\nbody\r\n"),
        message("content_headers_31k", "a header section of 30,968 bytes", filler(316) + b"\r\nbody\r\n"),
        message("content_headers_33k", "a header section of 33,026 bytes", filler(337) + b"\r\nbody\r\n"),
        message("content_headers_1m", "a header section of more than 1 MB", filler(12_000) + b"\r\nbody\r\n"),
        message("content_received_lowercase_101", "101 trace headers spelled received:",
                received(101, "received") + subject + b"\r\nbody\r\n"),
        message("content_received_after_body", "101 trace headers in the body, after the blank line",
                subject + b"\r\n" + received(101)),
    ]
    for name, header in (("unqualified", b"From: root"), ("no_address", b"From: John Smith"),
                         ("angle_only", b"From: <a@client.example.org>"),
                         ("group", b"To: undisclosed-recipients:;"),
                         ("display_name", b'From: "A, B" <a@client.example.org>'),
                         ("two", b"To: a@b.example, c@d.example"), ("bad_angle", b"From: <a@client.example.org"),
                         ("empty", b"From:"), ("reply_to_unqualified", b"Reply-To: postmaster"),
                         ("subject_only", b"Subject: a b c")):
        probes.append(message(f"content_header_{name}", f"a message whose header is {header.decode()!r}",
                              header + b"\r\n" + subject + b"\r\nbody\r\n"))
    for count in (24, 25, 26, 29, 30, 31, 48, 49, 50, 51, 98, 99, 100, 101):
        probes.append(message(f"content_received_{count}", f"{count} Received: headers",
                              received(count) + subject + b"\r\nbody\r\n"))
    if chunking:
        for name, body in (("received_101", received(101) + subject + b"\r\nbody\r\n"),
                           ("line_1200", subject + b"\r\n" + b"z" * 1200 + b"\r\n"),
                           ("header_unqualified", b"From: root\r\n" + subject + b"\r\nbody\r\n"),
                           ("no_headers", b"hello world\r\n")):
            probes.append((f"content_bdat_{name}", f"by BDAT: content_{name}'s message",
                           [("read", 1), ehlo, MAIL, RCPT, ("send", b"BDAT %d LAST\r\n" % len(body) + body, 1),
                            ("send", b"QUIT\r\n", 1)]))
    return probes


def errors_brief() -> list[tuple[str, str, list]]:
    """The errors group with 22 NOOPs, not 124: for a server that slows a NOOP flood down by a
    sleep that doubles each time (Sendmail's checksmtpattack() from its twentieth: 1, 2, 4 s);
    and 27 unknown commands (past Sendmail's MAXBADCOMMANDS of 25)."""
    return errors(junk=22, unknown=27)


GROUPS = {"limits": limits, "errors": errors, "errors_brief": errors_brief, "lines": lines, "sequence": sequence,
          "params": params, "recipients": recipients, "auth": auth, "auth_tls": auth_tls, "submission": submission,
          "submissions": submissions, "smuggling": smuggling, "empty_local": empty_local, "content": content,
          "guessing": guessing, "bytes": bytes_, "queue_file": queue_file, "routes": routes,
          "verbs": verbs, "helo_names": helo_names, "enumeration": enumeration,
          "address_forms": address_forms, "pipelining": pipelining,
          "bodies": bodies, "line_lengths": line_lengths,
          "transactions": transactions, "after_helo": after_helo,
          "exploits": exploits, "chunks": chunks,
          "spellings": spellings, "sizes": sizes, "after_errors": after_errors}


def connections(host: str, port: int, count: int = 52, source: str | None = None) -> list[dict]:
    """How many connections one client may hold open at once, and what the next one is told
    (`refused_from` and `refusal` null where every one was greeted)."""
    import socket

    held, banners = [], []
    for _ in range(count):
        sock = socket.create_connection((host, port), timeout=10, source_address=(source, 0) if source else None)
        banners.append(sock.recv(512))
        held.append(sock)
    for sock in held:
        sock.close()
    greeted = sum(1 for banner in banners if banner.startswith(b"220"))
    refused = greeted < count
    return [{"name": "connections_per_client", "description": f"{count} connections from one address held open at once",
             "greeted": greeted, "refused_from": greeted + 1 if refused else None,
             "refusal": esc(banners[greeted]) if refused else None, "banner": esc(banners[0])}]


def capture(group: str, host: str, port: int, source: str | None = None, workers: int = 1) -> list[dict]:
    """The conversations of `group` with the server at host:port, as stored (the limits group's
    bodies elided); `workers` of them at a time (each on a connection of its own: for a server
    that makes every client wait, as Sendmail's greet pause does)."""
    if group == "connections":
        return connections(host, port, source=source)
    if group in ("limits", "content"):  # sized by, and with BDAT where, the server's EHLO says
        size, chunking = advertised_size(host, port, source)
        probes = limits(size, chunking) if group == "limits" else content(chunking)
    else:
        probes = GROUPS[group]()
    if workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            conversations = list(pool.map(lambda probe: run_probe(host, port, *probe, source), probes))
    else:
        conversations = [run_probe(host, port, name, desc, steps, source) for name, desc, steps in probes]
    if group in ("limits", "queue_file"):  # the replies are kept, the megabytes of 'x' are not
        for conversation in conversations:
            elide_bodies(conversation)
    return conversations


def main() -> int:
    group, host, port, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    source = sys.argv[5] if len(sys.argv) > 5 else None  # Sendmail's captures: from 127.0.0.2
    if group == "connections":
        out.write_text(json.dumps(capture(group, host, port, source), indent=1) + "\n")
        return 0
    if group == "submissions":
        import battery

        battery.Conn = ImplicitTls(battery.Conn)  # type: ignore[misc]
    conversations = capture(group, host, port, source)
    out.write_text(json.dumps(conversations, indent=1) + "\n")
    for c in conversations:
        print(c["name"], len(c["exchange"]), c["close"], c["notes"][-1:] if c["notes"] else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
