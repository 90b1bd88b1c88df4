"""`relaypot export indicators`: what exploits carried (commands, URLs, hosts, addresses), with
the attacks and the sources that sent them, as CSV, JSON lines or a STIX 2.1 bundle.

The indicators are read from the `attacks` table (each exploit record's `indicators`, see
judgements/indicators.py); STIX objects are made by OASIS's `stix2` library (the optional
`[stix]` extra), which also checks every pattern.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from relaypot.analysis.queries import Queries, Scope
from relaypot.errors import ConfigError
from relaypot.escape import clean_text, escape_invisible, spreadsheet, visible
from relaypot.judgements.addresses import address_order
from relaypot.judgements.attacks import catalogue
from relaypot.storage.database import Database

COLUMNS = ("kind", "value", "attacks", "cves", "sessions", "sources", "first_seen", "last_seen")
MAX_SOURCES = 1000  # source addresses listed per indicator
# Each indicator kind as a STIX Cyber-observable pattern.
STIX_PATTERNS = {"url": "url:value", "domain": "domain-name:value", "ipv4": "ipv4-addr:value",
                 "ipv6": "ipv6-addr:value", "command": "process:command_line"}


@dataclass
class Indicator:
    kind: str
    value: str
    attacks: set[str] = field(default_factory=set)
    cves: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    first_seen: str = ""
    last_seen: str = ""


def gather(db: Database, scope: Scope) -> list[Indicator]:
    """Every indicator of the exploits in scope, the most sessions first."""
    db.create_schema()  # a store an older relaypot wrote: its attacks table gains the column
    found: dict[tuple[str, str], Indicator] = {}
    for indicators, src_ip, ts, session, attack, cves in Queries(db, scope).attack_indicators(limit=10_000_000):
        for item in json.loads(indicators):
            key = (item["kind"], item["value"])
            indicator = found.get(key)
            if indicator is None:
                indicator = found[key] = Indicator(*key, first_seen=ts, last_seen=ts)
            indicator.attacks.add(attack)
            indicator.cves.update(c for c in cves.split(",") if c)
            indicator.sessions.add(session)
            if len(indicator.sources) < MAX_SOURCES:
                indicator.sources.add(src_ip)
            indicator.first_seen = min(indicator.first_seen, ts)
            indicator.last_seen = max(indicator.last_seen, ts)
    return sorted(found.values(), key=lambda i: (-len(i.sessions), i.kind, i.value))


def _row(indicator: Indicator) -> dict[str, Any]:
    return {"kind": indicator.kind, "value": clean_text(indicator.value), "attacks": sorted(indicator.attacks),
            "cves": sorted(indicator.cves), "sessions": len(indicator.sessions),
            "sources": sorted(indicator.sources, key=address_order), "first_seen": indicator.first_seen,
            "last_seen": indicator.last_seen}


def write(db: Database, scope: Scope, fmt: str, out: IO[str]) -> int:
    """The indicators as CSV (formula-safe, terminal controls shown as escapes), JSON lines, or one
    STIX 2.1 bundle; returns how many."""
    indicators = gather(db, scope)
    if fmt == "stix":
        out.write(stix_bundle(indicators) + "\n")
        return len(indicators)
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for indicator in indicators:
            row = _row(indicator)
            writer.writerow([spreadsheet(visible(" ".join(v) if isinstance(v, list) else v))
                             if isinstance(v, (str, list)) else v for v in (row[c] for c in COLUMNS)])
    else:
        for indicator in indicators:
            out.write(escape_invisible(orjson.dumps(_row(indicator))).decode() + "\n")
    return len(indicators)


def stix_bundle(indicators: list[Indicator]) -> str:
    """A STIX 2.1 bundle: an attack-pattern per attack (its CVEs as external references and as
    vulnerabilities it targets), an indicator per value and per source address, each source and
    value linked to the attack it was seen in, and each value to the sources that sent it."""
    try:
        import stix2  # noqa: PLC0415 (an optional extra)
    except ImportError:
        raise ConfigError("--format stix needs the stix2 package: pip install '.[stix]' in relaypot's "
                          "checkout") from None
    entries = catalogue().by_id
    objects: list[Any] = []
    patterns: dict[str, Any] = {}
    vulnerabilities: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    linked: set[tuple[str, str]] = set()  # (source, attack) related already

    def attack_pattern(attack: str) -> Any:
        if attack not in patterns:
            entry = entries.get(attack)
            cves = entry.cves if entry else ()
            patterns[attack] = stix2.AttackPattern(
                name=entry.name if entry else attack, description=entry.source if entry else "",
                external_references=[{"source_name": "relaypot", "external_id": attack}]
                + [{"source_name": "cve", "external_id": cve} for cve in cves])
            objects.append(patterns[attack])
            for cve in cves:
                if cve not in vulnerabilities:
                    vulnerabilities[cve] = stix2.Vulnerability(
                        name=cve, external_references=[{"source_name": "cve", "external_id": cve}])
                    objects.append(vulnerabilities[cve])
                objects.append(stix2.Relationship(patterns[attack], "targets", vulnerabilities[cve]))
        return patterns[attack]

    def source(ip: str, seen: str) -> Any:
        if ip not in sources:
            kind = "ipv6-addr" if ":" in ip else "ipv4-addr"
            sources[ip] = stix2.Indicator(name=f"source {ip}", description="an address that sent an exploit",
                                          pattern=f"[{kind}:value = '{_quoted(ip)}']", pattern_type="stix",
                                          valid_from=seen, indicator_types=["malicious-activity"])
            objects.append(sources[ip])
        return sources[ip]

    for item in indicators:
        indicator = stix2.Indicator(
            name=f"{item.kind} {item.value[:80]}", pattern_type="stix", valid_from=item.first_seen,
            pattern=f"[{STIX_PATTERNS[item.kind]} = '{_quoted(item.value)}']",
            indicator_types=["malicious-activity"],
            description=f"seen in {len(item.sessions)} sessions from {len(item.sources)} sources, "
                        f"{item.first_seen} to {item.last_seen}")
        objects.append(indicator)
        for attack in sorted(item.attacks):
            objects.append(stix2.Relationship(indicator, "indicates", attack_pattern(attack)))
        for ip in sorted(item.sources, key=address_order):
            origin = source(ip, item.first_seen)
            objects.append(stix2.Relationship(origin, "related-to", indicator))
            for attack in sorted(item.attacks):
                if (ip, attack) not in linked:
                    linked.add((ip, attack))
                    objects.append(stix2.Relationship(origin, "indicates", attack_pattern(attack)))
    return stix2.Bundle(objects=objects, allow_custom=False).serialize(pretty=True)


def _quoted(value: str) -> str:
    """A value inside a STIX pattern's single quotes: backslashes and quotes escaped."""
    return value.replace("\\", "\\\\").replace("'", "\\'")
