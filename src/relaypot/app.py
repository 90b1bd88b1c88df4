"""Composition root: turn Settings into a running sensor (persona, store, sinks, bus, server)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import ipaddress
import logging
import os
import pwd
import random
import signal
import socket
import ssl
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from relaypot import datadir, privileges
from relaypot.catchup import Snapshot, catch_up
from relaypot.config import Settings, parse_listener
from relaypot.deliver.budget import DeliveryBudget, DeliveryLimits
from relaypot.deliver.helper import DeliveryHelper
from relaypot.deliver.ledger import spent_today
from relaypot.deliver.route import Route
from relaypot.deliver.runner import KILL_FILE, ProbeDeliverer
from relaypot.enrich import base as enrichers
from relaypot.enrich.resolver import Resolver
from relaypot.enrich.resolver import preload as preload_dns
from relaypot.enrich.runner import EnrichmentRunner
from relaypot.errors import ConfigError
from relaypot.events import Record
from relaypot.import_jsonl import import_files
from relaypot.judgements import destinations
from relaypot.judgements.classify import public_name_problem
from relaypot.judgements.derive import Deriver
from relaypot.numbers import count
from relaypot.personas import model
from relaypot.pipeline import EventBus, utc_timestamp
from relaypot.protocol.listener import ListenerContext, SessionLimits
from relaypot.protocol.logins import LoginPolicy
from relaypot.protocol.outputs import StoredMessage
from relaypot.protocol.rehearsal import rehearse
from relaypot.sinks.base import Sink
from relaypot.sinks.console import ConsoleSummary
from relaypot.sinks.jsonl import JsonlSink
from relaypot.sinks.outputs import make_outputs
from relaypot.sinks.sql import WRITE_DEADLINE, SqlSink
from relaypot.spool import MAX_BYTES as SPOOL_MAX_BYTES
from relaypot.spool import Spool
from relaypot.storage.messages import MessageStore
from relaypot.storage.summary import summarize
from relaypot.transport import descriptors
from relaypot.transport.naming import ClientNamer
from relaypot.transport.server import Listener, ServerLimits, SmtpServer
from relaypot.transport.tls import made_certificate, own_dh_params, server_context

log = logging.getLogger(__name__)


@dataclass
class Sensor:
    settings: Settings
    persona: model.Persona
    hostname: str
    data_dir: Path
    server: SmtpServer
    bus: EventBus
    listeners: list[Listener]
    enrichment: EnrichmentRunner | None = None
    created_data_dir: bool = False  # by this start: removed again if the start fails
    lock: int = -1  # relaypot.lock, held while the sensor runs
    deliverer: ProbeDeliverer | None = None  # [deception] deliver_probes


LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def machine_name(fqdn: str, hostname: str) -> str | None:
    """The machine's own name: its FQDN, else its host name where the FQDN is a loopback name
    (getfqdn() says `localhost` on a machine whose name does not resolve); None when both are."""
    for name in (fqdn, hostname):
        if name and name.lower().rstrip(".") not in LOOPBACK_NAMES and not name.lower().startswith("localhost."):
            return name
    return None


def announced_name(settings: Settings) -> str:
    """The host name the persona announces: `[smtp] hostname`, else the machine's name. A machine
    name that would not pass for a public mail server's is used anyway (it is what the real server
    would say), with a warning on every start: clients see it in the banner, EHLO, the
    certificate and NTLM's target information. `localhost` is never taken unless asked for: a
    server calling itself that is a honeypot's tell and nobody's real name."""
    if settings.smtp.hostname:
        return settings.smtp.hostname
    name = machine_name(socket.getfqdn(), socket.gethostname())
    if name is None:
        raise ConfigError("this machine calls itself localhost, and so would the banner, the certificate and NTLM: "
                          "set --hostname (or [smtp] hostname) to the name this sensor's address resolves to")
    problem = public_name_problem(name)
    if problem:
        log.warning("the machine's name %r %s, and clients will see it in the banner, the certificate and NTLM: "
                    "set --hostname (or [smtp] hostname) to the name this sensor's address resolves to",
                    name, problem)
    return name


# Where neither the operator nor the persona bounds one client's connections: high enough that a
# scanner rarely meets it, low enough that one source cannot take every slot.
CONNECTIONS_PER_CLIENT = 256


def connections_per_client(settings: Settings, persona: model.Persona) -> int:
    """[limits] max_connections_per_ip, else the persona's own limit (a client can count it:
    Postfix's 421 comes at the 51st), else CONNECTIONS_PER_CLIENT."""
    return (settings.limits.max_connections_per_ip or persona.server.max_connections_per_client
            or CONNECTIONS_PER_CLIENT)


