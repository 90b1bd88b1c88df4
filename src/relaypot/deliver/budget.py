"""Which probes may be delivered: the hard limits, as pure bookkeeping (no I/O, no clock)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from relaypot.judgements.addresses import domain_of


@dataclass(frozen=True)
class DeliveryLimits:
    per_source_per_day: int = 1  # probes delivered for one source in one UTC day
    per_day: int = 20  # probes delivered in all in one UTC day
    max_bytes: int = 4096  # a larger message is no probe: probes are a few lines
    max_recipients: int = 3  # a probe names its drop box or two; more relay recipients is a spam run
    protected: frozenset[str] = field(default_factory=frozenset)  # never to these domains, nor under them


class DeliveryBudget:
    """Counts what was sent (or tried: a failed delivery is not retried, and counts) per UTC day.

    A decision asks `screen` (the message's own limits), `room` (is anything left today, without
    spending), and once its route is found `spend` (counted at once). `seed` gives a new process
    what the day already spent (deliver/ledger.py reads it back from the journal).
    """

    def __init__(self, limits: DeliveryLimits) -> None:
        self.limits = limits
        self.day = ""
        self.total = 0
        self.by_source: Counter[str] = Counter()

    def _turn(self, day: str) -> None:
        if day != self.day:
            self.day, self.total = day, 0
            self.by_source.clear()

    def seed(self, day: str, sources: Iterable[str]) -> None:
        self._turn(day)
        for source in sources:
            self.total += 1
            self.by_source[source] += 1

    def screen(self, recipients: tuple[str, ...]) -> str:
        """Why not, from the recipients alone ("" when they pass)."""
        limits = self.limits
        if len(recipients) > limits.max_recipients:
            return (f"more relay recipients than deliver_max_recipients "
                    f"({len(recipients)} > {limits.max_recipients})")
        if not self.allowed(recipients):
            return "only protected domains"
        return ""

    def allowed(self, recipients: tuple[str, ...]) -> tuple[str, ...]:
        """The recipients outside the protected domains."""
        return tuple(r for r in recipients if not _protected(domain_of(r), self.limits.protected))

    def room(self, source: str, day: str) -> str:
        """Why the day has nothing left for `source` ("" when it has)."""
        self._turn(day)
        limits = self.limits
        if self.total >= limits.per_day:
            return f"deliver_per_day reached ({limits.per_day})"
        if self.by_source[source] >= limits.per_source_per_day:
            return f"deliver_per_source_per_day reached ({limits.per_source_per_day})"
        return ""

    def spend(self, source: str, day: str) -> str:
        """Count one delivery for `source` ("" when there was room), or say why not."""
        why_not = self.room(source, day)
        if not why_not:
            self.total += 1
            self.by_source[source] += 1
        return why_not


def _protected(domain: str, protected: frozenset[str]) -> bool:
    """`domain` is a protected one or under one (mail.example.gov under example.gov)."""
    labels = domain.lower().rstrip(".").split(".")
    return not domain or any(".".join(labels[i:]) in protected for i in range(len(labels)))
