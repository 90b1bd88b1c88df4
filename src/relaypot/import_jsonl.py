"""Load records from JSON lines files (events.jsonl, rotated, or gzipped) into a store, idempotently.

The way back from the JSON lines to a store: a batch the store refused for too long, a sensor's
files shipped to a central PostgreSQL, a SQLite store moved to PostgreSQL. A record already in
the store is skipped (every table keyed by session and sequence ignores a repeat), so importing
a file twice, or a file that overlaps the store, adds nothing twice.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import sys
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson

from relaypot.errors import StorageError
from relaypot.escape import clean_text
from relaypot.events import Record, record_from_dict
from relaypot.numbers import count
from relaypot.sinks.sql import SqlSink

BATCH = 5000
_IDENTITY = (("session", str), ("seq", int), ("ts", str), ("sensor", str), ("src_ip", str))


@dataclass
class ImportSummary:
    files: int = 0
    records: int = 0
    skipped: int = 0
    first_problem: str = ""
    pruned: int = 0  # records older than the last `relaypot prune`: not brought back
    pruned_before: str = ""
    new: int | None = None  # of the records, those the store did not have (None: not counted)

    def skip(self, where: str, why: str) -> None:
        self.skipped += 1
        if not self.first_problem:
            self.first_problem = f"{where}: {why}"

    def __str__(self) -> str:
        return self.line()

    def line(self) -> str:
        files = count(self.files, "file")
        if self.new is None or self.new == self.records:
            text = f"imported {count(self.records, 'record')} from {files}"
        else:  # a journal imported twice, or one the sensor's own store already holds
            text = (f"read {count(self.records, 'record')} from {files}: {self.new:,} new, "
                    f"{self.records - self.new:,} already in the store")
        if self.skipped:
            text += f"; skipped {self.skipped:,} unreadable (the first: {self.first_problem})"
        if self.pruned:
            text += f"; left out {self.pruned} older than the last relaypot prune ({self.pruned_before})"
        return text


def import_files(paths: Sequence[Path], sink: SqlSink, batch: int = BATCH,
                 offsets: Mapping[Path, int] | None = None, ends: Mapping[Path, int] | None = None,
                 tick: Callable[[], None] | None = None,
                 streams: Mapping[Path, IO[bytes]] | None = None) -> ImportSummary:
    """Write every readable record of `paths` through `sink`, `batch` records per transaction;
    an uncompressed file in `offsets` is read from that byte on (a line's start), one in `ends`
    up to that byte; `tick` is called after each transaction; a file in `streams` is read from
    that open stream (left open), not opened by its name."""
    summary = ImportSummary(pruned_before=sink.pruned_before())
    mark = sink.newest_event()
    pending: list[tuple[str, Record]] = []
    for path in paths:
        for where, record in _records(path, summary, (offsets or {}).get(path, 0), (ends or {}).get(path),
                                      (streams or {}).get(path)):
            if record.ts < summary.pruned_before:
                summary.pruned += 1  # pruned: a retention purge is not undone by a journal
                continue
            pending.append((where, record))
            if len(pending) >= batch:
                _write(sink, pending, summary)
                pending = []
                if tick is not None:
                    tick()
        summary.files += 1
    if pending:
        _write(sink, pending, summary)
    summary.new = sink.events_after(mark)
    return summary


def _records(path: Path, summary: ImportSummary, offset: int = 0, end: int | None = None,
             given: IO[bytes] | None = None) -> Iterator[tuple[str, Record]]:
    try:
        stream = given if given is not None else _open(path)
        if offset or given is not None:
            stream.seek(offset)
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from None
    with contextlib.nullcontext(stream) if given is not None else stream:
        try:
            position = offset
            for number, line in enumerate(stream, 1):
                position += len(line)
                if end is not None and position > end:
                    break  # written after the reading began: another path takes it
                where = f"{path.name}:{number}" if not offset else f"{path.name}@{offset}+{number}"
                if not line.strip():
                    continue
                try:
                    data = orjson.loads(line)
                    _check_identity(data)
                    record = record_from_dict(data)
                except (ValueError, KeyError, TypeError) as exc:  # a cut line, a foreign file
                    summary.skip(where, clean_text(str(exc))[:200].encode("unicode_escape").decode("ascii"))
                    continue
                yield where, record
        except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt .gz
            summary.skip(f"{path.name}", f"unreadable from here on: {exc}")


def _open(path: Path) -> io.BufferedIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return path.open("rb")


def _check_identity(data: object) -> None:
    """The fields every record has, with their types: a store column refuses anything else."""
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    for name, kind in _IDENTITY:
        if type(data.get(name)) is not kind:
            raise TypeError(f"{name} is not a {kind.__name__}")


def _write(sink: SqlSink, pending: list[tuple[str, Record]], summary: ImportSummary) -> None:
    """One transaction; when the store refuses a record in it (a field of the wrong type in an
    edited file), halves until that record is found and skipped, so one bad line costs only itself.
    When the store itself fails (down, locked, a table missing, no right to write), nothing is
    skipped: StorageError, and the caller keeps its file."""
    try:
        sink.write([record for _, record in pending])
    except StorageError:
        raise
    except Exception as exc:  # noqa: BLE001 (the store's own error types differ by engine)
        store_errors, record_errors = _driver_errors()
        if isinstance(exc, store_errors) and not isinstance(exc, record_errors):
            raise StorageError(f"the store failed: {' '.join(str(exc).split())}") from None
        if len(pending) == 1:
            summary.skip(pending[0][0], f"the store refused it: {exc.__class__.__name__}")
            return
        half = len(pending) // 2
        _write(sink, pending[:half], summary)
        _write(sink, pending[half:], summary)
        return
    summary.records += len(pending)


def _driver_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(every error the database drivers raise, those of them that blame a value: SQLSTATE
    classes 22 and 23). Anything else a write raises comes from building a record's rows."""
    import sqlite3  # noqa: PLC0415

    store: list[type[BaseException]] = [sqlite3.Error]
    record: list[type[BaseException]] = [sqlite3.DataError, sqlite3.IntegrityError]
    # Only a driver already loaded can have raised; importing one here could also fail after the
    # sensor dropped its privileges.
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        store.append(psycopg.Error)
        record += [psycopg.DataError, psycopg.IntegrityError]
    return tuple(store), tuple(record)
