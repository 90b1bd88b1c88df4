"""A sans-IO session's transport played in memory: what `relaypot personas show`, the rehearsal
before the privilege drop and the tests drive a session with.

Each message is "stored" at once (by `store`), each TLS handshake completes at once, the replies
are read as soon as they are made (a backlog is resumed), and everything that comes out is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from relaypot.events import Event
from relaypot.protocol.outputs import Close, Deliver, GreetPause, Keep, Reply, StartTls, StoredMessage, Wait
from relaypot.protocol.session import Session

TLS = ("TLSv1.3", "TLS_AES_256_GCM_SHA384", None)  # what a handshake is said to have agreed


class Driver:
    def __init__(self, session: Session, store: Callable[[bytes], StoredMessage] | None = None,
                 tls: tuple[str, str, str | None] = TLS, early: bool = False) -> None:
        self.session = session
        self.store = store or self._stored
        self.tls = tls
        self.replies: list[Reply] = []
        self.events: list[Event] = []
        self.delivered: list[Deliver] = []
        self.kept: list[Keep] = []
        self.closed: str | None = None
        self.tls_requested = 0
        self.early = early  # the client talks during a greet pause, before the greeting
        self.waited = 0.0  # a Wait's seconds, which the next reply is late by
        self.take(session.start())

    def _stored(self, body: bytes) -> StoredMessage:
        n = len(self.delivered)
        return StoredMessage(f"{n:064x}", f"messages/{n}.eml", len(body))

    def take(self, outputs: list) -> None:
        for item in outputs:
            if isinstance(item, Reply):
                if self.waited:
                    item, self.waited = replace(item, delay=item.delay + self.waited), 0.0
                self.replies.append(item)
            elif isinstance(item, Wait):  # passes at once, nothing sent meanwhile but what was fed
                self.waited += item.seconds
                self.take(self.session.waited())
            elif isinstance(item, Deliver):
                self.delivered.append(item)
                self.take(self.session.message_stored(self.store(item.body)))
            elif isinstance(item, StartTls):
                self.tls_requested += 1
                self.take(self.session.tls_started(*self.tls))
            elif isinstance(item, Close):
                self.closed = item.reason
            elif isinstance(item, GreetPause):
                if not self.early:  # the pause passes in silence
                    self.take(self.session.greet())
            elif isinstance(item, Keep):
                self.kept.append(item)
                self.events.append(item.record(self.store(item.data)))
            else:
                self.events.append(item)

    def feed(self, data: bytes) -> Driver:
        self.take(self.session.receive_data(data))
        # A transport that reads its replies at once. Bounded: a backlog that resuming never
        # clears would spin a real connection's loop, so it fails here instead of hanging.
        for _ in range(len(data) + 2):
            if not self.session.backlog:
                return self
            self.take(self.session.resume())
        raise RuntimeError("the session's backlog never clears: resuming it would spin the transport")

    def finish(self, reason: str = "peer_closed") -> Driver:
        self.take(self.session.finish(reason))
        return self
