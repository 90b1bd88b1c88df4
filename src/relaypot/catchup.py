"""At start, give the SQL store what the journal (`events.jsonl`) holds and the store does not.

The journal is written in the event loop before each message is acknowledged; the store follows
in batches, a moment later. After a kill -9 or a power cut the store may therefore lack the
journal's last records. Both receive records in the same order, so the store holds a prefix of
the journal (a spooled batch, and everything after it, is missing until resent): the first
record it lacks is found by bisecting the journal, a few look-ups, and the rest is imported
through `relaypot import`'s path, where a record already stored is skipped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

import orjson

from relaypot.import_jsonl import ImportSummary, import_files
from relaypot.sinks.jsonl import journal_files
from relaypot.sinks.sql import SqlSink
from relaypot.spool import Spool

log = logging.getLogger(__name__)

_SCAN = 4096  # below this span, read line by line instead of bisecting


class Snapshot:
    """The journal's newest two files as they are before this run writes to it: open, so that a
    rotation (a rename) while the catch-up reads them changes nothing, and with their sizes, so
    that what this run appends goes the live way, not twice."""

    def __init__(self, directory: Path) -> None:
        self.files: list[tuple[Path, IO[bytes], int]] = []
        for path in journal_files(directory)[-2:]:
            try:
                stream = open(path, "rb")
            except OSError:
                continue
            self.files.append((path, stream, os.fstat(stream.fileno()).st_size))

    def close(self) -> None:
        for _, stream, _ in self.files:
            stream.close()
        self.files = []


def catch_up(sink: SqlSink, journal: Path | Snapshot, spool: Spool | None = None,
             tick: Callable[[], None] | None = None) -> ImportSummary | None:
    """Import the journal's records that follow the last one the store holds; None when the
    store is complete. Only the newest two files are looked at (a crash just after a rotation),
    up to where they ended when the snapshot was taken (a directory: now). `tick` is called
    between batches. Then what `spool` holds from an earlier run and the catch-up has written
    already is let go of without a second import."""
    snapshot = journal if isinstance(journal, Snapshot) else Snapshot(journal)
    try:
        if sink.db is None:
            sink.open()
        earlier = spool.pending() if spool is not None else []
        summary = _import_tail(sink, snapshot, tick)
        if spool is not None:
            _settle(sink, spool, earlier)
        return summary
    finally:
        snapshot.close()


def _import_tail(sink: SqlSink, snapshot: Snapshot, tick: Callable[[], None] | None) -> ImportSummary | None:
    assert sink.db is not None
    files = [path for path, _, _ in snapshot.files]
    streams = {path: stream for path, stream, _ in snapshot.files}
    ends = {path: size for path, _, size in snapshot.files}
    horizon = sink.pruned_before()
    start: tuple[Path, int] | None = None
    for path in reversed(files):
        offset = _first_missing(sink, streams[path], horizon)
        if offset is None:
            break  # this file is all in the store: nothing after it is missing
        start = (path, offset)
        if offset > 0:
            break  # the store's last record is in this file
    if start is None:
        return None
    path, offset = start
    later = files[files.index(path) + 1:]
    summary = import_files([path, *later], sink, offsets={path: offset}, ends=ends, tick=tick, streams=streams)
    log.warning("the store lacked the journal's last records (a crash?): %s from %s on", summary.line(), path.name)
    return summary


def _settle(sink: SqlSink, spool: Spool, files: list[Path]) -> None:
    """Let go of each spooled file whose every record the store now holds (the catch-up wrote
    them from the journal): resending it would import it all again, for nothing."""
    assert sink.db is not None
    for path in files:
        try:
            keys = {(data["session"], data["seq"]) for data in map(orjson.loads, path.read_bytes().splitlines())}
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable here: the resend's own checks deal with it
        sessions = sorted({session for session, _ in keys})
        stored: set[tuple[str, int]] = set()
        for at in range(0, len(sessions), 500):
            chunk = sessions[at:at + 500]
            stored.update((s, q) for s, q in sink.db.query(
                f"SELECT session_id, seq FROM events WHERE session_id IN ({', '.join('?' * len(chunk))})", chunk))
        if keys <= stored:
            spool.forget(path)


def _first_missing(sink: SqlSink, journal: IO[bytes], horizon: str = "") -> int | None:
    """The offset of the first line whose record the store lacks, or None when it has them all.
    A record older than `horizon` (the last prune's cutoff) counts as stored: it was removed."""
    size = journal.seek(0, 2)
    lo, hi = 0, size  # the missing line, if any, starts in [lo, hi)
    first = _line_at(journal, 0)
    if first is None or not _stored(sink, first[1], horizon):
        return 0 if first is not None else None
    while hi - lo > _SCAN:
        mid = (lo + hi) // 2
        found = _line_at(journal, mid)
        if found is None or found[0] >= hi:
            hi = mid
        elif _stored(sink, found[1], horizon):
            lo = found[0] + len(found[1])
        else:
            hi = found[0] + 1
    journal.seek(lo)
    position = lo
    for line in journal:
        if not _stored(sink, line, horizon):
            return position
        position += len(line)
    return None


def _line_at(journal: IO[bytes], offset: int) -> tuple[int, bytes] | None:
    """The first whole line starting at or after `offset`, with its offset."""
    if offset:
        journal.seek(offset - 1)
        journal.readline()  # the end of the line before `offset` (just "\n" when a line starts there)
    else:
        journal.seek(0)
    position = journal.tell()
    line = journal.readline()
    return (position, line) if line.endswith(b"\n") else None


def _stored(sink: SqlSink, line: bytes, horizon: str = "") -> bool:
    try:
        data = orjson.loads(line)
        key = (data["session"], data["seq"])
        if str(data["ts"]) < horizon:
            return True  # pruned, or kept with a session that was still open: never to import
    except (ValueError, KeyError, TypeError):
        return True  # not a record (a foreign line): import's checks will say so if it is read
    assert sink.db is not None
    return bool(sink.db.query("SELECT 1 FROM events WHERE session_id = ? AND seq = ?", key))