def jsonl_sink(settings: Settings, data_dir: Path) -> JsonlSink:
    return JsonlSink(data_dir, settings.store.jsonl_rotate, settings.store.jsonl_max_bytes, settings.store.fsync,
                     settings.store.jsonl_gzip)


def sql_spool(sink: SqlSink, data_dir: Path, max_bytes: int = SPOOL_MAX_BYTES) -> Spool:
    """Where the SQL store's batches wait while it is away; resent as `relaypot import` would."""
    return Spool(data_dir / "spool" / sink.name, lambda path: import_files([path], sink), max_bytes)


def _catch_up(sql: SqlSink, data_dir: Path, spool: Spool) -> Callable[[Callable[[], None]], object]:
    """The journal's tail as it is now, before this run writes to it (a rotation while the catch-up
    reads renames files), for the SQL sink's thread to catch up with once it is open."""
    snapshot = Snapshot(data_dir)
    return lambda tick: catch_up(sql, snapshot, spool, tick)


@dataclass(frozen=True)
class Preflight:
    """What a start decides before it touches anything: `relaypot check-config` shows it, and
    `relaypot run` starts from it, so the two can never disagree about what would be refused."""

    persona: model.Persona
    listeners: list[Listener]
    hostname: str
    starttls: bool  # STARTTLS offered on the persona's port 25 ([tls] starttls)
    data_dir: Path
    tls_context: ssl.SSLContext | None = None  # the operator's certificate, loaded once, where TLS needs it

    @property
    def needs_certificate(self) -> bool:
        """STARTTLS is offered, or a submission listener is there: some certificate is needed."""
        return self.starttls or any(listener.service for listener in self.listeners)


def preflight(settings: Settings) -> Preflight:
    """Every check a start makes before it binds, with no side effect (no directory, no
    certificate, no socket): the persona, each listener's service, the announced name, the
    operator's certificate and key, the user to run as. ConfigError, one line, for the first problem."""
    persona = model.load(settings.smtp.persona)
    listeners = []
    for spec in settings.smtp.listen:
        found = parse_listener(spec)
        if found.service and found.service not in persona.services:
            raise ConfigError(f"[smtp] listen {spec!r}: the persona {persona.name} has no {found.service} service "
                              f"(its server had {', '.join(persona.services) or 'none'})")
        listeners.append(Listener(found.host, found.port, found.relay or settings.smtp.relay, found.service))
    hostname = announced_name(settings)
    starttls = settings.tls.starttls
    checked = Preflight(persona, listeners, hostname,
                        persona.server.starttls_offered if starttls == "persona" else starttls == "yes",
                        Path(settings.sensor.data_dir).resolve())
    if checked.needs_certificate and settings.tls.certificate:  # loads, or says why not, in one line
        checked = replace(checked, tls_context=server_context(Path(settings.tls.certificate),
                                                              Path(settings.tls.key), persona.tls, None, hostname))
    if settings.run.user:
        try:
            pwd.getpwnam(settings.run.user)
        except KeyError:
            raise ConfigError(f"[run] user: no such user {settings.run.user!r}") from None
    return checked


