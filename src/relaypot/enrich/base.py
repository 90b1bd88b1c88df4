"""The Enricher interface, the enrichers, and the registry that builds them from settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from relaypot.config import Settings
from relaypot.enrich import dnsbl, names, p0f
from relaypot.enrich.geo import Geo, default_database
from relaypot.enrich.resolver import Resolver
from relaypot.enrich.resolver import preload as preload_dns
from relaypot.events import DnsblResult, Event, GeoFound, HeloDns, OsFingerprint, ReverseDns
from relaypot.judgements.classify import classify_helo


@dataclass(frozen=True, slots=True)
class Target:
    """What an enricher is asked about: a source (and the session that brought it), or a HELO name."""

    src_ip: str
    session: str
    helo: str | None = None
    zones: tuple[str, ...] = ()  # for DNSBLs: only these zones (`relaypot enrich` retrying some)


class Enricher(Protocol):
    """Looks something up about a source; returns new events, never raises for what it finds out."""

    name: str
    about: str  # "source": once per source while cached; "helo": once per HELO name and source
    delay: float  # seconds to wait before asking (p0f needs to have seen the SYN)

    async def enrich(self, target: Target) -> list[Event]:
        ...

    def rehearse(self) -> None:
        """Load, without asking anyone, whatever a first lookup would load (before root is dropped)."""


class GeoEnricher:
    name, about, delay = "geo", "source", 0.0

    def __init__(self, geo: Geo) -> None:
        self.geo = geo

    def rehearse(self) -> None:
        self.geo.place("192.0.2.1")
        self.geo.place("8.8.8.8")  # iptocc reads its registry data on the first global address

    async def enrich(self, target: Target) -> list[Event]:
        place = self.geo.place(target.src_ip, target.session)
        return [] if place == GeoFound(for_session=target.session) else [place]


class ReverseDnsEnricher:
    name, about, delay = "rdns", "source", 0.0

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver

    def rehearse(self) -> None:
        preload_dns()
        names.generic_reason("192-0-2-1.dsl.example.net", "192.0.2.1")

    async def enrich(self, target: Target) -> list[Event]:
        found = await names.reverse(self.resolver, target.src_ip)
        return [ReverseDns(for_session=target.session, ptr=found.ptr, confirmed=found.confirmed,
                           generic=found.generic, error=found.error)]


class DnsblEnricher:
    name, about, delay = "dnsbl", "source", 0.0

    def __init__(self, resolver: Resolver, zones: tuple[str, ...]) -> None:
        self.resolver = resolver
        self.zones = zones

    def rehearse(self) -> None:
        preload_dns()
        for zone in self.zones:
            dnsbl.interpret(zone, ["127.0.0.2"])
            dnsbl.query_name("2001:db8::1", zone)

    async def enrich(self, target: Target) -> list[Event]:
        zones = target.zones or self.zones
        verdicts = await asyncio.gather(*(dnsbl.check(self.resolver, target.src_ip, z) for z in zones))
        return [DnsblResult(for_session=target.session, zone=v.zone, listed=v.listed, codes=v.codes,
                            meaning=v.meaning, error=v.error) for v in verdicts]


class HeloDnsEnricher:
    name, about, delay = "helo", "helo", 0.0

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver

    def rehearse(self) -> None:
        preload_dns()
        classify_helo("mail.example.co.uk")  # the Public Suffix List's data

    async def enrich(self, target: Target) -> list[Event]:
        name = target.helo or ""
        # Only names are asked about: literals and bare addresses are not in the DNS by design.
        if classify_helo(name).syntax not in ("fqdn", "non_fqdn"):
            return []
        answer = await names.helo(self.resolver, name, target.src_ip)
        return [HeloDns(for_session=target.session, name=name, resolves=answer.resolves, addresses=answer.addresses,
                        matches_peer=answer.matches_peer, error=answer.error)]


class P0fEnricher:
    name, about = "os", "source"

    def __init__(self, socket_path: str, delay: float) -> None:
        self.socket_path = socket_path
        self.delay = delay

    def rehearse(self) -> None:
        p0f.query("127.0.0.1")

    async def enrich(self, target: Target) -> list[Event]:
        try:
            answer = await p0f.ask(self.socket_path, target.src_ip)
        except p0f.P0fError as exc:
            return [OsFingerprint(for_session=target.session, error=str(exc))]
        if answer is None or not answer.os_name:
            return [OsFingerprint(for_session=target.session, error="p0f has no fingerprint for this source",
                                  link=answer.link_type if answer else None)]
        return [OsFingerprint(for_session=target.session, os=answer.os_name, flavor=answer.os_flavor or None,
                              match_quality=answer.match_quality, distance=answer.distance,
                              link=answer.link_type or None)]


def _geo(settings: Settings, data_dir: Path, resolver: Resolver) -> Enricher:
    return GeoEnricher(Geo(settings.enrich.city_db or default_database(data_dir, "city"),
                           settings.enrich.asn_db or default_database(data_dir, "asn")))


# The registry: one entry per enricher, built from settings; `p0f` only when a socket is named.
ENRICHERS: dict[str, Callable[[Settings, Path, Resolver], Enricher | None]] = {
    "geo": _geo,
    "rdns": lambda s, d, r: ReverseDnsEnricher(r),
    "dnsbl": lambda s, d, r: DnsblEnricher(r, tuple(s.enrich.dnsbl_zones)) if s.enrich.dnsbl_zones else None,
    "helo": lambda s, d, r: HeloDnsEnricher(r),
    "os": lambda s, d, r: P0fEnricher(s.enrich.p0f_socket, s.enrich.p0f_delay) if s.enrich.p0f_socket else None,
}


def enrichers_from(settings: Settings, data_dir: Path, only: tuple[str, ...] = ()) -> list[Enricher]:
    resolver = Resolver(settings.enrich.resolver, settings.enrich.dns_timeout)
    built = []
    for name, make in ENRICHERS.items():
        if only and name not in only:
            continue
        enricher = make(settings, data_dir, resolver)
        if enricher is not None:
            built.append(enricher)
    return built
