"""STARTTLS on a connection already open: OpenSSL over memory buffers, between the socket's
transport and the SMTP connection, as asyncio's start_tls does, with one difference a scanner
can see: when the handshake fails, OpenSSL's alert (handshake_failure, protocol_version, ...)
is sent before the connection closes, as a real server's OpenSSL sends it. asyncio and uvloop
drop it and close silently.

The layer is the raw transport's protocol (it takes the client's bytes) and the connection's
transport (it takes the replies): the connection keeps talking plain SMTP to it.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import select
import socket
import ssl
import struct
import termios
from collections.abc import Callable
from typing import Any, Protocol

from relaypot.personas.model import TlsProfile
from relaypot.transport.clienthello import ClientHelloReader
from relaypot.transport.failing_key import FailingKey, SigningFailed, alert, key_log
from relaypot.transport.gnutls import Refusal, hello_alert, suites_by_version

READ_SIZE = 65536
_LINGER_NONE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets the connection


# A fatal unexpected_message alert in a TLS 1.2 record: what GnuTLS (Exim on Debian) sends when the
# first bytes after "220 TLS go ahead" are no TLS record
UNEXPECTED_MESSAGE = b"\x15\x03\x03\x00\x02\x02\x0a"


@functools.lru_cache(maxsize=8)
def _suites(context: ssl.SSLContext) -> dict[int, frozenset[int]]:
    """The suites `context` can choose at each version, read once: every ClientHello asks."""
    return suites_by_version(context.get_ciphers())


def reset_on_close(transport: Any) -> None:
    """Make the transport's close a TCP reset (what is already written still goes first)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_NONE)
        except OSError:
            pass


def unread_bytes(transport: Any) -> int:
    """Bytes that came and wait in the kernel, not yet read by the loop (FIONREAD)."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return 0
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return 0


def peer_ended(transport: Any) -> bool:
    """The client's FIN came and waits in the kernel, not yet read by the loop."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    try:  # readable with nothing to read: the end of input (asyncio's socket has no recv)
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        return bool(poller.poll(0)) and unread_bytes(transport) == 0
    except (OSError, ValueError):  # the socket is gone
        return False


