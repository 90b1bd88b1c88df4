"""Records as JSON lines in `events.jsonl`, rotated by day or by size, never splitting a line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Sequence

from relaypot.errors import SinkError
from relaypot.events import Record


class JsonlSink:
    """`events.jsonl` is the live file; rotated files are `events-YYYY-MM-DD[.N].jsonl`."""

    name = "jsonl"

    def __init__(self, directory: Path, rotate: str = "day", max_bytes: int = 100 * 1024 * 1024,
                 fsync: bool = False) -> None:
        if rotate not in ("day", "size"):
            raise SinkError(f"jsonl rotation must be 'day' or 'size', not {rotate!r}")
        self.directory = directory
        self.path = directory / "events.jsonl"
        self.rotate = rotate
        self.max_bytes = max_bytes
        self.fsync = fsync
        self._file: IO[bytes] | None = None
        self._size = 0
        self._day = ""

    def open(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._file = _append(self.path)
        except OSError as exc:
            raise SinkError(f"cannot open {self.path}: {exc.strerror}") from None
        self._size = self._file.tell()
        self._day = self._first_day() if self._size else ""

    def _first_day(self) -> str:
        """The day of the live file's first record, so a restart rotates correctly."""
        try:
            with open(self.path, "rb") as f:
                first = f.readline()
        except OSError:
            return ""
        marker = first.find(b'"ts":"')
        return first[marker + 6 : marker + 16].decode("ascii", "replace") if marker >= 0 else ""

    def write(self, records: Sequence[Record]) -> None:
        assert self._file is not None
        chunk: list[bytes] = []
        chunk_size = 0
        for record in records:
            line = record.to_json() + b"\n"
            day = record.ts[:10]
            if self._needs_rotation(day, chunk_size, len(line)):
                self._flush(chunk)
                chunk, chunk_size = [], 0
                self._rotate()
            if not self._day:
                self._day = day
            chunk.append(line)
            chunk_size += len(line)
        self._flush(chunk)

    def _needs_rotation(self, day: str, pending: int, line_length: int) -> bool:
        if self.rotate == "day":
            return bool(self._day) and day != self._day
        current = self._size + pending
        return current > 0 and current + line_length > self.max_bytes

    def _flush(self, chunk: list[bytes]) -> None:
        if not chunk:
            return
        assert self._file is not None
        data = b"".join(chunk)
        # One write per batch of whole lines: a crash can cut the file only between lines
        # or inside the last, partial line of the batch being written.
        self._file.write(data)
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())
        self._size += len(data)

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        stem = f"events-{self._day or 'unknown'}"
        target = self.directory / f"{stem}.jsonl"
        n = 1
        while target.exists():
            target = self.directory / f"{stem}.{n}.jsonl"
            n += 1
        os.replace(self.path, target)
        self._file = _append(self.path)
        self._size = 0
        self._day = ""

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


def _append(path: Path) -> IO[bytes]:
    """Open for appending; a new file is 0640 (the records hold captured passwords)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640), "ab")
