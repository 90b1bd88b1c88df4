"""Deliver recognised relay probes beside the sessions: a bus listener, as the enrichment runner
is. It never delays a session: each message considered is a task, each conversation runs in the
delivery helper's child process (deliver/helper.py), and every decision ends in one record per
recipient domain, whatever happens: a limit, a refusal, a failure, an internal error, the stop.

The order is the safety order: the kill file, the message's shape, the limits that need no
lookup, then the route (DNS, every address vetted), then the day's budget is spent, then the kill
file once more just before the connection is handed to the helper.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from relaypot.deliver.budget import DeliveryBudget
from relaypot.deliver.client import Job, Outcome
from relaypot.deliver.helper import DeliveryHelper
from relaypot.deliver.received import Hop, received
from relaypot.deliver.route import NoRoute, Route, destination
from relaypot.deliver.shape import shape_problem, subject_and_body, wire_form
from relaypot.enrich.resolver import DnsFailure, DnsNotFound, Resolver
from relaypot.events import (
    Auth,
    Helo,
    MailFrom,
    MessageReceived,
    ProbeDelivery,
    Record,
    SessionClosed,
    SessionOpened,
    Tls,
)
from relaypot.judgements.addresses import domain_of
from relaypot.judgements.classify import delivery_signature
from relaypot.judgements.derive import Deriver
from relaypot.personas.model import RelayProfile
from relaypot.pipeline import EventBus, new_session_id, utc_timestamp

log = logging.getLogger(__name__)

KILL_FILE = "no-delivery"  # in the data directory: while any entry of that name exists, nothing is delivered
MAX_PENDING = 256  # messages being considered at once; past it a probe is refused, "busy"
MAX_SESSIONS = 50_000  # sessions whose HELO, TLS and login are remembered for the Received: line
STOPPED = "stopped: the sensor stopped before the delivery ended"
_QUEUED_AS = re.compile(r"queued as (\S+)", re.IGNORECASE)


def kill_file_says_stop(data_dir: Path) -> str:
    """Why deliveries are stopped ("" when they are not): any entry named no-delivery (a file, a
    directory, a dangling or looping link), or one that cannot even be looked at."""
    try:
        os.lstat(data_dir / KILL_FILE)
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"stopped: {KILL_FILE} in the data directory cannot be checked ({exc.strerror})"
    return f"stopped: {KILL_FILE} exists in the data directory"


@dataclass
class _Seen:
    """What a session showed that the persona's Received: line tells."""

    helo: str = ""
    verb: str = ""
    tls: bool = False
    authenticated: bool = False
    smtputf8: bool = False
    server_ip: str = ""  # the address the client reached


@dataclass
class _Decision:
    """One message considered; `open` are the recipient groups (by domain) not yet recorded."""

    record: Record
    message: MessageReceived
    seen: _Seen
    open: dict[str, tuple[str, ...]] = field(default_factory=dict)


