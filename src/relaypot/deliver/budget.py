"""Which probes may be delivered: the hard limits, as pure bookkeeping (no I/O, no clock)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from relaypot.judgements.addresses import domain_of


@dataclass(frozen=True)
class DeliveryLimits:
    per_source_per_day: int = 1  # probes delivered for one source in one UTC day
    per_day: int = 20  # probes delivered in all in one UTC day
    max_bytes: int = 65536  # a larger message is no probe worth sending on
    max_recipients: int = 3  # a probe names its drop box or two; more relay recipients is a spam run
    protected: frozenset[str] = field(default_factory=frozenset)  # never to these domains, nor under them


class DeliveryBudget:
    """Counts what was sent (or tried: a failed delivery is not retried, and counts) per UTC day."""

    def __init__(self, limits: DeliveryLimits) -> None:
        self.limits = limits
        self.day = ""
        self.total = 0
        self.by_source: Counter[str] = Counter()

    def decide(self, source: str, recipients: tuple[str, ...], size: int, day: str) -> tuple[tuple[str, ...], str]:
        """(the recipients to deliver to, "") or ((), why not). A "yes" is counted at once."""
        if day != self.day:
            self.day, self.total = day, 0
            self.by_source.clear()
        limits = self.limits
        if size > limits.max_bytes:
            return (), f"larger than deliver_max_bytes ({size} > {limits.max_bytes})"
        if len(recipients) > limits.max_recipients:
            return (), (f"more relay recipients than deliver_max_recipients "
                        f"({len(recipients)} > {limits.max_recipients})")
        allowed = tuple(r for r in recipients if not _protected(domain_of(r), limits.protected))
        if not allowed:
            return (), "only protected domains"
        if self.total >= limits.per_day:
            return (), f"deliver_per_day reached ({limits.per_day})"
        if self.by_source[source] >= limits.per_source_per_day:
            return (), f"deliver_per_source_per_day reached ({limits.per_source_per_day})"
        self.total += 1
        self.by_source[source] += 1
        return allowed, ""


def _protected(domain: str, protected: frozenset[str]) -> bool:
    """`domain` is a protected one or under one (mail.example.gov under example.gov)."""
    labels = domain.lower().rstrip(".").split(".")
    return not domain or any(".".join(labels[i:]) in protected for i in range(len(labels)))