def fin_now(transport: Any) -> None:
    """Send the FIN at once, as a real server's close(2) does, rather than when the loop gets to
    closing the socket (an iteration or two on: a lock-step client's next command would come
    first, and meet a reset). Only with nothing left to write: the close sends the FIN after it."""
    sock = transport.get_extra_info("socket")
    if sock is None or transport.get_write_buffer_size():
        return
    try:  # the loop's socket object refuses shutdown(): a duplicate of its descriptor does it
        with socket.fromfd(sock.fileno(), sock.family, sock.type) as duplicate:
            duplicate.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def cork(transport: Any) -> None:
    """Hold what is written from now on in the kernel until the close sends it with the FIN (as
    Exim corks its 221): a client cannot answer it before the connection is closed."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        except OSError:
            pass


class Upper(Protocol):
    """What the layer needs of the connection above it."""

    def data_received(self, data: bytes) -> None: ...
    def eof_received(self) -> bool | None: ...
    def connection_lost(self, exc: Exception | None) -> None: ...
    def pause_writing(self) -> None: ...
    def resume_writing(self) -> None: ...

    def answering(self) -> bool:
        """Replies are still to come for what was read."""
        ...

    def input_failed(self) -> bool:
        """The client's end came as a read error: nothing more is answered (True: keep the
        connection open for the replies still to come)."""
        ...


class HelloRefused(Exception):
    """The handshake ended at the client's ClientHello, as the persona's server ends it."""


class TlsLayer(asyncio.Protocol):
    def __init__(self, raw: Any, upper: Upper, context: ssl.SSLContext,
                 handshake_done: Callable[[TlsLayer, BaseException | None], None],
                 profile: TlsProfile | None = None) -> None:
        profile = profile or TlsProfile()
        self._raw = raw
        self._bad_record_alert = profile.bad_record_alert
        self._eof_alert = profile.eof_alert
        self._profile = profile
        self._hello_judged = False  # as the persona's server judges it (transport/gnutls.py), once read
        self._eof_unread = False  # the client's end came while the server was still answering
        self._dead = False  # a fatal alert went out: nothing more can be written
        self._failing = FailingKey(key_log(context.keylog_filename)) if profile.signing_fails else None
        self._upper = upper
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.ssl_object = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._done: Callable[[TlsLayer, BaseException | None], None] | None = handshake_done
        self.handshaking = True
        self.client_hello = ClientHelloReader()  # the SNI, read off the client's bytes
        self._closing = False
        raw.set_protocol(self)

    # ------------------------------------------------------------------ from the client

    @property
    def server_name(self) -> str | None:
        hello = self.client_hello.hello
        return hello.server_name if hello is not None else None

    @property
    def fingerprints(self) -> tuple[str | None, str | None]:
        """The client's JA3 and JA4, once its ClientHello was read."""
        hello = self.client_hello.hello
        return (hello.ja3, hello.ja4) if hello is not None else (None, None)

    def data_received(self, data: bytes) -> None:
        if self._failing is not None and self._failing.awaiting_client:
            self._failing_key_output(*self._failing.client_bytes(data))
            return
        self._incoming.write(data)
        if self.handshaking:
            self.client_hello.feed(data)
            if not self._hello_judged and self.client_hello.done:
                self._hello_judged = True
                hello = self.client_hello.hello
                refusal = None if hello is None else hello_alert(hello, self._profile,
                                                                 _suites(self.ssl_object.context))
                if refusal is not None:
                    self._refuse_hello(refusal)
                    return
            try:
                self.ssl_object.do_handshake()
            except ssl.SSLWantReadError:
                if self._failing is None:
                    self._flush()
                else:
                    hello = self.client_hello.hello
                    self._failing_key_output(*self._failing.server_flight(
                        self._outgoing.read(), hello.random if hello is not None else b""))
                return
            except (ssl.SSLError, OSError) as exc:
                self._fail(exc)
                return
            self.handshaking = False
            self._flush()
            done, self._done = self._done, None
            if done is not None:
                done(self, None)
            if self._closing:
                return
        self._read()

    def _read(self) -> None:
        chunks = []
        ended = False
        while True:
            try:
                chunk = self.ssl_object.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # the client's close_notify
                ended = True
                break
            except (ssl.SSLError, OSError) as exc:
                self._flush()  # OpenSSL's alert for a bad record
                self._closing = True
                self._raw.close()
                self._upper.connection_lost(exc)
                return
            if not chunk:
                break
            chunks.append(chunk)
        self._flush()  # reading may answer (TLS 1.3 key updates)
        if chunks:
            self._upper.data_received(b"".join(chunks))
        if ended and not self._closing and not self._upper.eof_received():
            self.close()

    def _failing_key_output(self, data: bytes, ended: bool, unread: bool = False) -> None:
        """What the server whose key fails sends (transport/failing_key.py), and its end (a reset
        where the client's bytes are left unread)."""
        if data and not self._raw.is_closing():
            self._raw.write(data)
        if unread:
            reset_on_close(self._raw)
        if ended and not self._closing:
            self._fail(SigningFailed("the handshake ended where the server's key was needed (the persona's "
                                     "server cannot use its key: [tls] signing_fails)"))

    def _fail(self, exc: BaseException) -> None:
        """The handshake failed: the alert OpenSSL wrote goes out, then the connection closes. If
        the client sent more than OpenSSL read (plain text: OpenSSL stops at the first record
        header), the close is a reset, as the kernel resets a real server's socket closed with
        unread input (Postfix after "220 Ready to start TLS", or on 465)."""
        self.handshaking = False
        wrote = self._outgoing.pending
        self._flush()
        if not wrote and self._bad_record_alert and not self._raw.is_closing():
            self._raw.write(UNEXPECTED_MESSAGE)  # GnuTLS's answer where OpenSSL says nothing
        if self._incoming.pending and not self._bad_record_alert:  # GnuTLS's server has read it all
            reset_on_close(self._raw)
        self._close_handshake(exc)

    def _close_handshake(self, exc: BaseException) -> None:
        """Close, not abort: the alert in the write buffer is sent first; then the handshake's end
        is told."""
        self._closing = True
        self._raw.close()
        done, self._done = self._done, None
        if done is not None:
            done(self, exc)

    def _refuse_hello(self, refusal: Refusal) -> None:
        """The persona's server stops the handshake at the client's ClientHello (its server_name or
        ALPN: transport/gnutls.py): its fatal alert, then the close (it had read the whole
        ClientHello: a FIN)."""
        self.handshaking = False
        if not self._raw.is_closing():
            self._raw.write(alert(refusal.record_version.to_bytes(2, "big"), refusal.alert))
        self._close_handshake(HelloRefused(f"the ClientHello refused as the persona's server refuses it "
                                           f"({refusal.alert})"))

    def eof_received(self) -> bool | None:
        if self.handshaking:
            if self._bad_record_alert and not self._raw.is_closing():
                self._raw.write(UNEXPECTED_MESSAGE)  # GnuTLS on the client's FIN before a whole handshake
            elif self._eof_alert:
                self._incoming.write_eof()  # OpenSSL 3 answers the early end with decode_error
                try:
                    self.ssl_object.do_handshake()
                except (ssl.SSLError, OSError):
                    pass
                self._flush()
            return False  # connection_lost follows: the client left during the handshake
        if self._eof_alert and not self._closing:
            # OpenSSL 3 without SSL_OP_IGNORE_UNEXPECTED_EOF: the FIN is a read error, not an end
            # of input, so a last line left unterminated is never answered
            if self._upper.answering():
                # A server still answering (asleep in Sendmail's checksmtpattack, say) reads the
                # end only after its replies are written: the alert follows them, at the close
                self._eof_unread = True
            else:
                self._read_eof()
            return self._upper.input_failed()
        return self._upper.eof_received()

    def _read_eof(self) -> None:
        """The read that meets the client's FIN: OpenSSL's decode_error alert, after which the
        server can write nothing more (its SSL_write fails; it closes with a FIN)."""
        self._eof_unread = False
        self._dead = True
        self._incoming.write_eof()
        try:
            self.ssl_object.read(READ_SIZE)
        except (ssl.SSLError, OSError):
            pass
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._upper.connection_lost(exc)

    def pause_writing(self) -> None:
        self._upper.pause_writing()

    def resume_writing(self) -> None:
        self._upper.resume_writing()

    # ------------------------------------------------------------------ from the connection

    def write(self, data: bytes) -> None:
        if self._closing or self.handshaking or self._dead:
            return
        view = memoryview(data)
        try:
            while view:
                view = view[self.ssl_object.write(view):]
        except (ssl.SSLError, OSError):
            self.abort()
            return
        self._flush()

    def close(self) -> None:
        """close_notify, as a real server's SSL_shutdown sends it, then close."""
        if self._closing:
            return
        if self._eof_unread:
            self._read_eof()
        self._closing = True
        if not self.handshaking:
            try:
                self.ssl_object.unwrap()
            except (ssl.SSLError, OSError):
                pass
            self._flush()
        self._raw.close()

    def drop_tls(self, clear: bytes) -> None:
        """Forget TLS without a close_notify, write `clear` on the bare connection, close: what
        Exim's smtp_notquit_exit does inside TLS (the client's TLS reads it as a broken record)."""
        if self._closing:
            return
        self._closing = True
        self._flush()
        if not self._raw.is_closing():
            self._raw.write(clear)
        self._raw.close()

    def abort(self) -> None:
        self._closing = True
        self._done = None
        self._raw.abort()

    def cancel(self) -> None:
        """A deadline ended the session mid-handshake: no callback any more (the caller aborts)."""
        self._done = None

    def is_closing(self) -> bool:
        return self._closing or self._raw.is_closing()

    def pause_reading(self) -> None:
        self._raw.pause_reading()

    def resume_reading(self) -> None:
        self._raw.resume_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self.ssl_object
        return self._raw.get_extra_info(name, default)

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data and not self._raw.is_closing():
            self._raw.write(data)
