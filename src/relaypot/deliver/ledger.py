"""What probe delivery already spent today, read back from the journal at start.

The daily caps are a promise to the operator: a restart (or a crash) must not give the day a
second allowance. Every delivery decision that spent from the budget is a `deliver.probe`
record with outcome `delivered` or `failed` in the sensor's own journal (events.jsonl, which is
this sensor's alone, written before any store); the start counts today's, one per decision.
"""

from __future__ import annotations

import gzip
import logging
import mmap
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from relaypot.sinks.jsonl import journal_files

log = logging.getLogger(__name__)

MARK = b'{"kind":"deliver.probe",'
SPENDING = ("delivered", "failed")  # a refusal spent nothing


def _days(day: str) -> tuple[str, str]:
    today = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    return (today - timedelta(days=1)).strftime("%Y-%m-%d"), day


def _candidates(directory: Path, day: str) -> list[Path]:
    """The live journal and every rotated file that may hold today's records (a file named for
    yesterday may run into today when it rotates by size only)."""
    days = _days(day)
    found = [path for path in journal_files(directory)
             if path.name == "events.jsonl" or path.name[7:17] in days]
    found += sorted(path for path in directory.glob("events-*.jsonl.gz") if path.name[7:17] in days)
    return found


def _next(blob: bytes | mmap.mmap, start: int) -> int:
    """Where the next deliver.probe line starts at or after `start`, or -1."""
    if start == 0 and blob[:len(MARK)] == MARK:
        return 0
    at = blob.find(b"\n" + MARK, start)
    return -1 if at < 0 else at + 1


def _records(blob: bytes | mmap.mmap) -> list[dict]:
    found = []
    at = _next(blob, 0)
    while at >= 0:
        end = blob.find(b"\n", at)
        try:
            found.append(orjson.loads(blob[at:end if end >= 0 else len(blob)]))
        except orjson.JSONDecodeError:
            pass  # a line torn by a crash: it was never a decision that went out
        if end < 0:
            break
        at = _next(blob, end)
    return found


def _read(path: Path) -> list[dict]:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return _records(stream.read())
        with path.open("rb") as stream:
            if not path.stat().st_size:
                return []
            with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as blob:
                return _records(blob)
    except (OSError, EOFError, zlib.error) as exc:
        log.warning("probe delivery: could not read %s for today's count (%s)", path, exc)
        return []


def spent_today(directory: Path, day: str) -> list[str]:
    """The source address of each decision today that spent from the budget, in no order."""
    decisions: dict[tuple[str, str], str] = {}
    for path in _candidates(directory, day):
        for record in _read(path):
            if str(record.get("ts", ""))[:10] == day and record.get("outcome") in SPENDING:
                decisions[(str(record.get("for_session")), str(record.get("sha256")))] = str(record.get("src_ip"))
    return list(decisions.values())
