"""`relaypot enrich`: look up the sources and HELO names already in the store that have no answer
yet (recorded with enrichment off, or while a resolver was down), and record what is found the
way the sensor does: enrich.* records to events.jsonl and the SQL store."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from relaypot.config import Settings
from relaypot.enrich import base
from relaypot.enrich.base import Enricher, Target
from relaypot.enrich.runner import enrichment_records
from relaypot.events import DnsblResult, Record
from relaypot.numbers import count
from relaypot.sinks.base import Sink
from relaypot.storage.database import Database

BATCH = 500  # records per write to the sinks


@dataclass
class Summary:
    sources: int = 0
    helo_names: int = 0
    records: int = 0
    kinds: Counter = field(default_factory=Counter)
    listed: int = 0
    errors: int = 0

    def line(self) -> str:
        return (f"looked up {count(self.sources, 'source')} and {count(self.helo_names, 'HELO name')}: "
                f"{count(self.records, 'record')} "
                f"({', '.join(f'{k} {n}' for k, n in sorted(self.kinds.items())) or 'none'}); "
                f"{self.listed} DNSBL listings, {self.errors} lookups without an answer")


@dataclass(frozen=True)
class Work:
    sources: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]  # (src_ip, latest session, enrichers, zones)
    helo_names: list[tuple[str, str, str]]  # (name, src_ip, latest session)


def pending(db: Database, enrichers: Sequence[Enricher], zones: Sequence[str], everything: bool) -> Work:
    """What has no answer yet: a source without geography or reverse DNS, a zone without a
    verdict for it, a HELO name (as sent, from that source) that never resolved or failed."""
    geo_done, rdns_done, verdicts, helo_done = set(), set(), set(), set()
    if not everything:
        for ip, geo, rdns in db.query("SELECT src_ip, geo_checked, rdns_checked FROM sources", []):
            if geo:
                geo_done.add(ip)
            if rdns:
                rdns_done.add(ip)
        verdicts = set(db.query("SELECT src_ip, zone FROM dnsbl WHERE listed IS NOT NULL", []))
        helo_done = set(db.query("SELECT name, src_ip FROM helo_names WHERE resolves IS NOT NULL", []))
    names = {e.name for e in enrichers}
    sources = []
    for ip, session in db.query("SELECT src_ip, max(session_id) FROM sessions GROUP BY src_ip ORDER BY src_ip", []):
        missing = tuple(z for z in zones if (ip, z) not in verdicts)
        todo = tuple(name for name, done in (("geo", ip in geo_done), ("rdns", ip in rdns_done), ("dnsbl", not missing))
                     if name in names and not done)
        if todo:
            sources.append((ip, session, todo, missing))
    helo_names = []
    if "helo" in names:
        for name, ip, session in db.query(
                "SELECT helo, src_ip, max(session_id) FROM sessions WHERE helo_syntax IN ('fqdn', 'non_fqdn') "
                "GROUP BY helo, src_ip ORDER BY helo, src_ip", []):
            if (name, ip) not in helo_done:
                helo_names.append((name, ip, session))
    return Work(sources, helo_names)


async def run(work: Work, enrichers: Sequence[Enricher], sinks: Sequence[Sink], sensor: str,
              concurrency: int) -> Summary:
    by_name = {e.name: e for e in enrichers}
    summary = Summary(sources=len(work.sources), helo_names=len(work.helo_names))
    semaphore = asyncio.Semaphore(concurrency)
    pending_records: list[Record] = []

    async def one(enricher: Enricher, target: Target) -> None:
        async with semaphore:
            events = await enricher.enrich(target)
        pending_records.extend(enrichment_records(events, sensor, target.src_ip))
        for event in events:
            summary.kinds[event.kind] += 1
            if isinstance(event, DnsblResult):
                summary.listed += event.listed is True
            summary.errors += getattr(event, "error", None) is not None
        if len(pending_records) >= BATCH:
            flush()

    def flush() -> None:
        batch = pending_records[:]
        pending_records.clear()
        summary.records += len(batch)
        for sink in sinks:
            sink.write(batch)

    jobs = [one(by_name[name], Target(ip, session, zones=zones))
            for ip, session, todo, zones in work.sources for name in todo]
    jobs += [one(by_name["helo"], Target(ip, session, name)) for name, ip, session in work.helo_names]
    await asyncio.gather(*jobs)
    flush()
    return summary


def backfill(settings: Settings, data_dir: Path, db: Database, sinks: Sequence[Sink], everything: bool) -> Summary:
    # p0f fingerprints live connections: a source recorded earlier has no SYN left to look at.
    enrichers = [e for e in base.enrichers_from(settings, data_dir) if e.name != "os"]
    work = pending(db, enrichers, settings.enrich.dnsbl_zones, everything)
    for sink in sinks:
        sink.open()
    try:
        return asyncio.run(run(work, enrichers, sinks, settings.sensor.name or socket.gethostname(),
                               settings.enrich.concurrency))
    finally:
        for sink in sinks:
            sink.close()
