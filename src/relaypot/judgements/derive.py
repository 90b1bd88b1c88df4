"""Derived facts stored with each session and message, so reports over millions stay plain SQL.

The SQL sink asks these questions as records arrive (in its own thread, off the event loop):
which HELO class, does a literal name the client, did a recipient lie outside our domains, is a
message a relay probe. The report asks the HELO question again for sessions stored before the
class column existed. (Rows keep the answers of the rules in force when they were written.)
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

from relaypot.judgements.addresses import our_domains
from relaypot.judgements.classify import HeloIdentity, classify_helo, peer_match, probe_signature

MAX_OPEN = 200_000  # sessions remembered between their opened and closed records
# Closed sessions whose Addressed is still kept: a spooled batch is resent after the deriver saw
# the rest of it once, closing records included. Contexts are shared, so each costs an entry.
MAX_CLOSED = 20_000


@dataclass(frozen=True, slots=True)
class Addressed:
    """How a session reached the sensor: the name the listener announced, the address it was on."""

    hostname: str
    dst_ip: str


@lru_cache(maxsize=65536)
def _helo(name: str, hostname: str, dst_ip: str, peer: str, public: tuple[str, ...] = ()) -> HeloIdentity:
    names, addresses = _split_public(public)
    return classify_helo(name, frozenset({hostname.lower().rstrip(".")} - {""}) | names,
                         frozenset({dst_ip} - {""}) | addresses, peer)


@lru_cache(maxsize=64)
def _split_public(public: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """The configured public names (lower case) and addresses (normalised), apart."""
    names, addresses = set(), set()
    for item in public:
        try:
            addresses.add(str(ipaddress.ip_address(item)))
        except ValueError:
            names.add(item.lower().rstrip("."))
    return frozenset(names), frozenset(addresses)


class Deriver:
    """Per-sink state: our domains and what each open session announced."""

    def __init__(self, domains: tuple[str, ...] = (), default_hostname: str = "",
                 public_names: tuple[str, ...] = ()) -> None:
        self.domains = tuple(domains)  # [smtp] domains: the mail domains configured as ours
        # How the sensor is known from outside ([sensor] public_names: its address behind NAT, its
        # DNS names): a probe naming one of them is a probe, a HELO claiming one is impersonation.
        # Only the operator says so; nothing an attacker sends is taken for it.
        self.public = tuple(public_names)
        self.default = Addressed(default_hostname, "")
        self._open: OrderedDict[str, Addressed] = OrderedDict()
        self._closed: OrderedDict[str, Addressed] = OrderedDict()
        self._shared: dict[tuple[str, str], Addressed] = {}  # a sensor has few names and addresses

    def opened(self, session: str, hostname: str, dst_ip: str) -> None:
        key = (hostname or "", dst_ip or "")
        addressed = self._shared.get(key)
        if addressed is None:
            addressed = Addressed(*key)
            if len(self._shared) < 4096:
                self._shared[key] = addressed
        self._open[session] = addressed
        if len(self._open) > MAX_OPEN:
            self._open.popitem(last=False)

    def closed(self, session: str) -> None:
        addressed = self._open.pop(session, None)
        if addressed is not None:
            self._closed[session] = addressed
            if len(self._closed) > MAX_CLOSED:
                self._closed.popitem(last=False)

    def addressed(self, session: str) -> Addressed:
        return self._open.get(session) or self._closed.get(session, self.default)

    def helo(self, session: str, name: str, src_ip: str) -> tuple[str, str, int | None]:
        """(class, syntax class, 1 if a literal or bare IP names the client / 0 if another / None)."""
        ctx = self.addressed(session)
        # The peer matters only for an address (is it the client's own?); keep the cache small.
        peer = src_ip if name[:1] == "[" or name[:1].isdigit() or ":" in name else ""
        identity = _helo(name, ctx.hostname, ctx.dst_ip, peer, self.public)
        match = peer_match(name, src_ip) if identity.address else None
        return identity.cls, identity.syntax, None if match is None else int(match)

    def outside(self, session: str, domain: str) -> bool:
        """A recipient domain that is not ours: a relay attempt."""
        if not domain:
            return False
        return domain not in _domains(self.domains, self.addressed(session).hostname)

    def probe(self, session: str, subject: str | None, excerpt: str) -> tuple[str, str] | None:
        ctx = self.addressed(session)
        targets = tuple(t for t in (ctx.dst_ip, ctx.hostname, *self.public) if t)
        return probe_signature(f"{subject or ''}\n{excerpt}", targets)


@lru_cache(maxsize=1024)
def _domains(configured: tuple[str, ...], hostname: str) -> frozenset[str]:
    return our_domains(configured, (hostname,))
