"""The client's name in DNS before the greeting, for a persona whose server says it (Sendmail's
banner, Hello and relay refusal; Exim's Hello): the PTR name, then that name's addresses of the
client's family, as getauthinfo() asks them. Answers are kept a while per address, and one
lookup serves every connection of an address that arrives while it runs: a flood of
connections is not a flood of questions."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable

from relaypot.enrich.resolver import DnsFailure, DnsNotFound, Resolver
from relaypot.judgements.addresses import same_address
from relaypot.protocol.client_names import FAIL, FORGED, OK, TEMP, ClientName, host_name

KEPT_SECONDS = 600.0
KEPT_ADDRESSES = 4096


class ClientNamer:
    def __init__(self, resolver: Resolver, kept: int = KEPT_ADDRESSES, seconds: float = KEPT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._resolver = resolver
        self._kept: OrderedDict[str, tuple[float, ClientName]] = OrderedDict()
        self._size = kept
        self._seconds = seconds
        self._clock = clock
        self._running: dict[str, asyncio.Future[ClientName]] = {}

    async def name(self, ip: str) -> ClientName:
        found = self._kept.get(ip)
        if found is not None and found[0] > self._clock():
            self._kept.move_to_end(ip)
            return found[1]
        running = self._running.get(ip)
        if running is None:
            running = self._running[ip] = asyncio.ensure_future(self._look_up(ip))
            running.add_done_callback(lambda done: self._keep(ip, done))
        return await asyncio.shield(running)

    def _keep(self, ip: str, done: asyncio.Future[ClientName]) -> None:
        self._running.pop(ip, None)
        if done.cancelled() or done.exception() is not None:
            return
        self._kept[ip] = (self._clock() + self._seconds, done.result())
        self._kept.move_to_end(ip)
        while len(self._kept) > self._size:
            self._kept.popitem(last=False)

    async def _look_up(self, ip: str) -> ClientName:
        try:
            names = await self._resolver.ptr(ip)
        except DnsNotFound:
            return ClientName(None, FAIL)
        except DnsFailure:
            return ClientName(None, TEMP)
        name = host_name(names[0]) if names else None
        if name is None:
            return ClientName(None, FAIL)
        family = "AAAA" if ipaddress.ip_address(ip).version == 6 else "A"
        try:
            addresses = (await self._resolver.records(name, family))[0]
        except (DnsNotFound, DnsFailure):
            return ClientName(name, FORGED)  # no address to lead back: "may be forged"
        return ClientName(name, OK if any(same_address(a, ip) for a in addresses) else FORGED)
