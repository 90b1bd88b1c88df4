"""Records as JSON lines in `events.jsonl`, rotated by day, by size or both, never splitting a line.

The sensor's journal: the bus appends every record here in the event loop and commits (one
write(2)) before a message is acknowledged, so a message a client got 250 for has its record in
the kernel whatever happens to the process next. A failed or partial write (a full disk) is
undone (the file is cut back to its last whole line) and its records wait in memory for the next
commit; a line torn by a crash is cut off when the file is opened again.
"""

from __future__ import annotations

import errno
import gzip
import logging
import os
import re
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

from relaypot.errors import SinkError
from relaypot.escape import log_error
from relaypot.events import Record
from relaypot.sinks.base import Policy

log = logging.getLogger(__name__)

COMMIT_AT = 64 * 1024  # bytes appended that are committed without waiting for the next tick
ROTATED = re.compile(r"^events-(\d{4}-\d{2}-\d{2}|unknown)(?:\.(\d+))?\.jsonl$")


ROTATIONS = ("day", "size", "day+size")  # day+size: a new file each day, and whenever one reaches max_bytes


def journal_files(directory: Path) -> list[Path]:
    """The uncompressed journal files, oldest first: rotated ones by day and number, then the live one."""
    rotated = []
    for path in directory.glob("events-*.jsonl"):
        match = ROTATED.match(path.name)
        if match:
            rotated.append(((match.group(1), int(match.group(2) or 0)), path))
    files = [path for _, path in sorted(rotated)]
    live = directory / "events.jsonl"
    return files + [live] if live.exists() else files


