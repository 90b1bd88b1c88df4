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
    __slots__ = ("counting", "errors", "free", "junk", "overshoot", "rules")

    def __init__(self, rules: ErrorRules) -> None:
        self.rules = rules
        self.counting = bool(rules.limit or rules.delay_from)  # IIS keeps no account at all
        self.errors = 0
        self.junk = 0
        self.overshoot = 0  # recipients refused past the server's limit in this transaction
        self.free = False  # the refusal being answered is no error

    def recipient_overshoot(self) -> None:
        """A RCPT refused past the server's recipient limit: the first rcpt_overshoot of a
        transaction are no errors (smtpd.c rcpt_cmd returns 0 for them)."""
        self.free = self.overshoot < self.rules.rcpt_overshoot
        self.overshoot += 1

    def answered(self, verb: str, code: int) -> bool:
        """Count a reply to `verb` (an exchange's last AUTH line counts with verb ""); True when
        the error limit is reached: the session says too_many_errors and closes."""
        if not self.counting:
            return False
        rules = self.rules
        if code >= 400 and not self.free:
            self.errors += 1
        self.free = False
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


MAX_TIMEOUT = 240  # srvrsmtp.c MAXTIMEOUT: the longest a slowdown waits
MAX_SHIFT = 8


class Slowdowns:
    """Sendmail's checksmtpattack(), per group of verbs ([errors] slowdowns "HELO EHLO:3"): the
    seconds a command's reply waits. Pure counting."""

    __slots__ = ("counts", "limits")

    def __init__(self, groups: tuple[str, ...]) -> None:
        self.limits: dict[str, tuple[int, int]] = {}  # verb: (its group, the group's limit)
        for index, group in enumerate(groups):
            verbs, _, limit = group.partition(":")
            for verb in verbs.split():
                self.limits[verb.upper()] = (index, int(limit))
        self.counts = [0] * len(groups)

    def restart(self, verb: str) -> None:
        """The count of `verb`'s group starts over."""
        found = self.limits.get(verb)
        if found is not None:
            self.counts[found[0]] = 0

    def delay(self, verb: str) -> float:
        """Count `verb`: the seconds its reply waits."""
        first, rest = self.parts(verb)
        return first + rest

    def parts(self, verb: str) -> tuple[float, float]:
        """Count `verb`: the seconds slept at once, and the rest, which VRFY and EXPN sleep only
        once their lookup is done (checksmtpattack's waitnow false: a refusal skips them)."""
        found = self.limits.get(verb)
        if found is None:
            return 0.0, 0.0
        group, limit = found
        self.counts[group] += 1
        count = self.counts[group]
        if count < limit:
            return 0.0, 0.0
        shift = count - limit
        wait = MAX_TIMEOUT if shift > MAX_SHIFT else min(1 << shift, MAX_TIMEOUT)
        first = count // limit  # slept at once, at least a second
        wait -= first
        if wait >= MAX_TIMEOUT or wait < 0:
            wait = MAX_TIMEOUT
        return float(first), float(wait)


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


class ProtocolCounters:
    """Exim's three counters (smtp_in.c, [errors] protocol_limit, unknown_limit, nonmail_limit):
    syntax and protocol errors, unrecognised commands, and commands that are no part of sending
    mail. Each method counts one and says whether its limit was passed."""

    __slots__ = ("free", "nonmail", "protocol", "rules", "unknown")

    FREE_ONCE = ("HELO", "EHLO", "RSET", "STARTTLS", "AUTH")  # free once (HELO and EHLO together)

    def __init__(self, rules: ErrorRules) -> None:
        self.rules = rules
        self.protocol = self.unknown = self.nonmail = 0
        self.free = set(self.FREE_ONCE)

    def protocol_error(self) -> bool:
        self.protocol += 1
        return bool(self.rules.protocol_limit) and self.protocol > self.rules.protocol_limit

    def unknown_command(self) -> bool:
        """True: this one is past the limit (it is answered session.too_many_unknown instead)."""
        self.unknown += 1
        return bool(self.rules.unknown_limit) and self.unknown > self.rules.unknown_limit

    def nonmail_command(self, verb: str) -> bool:
        """A command read (before it runs): True when it is one nonmail command too many. The first
        HELO or EHLO, RSET and STARTTLS of a transaction are free, as a first AUTH is."""
        if verb in self.free:
            self.free.discard(verb)
            if verb in ("HELO", "EHLO"):
                self.free.discard("EHLO" if verb == "HELO" else "HELO")
            return False
        if verb not in self.rules.nonmail_verbs and verb != "AUTH":
            return False
        self.nonmail += 1
        return bool(self.rules.nonmail_limit) and self.nonmail > self.rules.nonmail_limit

    def new_message(self) -> None:
        """smtp_setup_msg starts over: one HELO/EHLO, RSET and STARTTLS are free again."""
        self.free |= {"HELO", "EHLO", "RSET", "STARTTLS"}

    def tls_started(self) -> None:
        """After STARTTLS one more EHLO and one more AUTH are free (smtp_in.c: "an extra EHLO
        command and an extra AUTH command after STARTTLS that don't add to the nonmail command
        count", a HELO not; the AUTH captured: tests/reference/exim-tls-auth/guessing.json)."""
        self.free |= {"EHLO", "AUTH"}
