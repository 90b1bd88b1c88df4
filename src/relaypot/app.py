"""Composition root: turn Settings into a running sensor (persona, store, sinks, bus, server)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import pkgutil
import random
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from relaypot.config import Settings, parse_listen
from relaypot.enrich import base as enrichers
from relaypot.enrich.runner import EnrichmentRunner
from relaypot.errors import ConfigError
from relaypot.import_jsonl import import_files
from relaypot.personas import model
from relaypot.pipeline import EventBus
from relaypot.protocol.settings import SessionLimits, SessionSettings
from relaypot.sinks.base import Sink
from relaypot.sinks.console import ConsoleSummary
from relaypot.sinks.jsonl import JsonlSink
from relaypot.sinks.sql import SqlSink
from relaypot.spool import MAX_BYTES as SPOOL_MAX_BYTES, Spool
from relaypot.storage.database import sqlite_url
from relaypot.storage.messages import MessageStore
from relaypot.transport.server import Listener, ServerLimits, SmtpServer
from relaypot.transport.tls import ensure_certificate, server_context

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


def store_url(settings: Settings) -> str:
    return settings.store.url or sqlite_url(Path(settings.sensor.data_dir).resolve() / "relaypot.sqlite")


def jsonl_sink(settings: Settings, data_dir: Path) -> JsonlSink:
    return JsonlSink(data_dir, settings.store.jsonl_rotate, settings.store.jsonl_max_bytes, settings.store.fsync)


def sql_spool(sink: SqlSink, data_dir: Path, max_bytes: int = SPOOL_MAX_BYTES) -> Spool:
    """Where the SQL store's batches wait while it is away; replayed as `relaypot import` would."""
    return Spool(data_dir / "spool" / sink.name, lambda path: import_files([path], sink), max_bytes)


def build(settings: Settings, extra_sinks: tuple[Sink, ...] = ()) -> Sensor:
    persona = model.load(settings.smtp.persona)
    hostname = settings.smtp.hostname or persona.default_hostname
    data_dir = Path(settings.sensor.data_dir).resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"[sensor] data_dir: cannot create {data_dir}: {exc.strerror}") from None
    starttls = settings.tls.starttls
    tls_available = persona.behaviour.starttls_offered if starttls == "persona" else starttls == "yes"
    limits = settings.limits
    session_settings = SessionSettings(
        persona=persona,
        hostname=hostname,
        # IIS's "default domain" is the server's own name (KB Q304897, S21 in exchange2000.md).
        domain=hostname,
        limits=SessionLimits(
            max_line_length=limits.max_line_length,
            max_message_size=limits.max_message_size,
            max_recipients=limits.max_recipients,
            max_commands=limits.max_commands,
            max_unknown_commands=limits.max_unknown_commands,
        ),
        tls_available=tls_available,
        clock=time.time,
        rng=random.Random(os.urandom(16)),
    )
    sinks: list[Sink] = []
    if settings.store.jsonl:
        sinks.append(jsonl_sink(settings, data_dir))
    sql = SqlSink(store_url(settings), tuple(settings.smtp.domains), hostname)
    sinks.append(sql)
    sinks.extend(extra_sinks)
    bus = EventBus(sinks, settings.store.flush_interval, high_water=settings.store.queue_limit,
                   retry_for=settings.store.retry_for,
                   spools={sql.name: sql_spool(sql, data_dir, settings.store.spool_max_bytes)})
    if not settings.run.quiet:
        bus.listeners.append(ConsoleSummary())
    store = MessageStore(data_dir / "messages", limits.max_store_bytes, settings.store.fsync)
    server = SmtpServer(
        session_settings, bus, store, settings.sensor.name or socket.gethostname(),
        ServerLimits(
            max_connections=limits.max_connections,
            max_connections_per_ip=limits.max_connections_per_ip,
            idle_timeout=limits.idle_timeout,
            max_session_time=limits.max_session_time,
            shutdown_grace=limits.shutdown_grace,
        ),
    )
    listeners = [Listener(*parse_listen(spec)) for spec in settings.smtp.listen]
    enrichment = None
    if settings.enrich.enabled:
        enrichment = EnrichmentRunner(enrichers.build(settings, data_dir), bus, server.sensor,
                                      settings.enrich.cache_ttl, settings.enrich.concurrency)
        bus.listeners.append(enrichment)
    return Sensor(settings, persona, hostname, data_dir, server, bus, listeners, enrichment)


def prepare_tls(sensor: Sensor) -> None:
    """Load or create the certificate (after privileges are dropped, so the files are ours)."""
    if not sensor.server.settings.tls_available:
        return
    tls = sensor.settings.tls
    if tls.certificate:
        cert, key = Path(tls.certificate), Path(tls.key)
    else:
        cert, key = ensure_certificate(sensor.data_dir, sensor.hostname)
    context = server_context(cert, key)
    context.sni_callback = sensor.server._remember_sni
    sensor.server.ssl_context = context


def drop_privileges(user: str, data_dir: Path) -> None:
    """Bind as root, then become `user`; the data dir is handed over first so sinks can write.

    Everything the sensor imports is imported before this point: after it, the user may not be
    able to read the Python installation at all.
    """
    import pwd  # noqa: PLC0415 (POSIX only)

    _preload_codecs()
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ConfigError(f"[run] user: no such user {user!r}") from None
    if os.getuid() != 0:
        if os.getuid() == entry.pw_uid:
            return
        raise ConfigError(f"[run] user: dropping to {user!r} needs root")
    for directory, _, files in os.walk(data_dir):
        os.chown(directory, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(directory, name), entry.pw_uid, entry.pw_gid)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    log.info("dropped privileges to %s", user)


def _preload_codecs() -> None:
    """Messages name charsets (koi8-r, iso-2022-jp, ...) whose codecs Python imports on first use."""
    import encodings  # noqa: PLC0415

    for module in pkgutil.iter_modules(encodings.__path__):
        try:
            importlib.import_module(f"encodings.{module.name}")
        except Exception:  # noqa: BLE001 (a platform's codec, e.g. mbcs on POSIX, may not load)
            pass


async def serve(sensor: Sensor, on_ready: Callable[[list[tuple[str, int]]], None] | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or `stop`), then shut down gracefully and flush every record."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    bound = await sensor.server.start(sensor.listeners)
    try:
        # TLS first, as root where we are root: the operator's key may be readable by root only;
        # a generated certificate is handed to the user with the rest of the data directory.
        prepare_tls(sensor)
        if sensor.settings.run.user:
            drop_privileges(sensor.settings.run.user, sensor.data_dir)
        sensor.bus.start(loop)
    except BaseException:
        await sensor.server.close_listeners()
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
        await loop.run_in_executor(None, sensor.bus.close)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where the platform has it (about 2x less CPU per session), else asyncio's own."""
    try:
        import uvloop  # noqa: PLC0415

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()
