"""Run the enrichers beside the sessions: a bus listener that starts bounded lookup tasks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

from relaypot.enrich.base import Enricher, Target
from relaypot.events import Event, Helo, Record, SessionClosed, SessionOpened
from relaypot.pipeline import EventBus, new_session_id, utc_timestamp

log = logging.getLogger(__name__)

MAX_REMEMBERED = 100_000  # sources and HELO names whose results are fresh


class _Fresh:
    """Keys seen within `ttl` seconds, bounded: the oldest are forgotten first."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._until: OrderedDict[object, float] = OrderedDict()

    def claim(self, key: object, now: float) -> bool:
        """True if `key` was not fresh (and is now); False if it was."""
        until = self._until.get(key)
        if until is not None and until > now:
            return False
        self._until[key] = now + self.ttl
        self._until.move_to_end(key)
        if len(self._until) > MAX_REMEMBERED:
            self._until.popitem(last=False)
        return True


def enrichment_records(events: list[Event], sensor: str, src_ip: str) -> list[Record]:
    """Each enrichment record stands alone: its own id, seq 1; `for_session` says what brought it."""
    ts = utc_timestamp()
    return [Record(new_session_id(), 1, ts, sensor, src_ip, event) for event in events]


class EnrichmentRunner:
    """In-loop listener on the bus. Lookups never delay a reply: they are tasks, bounded twice,
    by a semaphore (in flight) and a cap on pending tasks (past it, a lookup is skipped and
    counted; `relaypot enrich` fills the gap later)."""

    def __init__(self, enrichers: list[Enricher], bus: EventBus, sensor: str, ttl: float = 3600.0,
                 concurrency: int = 50, max_pending: int = 10_000, helo_per_session: int = 2,
                 helo_per_source: int = 10) -> None:
        self.enrichers = enrichers
        self.by_about = {"source": [e for e in enrichers if e.about == "source"],
                         "helo": [e for e in enrichers if e.about == "helo"]}
        self.bus = bus
        self.sensor = sensor
        self.sources = _Fresh(ttl)
        self.helos = _Fresh(ttl)
        # HELO names are the attacker's to choose, and each costs DNS questions to a resolver an
        # operator runs: one session of 900 EHLOs must not become 1,800 queries.
        self.helo_per_session = helo_per_session
        self.helo_per_source = helo_per_source
        self._helo_sessions: OrderedDict[str, int] = OrderedDict()  # open sessions' HELO lookups
        self._helo_sources: OrderedDict[str, tuple[float, int]] = OrderedDict()  # (window start, lookups)
        self.capped = 0  # HELO lookups not made for these caps
        self.concurrency = concurrency
        self.max_pending = max_pending
        self.tasks: set[asyncio.Task] = set()
        self.skipped = 0
        self.failures = 0
        self._semaphore: asyncio.Semaphore | None = None

    def __call__(self, record: Record) -> None:
        event = record.event
        if isinstance(event, SessionOpened) and self.by_about["source"]:
            if self.sources.claim(record.src_ip, time.monotonic()):
                for enricher in self.by_about["source"]:
                    self._spawn(enricher, Target(record.src_ip, record.session))
        elif isinstance(event, Helo) and self.by_about["helo"]:
            name = event.hostname
            now = time.monotonic()
            # Keyed as sent: the store joins a session's HELO to its lookup by the exact name.
            if name and self.helos.claim((name, record.src_ip), now):
                if not self._helo_allowed(record.session, record.src_ip, now):
                    self.capped += 1
                    return
                for enricher in self.by_about["helo"]:
                    self._spawn(enricher, Target(record.src_ip, record.session, name))
        elif isinstance(event, SessionClosed):
            self._helo_sessions.pop(record.session, None)

    def _helo_allowed(self, session: str, src_ip: str, now: float) -> bool:
        """Within both caps: lookups per session, and per source within the cache's TTL."""
        in_session = self._helo_sessions.get(session, 0)
        start, in_window = self._helo_sources.get(src_ip, (now, 0))
        if now - start > self.sources.ttl:
            start, in_window = now, 0
        if in_session >= self.helo_per_session or in_window >= self.helo_per_source:
            return False
        self._helo_sessions[session] = in_session + 1
        self._helo_sources[src_ip] = (start, in_window + 1)
        self._helo_sources.move_to_end(src_ip)
        for table in (self._helo_sessions, self._helo_sources):
            if len(table) > MAX_REMEMBERED:
                table.popitem(last=False)
        return True

    def _spawn(self, enricher: Enricher, target: Target) -> None:
        if len(self.tasks) >= self.max_pending:
            self.skipped += 1
            return
        task = asyncio.get_running_loop().create_task(self._run(enricher, target))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, enricher: Enricher, target: Target) -> None:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        if enricher.delay:
            await asyncio.sleep(enricher.delay)
        async with self._semaphore:
            try:
                events = await enricher.enrich(target)
            except asyncio.CancelledError:
                raise
            except Exception:  # a broken lookup must not touch the sessions
                self.failures += 1
                if self.failures == 1 or self.failures % 100 == 0:
                    log.exception("enricher %s failed (failure %d)", enricher.name, self.failures)
                return
        self.publish(target.src_ip, events)

    def publish(self, src_ip: str, events: list[Event]) -> None:
        for record in enrichment_records(events, self.sensor, src_ip):
            self.bus.publish(record)

    async def close(self, grace: float = 2.0) -> None:
        """Let lookups in flight finish for `grace` seconds, then cancel the rest."""
        if self.tasks:
            _done, pending = await asyncio.wait(list(self.tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
