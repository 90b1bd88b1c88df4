"""Domains: of an address, of a URL, and which domains are the sensor's own; which source addresses
are public, and their numeric order."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


def domain_of(address: str) -> str:
    """The domain of `user@domain` (lower-cased), or `""` for a bare local part or `<>`."""
    at = address.rfind("@")
    return address[at + 1 :].lower() if at >= 0 else ""


def url_host(url: str) -> str:
    """`http://user@Evil.Example:8080/x` → `evil.example`; `http://[2001:db8::1]/` → `[2001:db8::1]`."""
    rest = url.split("//", 1)[-1]
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.split(":", 1)[0].lower()


def our_domains(configured: Iterable[str], hostnames: Iterable[str]) -> frozenset[str]:
    """The domains a recipient may have without the mail being a relay attempt: the configured
    ones, plus each host name the sensor announces and that name's parent domain
    (mail.example.com and example.com). The SQL sink judges recipients by it and the report says
    what it judged by, so both read this one rule."""
    found = {d.lower().rstrip(".") for d in configured if d}
    for hostname in hostnames:
        host = hostname.lower().rstrip(".")
        if host:
            found.add(host)
            if host.count(".") >= 2:
                found.add(host.split(".", 1)[1])
    return frozenset(found)


def is_public(address: str) -> bool:
    """Globally routable: not loopback, private, link-local, shared (CGN), reserved, multicast or
    a documentation or benchmarking range (what ipaddress calls global)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def address_order(address: str) -> tuple[int, int, str]:
    """A sort key that orders addresses as numbers (127.0.0.3 before 127.0.0.27), IPv4 before
    IPv6, and anything that is not an address last, by its text."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return (2, 0, address)
    return (ip.version // 6, int(ip), "")


def same_address(a: str, b: str) -> bool:
    """Do two texts name one IP address (`::ffff:192.0.2.1` is not `192.0.2.1`; a name is none)?"""
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False
