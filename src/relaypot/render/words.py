"""Words both renderers use for values that are not what they look like."""

from __future__ import annotations


def password(value: str | None, hidden_by: str | None = None) -> str:
    """A password as a reader should see it: a challenge-response login (CRAM-MD5, NTLM) never
    sends one, and an empty one is not a missing one."""
    if value is None:
        return f"({hidden_by or 'not sent'})"
    return value if value else "(empty)"
