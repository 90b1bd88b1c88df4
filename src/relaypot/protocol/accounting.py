"""What a session counts: a persona's error accounting ([errors]), as Postfix's smtpd loop keeps
it, and the shape of the conversation. Pure counting.

An error is a command answered 4xx/5xx; a junk verb used more than junk_limit times counts as
one too. From delay_from errors on, every reply waits `delay` seconds (smtpd_error_sleep_time);
at `limit` errors the server says session.too_many_errors and hangs up; a message accepted
forgives, where the server does. The session asks and acts: this module sends nothing.
"""

from __future__ import annotations

from relaypot.personas.model import ErrorRules
from relaypot.vocabulary import KNOWN_VERBS

SHAPE_TOKENS = 16


class ErrorAccount:
    __slots__ = ("counting", "errors", "junk", "rules")

    def __init__(self, rules: ErrorRules) -> None:
        self.rules = rules
        self.counting = bool(rules.limit or rules.delay_from)  # IIS keeps no account at all
        self.errors = 0
        self.junk = 0

    def answered(self, verb: str, code: int) -> bool:
        """Count a reply to `verb` (an exchange's last AUTH line counts with verb ""); True when
        the error limit is reached: the session says too_many_errors and closes."""
        if not self.counting:
            return False
        rules = self.rules
        if code >= 400:
            self.errors += 1
        if rules.junk_limit and verb in rules.junk_verbs:
            if self.junk > rules.junk_limit:
                self.errors += 1
            self.junk += 1
        return bool(rules.limit) and self.errors >= rules.limit

    def delay(self) -> float:
        """Seconds every reply waits now (0.0 below the soft limit)."""
        errors = self.errors
        return self.rules.delay if errors and errors >= self.rules.delay_from > 0 else 0.0

    def message_accepted(self) -> None:
        """Before the message's 250, which is not slowed down, where a message forgives."""
        if self.rules.forgiven_by_message:
            self.errors = self.junk = 0


class Shape:
    """The session's verbs in order, for session.closed: a run of one verb as "VERB+", other
    words as "?", at most SHAPE_TOKENS tokens and then "…"."""

    __slots__ = ("tokens",)

    def __init__(self) -> None:
        self.tokens: list[str] = []

    def add(self, verb: str) -> None:
        token = verb if verb in KNOWN_VERBS else "?"
        tokens = self.tokens
        if tokens and (tokens[-1] == token or tokens[-1] == token + "+"):
            tokens[-1] = token + "+"
        elif len(tokens) < SHAPE_TOKENS:
            tokens.append(token)
        elif len(tokens) == SHAPE_TOKENS:
            tokens.append("…")

    def __str__(self) -> str:
        return " ".join(self.tokens)
