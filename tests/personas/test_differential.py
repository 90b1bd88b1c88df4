"""The differential oracle (issue 26, issue 27): generated conversations played against a real
server and against its persona over real sockets; every reply's bytes, whether it came late, and
the close (FIN, RST, or a broken TLS record) must be the same. A difference is fixed in the
persona, or listed in the server's known differences with its reason.

- Postfix 3.7.11 with Dovecot SASL (tests/postfix_server.py, the reference configuration on
  loopback: the listener with SASL, which is what the postfix persona is, and Debian's submission
  and submissions services) against the postfix persona's listeners with the same policy (relay
  "auth", the same one account).
- Exim 4.96 (tests/exim_server.py, Debian's package unpacked, the reference configuration) against
  the exim persona with relay policy "closed".
- OpenSMTPD 6.8.0p2 (tests/opensmtpd_server.py, likewise) against the opensmtpd persona, relay
  "closed", with conversations in which a command mostly waits for its reply: OpenSMTPD has no
  PIPELINING and hangs up on a client that sends ahead (which the other conversations show); and
  its TLS listener against opensmtpd-tls-auth (half as many: a STARTTLS there ends the
  conversation with the same failed handshake on both sides).
- Sendmail 8.17.1.9 (tests/sendmail_server.py, likewise) against the sendmail persona, relay
  "closed", the client on 127.0.0.2; and in its TLS-and-AUTH configuration against
  sendmail-tls-auth (Cyrus SASL's LOGIN/PLAIN order evened out: it differs between installs).

In CI the test plays RELAYPOT_DIFFERENTIAL_EXAMPLES conversations on each port 25 (default 60) and
a third as many on 587 and on 465, about two minutes, and long ones (LONG_LINES command lines)
against Exim, OpenSMTPD and Sendmail; a developer's longer run:

    RELAYPOT_DIFFERENTIAL_EXAMPLES=2000 python -m pytest tests/personas/test_differential.py

Conversations stay under Postfix's smtpd_soft_error_limit (10 errors, after which every reply
is a second late: the tar pit has its own captures, tests/reference/postfix/errors.json); the
long ones go past the other servers' counters.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from differential import Step, describe, play
from exim_server import ACCOUNT as EXIM_ACCOUNT
from exim_server import EximServer
from opensmtpd_server import OpenSmtpdServer
from postfix_server import ACCOUNT, PostfixServer
from sendmail_server import ACCOUNT as SENDMAIL_ACCOUNT
from sendmail_server import SendmailServer
from support import RunningSensor

pytestmark = pytest.mark.slow  # a real Postfix, a running sensor, a minute of conversations

EXAMPLES = int(os.environ.get("RELAYPOT_DIFFERENTIAL_EXAMPLES", "60"))
MAX_LINES = 9  # command lines a conversation sends: under the soft error limit whatever they get
LONG_LINES = 32  # a long conversation's: past Exim's nonmail limit (10), Sendmail's HELO, VRFY and NOOP
#                 counters (3, 6, 20)

# ------------------------------------------------------------------ what a conversation says

LOCAL_PARTS = ["a", "postmaster", "root", "Root", "nobody", "nosuchuser", "abuse", "a.b", "a+tag", '"a b"',
               "a%b", "a!b", "", "user@host", "jöhn", "a\x01b", "a\rb", "\u20acuro", "\u0440oot"]
DOMAINS = ["client.example.org", "mail.example.com", "MAIL.EXAMPLE.COM", "example.net", "localhost",
           "localhost.example.com", "[127.0.0.1]", "[IPv6:::1]", "[300.1.1.1]", "[192.0.2.1]", "127.0.0.1",
           "-example.org", "example..org", "example.org.", "a_b.example", ""]
WRAPS = ["<{}>", "<{}>", "<{}>", "{}", " <{}>", "<{}>junk", "<@route.example:{}>", "<<{}>>", "<{}", "{}>",
         "<@a.example,@route.example:{}>", "<@route.example,{}>"]  # RFC 821 routes, and a comma where one ends

MAIL_PARAMS = {
    "SIZE": ["1000", "0", "00001000", "10240000", "10240001", "99999999999999999999", "9223372036854775808",
             "abc", "1_000", "-1", "", None, "100=5"],
    "BODY": ["7BIT", "8BITMIME", "BINARYMIME", "bogus", "", None],
    "RET": ["FULL", "HDRS", "bogus", None],
    "ENVID": ["abc123", "a+2Bb", "a+zz", "a+2", "", None, "a=b"],
    "AUTH": ["<>", "a@client.example.org", "a+zz", None],
    "SMTPUTF8": [None, "yes"],
    "FOO": ["BAR", None],
    "A.B": ["1", None],  # where a keyword ends
    "FÖ": ["1"],
}
RCPT_PARAMS = {
    "NOTIFY": ["NEVER", "SUCCESS,FAILURE", "DELAY", "bogus", "NEVER,SUCCESS", "", None],
    "ORCPT": ["rfc822;a@example.net", "rfc822;a+zz", "x", "", "RFC822;a+2Bb@example.net", None],
    "FOO": ["BAR", None],
    "NOTIFY.X": ["NEVER"],
}
ENDS = [b"\r\n.\r\n"] * 6 + [b"\n.\n", b"\r\n.\r\r\n", b"\r\n.\n", b"\n.\r\n", b"\r\n..\r\n.\r\n"]


@st.composite
def addresses(draw) -> str:
    local = draw(st.sampled_from(LOCAL_PARTS))
    domain = draw(st.sampled_from(DOMAINS))
    address = draw(st.sampled_from(["", local, f"{local}@{domain}", f"{local}@{domain}", f"{local}@{domain}"]))
    return draw(st.sampled_from(WRAPS)).format(address)


@st.composite
def parameters(draw, table: dict) -> str:
    chosen = draw(st.lists(st.sampled_from(sorted(table)), max_size=3))  # repeats included
    words = []
    for name in chosen:
        value = draw(st.sampled_from(table[name]))
        words.append(name if value is None else f"{name}={value}")
    return "".join(f"{draw(st.sampled_from([' '] * 5 + [chr(9)]))}{word}" for word in words)  # a tab at times


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


CREDENTIALS = [b"\0user\0secret", b"\0user\0wrong", b"\0USER\0secret", b"postmaster\0user\0secret",
               b"user\0user\0secret", b"user", b"\0\0", b"\0user\0", b"\0user\0secret\0x", b"\0user\0secret\0"]


@st.composite
def logins(draw) -> bytes:
    """An AUTH command and what follows it on the same step (continuations, cancels, garbage)."""
    mechanism = draw(st.sampled_from(["PLAIN", "PLAIN", "LOGIN", "LOGIN", "CRAM-MD5", "plain", "FOO", "",
                                      "DIGEST-MD5", "PL@IN", "PLÄIN", "X_Y-1", "PLAIN\tAHVzZXIAd3Jvbmc="]))
    if mechanism.upper() == "PLAIN":
        response = draw(st.sampled_from([b64(c) for c in CREDENTIALS] + ["=", "!!!", "*", "AHVzZXIAc2VjcmV0 x",
                                                                          "AHVz ZXIA c2Vj cmV0", "AHVzZXIAd3Jvbmc",
                                                                          "AHVzZXIAc2VjcmV0==", "AHVzZXIAcw==ZWNyZXQ=",
                                                                          "AHVzZX\tIAc2VjcmV0", "AHVzZXIA--__"]))
        if draw(st.booleans()):
            return f"AUTH {mechanism} {response}".encode()
        return f"AUTH {mechanism}\r\n{response}".encode()
    if mechanism == "LOGIN":
        # long names: Cyrus SASL's 1024-byte bound, Postfix's 12288, Sendmail's 12287-byte buffer, Exim's 16383
        user = draw(st.sampled_from([b64(b"user"), b64(b"USER"), "=", "", "!!!", "*", b64(b"a b"),
                                     b64(b"user\0secret"), b64(b"u" * 1024), b64(b"u" * 1025), "A" * 12286,
                                     "A" * 12287, "A" * 12288, "A" * 16380 + "   ", "A" * 16384]))
        password = draw(st.sampled_from([b64(b"secret"), b64(b"wrong"), "", "*", "=", None]))
        lines = [f"AUTH LOGIN {user}" if draw(st.booleans()) and user else "AUTH LOGIN"]
        if not lines[0].endswith(user) or not user:
            lines.append(user)
        if password is not None:
            lines.append(password)
        return "\r\n".join(lines).encode()
    if mechanism == "CRAM-MD5":
        return draw(st.sampled_from([b"AUTH CRAM-MD5\r\n*", b"AUTH CRAM-MD5\r\n!!!", b"AUTH CRAM-MD5 =\r\n*",
                                     b"AUTH CRAM-MD5 " + b64(b"user 0123456789abcdef0123456789abcdef").encode(),
                                     b"AUTH CRAM-MD5\r\ndXNlciAw MTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg==",
                                     b"AUTH CRAM-MD5\r\n" + b"A" * 16383]))
    return f"AUTH {mechanism}".rstrip().encode()


def verb(name: str):
    """A verb as clients spell it: mostly upper case, sometimes not."""
    return st.sampled_from([name, name, name, name.lower(), name.capitalize()])


@st.composite
def commands(draw) -> bytes:
    kind = draw(st.sampled_from(["helo", "ehlo", "mail", "mail", "rcpt", "rcpt", "rcpt", "data", "rset", "noop",
                                 "vrfy", "expn", "etrn", "help", "xclient", "xforward", "auth", "unknown",
                                 "bdat", "starttls_args", "odd", "rare", "rare"]))
    if kind in ("helo", "ehlo"):
        argument = draw(st.sampled_from(["client.example.org", "", "[127.0.0.1]", "[IPv6:::1]", "user-3i39rqqo1r",
                                         "a b", "127.0.0.1", "[300.1.1.1]", "-bad-.example", "x" * 70,
                                         # names as bots write them: a root dot, an underscore, UTF-8, a label
                                         # past 63, literals that are none, the server's own name
                                         "example.org.", "a_b.example", "exämple.org", "x" * 64 + ".example",
                                         "[IPv6:zzz]", "[1.2.3]", "[]", ".", "-", "localhost", "mail.example.com",
                                         "[IPv6:2001:db8::1]", "[127.0.0.1] x", "a..b.example"]))
        line = f"{draw(verb(kind.upper()))} {argument}".rstrip()
    elif kind == "mail":
        colon = draw(st.sampled_from(["FROM:", "FROM:", "FROM: ", "FROM :", "FROM", "from:"]))
        line = f"{draw(verb('MAIL'))} {colon}{draw(addresses())}{draw(parameters(MAIL_PARAMS))}"
    elif kind == "rcpt":
        colon = draw(st.sampled_from(["TO:", "TO:", "TO: ", "TO", "to:"]))
        line = f"{draw(verb('RCPT'))} {colon}{draw(addresses())}{draw(parameters(RCPT_PARAMS))}"
    elif kind == "data":
        line = draw(st.sampled_from(["DATA", "DATA", "data", "DATA x"]))
    elif kind in ("vrfy", "expn"):
        argument = draw(st.one_of(addresses(), st.sampled_from(["root", "John Smith", "", "x SMTPUTF8", "<>"])))
        line = f"{draw(verb(kind.upper()))} {argument}".rstrip()
    elif kind == "etrn":
        line = "ETRN " + draw(st.sampled_from(["example.net", "", "#", "#foo", "a b", "@example.net", "[127.0.0.1]",
                                               "mail.example.com"]))
    elif kind in ("rset", "noop", "help", "starttls_args"):
        name = {"starttls_args": "STARTTLS"}.get(kind, kind.upper())
        line = f"{draw(verb(name))}{draw(st.sampled_from(['', '', ' foo', ' foo bar']))}"
        if name == "STARTTLS" and line == "STARTTLS":
            line = "STARTTLS x"  # a bare STARTTLS is a handshake: played on its own (see conversations)
    elif kind == "xclient":
        line = "XCLIENT " + draw(st.sampled_from(["NAME=spoof.example", "ADDR=192.0.2.9", "", "FOO=bar", "NAME"]))
    elif kind == "xforward":
        line = "XFORWARD " + draw(st.sampled_from(["NAME=spoof.example", "ADDR=192.0.2.9", "", "FOO=bar"]))
    elif kind == "auth":
        return draw(logins())
    elif kind == "bdat":
        if draw(st.integers(0, 3)) == 0:  # a size as no client writes it: signs, words after, overflows
            return b"BDAT" + draw(st.sampled_from(BDAT_ODD)) + b"\r\nabc"
        chunk = draw(st.sampled_from([b"", b"abc", b"a\r\nb\r\n", b"a\nb\n", b"x\r\n.\r\n"]))
        last = draw(st.sampled_from(["", " LAST", " last"]))
        return f"BDAT {len(chunk)}{last}\r\n".encode() + chunk
    elif kind == "odd":  # what no polite client sends: bytes outside ASCII, controls, long lines
        return draw(st.sampled_from([
            b"NOOP\x00x", b"NOOP \xff\xfe", "VRFY jöhn".encode(), b"NOOP\x01", b"\x7fNOOP", b"\tNOOP", b"  NOOP",
            b"HELO " + b"a" * 2100, b"MAIL FROM:<" + b"a" * 1200 + b"@client.example.org>",
            b"NOOP " + b"x" * 3000, b"RCPT TO:<" + b"b" * 70 + b"@mail.example.com>", b"", b" ", b"NOOP\r",
            # the C locale's other white space: a VT, an FF, a CR first (Postfix's smtpd_token skips them)
            b"NOOP\x0b", b"\x0bNOOP", b"\rNOOP", b"MAIL\x0bFROM:<a@client.example.org>", b"VRFY\x0croot",
            # bytes a 7-bit server echoes as a CR, a LF or a NUL; lists and lengths prescan() refuses
            b"XYZ a\x8db\x8ac", b"HELP \x80x", b"NOOP a\rb", b"VRFY a\x80b, root", b"VRFY <c, root", b"EXPN a>, b",
            b"RCPT TO:<" + b"a." * 130 + b"b@mail.example.com>", b"MAIL FROM:<a\\ b@client.example.org>",
        ]))
    elif kind == "rare":  # what scanners and old tools send: legacy verbs, HELP topics, bare forms
        return draw(st.sampled_from(RARE))
    else:
        line = draw(st.sampled_from(["FOO", "HELLO", "MAIL", "RCPT", "QUIT x", "TURN", "8BITMIME"]))
    return line.encode()


BDAT_ODD = [b"", b" x", b" +3", b" 0x3", b" 3 x", b" 3 LAST x", b" 3LAST", b" 3 LASTX", b" 4294967296", b" 00003 LAST",
            b"\t3", b" 3  LAST", b" 1_000"]
RARE = [line.encode() for line in (
    "VERB", "VERB on", "ONEX", "XUSR", "SOML FROM:<a@client.example.org>", "SAML FROM:<a@client.example.org>",
    "SEND FROM:<a@client.example.org>", "ATRN", "ATRN example.net", "HELP MAIL", "HELP RCPT", "HELP DATA",
    "HELP HELP", "HELP help", "HELP EHLO", "HELP -bt", "HELP STARTTLS", "HELP AUTH", "LHLO client.example.org",
    "EHLO  client.example.org", "HELO client.example.org ", "QUIT now", "X-EXPS GSSAPI", "XEXPS", "XEXCH50 1 2",
    "EXPN root", "EXPN postmaster", "VRFY postmaster", "VRFY <root@localhost>", "VRFY root@mail.example.com",
    "MAIL FROM:<>", "MAIL FROM:<> SIZE=100", "MAIL FROM:<a@client.example.org> BODY=8BITMIME SMTPUTF8",
    "RCPT TO:<postmaster>", "RCPT TO:<Postmaster>", "RCPT TO:<root>", "RCPT TO:<a@[127.0.0.1]>",
    'RCPT TO:<"a@b"@mail.example.com>', "RCPT TO:<a@b@mail.example.com>", "RCPT TO:<@a,@b:c@mail.example.com>",
    "DATA\x00", "RSET x", "NOOP x y", "ETRN", "ETRN @", "AUTH", "AUTH PLAIN", "AUTH LOGIN", "WIZ",
    "DEBUG", "KILL", "SHOW", "EXPN <postmaster>", "EXPN a, b", "HELO", "EHLO", "MAIL FROM:", "RCPT TO:",
    "MAIL FROM:<a@client.example.org> SIZE", "MAIL FROM:<a@client.example.org> AUTH=<>", "RCPT TO:<a@b>",
    "VRFY <a!b>", "EXPN <x!y!z>", "VRFY <mail.example.com!root>")]


# What a long conversation mostly says: commands every server takes (or refuses without counting
# a syntax error), so that a session lives long enough to reach the counters kept across it
POLITE = [line.encode() for line in (
    "NOOP", "NOOP", "RSET", "HELP", "VRFY root", "VRFY postmaster", "VRFY nosuchuser", "EXPN root",
    "EHLO client.example.org", "EHLO client.example.org", "HELO client.example.org", "ETRN example.net")]


@st.composite
def long_commands(draw) -> bytes:
    """Seven in eight a POLITE command, else any."""
    return draw(st.sampled_from(POLITE)) if draw(st.integers(0, 7)) else draw(commands())


RECIPIENTS = [b"<postmaster@mail.example.com>", b"<root@localhost>", b"<victim@example.net>",
              b"<nosuchuser@mail.example.com>", b"<Root+tag@MAIL.EXAMPLE.COM>"]
BODIES = [b"body", b"..dot", b".", b"a\rb", b"a\nb", b"\x00nul", b"line\r\n..\r\nafter"]
# whole messages a server may judge by their content (protocol/content.py): no header, a long
# line, address headers that do not parse, a hop count past Postfix's limit
MESSAGES = [b"hello world\r\n", b"Subject: x\r\nno blank line\r\n", b" folded\r\n\r\nx\r\n",
            b"From: root\r\n\r\nx\r\n", b"To: a@b.example, John Smith\r\n\r\nx\r\n",
            b"To: undisclosed-recipients:;\r\n\r\nx\r\n", b"Subject: x\r\n\r\n" + b"y" * 999 + b"\r\n",
            b"".join(b"Received: from r%d.example.net\r\n" % n for n in range(49)) + b"\r\nx\r\n"]
CHUNKS = [b"abc", b"a\r\nb\r\n", b"a\nb\n", b"x\r\n.\r\n", b"", b"Subject: x\r\n\r\nbody\r\n"]


@st.composite
def transactions(draw, lockstep: bool = False) -> list[Step]:
    """A whole transaction, the kind a real client or a spam tool sends: MAIL and RCPT (pipelined
    or not), then a message by DATA (its end in any of the forms smuggling scanners try) or BDAT.
    `lockstep`: each command waits for its reply, as a client of a server without PIPELINING."""
    recipient = draw(st.sampled_from(RECIPIENTS))
    message = st.one_of(st.sampled_from(BODIES).map(lambda body: b"Subject: x\r\n\r\n" + body),
                        st.sampled_from(MESSAGES).map(lambda whole: whole[:-2]))  # (an end gives the last CRLF)
    if lockstep:
        body = draw(message) + draw(st.sampled_from(ENDS))
        return [Step((b"MAIL FROM:<a@client.example.org>\r\n",)), Step((b"RCPT TO:" + recipient + b"\r\n",)),
                Step((b"DATA\r\n",)), Step((body,), message=True)]
    envelope = b"MAIL FROM:<a@client.example.org>\r\nRCPT TO:" + recipient + b"\r\n"
    if draw(st.booleans()):
        body = draw(message) + draw(st.sampled_from(ENDS))
        if draw(st.booleans()):  # something after the end, in the same segment: smuggled or pipelined
            body += draw(st.sampled_from([b"MAIL FROM:<b@client.example.org>\r\n", b"RSET\r\n",
                                          b"Subject: smuggled\r\n\r\nx\r\n.\r\n"]))
        if draw(st.booleans()):
            return [Step((envelope + b"DATA\r\n",)), Step((body,), message=True)]
        return [Step((envelope,)), Step((b"DATA\r\n",)), Step((body,), message=True)]
    chunks = draw(st.lists(st.sampled_from(CHUNKS), min_size=1, max_size=3))
    played = [Step((envelope,))]
    for n, chunk in enumerate(chunks):
        last = b" LAST" if n == len(chunks) - 1 and draw(st.integers(0, 4)) else b""
        played.append(Step((b"BDAT %d%s\r\n" % (len(chunk), last) + chunk,)))
    return played


def split(draw, wire: bytes) -> Step:
    """A step as one segment, or (one time in four) cut in two anywhere."""
    if len(wire) > 2 and draw(st.integers(0, 3)) == 0:
        cut = draw(st.integers(1, len(wire) - 1))
        return Step((wire[:cut], wire[cut:]))
    return Step((wire,))


@st.composite
def conversations(draw, service: str = "smtp", lockstep: bool = False, max_lines: int = MAX_LINES) -> list[Step]:
    """Blocks of steps (at times the first before the banner): commands (one to three in a
    segment; one where `lockstep`), whole transactions, STARTTLS, then QUIT or a hang-up. At most
    `max_lines` command lines (MAX_LINES: under Postfix's soft error limit; past it, a long
    conversation: an EHLO first, then mostly POLITE commands, mostly one to a segment, and the
    rest as ever)."""
    long = max_lines > MAX_LINES
    command = long_commands() if long else commands()
    ending = draw(st.sampled_from([b"\r\n"] * 8 + [b"\n"]))
    played: list[Step] = []
    lines = 0
    if not long and service != "submissions" and draw(st.integers(0, 7)) == 0:  # talk before the banner
        batch = draw(st.lists(commands(), min_size=1, max_size=2))
        early = b"".join(c if c.startswith(b"BDAT") else c + ending for c in batch)
        played.append(Step((early,), early=True))
        lines += max(1, early.count(b"\n"))
    if long or draw(st.booleans()):
        played.append(Step((b"EHLO client.example.org\r\n",)))
    if service == "submission" and draw(st.integers(0, 3)):
        played += [Step((b"EHLO client.example.org\r\n",)), Step((b"STARTTLS\r\n",), tls=True)]
    blocks = ["commands"] * (12 if long else 2) + ["transaction"] * (2 if long else 1) + ["starttls"]
    for _ in range(draw(st.integers(max_lines // 2, max_lines) if long else st.integers(1, 5))):
        block = draw(st.sampled_from(blocks))
        if block == "transaction":
            found = draw(transactions(lockstep))
        elif block == "starttls":
            found = [Step((b"STARTTLS\r\n",), tls=True), Step((b"EHLO client.example.org\r\n",))]
        else:
            alone = lockstep or (long and draw(st.integers(0, 7)) > 0)
            batch = draw(st.lists(command, min_size=1, max_size=1 if alone else 3))
            found = [split(draw, b"".join(c if c.startswith(b"BDAT") else c + ending for c in batch))]
        count = sum(max(1, step.wire.count(b"\n")) for step in found if not step.message)
        if lines + count > max_lines:
            break
        lines += count
        played += found
    ending = draw(st.sampled_from(["quit"] * 10 + ["hangup"] * 2 + ["cut_line", "cut_message"]))
    if ending == "quit":
        played.append(Step((draw(st.sampled_from([b"QUIT\r\n", b"QUIT\r\n", b"quit\r\n"])),)))
    elif ending == "cut_message" and lines + 3 <= max_lines:  # the client goes away inside a message
        envelope = [b"MAIL FROM:<a@client.example.org>\r\n", b"RCPT TO:<postmaster@mail.example.com>\r\n", b"DATA\r\n"]
        played += [Step((line,)) for line in envelope] if lockstep else [Step((b"".join(envelope),))]
        played.append(Step((draw(st.sampled_from(CUT_MESSAGES)),), hangup=True, message=True))
    else:  # the client goes away mid-conversation, at times in the middle of a line
        cut = draw(st.sampled_from(CUT_LINES)) if ending == "cut_line" else b""
        played.append(Step((cut,) if cut else (), hangup=True))
    return played


CUT_LINES = [b"NOOP", b"QUIT", b"MAIL FROM:<a@client.example.org>", b"RSET\r", b"EHLO client.example.org\r"]
CUT_MESSAGES = [b"", b"Subject: x\r\n", b"Subject: x\r\n\r\npartial", b"Subject: x\r\n\r\nline\r\n.",
                b"Subject: x\r\n\r\nline\r\n.\r", b"Subject: x"]


# ------------------------------------------------------------------ the differences we keep

# Differences the oracle finds that are not closed yet, each with its reason and a predicate of
# the step where the answers part (what the client sent in it, and in the conversation before it):
# the list says exactly what it allows. Past an allowed difference the two servers are in
# different states, so the rest of that conversation is not compared. The list only shrinks.
Known = list[tuple[str, str, Callable[[Step, bytes], bool]]]  # (name, why, applies(the step, the bytes before it))
KNOWN_DIFFERENCES: Known = [
    ("postfix-early-input-race",
     "input sent with the connection: smtpd peeks at the socket 0.06-0.2 ms after the accept "
     "(smtpd_flag_ill_pipelining); input already there is read, the banner held behind its replies, "
     "input a moment later finds the banner gone alone (the real server does both, run to run); the "
     "persona waits a millisecond ([server] setup_time), so its banner goes with the replies",
     lambda step, before: step.early and not before),
]
EXIM_KNOWN_DIFFERENCES: Known = [
    ("exim-crash-timing",
     "RSET between BDAT chunks crashes Debian's Exim 4.96 (SIGSEGV): the persona closes at once, the "
     "real server's socket closes as the dying process goes, after the client may have sent more (RST)",
     lambda step, before: b"BDAT" in before and b"RSET" in before.upper() + step.wire.upper()),
]

SENDMAIL_KNOWN_DIFFERENCES: Known = [
    ("sendmail-etrn-sigchld",
     "an ETRN's queue-run child exits while a later command of the same read sleeps in checksmtpattack(): "
     "its SIGCHLD cuts the sleep short and its copy of the unflushed replies comes first (a race between "
     "the child and the parent); the persona sleeps in full and writes the copy after its own replies",
     lambda step, before: b"ETRN" in step.wire.upper() and _hellos(before + step.wire) >= 3),
]


def _hellos(sent: bytes) -> int:
    """HELO and EHLO commands in what a client sent (Sendmail slows the third on down)."""
    return sent.upper().count(b"HELO") + sent.upper().count(b"EHLO")


def allowed(step: int, conversation: list[Step], known: Known) -> str:
    """The name of the known difference that allows the answers to part at `step`, or ""."""
    before = b"".join(s.wire for s in conversation[:step])
    for name, _why, applies in known:
        if applies(conversation[step], before):
            return name
    return ""


# ------------------------------------------------------------------ exploit-shaped conversations

# What public exploits and attack tools send, fixed (the generator rarely draws them whole): each
# against each real server beside its persona. They found Exim's bad-recipient ACL and its
# last_was_rcpt, Sendmail's local-mailer refusals and its canonical sender.
_EHLO = Step((b"EHLO client.example.org\r\n",))
_MAIL = b"MAIL FROM:<a@client.example.org>"


def _lines(*lines: bytes) -> list[Step]:
    return [Step((line + b"\r\n",)) for line in lines]


EXPLOITS: dict[str, list[Step]] = {
    "exim_wizard": [_EHLO, *_lines(_MAIL, b"RCPT TO:<${run{\\x2fbin\\x2fsh\\t-c\\t\\x22id\\x22}}@localhost>",
                                    b"RCPT TO:<root+${run{x}}@localhost>", b"QUIT")],
    "opensmtpd_7247": [_EHLO, *_lines(b"MAIL FROM:<;sleep 66;>", b"RCPT TO:<root>", b"DATA"),
                       Step((b"\r\nx\r\n.\r\n",), message=True), *_lines(b"QUIT")],
    "opensmtpd_7247_read_loop": [_EHLO, *_lines(
        b"MAIL FROM:<;for i in 0 1 2 3 4 5 6 7 8 9 a b c d;do read r;done;sh;exit 0;>", b"RCPT TO:<root@localhost>",
        b"QUIT")],
    "cram_md5_overflow": [_EHLO, *_lines(b"AUTH CRAM-MD5", b64(b"A" * 3000).encode(), b"QUIT")],
    "auth_external": [_EHLO, *_lines(b"AUTH EXTERNAL " + b64(b"x" * 100).encode(), b"QUIT")],
    "auth_ntlm": [_EHLO, *_lines(b"AUTH NTLM " + b64(b"NTLMSSP\0\1\0\0\0" + b"\0" * 20).encode(), b"QUIT")],
    "recipient_flood": [_EHLO, Step((_MAIL + b"\r\n" + b"".join(b"RCPT TO:<u%d@mail.example.com>\r\n" % n
                                                                    for n in range(60)),)), *_lines(b"QUIT")],
    "helo_overflow": _lines(b"EHLO " + b"A" * 5000, b"QUIT"),
    "format_strings": _lines(b"HELO %n%n%n%n", b"EHLO %s%s%s", b"QUIT"),
    "long_local_part": [_EHLO, *_lines(b"MAIL FROM:<" + b"a" * 300 + b"@client.example.org>", b"QUIT")],
    "long_domain": [_EHLO, *_lines(_MAIL, b"RCPT TO:<a@" + b"b" * 300 + b".example>", b"QUIT")],
    "debug_wiz_kill": [_EHLO, *_lines(b"EXPN decode", b"DEBUG", b"WIZ", b"KILL", b"QUIT")],
    "pipes_and_files": [_EHLO, *_lines(b"MAIL FROM:<|/bin/sh>", _MAIL, b"RCPT TO:<|/bin/sh -c id>",
                                       b"RCPT TO:</etc/passwd>", b'RCPT TO:<"|sh"@mail.example.com>', b"QUIT")],
    "nul_in_address": [_EHLO, *_lines(b"MAIL FROM:<a\x00b@client.example.org>", b"QUIT")],
    "utf8_addresses": [_EHLO, *_lines("MAIL FROM:<jöhn@client.example.org> SMTPUTF8".encode(),
                                      "RCPT TO:<ünïcode@mail.example.com>".encode(), b"QUIT")],
    "xclient_spoof": [_EHLO, *_lines(b"XCLIENT ADDR=127.0.0.1 NAME=localhost", b"XFORWARD NAME=x", b"QUIT")],
    "headerless_message": [_EHLO, *_lines(_MAIL, b"RCPT TO:<postmaster@mail.example.com>", b"DATA"),
                           Step((b"hello world\r\n.\r\n",), message=True), *_lines(b"QUIT")],
}


def _padded(prefix: bytes, total: int, end: bytes) -> bytes:
    """`prefix` filled with "y" to `total` bytes, `end` included."""
    return prefix + b"y" * (total - len(prefix) - len(end)) + end


# Command lines at each server's bound (Postfix's line_length_limit 2048, Sendmail's MAXLINE 2048
# and its 12287-byte buffer, Postfix's 12288 for SASL, Exim's 16384; with CR LF and with a bare
# LF), in words a server echoes (an unknown option, an unknown verb): where a line is cut, refused
# or read in pieces shows in what comes back, and in the NOOP after it. Scanners measure exactly this.
_BOUNDS = [(total, b"\r\n", "") for total in (2047, 2048, 2049, 12287, 12288, 12289, 16384, 16385, 16386)] + [
    (2048, b"\n", "_lf"), (2049, b"\n", "_lf"), (16385, b"\n", "_lf")]
LINE_BOUNDS: dict[str, list[Step]] = {
    f"{name}_{total}{suffix}": [_EHLO, Step((_padded(prefix, total, end),)), *_lines(b"NOOP", b"QUIT")]
    for name, prefix in (("option", _MAIL + b" X="), ("verb", b"XYZZY ")) for total, end, suffix in _BOUNDS}


# Talk before the banner, and what follows it (the battery's early_talker is one EHLO): Sendmail's
# greet pause refuses it, Exim answers it behind a banner it had not yet flushed (found here: the
# early QUIT's corked 221 holds the banner back with it), Postfix and OpenSMTPD just answer it.
_EARLY = {"ehlo": b"EHLO client.example.org\r\n", "quit": b"QUIT\r\n", "noop_quit": b"NOOP\r\nQUIT\r\n",
          "mail": _MAIL + b"\r\n", "half": b"EH", "http": b"GET / HTTP/1.0\r\n\r\n", "blank": b"\r\n",
          "envelope": b"EHLO client.example.org\r\n" + _MAIL + b"\r\nRCPT TO:<postmaster@mail.example.com>\r\n"}
EARLY_TALK: dict[str, list[Step]] = {
    f"early_{name}": [Step((wire,), early=True), *_lines(b"HELO client.example.org", _MAIL, b"VRFY root", b"QUIT")]
    for name, wire in _EARLY.items()}

# The client goes away (a FIN) inside a message, a chunk, a line or a login: found here, Sendmail's
# collect() says "421 4.4.1 collect: ... info=unexpected close" naming the sender as written
_ENVELOPE = [_MAIL, b"RCPT TO:<postmaster@mail.example.com>"]
HANG_UPS: dict[str, list[Step]] = {
    "gone_in_body": [_EHLO, *_lines(*_ENVELOPE, b"DATA"),
                     Step((b"Subject: x\r\n\r\npartial",), hangup=True, message=True)],
    "gone_at_the_dot": [_EHLO, *_lines(*_ENVELOPE, b"DATA"),
                        Step((b"Subject: x\r\n\r\nx\r\n.",), hangup=True, message=True)],
    "gone_after_data": [_EHLO, *_lines(*_ENVELOPE, b"DATA"), Step((), hangup=True)],
    "gone_in_chunk": [_EHLO, *_lines(*_ENVELOPE), Step((b"BDAT 100\r\nabcdefghij",), hangup=True)],
    "gone_in_line": [_EHLO, Step((b"NOOP",), hangup=True)],
    "gone_in_login": [_EHLO, *_lines(b"AUTH LOGIN"), Step((b"dXNlcg==",), hangup=True)],
    "gone_with_an_envelope": [_EHLO, *_lines(*_ENVELOPE), Step((), hangup=True)],
}

# A close with input behind it in the same segment (QUIT, a refused over-long line): a FIN or a
# reset as the server's reads left the rest in the kernel (tests/protocol/test_reads.py has the
# bounds: Postfix and Sendmail 4096, Exim 8191 and its 2176-byte drain, OpenSMTPD 65536); found
# here, and Exim's corked 221 lost with the reset
def _closing(lead: int, total: int) -> list[Step]:
    head = (b"NOOP " + b"x" * (lead - 7) + b"\r\n" if lead else b"") + b"QUIT\r\n"
    return [_EHLO, Step((head + b"x" * (total - len(head)),))]


PIPELINED_CLOSES: dict[str, list[Step]] = {
    **{f"close_quit_{total}": _closing(0, total) for total in (4096, 4097, 10367, 10368, 65536, 65537)},
    "close_noop_quit_11206": _closing(3000, 11206),
    "close_long_line_4096": [_EHLO, Step((_padded(b"XYZZY ", 4096, b"\r\n") + b"N",))],
    "close_long_line_4097": [_EHLO, Step((_padded(b"XYZZY ", 4097, b"\r\n") + b"NOOP\r\n" * 40,))],
}

# A BDAT whose chunk comes in a later segment: when the refusal is said (Exim: before the chunk)
CHUNKS_LATER: dict[str, list[Step]] = {
    "chunk_later_refused": [_EHLO, *_lines(b"BDAT 10"), Step((b"x" * 10,), message=True), *_lines(b"NOOP", b"QUIT")],
    "chunk_later_taken": [_EHLO, *_lines(*_ENVELOPE, b"BDAT 10 LAST"), Step((b"Subject: x",), message=True),
                          *_lines(b"QUIT")],
    "chunk_later_odd_size": [_EHLO, *_lines(*_ENVELOPE, b"BDAT 3 x"), Step((b"abc",), message=True),
                             *_lines(b"NOOP", b"BDAT 0 LAST", b"QUIT")],
}

# STARTTLS with commands behind it in the same segment (CVE-2011-0411 and its kin, as STARTTLS
# injection scanners send them): every real server drops them, and so must the persona; played
# where STARTTLS is offered
STARTTLS_INJECTIONS: dict[str, list[Step]] = {
    "inject_noop": [_EHLO, Step((b"STARTTLS\r\nNOOP\r\n",), tls=True), _EHLO, *_lines(b"QUIT")],
    "inject_ehlo": [_EHLO, Step((b"STARTTLS\r\nEHLO evil.example\r\n",), tls=True), *_lines(b"NOOP", b"QUIT")],
    "inject_mail": [_EHLO, Step((b"STARTTLS\r\n" + _MAIL + b"\r\n",), tls=True), _EHLO,
                    *_lines(b"RCPT TO:<a@example.net>", b"QUIT")],
    "inject_half": [_EHLO, Step((b"STARTTLS\r\nNO",), tls=True), _EHLO, *_lines(b"QUIT")],
    "inject_lf": [_EHLO, Step((b"STARTTLS\nNOOP\n",), tls=True), _EHLO, *_lines(b"QUIT")],
    "inject_late": [_EHLO, Step((b"STARTTLS\r\n", b"NOOP\r\n"), tls=True), _EHLO, *_lines(b"QUIT")],  # in the handshake
    "inject_no_ehlo": [Step((b"STARTTLS\r\nNOOP\r\n",), tls=True), _EHLO, *_lines(b"QUIT")],
    "inject_inside_tls": [_EHLO, Step((b"STARTTLS\r\n",), tls=True),
                          Step((b"EHLO client.example.org\r\nSTARTTLS\r\nNOOP\r\n",)), *_lines(b"QUIT")],
}


# ------------------------------------------------------------------ the oracle


SERVICES = {"smtp": "sasl", "submission": "submission", "submissions": "submissions"}  # ours: Postfix's listener


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """{service: (the real Postfix's address, the persona's)}: port 25 with SASL, 587 and 465."""
    with PostfixServer() as postfix:
        persona = RunningSensor(tmp_path_factory.mktemp("differential"), smtp__persona="postfix", smtp__relay="auth",
                                smtp__listen=["127.0.0.1:0", "127.0.0.1:0,service=submission",
                                              "127.0.0.1:0,service=submissions"],
                                deception__accept_logins=[":".join(ACCOUNT)])
        try:
            yield {service: (("127.0.0.1", postfix.ports[listener]), persona.bound[n])
                   for n, (service, listener) in enumerate(SERVICES.items())}
        finally:
            persona.stop()


def _beside(real, persona: str, tmp_path_factory, **options):
    """(the real server's address, its persona's) on port 25, both refusing relays."""
    with real as server:
        yield from _persona_beside(server.port, persona, tmp_path_factory, **options)


def _persona_beside(port: int, persona: str, tmp_path_factory, **options):
    """(the real server's address, a sensor's of `persona`) on port 25, both refusing relays
    (`options`: the sensor's further settings)."""
    sensor = RunningSensor(tmp_path_factory.mktemp(f"differential-{persona}"), smtp__persona=persona,
                           **{"smtp__relay": "closed", "smtp__listen": ["127.0.0.1:0"], **options})
    try:
        yield ("127.0.0.1", port), sensor.bound[0]
    finally:
        sensor.stop()


@pytest.fixture(scope="module")
def exim_servers(tmp_path_factory):
    yield from _beside(EximServer(), "exim", tmp_path_factory)


@pytest.fixture(scope="module")
def exim_tls_auth_servers(tmp_path_factory):
    """The real Exim's one account (exim_server.ACCOUNT) is the persona's one login; a login
    relays on both."""
    yield from _beside(EximServer("tls-auth"), "exim-tls-auth", tmp_path_factory, smtp__relay="auth",
                       deception__accept_logins=[":".join(EXIM_ACCOUNT)])


@pytest.fixture(scope="module")
def opensmtpd_real():
    """One real OpenSMTPD for both of its listeners' tests (only one can run at a time)."""
    with OpenSmtpdServer() as server:
        yield server


@pytest.fixture(scope="module")
def opensmtpd_servers(opensmtpd_real, tmp_path_factory):
    yield from _persona_beside(opensmtpd_real.port, "opensmtpd", tmp_path_factory)


@pytest.fixture(scope="module")
def opensmtpd_tls_auth_servers(opensmtpd_real, tmp_path_factory):
    yield from _persona_beside(opensmtpd_real.tls_port, "opensmtpd-tls-auth", tmp_path_factory)


@pytest.fixture(scope="module")
def sendmail_servers(tmp_path_factory):
    yield from _beside(SendmailServer(), "sendmail", tmp_path_factory)


@pytest.fixture(scope="module")
def sendmail_tls_auth_servers(tmp_path_factory):
    """The real Sendmail's one account (sendmail_server.ACCOUNT, in Cyrus SASL's sasldb) is the
    persona's one login; a login relays on both."""
    yield from _beside(SendmailServer("tls-auth"), "sendmail-tls-auth", tmp_path_factory, smtp__relay="auth",
                       deception__accept_logins=[":".join(SENDMAIL_ACCOUNT)])


def cyrus_order(data: bytes) -> bytes:
    """Cyrus SASL lists its mechanisms in its plugin directory's order, which differs between
    installs: the capture machine said LOGIN PLAIN (as the persona does), this harness may say
    PLAIN LOGIN. Only that pair is put in one order; any other difference stays."""
    return re.sub(rb"^(250[- ]AUTH(?: [A-Z0-9-]+)*?) PLAIN LOGIN\b", rb"\1 LOGIN PLAIN", data, flags=re.M)


def _examples(service: str) -> int:
    return EXAMPLES if service == "smtp" else max(1, EXAMPLES // 3)


def _oracle(service: str):
    """The test for one service, with its own conversations and example count."""

    @settings(max_examples=_examples(service), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                     HealthCheck.data_too_large])
    @given(conversation=conversations(service))
    def test(servers, conversation):
        compare(servers[service], conversation, implicit_tls=service == "submissions")

    return test


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(conversation=conversations())
def test_port_25_answers_as_the_real_exim(exim_servers, conversation):
    compare(exim_servers, conversation, implicit_tls=False, known=EXIM_KNOWN_DIFFERENCES, server="Exim")


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(conversation=conversations())
def test_port_25_answers_as_the_real_exim_with_tls_and_auth(exim_tls_auth_servers, conversation):
    """The TLS-and-AUTH configuration (tests/exim_server.py "tls-auth") beside exim-tls-auth: AUTH
    offered, refused and taken in Exim's words, inside and outside TLS (CRAM-MD5 challenges masked)."""
    compare(exim_tls_auth_servers, conversation, implicit_tls=False, known=EXIM_KNOWN_DIFFERENCES,
            server="Exim (TLS and AUTH)")


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(conversation=st.one_of(conversations(lockstep=True), conversations(lockstep=True), conversations()))
def test_port_25_answers_as_the_real_opensmtpd(opensmtpd_servers, conversation):
    compare(opensmtpd_servers, conversation, implicit_tls=False, known=[], server="OpenSMTPD")


@settings(max_examples=max(1, EXAMPLES // 2), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(conversation=st.one_of(conversations(lockstep=True), conversations(lockstep=True), conversations()))
def test_port_25_answers_as_the_real_opensmtpd_tls_listener(opensmtpd_tls_auth_servers, conversation):
    """The reference's TLS listener (`tls pki ... auth-optional`) beside opensmtpd-tls-auth:
    STARTTLS offered, taken, and its handshake failing the same way (Python's ssl reads the same
    alert on both sides), AUTH never offered."""
    compare(opensmtpd_tls_auth_servers, conversation, implicit_tls=False, known=[], server="OpenSMTPD (TLS)")


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(conversation=st.one_of(conversations(lockstep=True), conversations()))
def test_port_25_answers_as_the_real_sendmail(sendmail_servers, conversation):
    """From 127.0.0.2, as Sendmail trusts 127.0.0.1 (tests/sendmail_server.py); each conversation
    waits out both greet pauses, a second, at once."""
    compare(sendmail_servers, conversation, implicit_tls=False, known=SENDMAIL_KNOWN_DIFFERENCES, server="Sendmail",
            source=SendmailServer.source)


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(conversation=st.one_of(conversations(lockstep=True), conversations()))
def test_port_25_answers_as_the_real_sendmail_with_tls_and_auth(sendmail_tls_auth_servers, conversation):
    """Debian's starttls.m4 and sasl.m4 (tests/sendmail_server.py "tls-auth") beside
    sendmail-tls-auth: STARTTLS, AUTH offered, taken (the one account) and refused in Sendmail's and
    Cyrus SASL's words."""
    compare(sendmail_tls_auth_servers, conversation, implicit_tls=False, known=SENDMAIL_KNOWN_DIFFERENCES,
            server="Sendmail (TLS and AUTH)", source=SendmailServer.source, mend=cyrus_order)


# Long conversations (LONG_LINES command lines; a sixth as many examples, a fifteenth against
# Sendmail, whose slowdowns make each last about 23 s): the counters each server keeps across a
# session, and what it does past them (Exim's 554 after ten nonmail commands, Sendmail's
# slowdowns), met in any order with everything else. Played alone against each real server, 40 of
# them: Exim's nonmail limit ended 3 to 11 of them (its synchronisation and syntax limits most of
# the rest), Sendmail was late in 30. Postfix's (its tar pit: late in 12 of 40) is not here yet:
# one run of 50 saw a reply late on one side only that did not come again.
LONG_CONVERSATIONS = {
    "exim": ("exim_servers", 6, {"known": EXIM_KNOWN_DIFFERENCES, "server": "Exim"},
             conversations(max_lines=LONG_LINES)),
    "opensmtpd": ("opensmtpd_servers", 6, {"known": [], "server": "OpenSMTPD"},
                  conversations(lockstep=True, max_lines=LONG_LINES)),
    "sendmail": ("sendmail_servers", 15, {"known": SENDMAIL_KNOWN_DIFFERENCES, "server": "Sendmail",
                                          "source": SendmailServer.source},
                 st.one_of(conversations(lockstep=True, max_lines=LONG_LINES), conversations(max_lines=LONG_LINES))),
}


@pytest.mark.parametrize("real", sorted(LONG_CONVERSATIONS))
def test_long_conversations_answer_as_the_real_server(request, real):
    fixture, share, how, strategy = LONG_CONVERSATIONS[real]
    pair = request.getfixturevalue(fixture)

    @settings(max_examples=max(1, EXAMPLES // share), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(conversation=strategy)
    def check(conversation):
        compare(pair, conversation, implicit_tls=False, **how)

    check()


# every fixed conversation, each against each real server beside its persona
FIXED: dict[str, list[Step]] = {**EXPLOITS, **LINE_BOUNDS, **EARLY_TALK, **HANG_UPS, **PIPELINED_CLOSES,
                                **CHUNKS_LATER}
assert len(FIXED) == sum(map(len, (EXPLOITS, LINE_BOUNDS, EARLY_TALK, HANG_UPS, PIPELINED_CLOSES,
                                   CHUNKS_LATER)))  # none shadowed


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_conversations_answer_as_the_real_postfix(servers, name):
    compare(servers["smtp"], FIXED[name], implicit_tls=False)


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_conversations_answer_as_the_real_exim(exim_servers, name):
    compare(exim_servers, FIXED[name], implicit_tls=False, known=EXIM_KNOWN_DIFFERENCES, server="Exim")


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_conversations_answer_as_the_real_opensmtpd(opensmtpd_servers, name):
    compare(opensmtpd_servers, FIXED[name], implicit_tls=False, known=[], server="OpenSMTPD")


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_conversations_answer_as_the_real_sendmail(sendmail_servers, name):
    compare(sendmail_servers, FIXED[name], implicit_tls=False, known=SENDMAIL_KNOWN_DIFFERENCES, server="Sendmail",
            source=SendmailServer.source)


# each listener that offers STARTTLS: its fixture, and how compare() reads it
WITH_STARTTLS = {
    "postfix": ("servers", {}),
    "exim": ("exim_tls_auth_servers", {"known": EXIM_KNOWN_DIFFERENCES, "server": "Exim (TLS and AUTH)"}),
    "opensmtpd": ("opensmtpd_tls_auth_servers", {"known": [], "server": "OpenSMTPD (TLS)"}),
    "sendmail": ("sendmail_tls_auth_servers", {"known": SENDMAIL_KNOWN_DIFFERENCES, "server": "Sendmail (TLS and AUTH)",
                                               "source": SendmailServer.source, "mend": cyrus_order}),
}


@pytest.mark.parametrize("name", sorted(STARTTLS_INJECTIONS))
@pytest.mark.parametrize("real", sorted(WITH_STARTTLS))
def test_starttls_injections_answer_as_the_real_server(request, real, name):
    fixture, how = WITH_STARTTLS[real]
    pair = request.getfixturevalue(fixture)
    compare(pair["smtp"] if real == "postfix" else pair, STARTTLS_INJECTIONS[name], implicit_tls=False, **how)


test_port_25_answers_as_the_real_postfix = _oracle("smtp")
test_submission_587_answers_as_the_real_postfix = _oracle("submission")
test_submissions_465_answers_as_the_real_postfix = _oracle("submissions")


def compare(addresses: tuple[tuple[str, int], tuple[str, int]], conversation: list[Step], implicit_tls: bool,
            known: Known = KNOWN_DIFFERENCES, server: str = "Postfix", source: str | None = None,
            mend: Callable[[bytes], bytes] | None = None) -> None:
    """The conversation against both, at once (from `source` where given): every reply's bytes,
    its lateness, and the close. `mend` evens out what differs between installs of the real
    server, on both sides."""
    with ThreadPoolExecutor(2) as pool:
        heard_real, heard_persona = (h.normalized(mend) for h in pool.map(
            lambda address: play(address, conversation, implicit_tls, source), addresses))
    story = describe(conversation)
    assert heard_persona.banner == heard_real.banner
    late_real, late_persona = heard_real.late, heard_persona.late
    for n, (want, got) in enumerate(zip(heard_real.replies, heard_persona.replies)):
        parted = got != want or late_persona[n] != late_real[n]
        if parted and allowed(n, conversation, known):  # a known race may show in the timing alone
            return
        assert got == want, f"step {n + 1} of\n{story}\nreal {server}: {want!r}\npersona:      {got!r}"
        assert late_persona[n] == late_real[n], (
            f"step {n + 1} is late on one only (first byte after {_wait(heard_real.waits[n])} on the real "
            f"{server}, {_wait(heard_persona.waits[n])} on the persona):\n{story}")
    assert len(heard_persona.replies) == len(heard_real.replies), story
    if heard_persona.close != heard_real.close and allowed(len(heard_real.replies) - 1, conversation, known):
        return
    assert heard_persona.close == heard_real.close, f"the close differs:\n{story}"


def _wait(seconds: float | None) -> str:
    return "no reply" if seconds is None else f"{seconds:.3f} s"
