"""The session's input modes, and the command sequence as one persona applies it.

Which verb is refused in which state, and with what reply, is each verb's row in
vocabulary.VERBS (a state absent from a row is allowed); personas relax rows (`mail_before_helo`,
`auth_before_helo`). The session reads the table and never re-encodes it.
"""

from __future__ import annotations

from relaypot.vocabulary import CONNECTED, VERBS

# Input modes: what the next bytes are.
COMMAND = "command"  # a command line
AUTH = "auth"  # an AUTH continuation line
DATA = "data"  # message body up to <CRLF>.<CRLF>
CHUNK = "chunk"  # a counted BDAT or XEXCH50 chunk
PAUSED = "paused"  # waiting for the transport: message storage or TLS handshake
CLOSED = "closed"


def refusal_table(mail_before_helo: bool, auth_before_helo: bool) -> dict[tuple[str, str], str]:
    """{(verb, state): reply key} for one persona: the verbs' sequence (vocabulary.VERBS) with the
    persona's relaxations applied."""
    table = {(name, state): key for name, verb in VERBS.items() for state, key in verb.refused.items()}
    if mail_before_helo:
        del table[("MAIL", CONNECTED)]
    if auth_before_helo:
        del table[("AUTH", CONNECTED)]
    return table
