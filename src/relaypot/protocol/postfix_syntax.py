"""What Postfix's smtpd reads in a command's argument, followed from its source (3.7.11): the
words of a command line (smtpd/smtpd_token.c), host names (util/valid_hostname.c) and address
literals (global/valid_mailhost_addr.c). Pure; the personas whose server is Postfix turn these
on in their tables, and the differential test checks them against the real server.
"""

from __future__ import annotations

import ipaddress
import re

MAX_LABEL, MAX_HOSTNAME = 63, 255


def words(text: str) -> list[str]:
    """smtpd_token(): words split at blanks, except inside <...> (nested) and "..." (with \\
    escapes); a word ends right after "from:" or "to:" however it is spelt."""
    found: list[str] = []
    word: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        i += 1
        if c.isspace():
            if word:
                found.append("".join(word))
                word = []
        elif c in "<\"":
            word.append(c)
            i = _quoted(text, i, word, ">" if c == "<" else '"')
        elif c == ":":
            word.append(c)
            if "".join(word).lower() in ("to:", "from:"):
                found.append("".join(word))
                word = []
        else:
            if c == "\\" and i < n:
                word.append(c)
                c = text[i]
                i += 1
            word.append(c)
    if word:
        found.append("".join(word))
    return found


def _quoted(text: str, i: int, word: list[str], last: str) -> int:
    """smtp_quoted(): copy up to the closing `last`; quotes nest inside brackets."""
    wanted = [last]
    while i < len(text):
        c = text[i]
        i += 1
        word.append(c)
        if c == "\\":
            if i < len(text):
                word.append(text[i])
                i += 1
        elif c == wanted[-1]:
            wanted.pop()
            if not wanted:
                return i
        elif c == '"':
            wanted.append('"')
        elif c == "<" and wanted[-1] == ">":
            wanted.append(">")
    return i


_LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_NUMERIC = re.compile(r"[0-9.]+")


def valid_hostname(name: str) -> bool:
    """Letters, digits, "_" and inner "-" in labels of at most 63, dots between them, not all
    digits, at most 255 in all."""
    return (len(name) <= MAX_HOSTNAME and _HOSTNAME.fullmatch(name) is not None
            and _NUMERIC.fullmatch(name) is None)


def valid_mailhost_literal(text: str) -> bool:
    """`[192.0.2.1]` or `[IPv6:2001:db8::1]`, nothing after the bracket."""
    if not (text.startswith("[") and text.endswith("]")) or text.count("]") != 1:
        return False
    inner = text[1:-1]
    try:
        if inner[:5].lower() == "ipv6:":
            ipaddress.IPv6Address(inner[5:])
        else:
            ipaddress.IPv4Address(inner)
    except ValueError:
        return False
    return True
