"""Words both renderers use for values that are not what they look like: a password never sent, an
empty one, a session without a command, a blank command line."""

from __future__ import annotations


def password(value: str | None, hidden_by: str | None = None) -> str:
    """A password as a reader should see it: a challenge-response login (CRAM-MD5, NTLM) never
    sends one, and an empty one is not a missing one."""
    if value is None:
        return f"({hidden_by or 'not sent'})"
    return value if value else "(empty)"


def shape(value: str) -> str:
    """A session shape; a session that sent no command has none."""
    return value or "(no command)"


def verb(value: str) -> str:
    """A word from an unknown command, as sent; an empty or blank line has none."""
    return value or "(blank line)"


SHAPE_NOTE = "? in a shape is a word that is no SMTP verb (listed under unknown verbs)."
