"""What `relaypot top` shows: the last hour and today of one store, as one snapshot.

Every question is bounded by time (the last hour, or today since 00:00 UTC) and by a row limit,
so a refresh every few seconds costs the same on a store of a day or of a year (the indexes on
sessions.started and the tables' ts carry it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from relaypot.analysis.origins import dnsbl_status
from relaypot.storage.database import Database

MINUTES = 60  # the sparkline's span
OPEN_WINDOW = timedelta(hours=4)  # a session unclosed for longer is a sensor that died, not one open


def stamp(moment: datetime) -> str:
    """A moment as the records write it (`2026-11-30T14:36:20.908240Z`), for comparing text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Snapshot:
    taken: datetime
    per_minute: list[int]  # sessions started in each of the last MINUTES minutes, oldest first
    open_sessions: int
    sessions_today: int
    sources_today: int
    sources: list[dict] = field(default_factory=list)  # newest first
    probes: list[dict] = field(default_factory=list)
    credentials: list[dict] = field(default_factory=list)
    helo_classes: list[tuple[str, int]] = field(default_factory=list)
    sensors: list[tuple[str, int]] = field(default_factory=list)  # today's sessions per sensor


def snapshot(db: Database, now: datetime | None = None, sensor: str | None = None, rows: int = 12) -> Snapshot:
    now = now or datetime.now(UTC)
    hour_ago = (now - timedelta(minutes=MINUTES - 1)).replace(second=0, microsecond=0)
    today = stamp(now.replace(hour=0, minute=0, second=0, microsecond=0))
    where, params = ("AND sensor = ?", [sensor]) if sensor else ("", [])

    counts = dict(db.query(f"SELECT substr(started, 1, 16), count(*) FROM sessions WHERE started >= ? {where} "
                           "GROUP BY substr(started, 1, 16)", [stamp(hour_ago), *params]))
    per_minute = [counts.get(stamp(hour_ago + timedelta(minutes=n))[:16], 0) for n in range(MINUTES)]
    (open_sessions,), = db.query(f"SELECT count(*) FROM sessions WHERE ended IS NULL AND started >= ? {where}",
                                 [stamp(now - OPEN_WINDOW), *params])
    (sessions_today, sources_today), = db.query(
        f"SELECT count(*), count(DISTINCT src_ip) FROM sessions WHERE started >= ? {where}", [today, *params])

    newest = db.query(f"SELECT src_ip, max(started), count(*) FROM sessions WHERE started >= ? {where} "
                      "GROUP BY src_ip ORDER BY max(started) DESC, src_ip LIMIT ?", [today, *params, rows])
    ips = [ip for ip, _, _ in newest]
    facts: dict[str, dict] = {}
    verdicts: dict[str, dict[str, tuple]] = {}
    zones = frozenset(zone for zone, in db.query("SELECT DISTINCT zone FROM dnsbl"))
    if ips:
        marks = ", ".join("?" for _ in ips)
        facts = {ip: {"country": country, "asn": asn, "os": os_name} for ip, country, asn, os_name in db.query(
            f"SELECT src_ip, country, asn, os FROM sources WHERE src_ip IN ({marks})", ips)}
        for ip, zone, listed, error in db.query(
                f"SELECT src_ip, zone, listed, error FROM dnsbl WHERE src_ip IN ({marks})", ips):
            verdicts.setdefault(ip, {})[zone] = (listed, error)
    unknown = {"country": None, "asn": None, "os": None}  # a source enrichment has not reached
    sources = [{"src_ip": ip, "last": last, "sessions": count, **facts.get(ip, unknown),
                "dnsbl": dnsbl_status(verdicts.get(ip), zones)} for ip, last, count in newest]

    probes = [{"ts": ts, "src_ip": ip, "family": family, "subject": subject, "sensor": name}
              for ts, ip, family, subject, name in db.query(
                  f"SELECT ts, src_ip, probe_family, subject, sensor FROM messages WHERE ts >= ? "
                  f"AND probe_family IS NOT NULL {where} ORDER BY ts DESC, session_id LIMIT ?", [today, *params, rows])]
    credentials = [{"ts": ts, "src_ip": ip, "mechanism": mechanism, "username": username, "password": password,
                    "outcome": outcome}
                   for ts, ip, mechanism, username, password, outcome in db.query(
                       f"SELECT ts, src_ip, mechanism, username, password, outcome FROM credentials WHERE ts >= ? "
                       f"{where} ORDER BY ts DESC, session_id, seq LIMIT ?", [today, *params, rows])]
    helo_classes = [(name or "missing", count) for name, count in db.query(
        f"SELECT COALESCE(helo_class, ''), count(*) FROM sessions WHERE started >= ? {where} "
        "GROUP BY COALESCE(helo_class, '') ORDER BY count(*) DESC, COALESCE(helo_class, '')", [today, *params])]
    sensors = [(name, count) for name, count in db.query(
        f"SELECT sensor, count(*) FROM sessions WHERE started >= ? {where} GROUP BY sensor ORDER BY sensor",
        [today, *params])]
    return Snapshot(taken=now, per_minute=per_minute, open_sessions=open_sessions, sessions_today=sessions_today,
                    sources_today=sources_today, sources=sources, probes=probes, credentials=credentials,
                    helo_classes=helo_classes, sensors=sensors)
