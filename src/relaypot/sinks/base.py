"""The Sink interface every backend implements (the optional outputs are named in sinks/outputs.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from relaypot.events import Record


class Sink(Protocol):
    """A destination for records. Called from one worker thread only."""

    name: str

    def open(self) -> None:
        """Acquire files or connections; raise SinkError/StorageError with a clear message."""

    def write(self, records: Sequence[Record]) -> None:
        """Persist a batch, completely, before returning; raise on failure (the batch is retried)."""

    def close(self) -> None:
        """Release resources; everything written is durable."""