def make_sensor(settings: Settings, extra_sinks: tuple[Sink, ...] = ()) -> Sensor:
    checked = preflight(settings)
    persona, listeners, hostname = checked.persona, checked.listeners, checked.hostname
    data_dir = checked.data_dir
    created = datadir.prepare(data_dir, hand_to=settings.run.user)
    try:
        lock = datadir.lock(data_dir)
    except BaseException:
        if created:
            datadir.remove_if_unused(data_dir)
        raise
    tls_available = checked.starttls
    limits = settings.limits
    listener_context = ListenerContext(
        persona=persona,
        hostname=hostname,
        # IIS's "default domain": the host name on the Windows 2000 servers captured in public
        # (<users@jd.acme.local>, exchange2000.md S5), the organisation's where it was set (KB Q304897).
        default_domain=settings.smtp.default_domain or hostname,
        limits=SessionLimits(
            max_line_length=limits.max_line_length,
            max_message_size=limits.max_message_size,
            max_message_memory=limits.max_message_memory,
            max_fragment=limits.max_fragment,
            max_recipients=limits.max_recipients,
            max_commands=limits.max_commands,
            max_unknown_commands=limits.max_unknown_commands,
        ),
        tls_available=tls_available,
        domains=tuple(settings.smtp.domains),
        users=tuple(settings.smtp.local_users),
        logins=LoginPolicy(tuple(settings.deception.accept_logins), settings.deception.accept_attempt,
                           persona.auth.user_names),
        zone=zoneinfo.ZoneInfo(settings.smtp.timezone) if settings.smtp.timezone else None,
        clock=time.time,
        rng=random.Random(os.urandom(16)),
    )
    journal = jsonl_sink(settings, data_dir) if settings.store.jsonl else None
    sql = SqlSink(settings.store_url, tuple(settings.smtp.domains), hostname, tuple(settings.sensor.public_names),
                  deadline=max(1.0, min(WRITE_DEADLINE, settings.store.retry_for / 2)))
    spool = sql_spool(sql, data_dir, settings.store.spool_max_bytes)
    sinks: list[Sink] = [sql, *extra_sinks]
    sinks += make_outputs(settings.outputs, settings.sensor.name or socket.gethostname())
    bus = EventBus(sinks, settings.store.flush_interval, high_water=settings.store.queue_limit,
                   high_water_bytes=settings.store.queue_max_bytes,
                   retry_for=settings.store.retry_for,
                   spools={sql.name: spool}, journal=journal,
                   open_later=(sql.name,) if settings.store.start_unreachable else (),
                   # The journal's tail an earlier run left unwritten, behind the open listeners.
                   catch_ups={sql.name: _catch_up(sql, data_dir, spool)} if journal else None)
    if not settings.run.quiet:
        bus.listeners.append(ConsoleSummary())
    store = MessageStore(data_dir / "messages", limits.max_store_bytes, settings.store.fsync)
    server = SmtpServer(
        listener_context, bus, store, settings.sensor.name or socket.gethostname(),
        ServerLimits(
            max_connections=_fit_connections(settings),
            max_connections_per_ip=connections_per_client(settings, persona),
            idle_timeout=limits.idle_timeout,
            max_session_time=limits.max_session_time,
            shutdown_grace=limits.shutdown_grace,
        ),
        namer=ClientNamer(Resolver(settings.enrich.resolver, settings.enrich.dns_timeout))
        if persona.server.names_client and settings.deception.client_lookups else None,
    )
    if checked.tls_context is not None:  # the operator's certificate, loaded as root by preflight
        server.use_tls(checked.tls_context)

    enrichment = None
    if settings.enrich.enabled:
        enrichment = EnrichmentRunner(enrichers.enrichers_from(settings, data_dir), bus, server.sensor,
                                      settings.enrich.cache_ttl, settings.enrich.concurrency,
                                      helo_per_session=settings.enrich.helo_lookups_per_session,
                                      helo_per_source=settings.enrich.helo_lookups_per_source)
        bus.listeners.append(enrichment)
    deliverer = probe_deliverer(settings, bus, server.sensor, hostname, data_dir, persona, listeners)
    if deliverer is not None:
        bus.listeners.append(deliverer)
    return Sensor(settings, persona, hostname, data_dir, server, bus, listeners, enrichment, created, lock,
                  deliverer)


