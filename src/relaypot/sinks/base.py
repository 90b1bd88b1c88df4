"""The Sink interface every backend implements (the optional outputs are named in sinks/outputs.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from relaypot.events import Record

# How the bus treats a sink (pipeline.SinkWorker applies it, so no sink reinvents it):
# "store": nothing is lost: a failing batch is retried, then spooled; a sink far behind pauses
#          the clients (backpressure). The SQL store.
# "output": best effort: a bounded queue of its own, one try per batch; past the bound or after
#           a failure records are dropped and counted, and the clients are never paused for it.
#           syslog and hpfeeds (events.jsonl and the store have every record).
Policy = Literal["store", "output"]


class Sink(Protocol):
    """A destination for records. Called from one worker thread only."""

    name: str
    policy: Policy

    def rehearse(self, records: Sequence[Record]) -> None:
        """Do everything `open` and `write` will do with `records` except the I/O, before root
        is dropped: after it, the installation may be unreadable (a late import fails)."""

    def open(self) -> None:
        """Acquire files or connections; raise SinkError/StorageError with a clear message."""

    def write(self, records: Sequence[Record]) -> None:
        """Persist a batch, completely, before returning; raise on failure (the batch is retried)."""

    def close(self) -> None:
        """Release resources; everything written is durable."""
