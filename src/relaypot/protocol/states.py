"""The SMTP command sequence as a table: which verb is refused in which state, and with what reply.

A verb absent from SEQUENCE, or a state absent from its row, is allowed. Personas relax rows
(`mail_before_helo`, `auth_before_helo`); the session reads the table and never re-encodes it.
"""

from __future__ import annotations

# Transaction states (RFC 5321 §4.1.4, §3.3).
CONNECTED = "connected"  # banner sent, no HELO/EHLO yet
GREETED = "greeted"  # HELO/EHLO accepted, no transaction
MAIL = "mail"  # MAIL accepted
RCPT = "rcpt"  # at least one RCPT accepted

# Input modes: what the next bytes are.
COMMAND = "command"  # a command line
AUTH = "auth"  # an AUTH continuation line
DATA = "data"  # message body up to <CRLF>.<CRLF>
CHUNK = "chunk"  # a counted BDAT or XEXCH50 chunk
PAUSED = "paused"  # waiting for the transport: message storage or TLS handshake
CLOSED = "closed"

SEQUENCE: dict[str, dict[str, str]] = {
    "MAIL": {CONNECTED: "mail.need_helo", MAIL: "mail.nested", RCPT: "mail.nested"},
    "RCPT": {CONNECTED: "rcpt.need_mail", GREETED: "rcpt.need_mail"},
    "DATA": {CONNECTED: "data.need_mail", GREETED: "data.need_mail", MAIL: "data.need_rcpt"},
    "BDAT": {CONNECTED: "bdat.need_mail", GREETED: "bdat.need_mail", MAIL: "bdat.need_rcpt"},
    "AUTH": {CONNECTED: "auth.not_available"},
}


def refusal_table(mail_before_helo: bool, auth_before_helo: bool) -> dict[tuple[str, str], str]:
    """{(verb, state): reply key} for one persona: SEQUENCE with the persona's relaxations applied."""
    table = {(verb, state): key for verb, row in SEQUENCE.items() for state, key in row.items()}
    if mail_before_helo:
        del table[("MAIL", CONNECTED)]
    if auth_before_helo:
        del table[("AUTH", CONNECTED)]
    return table
