"""The runner's guarantees, with enrichers written for the test: a broken lookup is counted, never
raised; lookups are bounded; a source is looked up once while fresh."""

from __future__ import annotations

import asyncio

from relaypot.enrich.base import Target
from relaypot.enrich.runner import EnrichmentRunner
from relaypot.events import GeoFound, Helo, Record, SessionOpened


class Collector:
    def __init__(self) -> None:
        self.records: list[Record] = []

    def publish(self, record: Record) -> None:
        self.records.append(record)


class Slow:
    name, about, delay = "slow", "source", 0.0

    def __init__(self, release: asyncio.Event) -> None:
        self.release = release
        self.asked: list[Target] = []

    async def enrich(self, target: Target):
        self.asked.append(target)
        await self.release.wait()
        return [GeoFound(for_session=target.session, country="TW")]


class Broken:
    name, about, delay = "broken", "helo", 0.0

    async def enrich(self, target: Target):
        raise RuntimeError(f"bug on {target.helo}")


def opened(ip: str, session: str = "s" * 24) -> Record:
    return Record(session, 1, "2026-11-27T10:00:00.000000Z", "t", ip,
                  SessionOpened(40000, "127.0.0.1", 25, "127.0.0.1:25", "exchange2000", "mx", "220 hi"))


def helo(ip: str, name: str) -> Record:
    return Record("h" * 24, 2, "2026-11-27T10:00:00.000000Z", "t", ip, Helo(verb="EHLO", hostname=name))


def test_sources_are_asked_once_while_fresh_and_pending_lookups_are_bounded():
    async def main():
        release = asyncio.Event()
        slow, bus = Slow(release), Collector()
        runner = EnrichmentRunner([slow], bus, "t", ttl=3600, concurrency=2, max_pending=3)
        for n in range(5):
            runner(opened("192.0.2.1", f"{n:024x}"))  # the same source: one lookup
        for n in range(2, 7):
            runner(opened(f"192.0.2.{n}"))  # five new sources, room for two more tasks
        await asyncio.sleep(0.05)
        assert len(slow.asked) == 2 and runner.skipped == 3  # two in flight (concurrency), three skipped
        release.set()
        await runner.close()
        return slow, bus, runner

    _slow, bus, _runner = asyncio.run(main())
    assert [r.src_ip for r in bus.records] == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    assert bus.records[0].event.for_session == f"{0:024x}" and len({r.session for r in bus.records}) == 3


def test_a_failing_enricher_is_counted_and_the_rest_go_on():
    async def main():
        bus = Collector()
        release = asyncio.Event()
        release.set()
        runner = EnrichmentRunner([Broken(), Slow(release)], bus, "t")
        runner(opened("192.0.2.9"))
        runner(helo("192.0.2.9", "a.example"))
        runner(helo("192.0.2.9", "a.example"))  # the same name from the same source: asked once
        runner(helo("192.0.2.9", "A.example"))  # spelled otherwise: asked again (the store keeps names as sent)
        await runner.close()
        return bus, runner

    bus, runner = asyncio.run(main())
    assert runner.failures == 2
    assert [r.kind for r in bus.records] == ["enrich.geo"]
