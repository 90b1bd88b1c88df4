"""DNSBL lookups: is a source listed, by which lists, and what each list's answer means."""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from relaypot.enrich.resolver import DnsFailure, DnsNotFound, Resolver


@dataclass(frozen=True, slots=True)
class Verdict:
    zone: str
    listed: bool | None  # None: we could not tell (an error answer, a timeout)
    codes: tuple[str, ...] = ()
    meaning: tuple[str, ...] = ()
    error: str | None = None
    ttl: int = 0


@lru_cache(maxsize=1)
def zone_meanings() -> dict[str, dict]:
    text = resources.files("relaypot.enrich").joinpath("data/dnsbl.toml").read_text("utf-8")
    return tomllib.loads(text)["zones"]


def query_name(address: str, zone: str) -> str:
    """`1.2.3.4` → `4.3.2.1.zone`; IPv6 as 32 reversed nibbles (RFC 5782 §2.4)."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return ".".join(reversed(address.split("."))) + "." + zone
    return ".".join(reversed(ip.exploded.replace(":", ""))) + "." + zone


def interpret(zone: str, codes: list[str]) -> Verdict:
    """Turn a list's A records into a verdict: listings, errors, or answers that mean nothing."""
    table = zone_meanings().get(zone, {})
    listings, errors = table.get("listings", {}), table.get("errors", {})
    listed, meaning, problems = [], [], []
    for code in sorted(set(codes)):
        if code in errors:
            problems.append(errors[code])
        elif code in listings:
            listed.append(code)
            meaning.append(listings[code])
        elif code.startswith("127.255.255."):
            problems.append(f"error answer {code}")
        elif code.startswith("127."):
            listed.append(code)
            meaning.append(f"listed ({code})")
        else:
            problems.append(f"not a DNSBL answer: {code} (a resolver rewriting NXDOMAIN?)")
    if listed:
        return Verdict(zone, True, tuple(listed), tuple(meaning), "; ".join(problems) or None)
    if problems:
        return Verdict(zone, None, tuple(sorted(set(codes))), (), "; ".join(problems))
    return Verdict(zone, False)


async def check(resolver: Resolver, address: str, zone: str) -> Verdict:
    try:
        codes, ttl = await resolver.records(query_name(address, zone), "A")
    except DnsNotFound:
        return Verdict(zone, False)
    except DnsFailure as exc:
        return Verdict(zone, None, error=str(exc))
    except ValueError:
        return Verdict(zone, None, error="not an IP address")
    verdict = interpret(zone, codes)
    return Verdict(verdict.zone, verdict.listed, verdict.codes, verdict.meaning, verdict.error, ttl)