def compress_old(directory: Path) -> list[Path]:
    """gzip every rotated file but the newest (the start's catch-up may still read it, with the
    live one): `events-DAY.jsonl` becomes `events-DAY.jsonl.gz`, which `relaypot import` reads.
    Written beside, then renamed: a crash leaves the plain file, never half a .gz in its place."""
    rotated = [path for path in journal_files(directory) if path.name != "events.jsonl"]
    done = []
    for path in rotated[:-1]:
        target = path.with_name(path.name + ".gz")
        partial = path.with_name(path.name + ".gz.partial")
        if target.exists():
            log.warning("not compressing %s: %s exists", path, target.name)  # never overwrite records
            continue
        try:
            with open(path, "rb") as source, gzip.open(partial, "wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
            os.chmod(partial, 0o640)
            os.replace(partial, target)
            path.unlink()
            done.append(target)
        except OSError as exc:
            log.warning("could not compress %s: %s", path, log_error(exc))
            partial.unlink(missing_ok=True)
    return done


class JsonlSink:
    """`events.jsonl` is the live file; rotated files are `events-YYYY-MM-DD[.N].jsonl`."""

    name = "jsonl"
    policy: Policy = "store"

    def __init__(self, directory: Path, rotate: str = "day", max_bytes: int = 100 * 1024 * 1024,
                 fsync: bool = False, compress: bool = True) -> None:
        if rotate not in ROTATIONS:
            raise SinkError(f"jsonl rotation must be one of {', '.join(ROTATIONS)}, not {rotate!r}")
        self.directory = directory
        self.path = directory / "events.jsonl"
        self.rotate = rotate
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.compress = compress  # gzip rotated files (all but the newest), in a thread of their own
        self._compressing: threading.Thread | None = None
        self._fd = -1
        self._size = 0  # bytes of whole lines in the live file
        self._day = ""
        self._pending = bytearray()  # appended, not yet written
        self.failing = False
        self.written = 0  # records

    @property
    def pending_bytes(self) -> int:
        return len(self._pending)

    def rehearse(self, records: Sequence[Record]) -> None:
        for record in records:
            record.to_json()

    def open(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._fd = _append(self.path)
        except OSError as exc:
            raise SinkError(f"cannot open {self.path}: {exc.strerror}") from None
        self._size = os.fstat(self._fd).st_size
        self._repair()
        self._day = self._first_day() if self._size else ""

    def _repair(self) -> None:
        """Cut a last line torn by a crash (a partial write), so the next record starts a line."""
        if not self._size:
            return
        with open(self.path, "rb") as f:
            f.seek(max(0, self._size - 65536))
            tail = f.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        keep = self._size - len(tail) + cut + 1 if cut >= 0 else (0 if self._size <= 65536 else self._size)
        if keep == self._size:
            return  # a line longer than 64 KiB: no record is; leave it to import's checks
        os.ftruncate(self._fd, keep)
        log.warning("%s: cut %d bytes of a last line torn by a crash", self.path, self._size - keep)
        self._size = keep

    def _first_day(self) -> str:
        """The day of the live file's first record, so a restart rotates correctly."""
        try:
            with open(self.path, "rb") as f:
                first = f.readline()
        except OSError:
            return ""
        marker = first.find(b'"ts":"')
        return first[marker + 6 : marker + 16].decode("ascii", "replace") if marker >= 0 else ""

    def append(self, record: Record) -> None:
        """Queue one record's line; it reaches the file at the next commit."""
        line = record.to_json() + b"\n"
        if self._needs_rotation(record.ts[:10], len(line)):
            # Rotation waits until what came before is written; while the file cannot be written,
            # only the flush tick tries again (not every record).
            if self.failing or not self.commit():
                self._pending += line
                return
            self._rotate()
        if not self._day:
            self._day = record.ts[:10]
        self._pending += line
        if len(self._pending) >= COMMIT_AT and not self.failing:
            self.commit()

    def commit(self) -> bool:
        """Write what is pending, whole or not at all; False (records kept) when it cannot."""
        if not self._pending:
            return True
        if self._fd < 0:
            return False
        data = self._pending
        view = memoryview(data)
        try:
            done = 0
            while done < len(data):
                done += os.write(self._fd, view[done:])
            if self.fsync:
                os.fsync(self._fd)
        except OSError as exc:
            view.release()
            self._undo(exc)
            return False
        view.release()
        self.written += data.count(b"\n")
        self._size += len(data)
        self._pending = bytearray()
        if self.failing:
            self.failing = False
            log.warning("%s is written again", self.path)
        return True

    def _undo(self, exc: OSError) -> None:
        """A write failed part way: cut the file back to its last whole line, keep the records."""
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            pass
        if not self.failing:
            self.failing = True
            reason = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else log_error(exc)
            log.error("cannot write %s (%s): its records wait in memory", self.path, reason)

    def drop_pending(self) -> int:
        """Give up what could not be written (past the memory bound, or at the end); returns records."""
        lost = self._pending.count(b"\n")
        self._pending = bytearray()
        return lost

    def _needs_rotation(self, day: str, line_length: int) -> bool:
        if self.rotate != "size" and self._day and day != self._day:
            return True
        current = self._size + len(self._pending)
        return self.rotate != "day" and current > 0 and current + line_length > self.max_bytes

    def write(self, records: Sequence[Record]) -> None:
        """The Sink interface (`relaypot enrich` writes through it): append and commit."""
        for record in records:
            self.append(record)
        if not self.commit():
            raise SinkError(f"cannot write {self.path}")

    def _rotate(self) -> None:
        os.close(self._fd)
        stem = f"events-{self._day or 'unknown'}"
        target = self.directory / f"{stem}.jsonl"
        n = 1
        # A name is taken by its file, or by the .gz it became: reusing it would overwrite that .gz.
        while target.exists() or target.with_name(target.name + ".gz").exists():
            target = self.directory / f"{stem}.{n}.jsonl"
            n += 1
        os.replace(self.path, target)
        self._fd = _append(self.path)
        self._size = 0
        self._day = ""
        if self.compress and (self._compressing is None or not self._compressing.is_alive()):
            # Off the event loop: a day's file can be large.
            self._compressing = threading.Thread(target=self._compress_all, name="jsonl-gzip", daemon=True)
            self._compressing.start()

    def _compress_all(self) -> None:
        """Until a pass finds nothing: files rotated while one ran are taken by the next."""
        while compress_old(self.directory):
            pass

    def close(self) -> None:
        if self._compressing is not None:
            self._compressing.join()  # a stop leaves whole files, compressed or not
            self._compressing = None
            compress_old(self.directory)  # what a rotation during the last pass left
        if self._fd < 0:
            return
        self.commit()
        try:
            os.fsync(self._fd)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = -1


def _append(path: Path) -> int:
    """Open for appending; a new file is 0640 (the records hold captured passwords)."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
