"""One TCP stream ↔ one Session: feed bytes in, carry the session's outputs out, in order.

Glue only: nothing here knows an SMTP verb. Replies are written in the order the session made
them; a delayed reply (a persona's failure delay) holds back everything after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from relaypot.pipeline import Recorder, new_session_id, utc_timestamp
from relaypot.protocol.outputs import Close, Deliver, Reply, StartTls, StoredMessage
from relaypot.protocol.session import Session

if TYPE_CHECKING:
    from relaypot.transport.server import Listener, SmtpServer

log = logging.getLogger(__name__)

# Messages up to this size are stored inline: cheaper than a thread hop, and brief.
INLINE_STORE_BYTES = 256 * 1024


def clean_ip(address: str) -> str:
    """`::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) → `1.2.3.4`."""
    return address[7:] if address.startswith("::ffff:") and "." in address else address


class SmtpConnection(asyncio.Protocol):
    __slots__ = ("server", "listener", "transport", "session", "recorder", "last_active", "started",
                 "_queue", "_waited", "_delay", "_finished", "_eof", "_paused_for_bus", "_storing")

    def __init__(self, server: SmtpServer, listener: Listener) -> None:
        self.server = server
        self.listener = listener
        self.transport: Any = None
        self.session: Session | None = None
        self.recorder: Recorder | None = None
        self._queue: deque[Any] | None = None
        self._waited = False
        self._delay: asyncio.TimerHandle | None = None
        self._finished = False
        self._eof = False
        self._paused_for_bus = False
        self._storing = False

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        server = self.server
        peer = transport.get_extra_info("peername") or ("", 0)
        local = transport.get_extra_info("sockname") or ("", 0)
        ip = clean_ip(str(peer[0]))
        self.last_active = self.started = server.loop.time()
        self.session = Session(server.settings, ip, int(peer[1]), clean_ip(str(local[0])), int(local[1]),
                               self.listener.name)
        self.recorder = Recorder(server.bus, new_session_id(), server.sensor, ip)
        if server.admit(self, ip):
            self._apply(self.session.start())
        else:
            self._apply(self.session.refuse())

    def data_received(self, data: bytes) -> None:
        self.last_active = self.server.loop.time()
        try:
            outputs = self.session.receive_data(data)
        except Exception:  # noqa: BLE001 (a bug must cost one session, never the server)
            log.exception("session %s failed on input; closing it", self.recorder.session)
            self._finish("internal_error")
            self.transport.abort()
            return
        self._apply(outputs)
        if self.server.bus.congested and not self._paused_for_bus:
            self._paused_for_bus = True
            self.transport.pause_reading()
            self.server.bus.when_drained(self._resume_after_bus)

    def eof_received(self) -> bool:
        self._eof = True
        self._apply(self.session.receive_eof())
        # Keep the socket open while replies are still queued (a delayed 535, say).
        return bool(self._queue) or self._storing

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.release(self)
        if self._delay is not None:
            self._delay.cancel()
        self._finish("peer_closed" if exc is None else "peer_reset")

    # ------------------------------------------------------------------ called by the server

    def check(self, now: float) -> None:
        if self._finished or self.session is None:
            return
        limits = self.server.limits
        if now - self.started > limits.max_session_time:
            self._apply(self.session.timed_out("session_time"))
        elif now - self.last_active > limits.idle_timeout and not self._storing:
            self._apply(self.session.timed_out("timeout"))

    def shutdown(self) -> None:
        if not self._finished and self.session is not None:
            self._queue = None
            self._apply(self.session.shutdown())

    # ------------------------------------------------------------------ outputs

    def _apply(self, outputs: list[Any]) -> None:
        record = self.recorder.record
        ts = None
        # A for loop sees the items a Deliver appends while it runs.
        for item in outputs:
            kind = type(item)
            if kind is Reply:
                if self._queue or item.delay:
                    self._enqueue(item)
                else:
                    self.transport.write(item.data)
            elif kind is Deliver:
                if len(item.body) <= INLINE_STORE_BYTES and not self.server.store.fsync:
                    outputs.extend(self.session.message_stored(self._store(item.body)))
                else:
                    self._store_async(item.body)
            elif kind is StartTls or kind is Close:
                if self._queue:
                    self._enqueue(item)
                elif kind is Close:
                    self.transport.close()
                else:
                    self._start_tls()
            else:
                if ts is None:
                    ts = utc_timestamp()
                record(item, ts)

    def _store(self, body: bytes) -> StoredMessage:
        try:
            return self.server.store.store(body)
        except Exception as exc:  # noqa: BLE001 (the client gets the persona's 452, not a crash)
            log.exception("storing a message failed")
            return StoredMessage(refused=f"store failed: {exc.__class__.__name__}")

    def _store_async(self, body: bytes) -> None:
        self._storing = True
        self.transport.pause_reading()
        future = self.server.loop.run_in_executor(self.server.store_executor, self._store, body)
        future.add_done_callback(self._stored)

    def _stored(self, future: asyncio.Future) -> None:
        self._storing = False
        if self._finished:
            return
        self._apply(self.session.message_stored(future.result()))
        if not self._finished and not self._eof and not self.transport.is_closing():
            self.transport.resume_reading()
        elif self._eof and not self._queue:
            self.transport.close()

    def _enqueue(self, item: Any) -> None:
        if self._queue is None:
            self._queue = deque()
        self._queue.append(item)
        if self._delay is None and len(self._queue) == 1:
            self._drain()

    def _drain(self) -> None:
        self._delay = None
        queue = self._queue
        while queue:
            item = queue[0]
            kind = type(item)
            if kind is Reply:
                if item.delay and not self._waited:
                    self._waited = True
                    self._delay = self.server.loop.call_later(item.delay, self._drain)
                    return
                self._waited = False
                queue.popleft()
                if not self.transport.is_closing():
                    self.transport.write(item.data)
            elif kind is Close:
                queue.popleft()
                self.transport.close()
                return
            else:  # StartTls
                queue.popleft()
                self._start_tls()
                return
        if self._eof and not self._storing:
            self.transport.close()

    def _resume_after_bus(self) -> None:
        self._paused_for_bus = False
        if not self._finished and not self._storing and not self.transport.is_closing():
            self.transport.resume_reading()

    # ------------------------------------------------------------------ TLS

    def _start_tls(self) -> None:
        self.server.loop.create_task(self._upgrade())

    async def _upgrade(self) -> None:
        server = self.server
        try:
            transport = await server.loop.start_tls(
                self.transport, self, server.ssl_context, server_side=True, ssl_handshake_timeout=30.0
            )
        except (OSError, asyncio.TimeoutError, ConnectionError, Exception) as exc:  # noqa: BLE001
            if not self._finished:
                self._apply(self.session.tls_failed(f"{exc.__class__.__name__}: {exc}"[:300]))
                self._finish("tls_failed")
            if not self.transport.is_closing():
                self.transport.abort()
            return
        if transport is None:  # the peer went away during the handshake
            self._finish("peer_closed")
            return
        self.transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        version = ssl_object.version() if ssl_object else None
        cipher = ssl_object.cipher()[0] if ssl_object and ssl_object.cipher() else None
        sni = server.sni_names.pop(id(ssl_object), None) if ssl_object else None
        self.last_active = server.loop.time()
        self._apply(self.session.tls_started(version, cipher, sni))

    # ------------------------------------------------------------------ end

    def _finish(self, reason: str) -> None:
        if self._finished or self.session is None:
            return
        self._finished = True
        self.server.release(self)
        for event in self.session.finish(reason):
            if not isinstance(event, (Reply, Close)):
                self.recorder.record(event)
