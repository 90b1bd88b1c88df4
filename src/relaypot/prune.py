"""`relaypot prune`: forget what is older than a cutoff, in batches, while a sensor may be writing.

Sessions that started before the cutoff and have ended go with every row keyed by them; the
records that stand alone (enrichment, probe deliveries) go by their time; facts about a source
go once no session of it is left and they were last checked before the cutoff. A message file
goes once no message row names it and it has not been written or received again since the
cutoff (the store refreshes a file's time when the same body comes again).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from relaypot.storage.database import Database

PER_SESSION = ("events", "commands", "envelopes", "messages", "urls", "attachments", "credentials", "violations",
               "attacks", "fragments")
BATCH = 500  # sessions per transaction: a running sensor's writes go in between
ENDED_BEFORE = "started < ? AND ended IS NOT NULL"  # a session prune takes: the sessions table in scope
STANDALONE = ("enrich.geo", "enrich.rdns", "enrich.dnsbl", "enrich.helo", "enrich.os", "deliver.probe")


@dataclass
class PruneSummary:
    cutoff: str
    sessions: int = 0
    rows: Counter[str] = field(default_factory=Counter)
    files: int = 0
    file_bytes: int = 0

    def line(self, dry_run: bool) -> str:
        verb = "would remove" if dry_run else "removed"
        rows = ", ".join(f"{n} {table}" for table, n in sorted(self.rows.items()) if n) or "no other rows"
        return (f"{verb} {self.sessions} sessions that started before {self.cutoff} ({rows}) and "
                f"{self.files} message files ({self.file_bytes / 1048576:.1f} MiB)")


def prune(db: Database, cutoff: datetime, messages_dir: Path | None, dry_run: bool = False) -> PruneSummary:
    limit = cutoff.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    summary = PruneSummary(limit)
    old = [sid for (sid,) in db.query(f"SELECT session_id FROM sessions WHERE {ENDED_BEFORE} ORDER BY started",
                                      [limit])]
    bodies: set[str] = set()
    for start in range(0, len(old), BATCH):
        chunk = old[start:start + BATCH]
        marks = ", ".join("?" * len(chunk))
        bodies.update(sha for (sha,) in db.query(f"SELECT DISTINCT sha256 FROM messages WHERE session_id IN ({marks})",
                                                 chunk))
        for table in PER_SESSION:
            summary.rows[table] += db.query(f"SELECT count(*) FROM {table} WHERE session_id IN ({marks})", chunk)[0][0]
        summary.sessions += len(chunk)
        if not dry_run:
            with db.transaction():
                for table in (*PER_SESSION, "sessions"):
                    db.execute(f"DELETE FROM {table} WHERE session_id IN ({marks})", chunk)
    kinds = ", ".join("?" * len(STANDALONE))
    _remove(db, summary, "events", f"kind IN ({kinds}) AND ts < ?", [*STANDALONE, limit], dry_run)
    _remove(db, summary, "deliveries", "ts < ?", [limit], dry_run)
    gone = "NOT EXISTS (SELECT 1 FROM sessions s WHERE s.src_ip = {table}.src_ip)"
    checked = " AND ".join(f"({c} IS NULL OR {c} < ?)" for c in ("geo_checked", "rdns_checked", "os_checked"))
    _remove(db, summary, "sources", gone.format(table="sources") + " AND " + checked, [limit] * 3, dry_run)
    for table in ("dnsbl", "helo_names"):
        _remove(db, summary, table, gone.format(table=table) + " AND checked < ?", [limit], dry_run)
    if messages_dir is not None and messages_dir.is_dir():
        _remove_files(db, summary, bodies, messages_dir, cutoff.timestamp(), limit, dry_run)
    if not dry_run:  # what went stays gone: catch-up, spool resends and imports skip what is older
        with db.transaction():
            db.execute("INSERT INTO pruned (cutoff, pruned_at) VALUES (?, ?)",
                       [limit, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")])
    return summary


def _remove(db: Database, summary: PruneSummary, table: str, where: str, params: list, dry_run: bool) -> None:
    summary.rows[table] += db.query(f"SELECT count(*) FROM {table} WHERE {where}", params)[0][0]
    if not dry_run:
        with db.transaction():
            db.execute(f"DELETE FROM {table} WHERE {where}", params)


def _remove_files(db: Database, summary: PruneSummary, bodies: set[str], messages_dir: Path, before: float,
                  limit: str, dry_run: bool) -> None:
    for sha in sorted(bodies):
        # A message of a session that stays (any, in a dry run too) still names the file.
        if db.query("SELECT 1 FROM messages m WHERE m.sha256 = ? AND NOT EXISTS (SELECT 1 FROM sessions "
                    f"WHERE sessions.session_id = m.session_id AND {ENDED_BEFORE}) LIMIT 1", [sha, limit]):
            continue
        path = messages_dir / sha[:2] / f"{sha}.eml"
        try:
            stat = path.stat()
        except OSError:
            continue
        if stat.st_mtime >= before:
            continue  # received again since the cutoff: its row may be on its way
        summary.files += 1
        summary.file_bytes += stat.st_size
        if not dry_run:
            try:
                os.unlink(path)
            except OSError:
                summary.files -= 1
                summary.file_bytes -= stat.st_size


def parse_age(text: str) -> float:
    """`90d`, `12h`, `30m` → seconds; ValueError for anything else."""
    units = {"d": 86400, "h": 3600, "m": 60}
    number, unit = text[:-1], text[-1:].lower()
    if unit not in units or not number.isdigit() or int(number) <= 0:
        raise ValueError(f"{text!r}: write a number of days, hours or minutes, such as 90d, 12h or 30m")
    return int(number) * units[unit]
