"""Parse one command line into a verb and an argument, and a MAIL/RCPT argument into a path."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

QUOTED = re.compile(r'"(?:\\.|[^"\\])*"')


def decode(raw: bytes) -> str:
    """Attacker bytes as text, losslessly: undecodable bytes become lone surrogates."""
    return raw.decode("utf-8", "surrogateescape")


# isspace() in the C locale: what ends and trims a word for the servers written in C (Exim,
# Sendmail, Cyrus SASL, Postfix's command reader)
C_SPACE = " \t\n\v\f\r"
C_SPACE_BYTES = C_SPACE.encode()


MAX_DIGITS = 19  # fits a 64-bit size; also under Python's 4300-digit int() guard


def ascii_number(text: str) -> int | None:
    """A count the client wrote, in ASCII digits only (`"²"` and `"1_000"` are not numbers, though
    `str.isdigit` and `int()` accept them), or None. Bounded, so no input can make `int()` raise."""
    if not text or len(text) > MAX_DIGITS or not text.isascii() or not text.isdigit():
        return None
    return int(text)


@dataclass(frozen=True, slots=True)
class Path:
    """A parsed reverse-path or forward-path with its ESMTP parameters (RFC 5321 §4.1.2)."""

    address: str
    parameters: dict[str, str]
    bracketed: bool
    tokens: tuple[str, ...] = field(default=(), compare=False)  # the parameters as sent, in order


# Why a path was refused; the session maps each to the persona's reply key.
SYNTAX = "syntax"  # no "FROM:" / "TO:" keyword
BAD_ADDRESS = "bad_address"  # no address after it, unbalanced brackets, control bytes, spaces


def parse_path(argument: str, keyword: str, allow_bracketless: bool) -> Path | str:
    """Parse `FROM:<addr> SIZE=10` (keyword "FROM") or `TO:<addr>`; returns a Path or an error tag."""
    head = argument[: len(keyword) + 1]
    if head.upper() != keyword + ":":
        return SYNTAX
    rest = argument[len(keyword) + 1 :].lstrip(" ")
    if rest.startswith("<"):
        end = rest.find(">") if '"' not in rest else _closing_bracket(rest)
        if end < 0:
            return BAD_ADDRESS
        address = rest[1:end]
        params_text = rest[end + 1 :]
        bracketed = True
        # A source route (RFC 5321 §4.1.2 "@a,@b:user@c") is legal and ignored, as servers do.
        if address.startswith("@") and ":" in address:
            address = address.split(":", 1)[1]
    else:
        if not allow_bracketless or not rest:
            return BAD_ADDRESS
        address, _, params_text = rest.partition(" ")
        bracketed = False
    # A quoted local part may hold <, > and spaces (RFC 5321 §4.1.2).
    bare = QUOTED.sub("", address) if '"' in address else address
    if "<" in bare or ">" in bare or " " in bare or not address.isprintable():
        return BAD_ADDRESS
    return Path(address, parse_parameters(params_text), bracketed, tuple(params_text.split()))


def _closing_bracket(text: str) -> int:
    """Index of the `>` closing a path, skipping a quoted local part (`<"a>b"@c>`)."""
    quoted = False
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quoted:
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch == ">" and not quoted:
            return i
        i += 1
    return -1


def parse_parameters(text: str) -> dict[str, str]:
    """`SIZE=100 BODY=8BITMIME SMTPUTF8` → `{"SIZE": "100", "BODY": "8BITMIME", "SMTPUTF8": ""}`."""
    params: dict[str, str] = {}
    for item in text.split():
        key, _, value = item.partition("=")
        if key:
            params[key.upper()] = value
    return params


def bdat_argument(argument: str) -> tuple[int | None, bool]:
    """`BDAT <size> [LAST]` (RFC 3030 §2): (the size, or None when the argument is no such thing;
    whether it is the last chunk)."""
    parts = argument.split()
    size = ascii_number(parts[0]) if parts else None
    if size is None or len(parts) > 2 or (len(parts) == 2 and parts[1].upper() != "LAST"):
        return None, False
    return size, len(parts) == 2


def xexch50_size(argument: str) -> int | None:
    """`XEXCH50 <size> <n>` (MS03-046's verb): the size, or None when the argument is no such
    thing (exploits send a negative or huge size after a probe)."""
    parts = argument.split()
    return ascii_number(parts[0]) if len(parts) == 2 else None
