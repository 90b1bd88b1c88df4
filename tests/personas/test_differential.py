"""The differential oracle (issue 26): generated conversations played against the real Postfix
3.7.11 with Dovecot SASL (tests/postfix_server.py, the reference configuration on loopback, its
listener with SASL, which is what the postfix persona is) and against the persona on a listener
with the same policy (relay "auth", the same one account), over real sockets; every reply's
bytes, whether it came late, and the close (FIN or RST) must be the same. A difference is fixed
in the persona, or listed in KNOWN_DIFFERENCES with its reason.

In CI the test plays RELAYPOT_DIFFERENTIAL_EXAMPLES conversations (default 60, about a minute);
a developer's longer run:

    RELAYPOT_DIFFERENTIAL_EXAMPLES=2000 python -m pytest tests/personas/test_differential.py

Conversations stay under Postfix's smtpd_soft_error_limit (10 errors, after which every reply
is a second late: the tar pit has its own captures, tests/reference/postfix/errors.json).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from differential import Step, describe, play
from postfix_server import ACCOUNT, PostfixServer
from support import RunningSensor

pytestmark = pytest.mark.slow  # a real Postfix, a running sensor, a minute of conversations

EXAMPLES = int(os.environ.get("RELAYPOT_DIFFERENTIAL_EXAMPLES", "60"))
MAX_LINES = 9  # command lines a conversation sends: under the soft error limit whatever they get

# ------------------------------------------------------------------ what a conversation says

LOCAL_PARTS = ["a", "postmaster", "root", "Root", "nobody", "nosuchuser", "abuse", "a.b", "a+tag", '"a b"',
               "a%b", "a!b", "", "user@host", "jöhn"]
DOMAINS = ["client.example.org", "mail.example.com", "MAIL.EXAMPLE.COM", "example.net", "localhost",
           "localhost.example.com", "[127.0.0.1]", "[IPv6:::1]", "[300.1.1.1]", "[192.0.2.1]", "127.0.0.1",
           "-example.org", "example..org", "example.org.", "a_b.example", ""]
WRAPS = ["<{}>", "<{}>", "<{}>", "{}", " <{}>", "<{}>junk", "<@route.example:{}>", "<<{}>>", "<{}", "{}>"]

MAIL_PARAMS = {
    "SIZE": ["1000", "0", "00001000", "10240000", "10240001", "99999999999999999999", "9223372036854775808",
             "abc", "1_000", "-1", "", None],
    "BODY": ["7BIT", "8BITMIME", "BINARYMIME", "bogus", "", None],
    "RET": ["FULL", "HDRS", "bogus", None],
    "ENVID": ["abc123", "a+2Bb", "a+zz", "a+2", "", None],
    "AUTH": ["<>", "a@client.example.org", "a+zz", None],
    "SMTPUTF8": [None, "yes"],
    "FOO": ["BAR", None],
}
RCPT_PARAMS = {
    "NOTIFY": ["NEVER", "SUCCESS,FAILURE", "DELAY", "bogus", "NEVER,SUCCESS", "", None],
    "ORCPT": ["rfc822;a@example.net", "rfc822;a+zz", "x", "", "RFC822;a+2Bb@example.net", None],
    "FOO": ["BAR", None],
}
ENDS = [b"\r\n.\r\n"] * 6 + [b"\n.\n", b"\r\n.\r\r\n", b"\r\n.\n", b"\n.\r\n", b"\r\n..\r\n.\r\n"]


def lines_of(step: Step) -> int:
    return max(1, step.wire.count(b"\n"))


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
    return "".join(f" {word}" for word in words)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


CREDENTIALS = [b"\0user\0secret", b"\0user\0wrong", b"\0USER\0secret", b"postmaster\0user\0secret",
               b"user\0user\0secret", b"user", b"\0\0", b"\0user\0"]


@st.composite
def logins(draw) -> bytes:
    """An AUTH command and what follows it on the same step (continuations, cancels, garbage)."""
    mechanism = draw(st.sampled_from(["PLAIN", "PLAIN", "LOGIN", "LOGIN", "CRAM-MD5", "plain", "FOO", "",
                                      "DIGEST-MD5"]))
    if mechanism.upper() == "PLAIN":
        response = draw(st.sampled_from([b64(c) for c in CREDENTIALS] + ["=", "!!!", "*", "AHVzZXIAc2VjcmV0 x"]))
        if draw(st.booleans()):
            return f"AUTH {mechanism} {response}".encode()
        return f"AUTH {mechanism}\r\n{response}".encode()
    if mechanism == "LOGIN":
        user = draw(st.sampled_from([b64(b"user"), b64(b"USER"), "=", "", "!!!", "*", b64(b"a b")]))
        password = draw(st.sampled_from([b64(b"secret"), b64(b"wrong"), "", "*", "=", None]))
        lines = [f"AUTH LOGIN {user}" if draw(st.booleans()) and user else "AUTH LOGIN"]
        if not lines[0].endswith(user) or not user:
            lines.append(user)
        if password is not None:
            lines.append(password)
        return "\r\n".join(lines).encode()
    if mechanism == "CRAM-MD5":
        return draw(st.sampled_from([b"AUTH CRAM-MD5\r\n*", b"AUTH CRAM-MD5\r\n!!!", b"AUTH CRAM-MD5 =\r\n*"]))
    return f"AUTH {mechanism}".rstrip().encode()


def verb(name: str):
    """A verb as clients spell it: mostly upper case, sometimes not."""
    return st.sampled_from([name, name, name, name.lower(), name.capitalize()])


@st.composite
def commands(draw) -> bytes:
    kind = draw(st.sampled_from(["helo", "ehlo", "mail", "mail", "rcpt", "rcpt", "rcpt", "data", "rset", "noop",
                                 "vrfy", "expn", "etrn", "help", "xclient", "xforward", "auth", "unknown",
                                 "bdat", "starttls_args"]))
    if kind in ("helo", "ehlo"):
        argument = draw(st.sampled_from(["client.example.org", "", "[127.0.0.1]", "[IPv6:::1]", "user-3i39rqqo1r",
                                         "a b", "127.0.0.1", "[300.1.1.1]", "-bad-.example", "x" * 70]))
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
        chunk = draw(st.sampled_from([b"", b"abc", b"a\r\nb\r\n", b"a\nb\n", b"x\r\n.\r\n"]))
        last = draw(st.sampled_from(["", " LAST", " last"]))
        return f"BDAT {len(chunk)}{last}\r\n".encode() + chunk
    else:
        line = draw(st.sampled_from(["FOO", "HELLO", "MAIL", "RCPT", "QUIT x", "TURN", "8BITMIME"]))
    return line.encode()


@st.composite
def steps(draw) -> list[Step]:
    ending = draw(st.sampled_from([b"\r\n"] * 8 + [b"\n"]))
    played: list[Step] = []
    if draw(st.booleans()):
        played.append(Step((b"EHLO client.example.org\r\n",)))
    for _ in range(draw(st.integers(1, 5))):
        batch = draw(st.lists(commands(), min_size=1, max_size=3))
        wire = b"".join(c if c.startswith(b"BDAT") else c + ending for c in batch)
        if draw(st.booleans()) and b"DATA" in wire.upper() and not wire.startswith(b"BDAT"):
            played.append(Step((wire,)))
            body = b"Subject: x\r\n\r\n" + draw(st.sampled_from([b"body", b"..dot", b".", b"a\rb"]))
            wire = body + draw(st.sampled_from(ENDS))
        if len(wire) > 2 and draw(st.integers(0, 3)) == 0:
            cut = draw(st.integers(1, len(wire) - 1))
            played.append(Step((wire[:cut], wire[cut:])))
        else:
            played.append(Step((wire,)))
    if draw(st.integers(0, 4)) == 0:
        played.append(Step((b"STARTTLS\r\n",), tls=True))
        played.append(Step((b"EHLO client.example.org\r\n",)))
    played.append(Step((draw(st.sampled_from([b"QUIT\r\n", b"QUIT\r\n", b"quit\r\n"])),)))
    return played


@st.composite
def conversations(draw) -> list[Step]:
    played = draw(steps())
    total, kept = 0, []
    for step in played:
        total += lines_of(step)
        if total > MAX_LINES and kept:
            break
        kept.append(step)
    return kept


# ------------------------------------------------------------------ the differences we keep

# Differences the oracle finds that are not closed yet, each with its reason and a predicate of
# the step where the answers part (what the client sent in it, and in the conversation before it):
# the list says exactly what it allows. Past an allowed difference the two servers are in
# different states, so the rest of that conversation is not compared. The list only shrinks.
KNOWN_DIFFERENCES: list[tuple[str, str, Callable[[bytes, bytes], bool]]] = []


def allowed(step: int, conversation: list[Step]) -> str:
    """The name of the known difference that allows the answers to part at `step`, or ""."""
    before = b"".join(s.wire for s in conversation[:step])
    for name, _why, applies in KNOWN_DIFFERENCES:
        if applies(conversation[step].wire, before):
            return name
    return ""


# ------------------------------------------------------------------ the oracle


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    with PostfixServer() as postfix:
        persona = RunningSensor(tmp_path_factory.mktemp("differential"), smtp__persona="postfix", smtp__relay="auth",
                                deception__accept_logins=[":".join(ACCOUNT)])
        try:
            yield ("127.0.0.1", postfix.ports["sasl"]), persona.address, postfix
        finally:
            persona.stop()


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(conversation=conversations())
def test_the_persona_answers_generated_conversations_as_the_real_postfix(servers, conversation):
    real, persona, _ = servers
    with ThreadPoolExecutor(2) as pool:
        heard_real, heard_persona = (h.normalized() for h in pool.map(lambda a: play(a, conversation), (real, persona)))
    story = describe(conversation)
    assert heard_persona.banner == heard_real.banner
    for n, (want, got) in enumerate(zip(heard_real.replies, heard_persona.replies)):
        if got != want and allowed(n, conversation):
            return
        assert got == want, f"step {n + 1} of\n{story}\nreal Postfix: {want!r}\npersona:      {got!r}"
        assert heard_persona.late[n] == heard_real.late[n], f"step {n + 1} is late on one only:\n{story}"
    assert len(heard_persona.replies) == len(heard_real.replies), story
    if heard_persona.close != heard_real.close and allowed(len(heard_real.replies) - 1, conversation):
        return
    assert heard_persona.close == heard_real.close, f"the close differs:\n{story}"