def probe_deliverer(settings: Settings, bus: EventBus, sensor: str, hostname: str, data_dir: Path,
                    persona: model.Persona, listeners: list[Listener]) -> ProbeDeliverer | None:
    """The one thing that ever sends mail, and only when the operator turned it on."""
    deception = settings.deception
    if not deception.deliver_probes:
        return None
    smarthost = None
    if deception.deliver_smarthost:
        host, _, port = deception.deliver_smarthost.rpartition(":")
        smarthost = (host.strip("[]"), int(port))
    limits = DeliveryLimits(deception.deliver_per_source_per_day, deception.deliver_per_day,
                            deception.deliver_max_bytes, deception.deliver_max_recipients,
                            frozenset(d.lower().rstrip(".") for d in deception.deliver_protected_domains))
    budget = DeliveryBudget(limits)
    day = time.strftime("%Y-%m-%d", time.gmtime())
    spent = spent_today(data_dir, day) if settings.store.jsonl else []
    budget.seed(day, spent)
    # The sensor's own addresses known now; route.is_local and the name's DNS answer add the rest.
    own = tuple(listener.host for listener in listeners if listener.host not in ("", "0.0.0.0", "::"))
    own += tuple(name for name in settings.sensor.public_names if destinations.parse(name) is not None)
    route = Route(smarthost, deception.deliver_port, deception.deliver_timeout,
                  tuple(ipaddress.ip_network(net, strict=False) for net in deception.deliver_lab_networks), own)
    log.warning("[deception] deliver_probes is on: recognised relay probes are delivered, at most %d a day (%d spent "
                "already today) and %d per source a day; create %s in the data directory to stop at once",
                limits.per_day, len(spent), limits.per_source_per_day, KILL_FILE)
    zone = zoneinfo.ZoneInfo(settings.smtp.timezone) if settings.smtp.timezone else None
    return ProbeDeliverer(bus, sensor, hostname, data_dir,
                          Deriver(tuple(settings.smtp.domains), hostname, tuple(settings.sensor.public_names)),
                          budget, route, Resolver(settings.enrich.resolver, settings.enrich.dns_timeout),
                          DeliveryHelper(), persona.relay, zone)


def _fit_connections(settings: Settings) -> int:
    """max_connections under the descriptor limit (raised first), with room for the rest of the
    sensor's files and sockets: past it a client gets the persona's 421, never a failed accept."""
    limit = descriptors.raise_limit()
    reserved = descriptors.RESERVED + (settings.enrich.concurrency if settings.enrich.enabled else 0)
    requested = settings.limits.max_connections
    fitted = descriptors.fit_connections(requested, limit, reserved)
    if fitted < requested:
        log.warning("[limits] max_connections lowered from %d to %d: the process may open %d files (ulimit -n) "
                    "and keeps %d for its stores, messages and lookups", requested, fitted, limit, reserved)
    return fitted


def prepare_tls(sensor: Sensor) -> None:
    """Load (making it on first run) the self-signed certificate where TLS needs one and the
    operator named none; the operator's was loaded by `preflight`, before anything else."""
    if sensor.server.ssl_context is not None:
        return
    if not sensor.server.context.tls_available and not any(listener.service for listener in sensor.listeners):
        return
    cert, key = made_certificate(sensor.persona.tls.certificate, sensor.data_dir, sensor.hostname)
    dh_params = own_dh_params(sensor.data_dir) if sensor.persona.tls.dh_group == "own" else None
    sensor.server.use_tls(server_context(cert, key, sensor.persona.tls, dh_params, sensor.hostname))


def rehearsals(sensor: Sensor) -> list[Callable[[], object]]:
    """What the sensor does, done once without a client, so that everything it loads is loaded
    before root is dropped: a session through every verb, its records' JSON, rows and console
    line, and each enricher's data."""

    def session_and_records() -> None:
        def summarise(body: bytes) -> StoredMessage:
            return StoredMessage(hashlib.sha256(body).hexdigest(), "messages/rehearsal.eml", len(body), summarize(body))

        events = rehearse(sensor.server.context, summarise)
        records = [Record("0" * 24, n, utc_timestamp(), sensor.server.sensor, "192.0.2.1", event)
                   for n, event in enumerate(events, 1)]
        console = ConsoleSummary(io.StringIO())
        for record in records:
            record.to_json()
            console(record)
        for worker in sensor.bus.workers:
            worker.sink.rehearse(records)  # every sink: its imports and encodings before the drop

    steps: list[Callable[[], object]] = [session_and_records]
    if sensor.enrichment is not None:
        steps += [enricher.rehearse for enricher in sensor.enrichment.enrichers]
    if sensor.server.namer is not None:
        steps.append(preload_dns)  # the client's name is asked of DNS after the drop
    return steps


