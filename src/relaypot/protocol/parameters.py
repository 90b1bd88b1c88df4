"""ESMTP parameters of MAIL and RCPT checked as a real server checks them (RFC 1870, 1652, 3461, 6531).

Pure: the parameters as sent in, the reply key of the first refusal (or None) out.
"""

from __future__ import annotations

from relaypot.protocol.commands import ascii_number

_BODY = frozenset({"7BIT", "8BITMIME"})  # BINARYMIME needs CHUNKING's BDAT-only rules: Postfix refuses it
_RET = frozenset({"FULL", "HDRS"})
_NOTIFY = frozenset({"SUCCESS", "FAILURE", "DELAY"})


def refusal(command: str, taken: frozenset[str], tokens: tuple[str, ...]) -> tuple[str, str] | None:
    """(reply key, the token it is about) for the first parameter the server would refuse.

    `command` is "mail" or "rcpt"; `taken` the names the persona takes; `tokens` the parameters
    as sent (`SIZE=1000`, `SMTPUTF8`)."""
    for token in tokens:
        name, _, value = token.partition("=")
        name = name.upper()
        if name not in taken:
            return f"{command}.unsupported_option", token
        upper = value.upper()
        if name == "SIZE" and ascii_number(value) is None:
            return "mail.bad_size", token
        if name == "BODY" and upper not in _BODY:
            return f"{command}.unsupported_option", token
        if name == "RET" and upper not in _RET:
            return "mail.bad_ret", token
        if name == "NOTIFY" and not (upper == "NEVER" or (upper and set(upper.split(",")) <= _NOTIFY)):
            return "rcpt.bad_notify", token
    return None
