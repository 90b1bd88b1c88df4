"""A second floor: the bare responder plus the least recording any Python sensor must do.

It answers as `bare_responder.py` does and records, per session, what the issue's "while recording
everything" cannot go below, and nothing more: every line received and the reply code it got, a
record when the session opens and closes, each message's sha256 and the message itself in an
`.eml` file (written before its 250), every record as a JSON line in `events.jsonl` and as a row
in SQLite (WAL, batched `executemany` in a writer thread, as relaypot's sinks do). No parsing:
no envelope, no headers, no typed tables, no indexes, no classifiers. Whatever relaypot costs
beyond this is relaypot's; this much any Python server recording everything pays.

    python3 bench/recording_floor.py PORT [uvloop]     (data in $RECORDING_FLOOR_DIR)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sqlite3
import sys
import threading
import time
from typing import TextIO

from bare_responder import Bare
from serve import serve

DIR = os.environ.get("RECORDING_FLOOR_DIR") or sys.exit("set RECORDING_FLOOR_DIR")
os.makedirs(f"{DIR}/messages", exist_ok=True)
pending: list[tuple] = []  # (session, seq, time, kind, data): the loop appends, the writer takes
sessions = itertools.count(1)
wake = threading.Event()


def open_outputs() -> tuple[sqlite3.Connection, TextIO]:
    db = sqlite3.connect(f"{DIR}/floor.sqlite", check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS events (session INTEGER, seq INTEGER, ts REAL, kind TEXT, data TEXT)")
    return db, open(f"{DIR}/events.jsonl", "a", encoding="utf-8")


def write_batch(db: sqlite3.Connection, out: TextIO, batch: list[tuple]) -> None:
    """One batch as JSON lines and SQLite rows (bench/cpu_breakdown.py calls it too)."""
    rows = [(s, q, t, k, d if isinstance(d, str) else d.decode("utf-8", "replace")) for s, q, t, k, d in batch]
    out.write("".join(json.dumps({"session": s, "seq": q, "ts": t, "kind": k, "data": d}) + "\n"
                      for s, q, t, k, d in rows))
    out.flush()
    db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
    db.commit()


def writer() -> None:
    db, out = open_outputs()
    global pending
    while True:
        wake.wait(0.5)
        wake.clear()
        batch, pending = pending, []  # one atomic swap under the GIL: no lock on the loop's path
        if batch:
            write_batch(db, out, batch)


class RecordingBare(Bare):
    """The bare responder's replies and parsing, recording through its two hooks."""

    __slots__ = ("seq", "session")

    def record(self, kind: str, data) -> None:
        self.seq += 1
        pending.append((self.session, self.seq, time.time(), kind, data))
        if len(pending) >= 10000:
            wake.set()

    def reply(self, line: bytes, text: bytes) -> None:
        self.record("command", line + b" -> " + text[:3])
        self.transport.write(text)

    def message(self, body: bytes) -> None:
        sha = hashlib.sha256(body).hexdigest()
        fd = os.open(f"{DIR}/messages/{sha}.eml", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        os.write(fd, body)
        os.close(fd)
        self.record("message", sha)

    def connection_made(self, transport):
        self.session = next(sessions)
        self.seq = 0
        self.record("opened", repr(transport.get_extra_info("peername")))
        super().connection_made(transport)

    def connection_lost(self, exc):
        self.record("closed", "")


if __name__ == "__main__":
    threading.Thread(target=writer, daemon=True, name="writer").start()
    serve(RecordingBare)
