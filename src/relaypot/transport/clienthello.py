"""The client's TLS ClientHello, read off the bytes it sent before OpenSSL answers: pure parsing.

The name a client asks for (SNI) is taken from here, with the connection that sent it, rather than
from OpenSSL's server-name callback: a callback makes OpenSSL acknowledge the name with an empty
server_name extension, which Postfix never sends (a tell), and its answer had to be matched to its
connection afterwards. Whatever the client sends is bounded: at most MAX_BYTES are looked at.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_BYTES = 16 * 1024  # a ClientHello is a few hundred bytes; a post-quantum one a few KiB
HANDSHAKE, CLIENT_HELLO, SERVER_NAME = 22, 1, 0


@dataclass(frozen=True)
class ClientHello:
    server_name: str | None


class ClientHelloReader:
    """Feed it the client's first bytes; `hello` is the parsed ClientHello once it is whole,
    `done` once it is parsed or there is no ClientHello to parse."""

    def __init__(self) -> None:
        self._records = b""
        self._handshake = b""
        self.hello: ClientHello | None = None
        self.done = False

    def feed(self, data: bytes) -> None:
        if self.done:
            return
        self._records += data[:MAX_BYTES - len(self._records) - len(self._handshake)]
        while not self.done and len(self._records) >= 5:
            kind, length = self._records[0], int.from_bytes(self._records[3:5], "big")
            if kind != HANDSHAKE:
                self.done = True  # not TLS, or not a handshake first: nothing to read
                return
            if len(self._records) < 5 + length:
                break
            self._handshake += self._records[5:5 + length]
            self._records = self._records[5 + length:]
            self._parse()
        if len(self._records) + len(self._handshake) >= MAX_BYTES:
            self.done = True

    def _parse(self) -> None:
        """The ClientHello, once the handshake bytes hold all of it."""
        if len(self._handshake) < 4:
            return
        if self._handshake[0] != CLIENT_HELLO:
            self.done = True
            return
        size = int.from_bytes(self._handshake[1:4], "big")
        if len(self._handshake) >= 4 + size:
            self.hello = parse(self._handshake[4:4 + size])
            self.done = True


def parse(body: bytes) -> ClientHello | None:
    """A ClientHello's body (after its handshake header); None when it is malformed."""
    try:
        at = 2 + 32  # legacy version, random
        at += 1 + body[at]  # session id
        at += 2 + int.from_bytes(body[at:at + 2], "big")  # cipher suites
        at += 1 + body[at]  # compression methods
        if at >= len(body):
            return ClientHello(None)  # no extensions at all
        end = at + 2 + int.from_bytes(body[at:at + 2], "big")
        at += 2
        while at + 4 <= min(end, len(body)):
            kind, length = int.from_bytes(body[at:at + 2], "big"), int.from_bytes(body[at + 2:at + 4], "big")
            data = body[at + 4:at + 4 + length]
            if kind == SERVER_NAME:
                return ClientHello(_server_name(data))
            at += 4 + length
        return ClientHello(None)
    except IndexError:
        return None


def _server_name(data: bytes) -> str | None:
    at = 2  # the list's length
    while at + 3 <= len(data):
        kind, length = data[at], int.from_bytes(data[at + 1:at + 3], "big")
        name = data[at + 3:at + 3 + length]
        if kind == 0 and name:
            return name[:255].decode("utf-8", "surrogateescape")  # as a command's bytes are kept
        at += 3 + length
    return None
