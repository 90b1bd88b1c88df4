"""How a count reads in a sentence: `1 source`, `3 sources`, `1,204 messages`.

The ground floor: the report's analyses write sentences with it and its renderers label counts."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and its noun, singular for exactly one, thousands separated."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
