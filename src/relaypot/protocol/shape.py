"""A session's shape: its verbs in order, a run of one verb as `VERB+`, a word that is no SMTP verb
as `?`, at most SHAPE_TOKENS tokens and then `…` (`EHLO MAIL RCPT+ DATA QUIT`). Pure."""

from __future__ import annotations

from relaypot.vocabulary import KNOWN_VERBS

SHAPE_TOKENS = 16


def add(shape: list[str], verb: str) -> None:
    """Add one command's verb to `shape`, in place."""
    token = verb if verb in KNOWN_VERBS else "?"
    if shape and (shape[-1] == token or shape[-1] == token + "+"):
        shape[-1] = token + "+"
    elif len(shape) < SHAPE_TOKENS:
        shape.append(token)
    elif len(shape) == SHAPE_TOKENS:
        shape.append("…")
