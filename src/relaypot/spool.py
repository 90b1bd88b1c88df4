"""Batches a sink could not write within its retry window, kept on disk until it writes again.

An event once accepted is never dropped because a store is away: a PostgreSQL down for an hour,
a SQLite file locked by another program. The sink's worker hands such a batch here; it becomes
one JSON lines file (the format of `events.jsonl`), and once the sink writes again, the worker
resends the files oldest first through the sink's resend function (for the SQL store,
`relaypot import`'s path: idempotent, and a record the store refuses costs only itself).
A file is deleted only after its resend succeeded. Files left by an earlier run are resent
when the sensor starts.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from relaypot.escape import log_error
from relaypot.events import Record

log = logging.getLogger(__name__)

_counter = itertools.count(1)
MAX_BYTES = 1 << 30  # [store] spool_max_bytes' default


class SpoolFull(Exception):
    """The spool holds spool_max_bytes already: the batch is not kept (events.jsonl has it)."""


class Spool:
    """One sink's spooled batches: `DIRECTORY/<UTC time>-<pid>-<n>.jsonl`, names sorting by age."""

    def __init__(self, directory: Path, resend: Callable[[Path], object], max_bytes: int = MAX_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._resend = resend
        self._failing = False  # the last keep() could not write: say so once per streak
        self.used = sum(_size(path) for path in self.pending())

    def keep(self, records: Sequence[Record]) -> Path:
        """Write `records` to a new spool file, durably. SpoolFull past max_bytes (a store away for
        days must not fill the disk the sensor writes to); OSError when the disk cannot take it,
        with nothing left behind."""
        data = b"".join(record.to_json() + b"\n" for record in records)
        if self.used + len(data) > self.max_bytes:
            log.error("cannot spool %d records: the spool holds %d bytes of its %d (spool_max_bytes)",
                      len(records), self.used, self.max_bytes)
            raise SpoolFull(self.directory)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = self.directory / f"{stamp}-{os.getpid()}-{next(_counter):06d}.jsonl"
        partial = path.with_name(path.name + ".partial")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640), "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, path)  # a resend never sees a file still being written
        except OSError as exc:
            if not self._failing:
                log.error("cannot spool %d records to %s: %s", len(records), self.directory, exc.strerror or exc)
            self._failing = True
            try:
                partial.unlink()
            except OSError:
                pass
            raise
        self._failing = False
        self.used += len(data)
        return path

    def pending(self) -> list[Path]:
        """Spooled files, oldest first. A `.partial` left by a crash mid-write counts too: its
        lines are whole but perhaps the last, and a resend skips a cut line."""
        try:
            names = sorted(p for p in self.directory.iterdir() if p.name.endswith((".jsonl", ".jsonl.partial")))
        except OSError:
            return []
        return names

    def forget(self, path: Path) -> None:
        """Delete a spooled file whose records the store holds already."""
        size = _size(path)
        try:
            path.unlink()
        except OSError:
            return
        self.used = max(0, self.used - size)
        log.debug("spooled %s is in the store already (the journal's catch-up wrote it)", path.name)

    def resend_oldest(self) -> bool:
        """Resend the oldest file through the sink; True when it is written (and deleted)."""
        files = self.pending()
        if not files:
            return True
        path = files[0]
        try:
            outcome = self._resend(path)
        except Exception as exc:  # noqa: BLE001 (the store is still away: keep the file, try later)
            log.debug("spooled %s not resent yet: %s", path.name, log_error(exc))  # the worker reminds
            return False
        size = _size(path)
        try:
            path.unlink()
            self.used = max(0, self.used - size)
        except OSError as exc:
            log.error("resent %s but cannot delete it (a later resend repeats it harmlessly): %s",
                      path, exc.strerror)
        # A record the store refused as a value was skipped: say so; otherwise one line per file
        # only when asked (catching up after an hour's outage resends thousands).
        (log.warning if getattr(outcome, "skipped", 0) else log.debug)("resent spooled %s: %s", path.name, outcome)
        return True


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
