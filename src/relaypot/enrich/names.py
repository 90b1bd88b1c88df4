"""Reverse DNS and HELO names in DNS: the PTR, whether it is forward-confirmed, whether it looks generic."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from relaypot.enrich.resolver import DnsFailure, DnsNotFound, Resolver
from relaypot.judgements.addresses import same_address

# Words ISPs put in the names of dynamic, residential or otherwise anonymous addresses.
GENERIC_WORDS = ("dsl", "adsl", "vdsl", "xdsl", "cable", "dyn", "dynamic", "dhcp", "pool", "ppp", "pppoe", "dialup",
                 "dial", "client", "clients", "cust", "customer", "broadband", "bb", "res", "resident", "residential",
                 "home", "user", "users", "host", "hosts", "ip", "ips", "nat", "mobile", "wireless", "wifi", "lte",
                 "3g", "4g", "5g", "fios", "catv", "ftth", "fttx", "static", "unknown", "unassigned", "in-addr")
_WORD = re.compile(r"[a-z]+\d*|\d+")


@dataclass(frozen=True, slots=True)
class Reverse:
    ptr: str | None
    confirmed: bool | None
    generic: str | None
    error: str | None = None


def generic_reason(name: str, address: str) -> str | None:
    """Why a PTR name looks generic (dynamic, residential), or None when it looks like a mail host's."""
    lowered = name.lower().rstrip(".")
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        octets = address.split(".")
        for parts in (octets, list(reversed(octets))):
            # 118-165-91-55, 118.165.91.55, 118_165_91_55, 55.91.165.118...
            if re.search(r"(?<!\d)" + r"[.\-_]?".join(parts) + r"(?!\d)", lowered):
                return "the address is in the name"
        if f"{int(ip):08x}" in lowered:
            return "the address is in the name (hex)"
    labels = lowered.split(".")
    host_part = " ".join(labels[:-2]) if len(labels) > 2 else labels[0]
    tokens = set(_WORD.findall(host_part)) | set(re.split(r"[.\-_\d]+", host_part))
    for word in GENERIC_WORDS:
        if word in tokens:
            return f"the word {word!r}"
    return None


async def reverse(resolver: Resolver, address: str) -> Reverse:
    try:
        names = await resolver.ptr(address)
    except DnsNotFound:
        return Reverse(None, None, None)
    except DnsFailure as exc:
        return Reverse(None, None, None, str(exc))
    name = names[0]
    try:
        forward = await resolver.addresses(name)
        confirmed = any(same_address(a, address) for a in forward)
    except DnsNotFound:
        confirmed = False
    except DnsFailure:
        confirmed = None
    return Reverse(name, confirmed, generic_reason(name, address))


@dataclass(frozen=True, slots=True)
class HeloAnswer:
    resolves: bool | None
    addresses: tuple[str, ...] = ()
    matches_peer: bool | None = None
    error: str | None = None


async def helo(resolver: Resolver, name: str, peer: str) -> HeloAnswer:
    """Does the HELO/EHLO name resolve (Postfix's reject_unknown_helo_hostname), and to the peer?"""
    try:
        found = await resolver.addresses(name.rstrip("."))
    except DnsNotFound:
        return HeloAnswer(False, (), False)
    except DnsFailure as exc:
        return HeloAnswer(None, error=str(exc))
    return HeloAnswer(True, tuple(sorted(found)), any(same_address(a, peer) for a in found))


