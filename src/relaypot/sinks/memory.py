"""A sink that keeps records in a list: for tests and for in-process consumers."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from relaypot.events import Record
from relaypot.sinks.base import Policy


class MemorySink:
    name = "memory"
    policy: Policy = "store"

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        pass

    def rehearse(self, records: Sequence[Record]) -> None:
        pass

    def write(self, records: Sequence[Record]) -> None:
        with self._lock:
            self.records.extend(records)

    def close(self) -> None:
        pass

    def kinds(self) -> list[str]:
        with self._lock:
            return [r.kind for r in self.records]
