"""Who the sources are: geography, network, reverse DNS, DNSBL listings and operating system,
folded from the enrichment tables over the sources in the report's scope."""

from __future__ import annotations

from collections import Counter
from typing import Any

from relaypot.analysis.queries import Queries
from relaypot.judgements.addresses import address_order


def load(q: Queries) -> dict[str, Any]:
    """The enrichment tables, keyed by source (they hold one row per source, or per source and zone)."""
    facts = {row[0]: row for row in q.source_facts()}
    zones: dict[str, dict[str, tuple]] = {}
    every_zone: set[str] = set()
    for ip, zone, listed, error in q.dnsbl_verdicts():
        zones.setdefault(ip, {})[zone] = (listed, error)
        every_zone.add(zone)
    return {"facts": facts, "dnsbl": zones, "dnsbl_zones": frozenset(every_zone), "helo_dns": q.helo_in_dns()}


def dnsbl_status(verdicts: dict[str, tuple] | None, every_zone: frozenset[str]) -> str:
    """`listed` (a zone lists it), `clean` (every zone the sensors ask answered, and none lists it)
    or `unknown` (never asked, or a zone timed out, failed or was not asked): a source whose every
    lookup timed out is not clean."""
    if verdicts is None:
        return "unknown"
    if any(listed == 1 for listed, _ in verdicts.values()):
        return "listed"
    if every_zone <= verdicts.keys() and all(listed == 0 for listed, _ in verdicts.values()):
        return "clean"
    return "unknown"


def describe(ip: str, data: dict[str, Any]) -> dict[str, Any]:
    """The enrichment columns of one source (null where nothing is known)."""
    fact = data["facts"].get(ip)
    verdicts = data["dnsbl"].get(ip)
    _, country, city, region, asn, organisation, network, ptr, confirmed, generic, os_name, flavor = (
        fact or (ip,) + (None,) * 11)
    return {
        "country": country, "city": city, "region": region, "asn": asn, "organisation": organisation,
        "network": network, "ptr": ptr, "ptr_confirmed": None if confirmed is None else bool(confirmed),
        "ptr_generic": generic,
        # The zones that list it; [] when clean; null when unknown (see dnsbl_status).
        "dnsbl": _listing(verdicts, data["dnsbl_zones"]),
        "dnsbl_status": dnsbl_status(verdicts, data["dnsbl_zones"]),
        "os": os_label(os_name, flavor),
    }


def _listing(verdicts: dict[str, tuple] | None, every_zone: frozenset[str]) -> list[str] | None:
    status = dnsbl_status(verdicts, every_zone)
    if status == "unknown":
        return None
    assert verdicts is not None
    return sorted(zone for zone, (listed, _) in verdicts.items() if listed == 1)


def os_label(name: str | None, flavor: str | None) -> str | None:
    return None if not name else f"{name} {flavor}".strip() if flavor else name


def fold(sessions_by_source: dict[str, int], data: dict[str, Any], top: int) -> dict[str, Any]:
    """Countries, cities, networks, operating systems, reverse DNS and DNSBL listings, counted in
    sources and in their sessions, over the sources in scope."""
    countries: dict[str, list[int]] = {}
    cities: dict[tuple[str, str | None], list[int]] = {}
    networks: dict[tuple[int, str | None], list[int]] = {}
    systems: dict[str, list[int]] = {}
    rdns: Counter[str] = Counter()
    zones: dict[str, Counter[str]] = {}
    listed_sources: list[dict[str, Any]] = []
    statuses: Counter[str] = Counter()
    enriched = 0
    for ip, n in sessions_by_source.items():
        fact = data["facts"].get(ip)
        verdicts = data["dnsbl"].get(ip)
        if fact is not None or verdicts is not None:
            enriched += 1
        if fact is not None:
            _, country, city, _, asn, organisation, _, ptr, confirmed, generic, os_name, flavor = fact
            _add(countries, country or "unknown", n)
            if city:
                _add(cities, (city, country), n)
            if asn is not None:
                _add(networks, (asn, organisation), n)
            label = os_label(os_name, flavor)
            if label:
                _add(systems, label, n)
            rdns["with_ptr"] += ptr is not None
            rdns["confirmed"] += confirmed == 1
            rdns["generic"] += generic is not None
        statuses[dnsbl_status(verdicts, data["dnsbl_zones"])] += 1
        if verdicts:
            listing = []
            for zone, (listed, _error) in verdicts.items():
                counts = zones.setdefault(zone, Counter())
                counts["asked"] += 1
                counts["listed"] += listed == 1
                counts["errors"] += listed is None
                if listed == 1:
                    listing.append(zone)
            if listing:
                listed_sources.append({"src_ip": ip, "sessions": n, "zones": sorted(listing)})
    return {
        "enriched_sources": enriched,
        "countries": _rank(countries, lambda k: {"country": k}),
        "cities": _rank(cities, lambda k: {"city": k[0], "country": k[1]})[:top],
        "networks": _rank(networks, lambda k: {"asn": k[0], "organisation": k[1]})[:top],
        "operating_systems": _rank(systems, lambda k: {"os": k}),
        "reverse_dns": {"with_ptr": rdns["with_ptr"], "confirmed": rdns["confirmed"], "generic": rdns["generic"]},
        "dnsbl": {
            "zones": [{"zone": zone, "asked": c["asked"], "listed": c["listed"], "errors": c["errors"],
                       "listed_share": _share(c["listed"], c["asked"] - c["errors"])}
                      for zone, c in sorted(zones.items())],
            "listed_sources": sorted(listed_sources, key=lambda s: (-s["sessions"], address_order(s["src_ip"])))[:top],
            "listed_source_count": len(listed_sources),
            "sources": {status: statuses[status] for status in ("listed", "clean", "unknown")},
        },
    }


def _add(table: dict, key: Any, sessions: int) -> None:
    counts = table.setdefault(key, [0, 0])
    counts[0] += 1
    counts[1] += sessions


def _rank(table: dict, label) -> list[dict[str, Any]]:
    return [{**label(k), "sources": s, "sessions": n}
            for k, (s, n) in sorted(table.items(), key=lambda kv: (-kv[1][1], -kv[1][0], str(kv[0])))]


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0