async def serve(sensor: Sensor, on_ready: Callable[[list[tuple[str, int]]], None] | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or `stop`), then shut down gracefully and flush every record."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    try:
        if sensor.deliverer is not None:  # forked before it could inherit a listener or lose root
            sensor.deliverer.helper.start(*privileges.ids_of(sensor.settings.run.user))
        bound = await sensor.server.start(sensor.listeners)
    except BaseException:
        _failed_start(sensor)
        raise
    try:
        user = sensor.settings.run.user
        # The operator's certificate was loaded as root by preflight (its key may be readable by
        # root only); a generated one is made by the user, in its own directory, after the drop:
        # root never writes where the user could have planted a link.
        if user:
            privileges.drop(user, sensor.data_dir, rehearsals(sensor))
        sensor.bus.start(loop)  # the store first: a start it fails leaves no certificate behind
        prepare_tls(sensor)
    except BaseException:
        await sensor.server.close_listeners()
        _failed_start(sensor)
        raise
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or not POSIX
            pass
    for server in sensor.server.servers:
        await server.start_serving()
    if on_ready is not None:
        on_ready(bound)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(signum)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        await sensor.server.shutdown()
        if sensor.enrichment is not None:
            await sensor.enrichment.close()
        if sensor.deliverer is not None:
            await sensor.deliverer.close()
        sensor.bus.close_journal()
        await loop.run_in_executor(None, sensor.bus.close)
        release(sensor)


def _failed_start(sensor: Sensor) -> None:
    """A start that failed leaves nothing behind: the delivery helper gone, the lock let go, and the
    data directory, when this start created it and it holds nothing yet."""
    if sensor.deliverer is not None:
        sensor.deliverer.helper.kill()
    release(sensor)
    if sensor.created_data_dir:
        datadir.remove_if_unused(sensor.data_dir)


def release(sensor: Sensor) -> None:
    """Let go of the data directory's lock (a sensor started in-process, as the tests do)."""
    if sensor.lock >= 0:
        os.close(sensor.lock)
        sensor.lock = -1


def what_was_written(stats: dict[str, dict[str, int]]) -> str:
    """The stop's account of the records: all written, or exactly what was not, and where it is."""
    lost = []
    best_effort = []
    for name, figures in sorted(stats.items(), key=lambda item: item[0] != "jsonl"):  # the journal first
        if figures.get("output"):
            if figures["dropped"] or figures["queued"]:
                best_effort.append(f"the {name} output dropped {figures['dropped']} and left {figures['queued']}")
            continue
        if name == "jsonl":
            if figures["dropped"]:
                lost.append(f"{count(figures['dropped'], 'record')} could not be written to events.jsonl (its disk "
                            "was full)")
            continue
        missing = figures["dropped"] + figures["queued"]  # each record once: dropped, or left in the queue
        if not missing:
            continue
        text = f"{count(missing, 'record')} did not reach the {name} store"
        if "jsonl" in stats:
            # A record the journal gave up too is in neither: never counted as one import brings back.
            nowhere = figures.get("unjournaled", 0)
            kept = missing - nowhere
            has = "events.jsonl has them" if not nowhere else f"{kept:,} of them are in events.jsonl"
            parts = ([f"{has}: relaypot import brings them back"] if kept else []) + (
                [f"{nowhere:,} are in neither" if kept else "events.jsonl lacks them too"] if nowhere else [])
            text += f" ({'; '.join(parts)})"
        lost.append(text)
    waiting = sum(figures["spool_bytes"] for figures in stats.values())
    outputs = f" (best effort: {'; '.join(best_effort)}; the journal and the store have them)" if best_effort else ""
    if lost:
        return "NOT every record is written: " + "; ".join(lost) + "." + outputs
    if waiting:
        return (f"every record is written; {waiting} bytes of them wait in DATA_DIR/spool for a store that was "
                "away, and go in at the next start." + outputs)
    return "every record is written." + outputs


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where the platform has it (about 2x less CPU per session), else asyncio's own."""
    try:
        import uvloop  # noqa: PLC0415

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()
