"""Deliver recognised relay probes beside the sessions: a bus listener, as the enrichment runner
is. It never delays a session: a delivery is a task, and the SMTP conversation runs in a thread."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from relaypot.deliver.budget import DeliveryBudget
from relaypot.deliver.sender import Sent, send
from relaypot.enrich.resolver import DnsFailure, DnsNotFound, Resolver
from relaypot.events import MessageReceived, ProbeDelivery, Record, SessionClosed, SessionOpened
from relaypot.judgements.addresses import domain_of
from relaypot.judgements.derive import Deriver
from relaypot.pipeline import EventBus, new_session_id, utc_timestamp

log = logging.getLogger(__name__)

KILL_FILE = "no-delivery"  # in the data directory: while it exists, nothing is delivered


@dataclass(frozen=True)
class Route:
    """Where deliveries go: a smarthost, or each recipient domain's MX (on `port`)."""

    smarthost: tuple[str, int] | None
    port: int = 25
    timeout: float = 30.0


class ProbeDeliverer:
    def __init__(self, bus: EventBus, sensor: str, hostname: str, data_dir: Path, deriver: Deriver,
                 budget: DeliveryBudget, route: Route, resolver: Resolver) -> None:
        self.bus = bus
        self.sensor = sensor
        self.hostname = hostname  # the EHLO name of every delivery: the sensor's own
        self.data_dir = data_dir
        self.deriver = deriver
        self.budget = budget
        self.route = route
        self.resolver = resolver
        self.tasks: set[asyncio.Task] = set()

    def __call__(self, record: Record) -> None:
        event = record.event
        if isinstance(event, SessionOpened):
            self.deriver.opened(record.session, event.hostname, event.dst_ip)
        elif isinstance(event, SessionClosed):
            self.deriver.closed(record.session)
        elif isinstance(event, MessageReceived):
            self._consider(record, event)

    def _consider(self, record: Record, message: MessageReceived) -> None:
        outside = tuple(r for r in message.rcpt_to if self.deriver.outside(record.session, domain_of(r)))
        if not outside or self.deriver.probe(record.session, message.subject, message.excerpt) is None:
            return  # not a relay probe: never delivered, not even considered
        if (self.data_dir / KILL_FILE).exists():
            self._publish(record, message, outside, "refused", f"stopped: {KILL_FILE} exists in the data directory")
            return
        recipients, why_not = self.budget.decide(record.src_ip, outside, message.size,
                                                 datetime.now(UTC).strftime("%Y-%m-%d"))
        if why_not:
            self._publish(record, message, outside, "refused", why_not)
            return
        task = asyncio.get_running_loop().create_task(self._deliver(record, message, recipients))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, record: Record, message: MessageReceived, recipients: tuple[str, ...]) -> None:
        try:
            body = await asyncio.to_thread((self.data_dir / message.path).read_bytes)
        except OSError as exc:
            self._publish(record, message, recipients, "failed", f"the stored message: {exc.strerror}")
            return
        # A probe names one drop box, seldom more; deliveries go domain by domain.
        by_domain: dict[str, list[str]] = {}
        for recipient in recipients:
            by_domain.setdefault(domain_of(recipient), []).append(recipient)
        for domain, group in by_domain.items():
            try:
                host, port = await self._where(domain)
            except (DnsFailure, DnsNotFound) as exc:
                self._publish(record, message, tuple(group), "failed", f"no mail server for {domain}: {exc}")
                continue
            sent: Sent = await asyncio.to_thread(send, host, port, self.hostname, message.mail_from, tuple(group),
                                                 body, self.route.timeout)
            self._publish(record, message, tuple(group), "delivered" if sent.ok else "failed",
                          "" if sent.ok else "the far side did not take it", f"{host}:{port}", sent.reply)

    async def _where(self, domain: str) -> tuple[str, int]:
        """The smarthost, else the domain's best MX (or its own address: RFC 5321 §5.1)."""
        if self.route.smarthost is not None:
            return self.route.smarthost
        try:
            exchanges, _ = await self.resolver.records(domain, "MX")
        except DnsNotFound:
            exchanges = []
        ranked = sorted((int(pref), host) for pref, host in (mx.split(None, 1) for mx in exchanges))
        for _pref, host in ranked:
            if host and host != ".":
                return (await self.resolver.addresses(host))[0], self.route.port
        return (await self.resolver.addresses(domain))[0], self.route.port

    def _publish(self, record: Record, message: MessageReceived, recipients: tuple[str, ...], outcome: str,
                 reason: str, relay: str | None = None, reply: str | None = None) -> None:
        if outcome != "delivered":
            log.info("relay probe from %s not delivered (%s): %s", record.src_ip, outcome, reason)
        event = ProbeDelivery(for_session=record.session, sha256=message.sha256, recipients=recipients,
                              outcome=outcome, reason=reason, relay=relay, reply=reply)
        self.bus.publish(Record(new_session_id(), 1, utc_timestamp(), self.sensor, record.src_ip, event))

    async def close(self, grace: float = 5.0) -> None:
        """Let deliveries in flight finish for `grace` seconds (each records its outcome)."""
        if self.tasks:
            _done, pending = await asyncio.wait(list(self.tasks), timeout=grace)
            for task in pending:
                task.cancel()
