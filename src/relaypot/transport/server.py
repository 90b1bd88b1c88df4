"""Listeners, connection limits, the idle sweeper and graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from relaypot.errors import ConfigError
from relaypot.judgements.attacks import catalogue
from relaypot.pipeline import EventBus, name_os_thread
from relaypot.protocol.listener import ListenerContext
from relaypot.storage.messages import MessageStore
from relaypot.transport.connection import SmtpConnection
from relaypot.transport.descriptors import DescriptorWatch
from relaypot.transport.naming import ClientNamer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerLimits:
    max_connections: int = 1024
    max_connections_per_ip: int = 32
    idle_timeout: float = 300.0
    max_session_time: float = 14400.0
    shutdown_grace: float = 5.0


@dataclass(frozen=True)
class Listener:
    host: str
    port: int
    relay: str = "open"  # its relay policy (protocol.recipients.RELAY_POLICIES)
    service: str = ""  # "", or the persona's submission service it is (personas.model.SERVICES)

    @property
    def name(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class SmtpServer:
    def __init__(self, context: ListenerContext, bus: EventBus, store: MessageStore, sensor: str,
                 limits: ServerLimits, ssl_context: ssl.SSLContext | None = None,
                 namer: ClientNamer | None = None) -> None:
        self.context = context
        self.namer = namer  # asks DNS for a client's name where the persona's server does
        self.bus = bus
        self.store = store
        self.sensor = sensor
        self.limits = limits
        self.ssl_context = ssl_context
        self.connections: set[SmtpConnection] = set()
        self.per_ip: Counter[str] = Counter()
        # [server] process_limit: sessions under way and clients waiting for one, per listener
        self.serving: Counter[str] = Counter()
        self.waiting: dict[str, deque[SmtpConnection]] = {}
        self.servers: list[asyncio.base_events.Server] = []
        self.bound_listeners: list[Listener] = []  # the listener of each bound address, in order
        self.store_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="store",
                                                 initializer=name_os_thread, initargs=("store",))
        self.descriptors = DescriptorWatch()
        catalogue()  # read now: a sensor that drops root may no longer read its installation
        self.loop: asyncio.AbstractEventLoop  # the running loop, set by start()
        self._sweeper: asyncio.Task | None = None
        if ssl_context is not None:
            self.use_tls(ssl_context)

    def use_tls(self, context: ssl.SSLContext) -> None:
        """Offer STARTTLS (and implicit TLS) with `context`. No server-name callback: the name a
        client asks for is read off its ClientHello (transport/clienthello.py), and OpenSSL never
        acknowledges it, as Postfix's does not."""
        self.ssl_context = context

    async def start(self, listeners: list[Listener]) -> list[tuple[str, int]]:
        """Bind every listener; returns the bound (host, port) pairs (port 0 becomes a real port)."""
        self.loop = asyncio.get_running_loop()
        self.descriptors.install(self.loop)
        bound: list[tuple[str, int]] = []
        for listener in listeners:
            # The connections' listener is the bound address (port 0 becomes a real port) and is
            # set below, before the server accepts anyone (start_serving=False).
            holder = [listener]
            try:
                family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
                server = await self.loop.create_server(
                    lambda holder=holder: SmtpConnection(self, holder[0].name, holder[0].relay, holder[0].service),
                    host=listener.host or None, port=listener.port, family=family,
                    # A deep accept queue: a flood of connects must wait, not vanish in the kernel.
                    reuse_address=True, backlog=4096, start_serving=False,
                )
            except OSError as exc:
                await self.close_listeners()
                raise ConfigError(f"cannot listen on {listener.name}: {exc.strerror or exc}") from None
            self.servers.append(server)
            clamp = self.context.persona.stack.window_clamp
            for sock in server.sockets:
                if clamp:  # the persona's stack offers no larger window, nor a window scale above 0
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_WINDOW_CLAMP, clamp)
                addr = sock.getsockname()
                bound.append((addr[0], addr[1]))
                self.bound_listeners.append(listener)
            holder[0] = Listener(listener.host, bound[-1][1], listener.relay, listener.service)
        self._sweeper = self.loop.create_task(self._sweep())
        return bound

    def must_wait(self, connection: SmtpConnection) -> bool:
        """Whether a new connection waits, unanswered, for one of its listener's sessions to end
        ([server] process_limit); one that need not is counted as served."""
        limit, name = self.context.persona.server.process_limit, connection.listener_name
        if not limit:
            return False
        if self.serving[name] >= limit or self.waiting.get(name):
            self.waiting.setdefault(name, deque()).append(connection)
            return True
        self.serving[name] += 1
        connection.counted = True
        return False

    def _served(self, connection: SmtpConnection) -> None:
        """A connection is gone: its place goes to the first client still waiting."""
        name = connection.listener_name
        waiting = self.waiting.get(name)
        if not connection.counted:
            if waiting and connection in waiting:
                waiting.remove(connection)  # it gave up waiting
            return
        connection.counted = False
        self.serving[name] -= 1
        while waiting:
            following = waiting.popleft()
            if not following.transport.is_closing():
                self.serving[name] += 1
                following.counted = True
                self.loop.call_soon(following.resume_waiting)
                break

    def admit(self, connection: SmtpConnection, ip: str) -> bool:
        limits = self.limits
        if len(self.connections) >= limits.max_connections or self.per_ip[ip] >= limits.max_connections_per_ip:
            return False
        self.connections.add(connection)
        self.per_ip[ip] += 1
        return True

    def release(self, connection: SmtpConnection) -> None:
        self._served(connection)
        if connection in self.connections:
            self.connections.discard(connection)
            ip = connection.session.client_ip
            self.per_ip[ip] -= 1
            if self.per_ip[ip] <= 0:
                del self.per_ip[ip]

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = self.loop.time()
            for connection in list(self.connections):
                connection.check(now)
            self.descriptors.check(now)

    async def close_listeners(self) -> None:
        for server in self.servers:
            server.close()
        self.servers = []
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def shutdown(self) -> None:
        """Stop accepting; let open sessions finish for the grace period; then end them politely.
        Clients still waiting for a session are cut off, as a stopping server's backlog is."""
        for server in self.servers:
            server.close()
        for waiting in self.waiting.values():
            for connection in list(waiting):
                connection.transport.abort()
        deadline = self.loop.time() + self.limits.shutdown_grace
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self.connections:
            log.info("ending %d open sessions", len(self.connections))
            for connection in list(self.connections):
                connection.shutdown()
            end = self.loop.time() + 2.0
            while self.connections and self.loop.time() < end:
                await asyncio.sleep(0.02)
            for connection in list(self.connections):
                connection.abort("shutdown")
        if self._sweeper is not None:
            self._sweeper.cancel()
        self.store_executor.shutdown(wait=True)
