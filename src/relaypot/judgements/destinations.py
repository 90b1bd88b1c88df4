"""Where a delivery may connect: global unicast addresses only, never the sensor itself.

An attacker chooses the recipient domain, and so its MX and the MX's addresses: a probe to a
domain whose MX is 127.0.0.1, 10.0.0.5, 169.254.169.254 (a cloud's metadata service) or the
sensor's own address would make the sensor talk to its operator's network. Every address a
delivery would connect to is vetted here, pure and without I/O; the caller connects to exactly
the address vetted (no second lookup). The tables are IANA's special-purpose registries (RFC
6890 and its updates), written out because `ipaddress.is_global` lets some through (6to4,
NAT64, 192.0.0.9, fec0::/10, multicast) and unwraps nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TypeAlias

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


def _nets(*pairs: tuple[str, str]) -> tuple[tuple[Network, str], ...]:
    return tuple((ipaddress.ip_network(net), why) for net, why in pairs)


# Never reachable for a delivery, whatever the operator says: the machine itself and its link.
ALWAYS_REFUSED = _nets(
    ("0.0.0.0/8", "unspecified ('this network', RFC 791)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (RFC 3927; cloud metadata services live there)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved (RFC 1112; 255.255.255.255 is broadcast)"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
)

# Not on the Internet; the operator may name some of these as a lab's own ([deception] deliver_lab_networks).
SPECIAL = _nets(
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("100.64.0.0/10", "shared address space (RFC 6598)"),
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    ("192.0.2.0/24", "documentation (RFC 5737)"),
    ("198.51.100.0/24", "documentation (RFC 5737)"),
    ("203.0.113.0/24", "documentation (RFC 5737)"),
    ("192.88.99.0/24", "6to4 relay anycast (RFC 7526)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("::/96", "IPv4-compatible (deprecated, RFC 4291)"),
    ("64:ff9b:1::/48", "local-use NAT64 (RFC 8215)"),
    ("100::/64", "discard-only (RFC 6666)"),
    ("2001::/23", "IETF protocol assignments (RFC 2928; Teredo is 2001::/32)"),
    ("2001:db8::/32", "documentation (RFC 3849)"),
    ("3fff::/20", "documentation (RFC 9637)"),
    ("5f00::/16", "SRv6 SIDs (RFC 9602)"),
    ("fc00::/7", "unique local (RFC 4193)"),
    ("fec0::/10", "site-local (deprecated, RFC 3879)"),
)

# IPv6 prefixes that carry an IPv4 address a packet ends up at: the IPv4 address is vetted too.
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")


def parse(address: str) -> Address | None:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0])  # a zone index is link-local anyway
    except ValueError:
        return None


def embedded_ipv4(ip: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip in _MAPPED or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)
    return None


def refusal(address: str, own: Iterable[str] = (), lab: Iterable[Network] = ()) -> str | None:
    """Why a delivery may not connect to `address`, or None when it may.

    `own`: the sensor's own addresses (never, even inside a lab network); `lab`: networks the
    operator declared reachable although not global (a lab's own test MX).
    """
    ip = parse(address)
    if ip is None:
        return f"{address!r} is not an IP address"
    inner = embedded_ipv4(ip)
    if inner is not None:
        why = refusal(str(inner), own, lab)
        return None if why is None else f"{ip} stands for {inner}, {why}"
    own_ips = {parsed for parsed in map(parse, own) if parsed is not None}
    if ip in own_ips:
        return f"{ip} is the sensor's own address"
    for net, why in ALWAYS_REFUSED:
        if ip.version == net.version and ip in net:
            return f"{ip} is {why}"
    if any(ip.version == net.version and ip in net for net in lab):
        return None
    for net, why in SPECIAL:
        if ip.version == net.version and ip in net:
            return f"{ip} is {why}"
    if ip.version == 6 and ip not in _GLOBAL_UNICAST:
        return f"{ip} is reserved (outside 2000::/3, IPv6's global unicast)"
    if not ip.is_global:
        return f"{ip} is not a global address"
    return None


def lab_network_problem(text: str) -> str | None:
    """Why `text` cannot be a lab network (None when it can): never the machine or its link."""
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return f"{text!r} is not a network (write 198.18.0.0/15 or 2001:db8::/32)"
    for refused, why in ALWAYS_REFUSED:
        if net.version == refused.version and net.overlaps(refused):
            return f"{text} overlaps {refused}, {why}: never reachable for a delivery"
    return None
