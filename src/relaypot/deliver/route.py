"""Where one delivery goes: the operator's smarthost, or the first vetted address of the
recipient domain's mail exchangers (RFC 5321 §5.1), and which addresses are the sensor's own."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass

from relaypot.enrich.resolver import DnsFailure, DnsNotFound, Resolver
from relaypot.judgements import destinations

MAX_EXCHANGERS = 5  # MX hosts tried per domain: a domain that names more gets no more DNS work
MAX_ADDRESSES = 10  # addresses vetted per domain


class NoRoute(Exception):
    """No address a delivery may go to: `outcome` is refused (vetting said no) or failed (DNS)."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


@dataclass(frozen=True)
class Route:
    """How deliveries go: a smarthost (operator-named, exempt from vetting), or each recipient
    domain's MX on `port`, vetted; `timeout` bounds a whole delivery."""

    smarthost: tuple[str, int] | None
    port: int = 25
    timeout: float = 30.0
    lab: tuple[destinations.Network, ...] = ()  # [deception] deliver_lab_networks
    own: tuple[str, ...] = ()  # the sensor's addresses known at start (listeners, public names)


def is_local(address: str) -> bool:
    """The address is this machine's: the kernel lets a socket bind it. (Where non-local binds
    are allowed, every address looks local, and every delivery is refused: the safe side.)"""
    ip = destinations.parse(address)
    if ip is None:
        return False
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((str(ip), 0))
        return True
    except OSError:
        return False


def vet(address: str, route: Route) -> str | None:
    """Why not `address` (None: it may be connected to): never the sensor, never a special range."""
    why = destinations.refusal(address, route.own, route.lab)
    if why is None and is_local(address):
        why = f"{address} is the sensor's own address"
    return why


async def destination(domain: str, route: Route, resolver: Resolver) -> tuple[str, int, bool]:
    """(address, port, exempt): the smarthost (resolved once, exempt), else the first vetted
    address of the domain's exchangers in preference order (the domain itself without MX)."""
    if route.smarthost is not None:
        host, port = route.smarthost
        if destinations.parse(host) is not None:
            return host, port, True
        try:
            return (await resolver.addresses(host))[0], port, True
        except (DnsFailure, DnsNotFound) as exc:
            raise NoRoute("failed", f"the smarthost {host}: {exc.__class__.__name__} {exc}") from None
    try:
        exchanges, _ = await resolver.records(domain, "MX")
    except DnsNotFound:
        exchanges = []
    except DnsFailure as exc:
        raise NoRoute("failed", f"no mail server for {domain}: {exc}") from None
    ranked = sorted(_preference(mx) for mx in exchanges)
    if ranked and all(host in ("", ".") for _, host in ranked):
        raise NoRoute("failed", f"{domain} accepts no mail (null MX, RFC 7505)")
    hosts = [host for _, host in ranked if host not in ("", ".")][:MAX_EXCHANGERS] or [domain]
    refusals: list[str] = []  # addresses vetting said no to
    lookups: list[str] = []  # exchangers whose addresses could not be found
    tried = 0
    for host in hosts:
        try:
            addresses = await resolver.addresses(host)
        except (DnsFailure, DnsNotFound) as exc:
            lookups.append(f"{host}: {exc.__class__.__name__} {exc}")
            continue
        for address in addresses:
            tried += 1
            if tried > MAX_ADDRESSES:
                break
            why = vet(address, route)
            if why is None:
                return address, route.port, False
            refusals.append(f"{host}: {why}")
    if refusals:
        raise NoRoute("refused", f"no address a delivery may go to for {domain}: " + "; ".join(_unique(refusals)))
    raise NoRoute("failed", f"no mail server for {domain}: " + "; ".join(_unique(lookups)))


def _preference(mx: str) -> tuple[int, str]:
    preference, _, host = mx.partition(" ")
    try:
        return int(preference), host.strip().rstrip(".").lower() or "."
    except ValueError:
        return 65536, ""


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))[:6]