class ProbeDeliverer:
    def __init__(self, bus: EventBus, sensor: str, hostname: str, data_dir: Path, deriver: Deriver,
                 budget: DeliveryBudget, route: Route, resolver: Resolver, helper: DeliveryHelper,
                 relay: RelayProfile, zone: tzinfo | None = UTC,
                 concurrency: int = 4) -> None:
        self.bus = bus
        self.sensor = sensor
        self.hostname = hostname  # the EHLO name of every delivery: the sensor's own
        self.data_dir = data_dir
        self.deriver = deriver
        self.budget = budget
        self.route = route
        self.resolver = resolver
        self.helper = helper
        self.relay = relay
        self.zone = zone
        self.slots = asyncio.Semaphore(concurrency)
        self.tasks: dict[asyncio.Task, _Decision] = {}
        self.sessions: OrderedDict[str, _Seen] = OrderedDict()
        self._own: tuple[str, ...] | None = None
        self.closing = False

    # ------------------------------------------------------------------ the bus listener

    def __call__(self, record: Record) -> None:
        event = record.event
        if isinstance(event, SessionOpened):
            self.deriver.opened(record.session, event.hostname, event.dst_ip)
            self.sessions[record.session] = _Seen(server_ip=event.dst_ip)
            if len(self.sessions) > MAX_SESSIONS:
                self.sessions.popitem(last=False)
        elif isinstance(event, SessionClosed):
            self.deriver.closed(record.session)
            self.sessions.pop(record.session, None)
        elif isinstance(event, MessageReceived):
            self._consider(record, event)
        else:
            seen = self.sessions.get(record.session)
            if seen is None:
                return
            if isinstance(event, Helo):
                seen.helo, seen.verb = event.hostname, event.verb.upper()
            elif isinstance(event, Tls):
                seen.tls = seen.tls or event.outcome == "established"
            elif isinstance(event, Auth):
                seen.authenticated = seen.authenticated or event.outcome == "accepted"
            elif isinstance(event, MailFrom):
                seen.smtputf8 = any(key.upper() == "SMTPUTF8" for key in event.parameters)

    def _consider(self, record: Record, message: MessageReceived) -> None:
        outside = tuple(r for r in message.rcpt_to if self.deriver.outside(record.session, domain_of(r)))
        if not outside or self.deriver.probe(record.session, message.subject, message.excerpt) is None:
            return  # not a relay probe: never delivered, not even considered
        seen = self.sessions.get(record.session) or _Seen()
        decision = _Decision(record, message, replace(seen))
        for recipient in outside:
            domain = domain_of(recipient)
            decision.open[domain] = (*decision.open.get(domain, ()), recipient)
        if self.closing:
            self._end(decision, "refused", "stopped: the sensor is stopping")
            return
        if len(self.tasks) >= MAX_PENDING:
            self._end(decision, "refused", f"busy: {MAX_PENDING} probes are being considered already")
            return
        task = asyncio.get_running_loop().create_task(self._run(decision))
        self.tasks[task] = decision
        task.add_done_callback(lambda done: self.tasks.pop(done, None))

    # ------------------------------------------------------------------ one decision

    async def _run(self, decision: _Decision) -> None:
        try:
            await self._decide(decision)
        except asyncio.CancelledError:
            self._end(decision, "failed", STOPPED)
            raise
        except Exception as exc:  # every decision ends in a record, whatever went wrong
            log.exception("probe delivery: internal error")
            self._end(decision, "failed", f"internal error: {exc.__class__.__name__}")
        else:
            self._end(decision, "failed", "internal error: no outcome")  # nothing left open: a no-op

    async def _decide(self, decision: _Decision) -> None:
        record, message = decision.record, decision.message
        stop = kill_file_says_stop(self.data_dir)
        if stop:
            return self._end(decision, "refused", stop)
        limits = self.budget.limits
        if message.size > limits.max_bytes:
            return self._end(decision, "refused", f"not probe-shaped: larger than deliver_max_bytes "
                                                  f"({message.size} > {limits.max_bytes})")
        try:
            raw = await asyncio.to_thread(_read_at_most, self.data_dir / message.path, limits.max_bytes + 1)
        except OSError as exc:
            return self._end(decision, "failed", f"the stored message: {exc.strerror}")
        problem = shape_problem(raw, limits.max_bytes)
        if problem is None:
            subject, body = subject_and_body(raw)
            ctx = self.deriver.addressed(record.session)
            targets = tuple(t for t in (ctx.dst_ip, ctx.hostname, *self.deriver.public) if t)
            if delivery_signature(subject, body, targets) is None:
                problem = "a relay-test wording only in the body (generic wording counts in the subject only)"
        if problem is not None:
            return self._end(decision, "refused", f"not probe-shaped: {problem}")
        recipients = tuple(r for group in decision.open.values() for r in group)
        why_not = self.budget.screen(recipients) or self.budget.room(record.src_ip, _today())
        if why_not:
            return self._end(decision, "refused", why_not)
        allowed = set(self.budget.allowed(recipients))
        for domain, group in list(decision.open.items()):
            if not set(group) & allowed:
                self._record(decision, domain, "refused", "a protected domain")
        routes: dict[str, tuple[str, int, bool]] = {}
        route = replace(self.route, own=(*self.route.own, *await self._own_addresses()))
        for domain in list(decision.open):
            try:
                routes[domain] = await destination(domain, route, self.resolver)
            except NoRoute as exc:
                self._record(decision, domain, exc.outcome, exc.reason)
        if not routes:
            return None
        why_not = self.budget.spend(record.src_ip, _today())
        if why_not:  # another decision spent the last of it while this one looked up its route
            return self._end(decision, "refused", why_not)
        for domain, (address, port, exempt) in routes.items():
            async with self.slots:
                stop = kill_file_says_stop(self.data_dir)  # checked again just before connecting
                if stop:
                    self._record(decision, domain, "refused", stop)
                    continue
                group = tuple(r for r in decision.open[domain] if r in allowed)
                job = self._job(decision, group, address, port, exempt, raw)
                outcome: Outcome = await self.helper.submit(job)
                relay = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
                if outcome.ok:
                    self._record(decision, domain, "delivered", "", relay, outcome.reply)
                elif outcome.reply == STOPPED or self.closing:
                    self._record(decision, domain, "failed", STOPPED, relay, outcome.reply)
                else:
                    self._record(decision, domain, "failed", "the far side did not take it", relay, outcome.reply)
        return None

    def _job(self, decision: _Decision, group: tuple[str, ...], address: str, port: int, exempt: bool,
             raw: bytes) -> Job:
        record, message, seen = decision.record, decision.message, decision.seen
        found = _QUEUED_AS.search(message.reply or "")
        hop = Hop(helo=seen.helo, verb=seen.verb, client_ip=record.src_ip,
                  hostname=self.deriver.addressed(record.session).hostname or self.hostname, tls=seen.tls,
                  authenticated=seen.authenticated, smtputf8=seen.smtputf8,
                  queue_id=found.group(1) if found else "", recipients=group, server_ip=seen.server_ip)
        line = received(self.relay.received, hop, time.time(), self.zone, self.relay.product)
        return Job(address=address, port=port, helo=self.hostname, mail_from=message.mail_from, recipients=group,
                   data=wire_form(raw, line), timeout=self.route.timeout, own=(*self.route.own, *(self._own or ())),
                   lab=tuple(str(net) for net in self.route.lab), exempt=exempt)

    async def _own_addresses(self) -> tuple[str, ...]:
        """The addresses the sensor's own name resolves to (behind NAT, the public one), once."""
        if self._own is None:
            try:
                self._own = tuple(await self.resolver.addresses(self.hostname))
            except (DnsFailure, DnsNotFound):
                self._own = ()
        return self._own

    # ------------------------------------------------------------------ records

    def _end(self, decision: _Decision, outcome: str, reason: str) -> None:
        """Record every group still open with this outcome."""
        for domain in list(decision.open):
            self._record(decision, domain, outcome, reason)

    def _record(self, decision: _Decision, domain: str, outcome: str, reason: str, relay: str | None = None,
                reply: str | None = None) -> None:
        recipients = decision.open.pop(domain, None)
        if recipients is None:
            return  # recorded already
        record, message = decision.record, decision.message
        if outcome != "delivered":
            log.info("relay probe from %s not delivered (%s): %s", record.src_ip, outcome, reason)
        event = ProbeDelivery(for_session=record.session, sha256=message.sha256, recipients=recipients,
                              outcome=outcome, reason=reason, relay=relay, reply=reply)
        self.bus.publish(Record(new_session_id(), 1, utc_timestamp(), self.sensor, record.src_ip, event))

    async def close(self, grace: float = 2.0) -> None:
        """Let deliveries in flight finish for `grace` seconds, then end the rest: each is recorded
        `failed` (stopped), and the helper with its children is gone before the records close."""
        self.closing = True
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=grace)
        await self.helper.stop(STOPPED)
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=5.0)


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def _read_at_most(path: Path, limit: int) -> bytes:
    with path.open("rb") as stream:
        return stream.read(limit)
