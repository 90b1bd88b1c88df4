"""One TCP stream ↔ one Session: feed bytes in, carry the session's outputs out, in order.

Glue only: nothing here knows an SMTP verb. Replies are written in the order the session made
them; a delayed reply (a persona's failure delay) holds back everything after it, and the replies
its own input made before it: Postfix flushes only once it has no more input to read, so the
"334 " to a pipelined "AUTH PLAIN" comes out with the 535 two seconds later (found by the
differential test).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import deque
from concurrent.futures import Executor
from dataclasses import replace
from functools import partial
from typing import Any, Protocol

from relaypot.events import MessageReceived
from relaypot.judgements.attacks import WATCHED, Watch, catalogue
from relaypot.pipeline import EventBus, Recorder, new_session_id, utc_timestamp
from relaypot.protocol.client_names import ClientName
from relaypot.protocol.listener import ListenerContext
from relaypot.protocol.outputs import Close, Deliver, GreetPause, Keep, Reply, StartTls, StoredMessage, Wait
from relaypot.protocol.session import Session
from relaypot.storage.messages import MessageStore
from relaypot.transport.naming import ClientNamer
from relaypot.transport.starttls import TlsLayer, cork, fin_now, peer_ended, reset_on_close, unread_bytes

log = logging.getLogger(__name__)

# Messages up to this size are stored inline: cheaper than a thread hop, and brief.
INLINE_STORE_BYTES = 256 * 1024
# Seconds a timed-out connection gets to take its last reply before it is cut (a client that
# does not read cannot keep it open) ...
CLOSE_GRACE = 5.0
# ... and the most a TLS handshake may take (the idle deadline cuts it sooner when shorter).
HANDSHAKE_TIMEOUT = 30.0
# Replies waiting behind a delayed one, past which the client's input is left unread: a client
# that pipelines thousands of failing AUTHs is read at the pace it is answered, as Postfix does.
MAX_QUEUED = 64
# Why reading is paused; each is lifted on its own.
HOLD_BUS, HOLD_STORE, HOLD_PEER, HOLD_QUEUE, HOLD_BACKLOG, HOLD_NAME = 1, 2, 4, 8, 16, 32


def clean_ip(address: str) -> str:
    """`::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) → `1.2.3.4`."""
    return address[7:] if address.startswith("::ffff:") and "." in address else address


class Deadlines(Protocol):
    @property
    def idle_timeout(self) -> float: ...
    @property
    def max_session_time(self) -> float: ...


class Host(Protocol):
    """What a connection needs of the server that accepted it (transport/server.py's SmtpServer),
    so that the connection need not import the server."""

    context: ListenerContext
    bus: EventBus
    store: MessageStore
    sensor: str
    ssl_context: ssl.SSLContext | None
    loop: asyncio.AbstractEventLoop
    namer: ClientNamer | None

    @property
    def store_executor(self) -> Executor: ...
    @property
    def limits(self) -> Deadlines: ...

    def must_wait(self, connection: SmtpConnection) -> bool: ...
    def admit(self, connection: SmtpConnection, ip: str) -> bool: ...
    def release(self, connection: SmtpConnection) -> None: ...


class _Gate:
    """A place in a connection's reply queue that opens once the journal is committed."""

    __slots__ = ("open",)

    def __init__(self) -> None:
        self.open = False


class SmtpConnection(asyncio.Protocol):
    __slots__ = (
        "_closing_since",
        "_continuing",
        "_corked",
        "_delay",
        "_eof",
        "_finished",
        "_greet_pause",
        "_greeting",
        "_handshake",
        "_handshake_deadline",
        "_holds",
        "_lag",
        "_lag_input",
        "_lag_until",
        "_last_io",
        "_progress",
        "_queue",
        "_storing",
        "_unflushed",
        "_wait",
        "_waited",
        "counted",
        "last_active",
        "listener_name",
        "recorder",
        "relay",
        "server",
        "service",
        "session",
        "started",
        "transport",
        "watch",
    )

    session: Session  # made by connection_made, the first call asyncio makes
    recorder: Recorder

    def __init__(self, server: Host, listener_name: str, relay: str = "open", service: str = "") -> None:
        self.server = server
        self.listener_name = listener_name
        self.relay = relay
        self.service = service  # "submissions": TLS from the first byte, the banner inside it
        self._greeting: list[Any] | None = None  # the banner, held until that first handshake
        self._greet_pause: asyncio.TimerHandle | None = None  # the persona's pause before its banner
        self._wait: asyncio.TimerHandle | None = None  # a Wait in progress: Session.waited at its end
        self.transport: Any = None
        self._queue: deque[Any] | None = None
        self._waited = False
        self._delay: asyncio.TimerHandle | None = None
        self._corked = False  # the delay is a corked reply's: the client's next bytes or FIN end it
        # Replies made while the client's input still waited, not yet written ([server]
        # flush_when_idle: Sendmail flushes its output only before a read that would block)
        self._unflushed: list[bytes] = []
        self._last_io = time.time()  # the stream's last read or write (flush_after_quiet)
        self._lag: asyncio.Handle | None = None  # the close, a close_lag after the last reply, polled for
        self._lag_until = 0.0  # (time.monotonic) the end of that lag
        self._lag_input = False  # bytes came within it: the real server closes with them unread
        self._finished = False
        self._eof = False
        self._holds = 0  # why reading is paused: a bit per reason (HOLD_*); read when none is left
        self._storing = False
        self._progress = 0  # the session's progress when last_active was set
        self._closing_since: float | None = None  # when a deadline ended the session
        self._handshake: TlsLayer | None = None  # a STARTTLS handshake under way
        self._handshake_deadline: asyncio.TimerHandle | None = None
        self._continuing = False  # a _continue is scheduled
        self.watch = Watch(catalogue())  # what the client sends, matched against the attack catalogue
        self.counted = False  # holds one of its listener's sessions ([server] process_limit)

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if self.server.must_wait(self):  # the listener serves as many as its server would
            transport.pause_reading()
            return
        self.begin()

    def resume_waiting(self) -> None:
        """A session of its listener ended: this client, which waited unanswered, is served now."""
        if not self.transport.is_closing():
            self.transport.resume_reading()
            self.begin()

    def begin(self) -> None:
        """The session starts: the banner, or the refusal of a client over its limit."""
        transport, server = self.transport, self.server
        peer = transport.get_extra_info("peername") or ("", 0)
        local = transport.get_extra_info("sockname") or ("", 0)
        ip = clean_ip(str(peer[0]))
        self.last_active = self.started = server.loop.time()
        self.session = Session(server.context, ip, int(peer[1]), clean_ip(str(local[0])), int(local[1]),
                               self.listener_name, relay=self.relay, service=self.service)
        self.recorder = Recorder(server.bus, new_session_id(), server.sensor, ip)
        implicit = self.session.service is not None and self.session.service.tls == "implicit"
        if not server.admit(self, ip):
            if implicit:  # nothing can be said before the handshake: recorded, then closed
                self._record_only(self.session.refuse())
                self.abort("limit")
            else:
                self._apply(self.session.refuse())
        elif implicit:
            opened = self.session.start()
            self._record_only(opened)
            self._greeting = [item for item in opened if isinstance(item, Reply)]
            self._start_tls()
        elif server.namer is not None and server.context.persona.server.names_client:
            # The persona's server asks DNS who the client is before it greets (Sendmail before
            # its greet pause, Exim before its banner): the client's bytes wait unread meanwhile
            # (early talk all the same, if before the banner)
            self._hold(HOLD_NAME)
            asyncio.ensure_future(server.namer.name(ip)).add_done_callback(self._named)
        else:
            self._apply(self.session.start())

    def _named(self, lookup: asyncio.Future[ClientName]) -> None:
        """The client's name came back from DNS: the session starts (its greet pause, then the
        banner that names the client)."""
        if self._finished or self.transport.is_closing():
            return
        if lookup.cancelled() or lookup.exception() is not None:
            log.warning("client name lookup failed: %r", None if lookup.cancelled() else lookup.exception())
        else:
            self.session.named(lookup.result())
        self._apply(self.session.start())
        self._release(HOLD_NAME)

    def data_received(self, data: bytes) -> None:
        if self._lag is not None:  # the session is over: only whether bytes came in time counts
            self._lag_input = self._lag_input or time.monotonic() <= self._lag_until
            return
        session = self.session
        self._last_io = time.time()
        corked = self._corked_wait  # a wait this input ends
        try:
            outputs = session.receive_data(data, self._more_waiting())
        except Exception:  # a bug must cost one session, never the server
            log.exception("session %s failed on input; closing it", self.recorder.session)
            self._finish("internal_error")
            self.transport.abort()
            return
        if session.progress != self._progress:
            # The idle deadline runs per line, not per byte: a drip of bytes does not renew it.
            self._progress = session.progress
            self.last_active = self.server.loop.time()
        self._apply(outputs)
        if corked:
            self._uncork()
        if self.server.bus.congested and not self._holds & HOLD_BUS:
            self._hold(HOLD_BUS)
            self.server.bus.when_drained(self._resume_after_bus)

    def pause_writing(self) -> None:
        """The client does not read its replies: stop reading its commands until it does."""
        self._hold(HOLD_PEER)

    def resume_writing(self) -> None:
        self._release(HOLD_PEER)
        if self._holds & HOLD_BACKLOG:
            self._backlogged()

    def _backlogged(self) -> None:
        """The session left input unanswered after a burst of replies: stop reading, and answer
        the rest a burst at a time while the client takes its replies."""
        self._hold(HOLD_BACKLOG)
        if not self._holds & HOLD_PEER and not self._continuing:
            self._continuing = True
            self.server.loop.call_soon(self._continue)

    def _continue(self) -> None:
        self._continuing = False
        if self._finished or self._holds & HOLD_PEER or self._queue:
            return  # a delayed reply is still queued: _drain goes on once it is sent
        self._apply(self.session.resume())
        if not self.session.backlog:
            self._release(HOLD_BACKLOG)
            if self._eof and not self._queue and not self._storing and not self._finished:
                self.transport.close()  # the client's last commands, read after it half-closed

    def eof_received(self) -> bool:
        return self._input_ended(failed=False)

    def input_failed(self) -> bool:
        """The client's end came as a read error (a FIN inside TLS where the server's OpenSSL
        counts it one): the replies owed for what was read still go out, nothing more."""
        return self._input_ended(failed=True)

    def _input_ended(self, failed: bool) -> bool:
        if not hasattr(self, "session"):
            return False  # it gave up waiting for a free session: nothing was said
        self._eof = True
        corked = self._corked_wait
        self._apply(self.session.receive_eof(failed))
        if corked:
            self._uncork()
        # Keep the socket open while replies are still queued (a delayed 535, say), input they
        # held back waits to be answered, or a Wait's command is yet to be answered.
        return self.answering()

    def answering(self) -> bool:
        """Replies are still to come for what was read: queued (a delayed 535), the input they
        held back, a Wait's command, a message being stored."""
        return bool(self._queue) or self._storing or bool(self._holds & HOLD_BACKLOG) or self._wait is not None

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.release(self)
        if not hasattr(self, "session"):
            return
        if self._delay is not None:
            self._delay.cancel()
        if self._lag is not None:
            self._lag.cancel()
        if self._greet_pause is not None:
            self._greet_pause.cancel()
        if self._wait is not None:
            self._wait.cancel()
        if self._handshake_deadline is not None:
            self._handshake_deadline.cancel()
        if self._handshake is not None and not self._finished:
            layer, self._handshake = self._handshake, None  # the client left during the handshake
            self._handshake_failed(exc, layer)
            return
        self._finish("peer_closed" if exc is None else "peer_reset")

    def _handshake_failed(self, exc: BaseException | None, layer: TlsLayer) -> None:
        """One record of a handshake that did not complete, whichever loop reports it (with the
        client's fingerprints, where its ClientHello came)."""
        ja3, ja4 = layer.fingerprints
        if exc is None:
            self._record_only(self.session.tls_failed("the client closed the connection during the handshake",
                                                      ja3, ja4))
            self._finish("peer_closed")
        else:
            self._record_only(self.session.tls_failed(f"{exc.__class__.__name__}: {exc}"[:300], ja3, ja4))
            self._finish("tls_failed")

    # ------------------------------------------------------------------ called by the server

    def check(self, now: float) -> None:
        """The sweeper's visit: enforce the session and idle deadlines, once each."""
        if self._finished:
            return
        if self._closing_since is not None:
            if now - self._closing_since >= CLOSE_GRACE:
                self.abort("timeout")  # it would not take its last reply
            return
        limits = self.server.limits
        if now - self.started > limits.max_session_time:
            self._time_out("session_time", now)
        elif now - self.last_active > limits.idle_timeout and not self._storing:
            self._time_out("timeout", now)

    def _time_out(self, reason: str, now: float) -> None:
        """End the session for a deadline. Whatever was waiting (delayed replies, pipelined
        commands, a TLS handshake) is dropped: the limit holds whatever the client queued."""
        self._closing_since = now
        if self._delay is not None:
            self._delay.cancel()
            self._delay = None
        self._queue = None
        outputs = self.session.timed_out(reason)
        if self._handshake is not None:
            self._cut_handshake(outputs, f"no TLS handshake before the {reason} deadline", reason)
            return
        self._apply(outputs)

    def _cut_handshake(self, outputs: list[Any], why: str, reason: str) -> None:
        """Mid-handshake nothing can be said in the clear any more: record the failed handshake
        (after the session's own end, whose reason stands), then cut."""
        assert self._handshake is not None
        if self._handshake_deadline is not None:
            self._handshake_deadline.cancel()
            self._handshake_deadline = None
        self._handshake.cancel()
        ja3, ja4 = self._handshake.fingerprints
        self._handshake = None
        self._record_only(outputs + self.session.tls_failed(why, ja3, ja4))
        self.abort(reason)

    def abort(self, reason: str) -> None:
        """Cut the connection now and record why."""
        self.transport.abort()
        self._finish(reason)

    def shutdown(self) -> None:
        if not self._finished and self._lag is None:  # (in the close lag the session has ended)
            self._queue = None
            if self._handshake is not None:
                self._cut_handshake(self.session.shutdown(), "the sensor stopped during the TLS handshake", "shutdown")
                return
            self._apply(self.session.shutdown())

    # ------------------------------------------------------------------ outputs

    def _close(self, close: Close) -> None:
        if self._unflushed and not self.transport.is_closing():
            self.transport.write(self._flushed(b""))  # the server's exit flushes what it held
        # what came after the session ended (behind a delayed last reply, or still in the kernel)
        # was never read either
        reset = close.reset or self.session.reset_at_close(unread_bytes(self.transport))
        if close.lag and not reset and not close.clear:
            self._close_after_lag(close.lag)
            return
        if reset:
            reset_on_close(self.transport)
        drop_tls = getattr(self.transport, "drop_tls", None)
        if close.clear and drop_tls is not None:
            drop_tls(close.clear)
        else:
            self._close_now(reset)

    def _close_after_lag(self, lag: float) -> None:
        """The real server's close comes `lag` seconds after its last reply (Exim's process
        ending): bytes the client sends within it are unread at that close, a reset. The loop's
        timers tick in milliseconds and the lag is a fraction of one, so the close is polled for
        (each turn of the loop reads what came meanwhile, and serves every other connection)."""
        self._lag_until = time.monotonic() + lag
        if self._holds:
            self.transport.resume_reading()
        self._lag = self.server.loop.call_soon(self._lagged)

    def _lagged(self) -> None:
        if self._finished or self.transport.is_closing():
            return
        if time.monotonic() < self._lag_until:
            self._lag = self.server.loop.call_soon(self._lagged)
            return
        if self._lag_input:
            reset_on_close(self.transport)
        self._close_now(self._lag_input)

    def _close_now(self, reset: bool) -> None:
        if not reset and not hasattr(self.transport, "drop_tls"):  # plain TCP: its FIN goes now
            fin_now(self.transport)
        self.transport.close()

    @property
    def _corked_wait(self) -> bool:
        """A corked reply waits for its delay (Exim's QUIT polling for the client's FIN)."""
        return self._corked and self._delay is not None

    def _uncork(self) -> None:
        """The client sent more, or its FIN, while a corked reply waited: the wait ends now."""
        if self._corked_wait:
            assert self._delay is not None
            self._delay.cancel()
            self._drain()

    def _apply(self, outputs: list[Any]) -> None:
        record = self.recorder.record
        ts = None
        # The replies this input made go out in one write, as Postfix flushes its replies to a
        # pipelined group once it has no more input to read: one segment, not one per reply.
        pending: list[bytes] = []
        # A for loop sees the items a Deliver appends while it runs.
        for item in outputs:
            kind = type(item)
            if kind is Reply:
                if self._queue or item.delay:
                    if pending and item.delay:
                        item = replace(item, data=b"".join(pending) + item.data)
                        pending.clear()
                    elif pending:
                        self._write(pending)
                    self._enqueue(item)
                else:
                    pending.append(item.data)
            elif kind is Deliver:
                for attack in self.watch.message(item.body):  # recorded before the message is
                    record(attack, ts or utc_timestamp())
                if len(item.body) <= INLINE_STORE_BYTES and not self.server.store.fsync:
                    outputs.extend(self.session.message_stored(self._store(item.body)))
                else:
                    self._store_async(item.body)
            elif kind is Keep:
                self._keep(item, ts or utc_timestamp())
            elif kind is GreetPause:
                self._greet_pause = self.server.loop.call_later(item.seconds, self._greet)
            elif kind is StartTls or kind is Close or kind is Wait:
                if pending and kind is Wait and self.session.persona.server.flush_when_idle:
                    self._unflushed.extend(pending)  # Sendmail sleeps with its replies unflushed
                    pending.clear()
                elif pending:
                    self._write(pending)
                if self._queue:
                    self._enqueue(item)
                elif kind is Close:
                    self._close(item)
                elif kind is Wait:
                    self._start_wait(item)
                else:
                    self._start_tls()
            else:
                if ts is None:
                    ts = utc_timestamp()
                record(item, ts)
                if kind in WATCHED:
                    for attack in self.watch.see(item):
                        record(attack, ts)
                if kind is MessageReceived:
                    # The record reaches the kernel before the 250 that acknowledges the message:
                    # the replies wait behind a gate the journal's next commit opens (one write(2)
                    # for every message acknowledged in this turn of the loop).
                    if pending:
                        self._write(pending)
                    gate = _Gate()
                    self._enqueue(gate)
                    self.server.bus.commit_soon(partial(self._committed, gate))
        if pending:
            self._write(pending)
        if self.session.backlog:
            self._backlogged()

    def _greet(self) -> None:
        """The greet pause passed: the banner, unless the client spoke first (the session then
        answered already, and says nothing now)."""
        self._greet_pause = None
        if not self._finished and not self.transport.is_closing():
            self._apply(self.session.greet())

    def _start_wait(self, wait: Wait) -> None:
        self._wait = self.server.loop.call_later(wait.seconds, self._wait_over)

    def _wait_over(self) -> None:
        """The Wait passed: the session answers, seeing what the client sent meanwhile."""
        self._wait = None
        if not self._finished and not self.transport.is_closing():
            self._apply(self.session.waited(self._more_waiting()))
            if self._eof and not self._queue and not self._storing and self._wait is None:
                self.transport.close()  # the client's end came during the wait: answered, now closed

    def _write(self, pending: list[bytes]) -> None:
        """Write the replies gathered so far at once, and start gathering anew."""
        self.transport.write(self._flushed(pending[0] if len(pending) == 1 else b"".join(pending)))
        pending.clear()

    def _flushed(self, data: bytes) -> bytes:
        """`data` behind the replies still unflushed, which go with it."""
        self._last_io = time.time()
        if self._unflushed:
            data = b"".join(self._unflushed) + data
            self._unflushed.clear()
        return data

    def _more_waiting(self) -> bool:
        """Input, or its end, waits in the kernel behind what was read: what a server that checks
        for input sent ahead (Sendmail) sees there with select(). Asked only for such personas,
        and not inside TLS, where that check sees only what its last read decrypted."""
        if not self.session.persona.sequence.stuffing_checked or hasattr(self.transport, "drop_tls"):
            return False
        return unread_bytes(self.transport) > 0 or peer_ended(self.transport)

    def _quiet(self) -> bool:
        """The stream saw no read or write for longer than the persona's server lets its output
        wait ([server] flush_after_quiet)."""
        quiet = self.session.persona.server.flush_after_quiet
        # in whole seconds of the clock, as Postfix compares time() with vstream_ftime()
        return bool(quiet) and int(time.time()) - int(self._last_io) > quiet

    def _input_waits(self) -> bool:
        """The client's input waits to be read: in the session (held back behind a delayed reply)
        or, where the persona's server looks there, in the kernel."""
        return self.session.backlog or (self.session.persona.server.flush_sees_kernel
                                         and unread_bytes(self.transport) > 0)

    def _store(self, body: bytes) -> StoredMessage:
        try:
            return self.server.store.store(body)
        except Exception as exc:  # the client gets the persona's 452, not a crash
            log.exception("storing a message failed")
            return StoredMessage(refused=f"store failed: {exc.__class__.__name__}")

    def _keep(self, keep: Keep, ts: str) -> None:
        """Store what a client left that is no message (an unfinished one, an XEXCH50 blob, an
        over-long line...), and record it, after what the catalogue names in it."""
        for attack in self.watch.fragment(keep.what, keep.data):
            self.recorder.record(attack, ts)
        self.recorder.record(keep.record(self._store(keep.data)), ts)

    def _store_async(self, body: bytes) -> None:
        self._storing = True
        self._hold(HOLD_STORE)
        future = self.server.loop.run_in_executor(self.server.store_executor, self._store, body)
        future.add_done_callback(self._stored)

    def _stored(self, future: asyncio.Future) -> None:
        self._storing = False
        if self._finished or self._closing_since is not None:
            # A deadline ended the session while the message was written: its record is kept.
            self._record_only(self.session.message_stored(future.result()))
            return
        self._apply(self.session.message_stored(future.result()))
        self._release(HOLD_STORE)
        if self._eof and not self._queue and not self._finished:
            self.transport.close()

    def _enqueue(self, item: Any) -> None:
        if self._queue is None:
            self._queue = deque()
        self._queue.append(item)
        if len(self._queue) > MAX_QUEUED:
            self._hold(HOLD_QUEUE)
        if self._delay is None and len(self._queue) == 1:
            self._drain()

    def _drain(self) -> None:
        self._delay = None
        queue = self._queue
        while queue:
            item = queue[0]
            kind = type(item)
            if kind is _Gate:
                if not item.open:
                    return  # _committed drains on
                queue.popleft()
            elif kind is Reply:
                if item.delay and not self._waited:
                    self._waited = True
                    self._corked = item.corked
                    self._delay = self.server.loop.call_later(item.delay, self._drain)
                    return
                self._waited = self._corked = False
                queue.popleft()
                if item.corked:
                    if self.session.reset_at_close(unread_bytes(self.transport)):
                        continue  # the reset takes the corked reply with it: nothing leaves
                    cork(self.transport)
                if not self.transport.is_closing():
                    if self.session.persona.server.flush_when_idle and not item.flushed and self._input_waits() \
                            and not self._quiet():
                        self._unflushed.append(item.data)  # the sleep was slept; the write waits
                    else:
                        self.transport.write(self._flushed(item.data))
            elif kind is Close:
                queue.popleft()
                self._close(item)
                return
            elif kind is Wait:
                queue.popleft()
                self._start_wait(item)
                return
            else:  # StartTls
                queue.popleft()
                self._start_tls()
                return
        if self._holds & HOLD_QUEUE:
            self._release(HOLD_QUEUE)
        if self._holds & HOLD_BACKLOG:
            if not self._continuing:
                # The input the delayed reply held back (Session._held_back) is read on now.
                self._continuing = True
                self.server.loop.call_soon(self._continue)
        elif self._eof and not self._storing:
            self.transport.close()

    def _committed(self, gate: _Gate) -> None:
        gate.open = True
        queue = self._queue
        if queue and queue[0] is gate and self._delay is None and not self._finished:
            self._drain()

    def _resume_after_bus(self) -> None:
        self._release(HOLD_BUS)

    def _hold(self, reason: int) -> None:
        if not self._holds and not self.transport.is_closing():
            self.transport.pause_reading()
        self._holds |= reason

    def _release(self, reason: int) -> None:
        if not self._holds & reason:
            return
        self._holds &= ~reason
        if not self._holds and not self._finished and not self._eof and not self.transport.is_closing():
            self.transport.resume_reading()

    # ------------------------------------------------------------------ TLS

    def _start_tls(self) -> None:
        server = self.server
        assert server.ssl_context is not None  # the session offers STARTTLS only with a context
        if self._holds:
            self.transport.resume_reading()  # the handshake must be read, whatever held the commands
        self._handshake = TlsLayer(self.transport, self, server.ssl_context, self._handshake_done,
                                   self.session.persona.tls)
        self._handshake_deadline = server.loop.call_later(HANDSHAKE_TIMEOUT, self._handshake_too_slow)

    def _handshake_too_slow(self) -> None:
        self._handshake_deadline = None
        layer = self._handshake
        if layer is not None and not self._finished:
            layer.cancel()
            self._handshake = None
            self._handshake_failed(TimeoutError(f"no TLS handshake within {HANDSHAKE_TIMEOUT:g} s"), layer)
            layer.abort()

    def _handshake_done(self, layer: TlsLayer, exc: BaseException | None) -> None:
        self._handshake = None
        if self._handshake_deadline is not None:
            self._handshake_deadline.cancel()
            self._handshake_deadline = None
        if exc is not None:
            if not self._finished:
                self._handshake_failed(exc, layer)
            return
        if self._finished or self._closing_since is not None:
            layer.abort()  # ended while the handshake ran: no TLS to record
            return
        self.transport = layer
        if self._holds:
            layer.pause_reading()  # what held the clear-text commands holds the encrypted ones
        ssl_object = layer.ssl_object
        cipher = ssl_object.cipher()
        sni = layer.server_name
        self.last_active = self.server.loop.time()
        outputs = self.session.tls_started(ssl_object.version(), cipher[0] if cipher else None, sni,
                                           *layer.fingerprints)
        if self._greeting is not None:  # implicit TLS: now the banner
            outputs += self._greeting
            self._greeting = None
        self._apply(outputs)

    # ------------------------------------------------------------------ end

    def _record_only(self, outputs: list[Any]) -> None:
        """The records among `outputs`; their replies and instructions are no longer wanted."""
        for item in outputs:
            if type(item) is Keep:
                self._keep(item, utc_timestamp())
            elif not isinstance(item, (Reply, Close, StartTls, Deliver)):
                self.recorder.record(item)
                if type(item) in WATCHED:
                    for attack in self.watch.see(item):
                        self.recorder.record(attack)

    def _finish(self, reason: str) -> None:
        if self._finished:
            return
        self._finished = True
        self.server.release(self)
        self._record_only(self.session.finish(reason))
