"""The client's TLS ClientHello, read off the bytes it sent before OpenSSL answers: pure parsing.

The name a client asks for (SNI) is taken from here, with the connection that sent it, rather than
from OpenSSL's server-name callback: a callback makes OpenSSL acknowledge the name with an empty
server_name extension, which Postfix never sends (a tell; a persona whose server does acknowledge
it says so in `[tls] sni_ack`), and its answer had to be matched to its connection afterwards.
Whatever the client sends is bounded: at most MAX_BYTES are looked at.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

MAX_BYTES = 16 * 1024  # a ClientHello is a few hundred bytes; a post-quantum one a few KiB
HANDSHAKE, CLIENT_HELLO, SERVER_NAME = 22, 1, 0
SUPPORTED_GROUPS, POINT_FORMATS, SIGNATURE_ALGORITHMS, ALPN, SUPPORTED_VERSIONS = 10, 11, 13, 16, 43
_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2"}


def _grease(value: int) -> bool:
    """RFC 8701's reserved values (0x0a0a, 0x1a1a, ... 0xfafa): noise a client adds, left out."""
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


@dataclass(frozen=True)
class ClientHello:
    server_name: str | None
    ja3: str | None = None  # Salesforce's JA3: the MD5 of `ja3_text`
    ja3_text: str | None = None
    ja4: str | None = None  # FoxIO's JA4 (TLS over TCP)
    random: bytes = b""  # the client's random, which names its handshake in OpenSSL's key log
    server_name_data: bytes | None = None  # the server_name extension as sent (None: none was)
    alpn_data: bytes | None = None  # the ALPN extension as sent (None: none was)
    # what a TLS library checks before it answers (transport/gnutls.py)
    record_version: int = 0  # the first record's header
    legacy_version: int = 0
    cipher_bytes: int = 0  # the cipher suites' length as sent
    suites: tuple[int, ...] = ()  # the cipher suites, GREASE included
    session_id_length: int = 0
    compression: bytes = b""
    extension_types: tuple[int, ...] = ()  # every one, in order, GREASE and repeats included
    offered_versions: tuple[int, ...] = ()  # supported_versions, GREASE included
    groups_offered: tuple[int, ...] = ()  # supported_groups


def fingerprints(version: int, ciphers: list[int], extensions: list[int], groups: list[int], formats: list[int],
                 signatures: list[int], alpn: bytes | None, versions: list[int]) -> tuple[str, str, str]:
    """(JA3, its text, JA4) of a ClientHello's fields in the order sent, GREASE values included
    (they are left out here, as both methods say)."""
    ciphers = [c for c in ciphers if not _grease(c)]
    extensions = [e for e in extensions if not _grease(e)]
    groups = [g for g in groups if not _grease(g)]
    text = ",".join([str(version)] + ["-".join(map(str, values)) for values in (ciphers, extensions, groups, formats)])
    ja3 = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
    offered = [v for v in versions if not _grease(v)]
    tls = _VERSIONS.get(max(offered) if offered else version, "00")
    sni = "d" if SERVER_NAME in extensions else "i"
    if not alpn:
        first = "00"
    elif chr(alpn[0]).isalnum() and chr(alpn[-1]).isalnum() and alpn[0] < 128 and alpn[-1] < 128:
        first = chr(alpn[0]) + chr(alpn[-1])
    else:
        first = alpn.hex()[0] + alpn.hex()[-1]
    head = f"t{tls}{sni}{min(len(ciphers), 99):02d}{min(len(extensions), 99):02d}{first}"
    cipher_part = _hash12(",".join(sorted(f"{c:04x}" for c in ciphers))) if ciphers else "0" * 12
    rest = sorted(f"{e:04x}" for e in extensions if e not in (SERVER_NAME, ALPN))
    signed = [f"{s:04x}" for s in signatures if not _grease(s)]
    extension_part = _hash12(",".join(rest) + ("_" + ",".join(signed) if signed else "")) if rest else "0" * 12
    return ja3, text, f"{head}_{cipher_part}_{extension_part}"


def _hash12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class ClientHelloReader:
    """Feed it the client's first bytes; `hello` is the parsed ClientHello once it is whole,
    `done` once it is parsed or there is no ClientHello to parse."""

    def __init__(self) -> None:
        self._records = b""
        self._handshake = b""
        self.hello: ClientHello | None = None
        self.record_version = 0
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
            if not self.record_version:
                self.record_version = int.from_bytes(self._records[1:3], "big")
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
            hello = parse(self._handshake[4:4 + size])
            self.hello = replace(hello, record_version=self.record_version) if hello is not None else None
            self.done = True


def parse(body: bytes) -> ClientHello | None:
    """A ClientHello's body (after its handshake header); None when it is malformed."""
    try:
        version = int.from_bytes(body[0:2], "big")
        at = 2 + 32  # legacy version, random
        session_id_length = body[at]
        at += 1 + session_id_length
        size = int.from_bytes(body[at:at + 2], "big")
        ciphers = _numbers(body[at + 2:at + 2 + size], 2)
        at += 2 + size
        compression = body[at + 1:at + 1 + body[at]]
        at += 1 + body[at]
        name = None
        name_data: bytes | None = None
        extensions: list[int] = []
        groups: list[int] = []
        formats: list[int] = []
        signatures: list[int] = []
        versions: list[int] = []
        alpn: bytes | None = None
        alpn_data: bytes | None = None
        if at < len(body):
            end = at + 2 + int.from_bytes(body[at:at + 2], "big")
            at += 2
            while at + 4 <= min(end, len(body)):
                kind, length = int.from_bytes(body[at:at + 2], "big"), int.from_bytes(body[at + 2:at + 4], "big")
                data = body[at + 4:at + 4 + length]
                extensions.append(kind)
                if kind == SERVER_NAME:
                    name, name_data = _server_name(data), data
                elif kind == SUPPORTED_GROUPS:
                    groups = _numbers(data[2:], 2)
                elif kind == POINT_FORMATS:
                    formats = list(data[1:1 + data[0]]) if data else []
                elif kind == SIGNATURE_ALGORITHMS:
                    signatures = _numbers(data[2:], 2)
                elif kind == SUPPORTED_VERSIONS:
                    versions = _numbers(data[1:1 + data[0]] if data else b"", 2)
                elif kind == ALPN:
                    alpn_data = data
                    if len(data) > 3:
                        alpn = data[3:3 + data[2]]
                at += 4 + length
        ja3, text, ja4 = fingerprints(version, ciphers, extensions, groups, formats, signatures, alpn, versions)
        return ClientHello(name, ja3, text, ja4, body[2:34], name_data, alpn_data, legacy_version=version,
                           cipher_bytes=size, suites=tuple(ciphers), session_id_length=session_id_length,
                           compression=compression, extension_types=tuple(extensions),
                           offered_versions=tuple(versions), groups_offered=tuple(groups))
    except IndexError:
        return None


def _numbers(data: bytes, width: int) -> list[int]:
    return [int.from_bytes(data[i:i + width], "big") for i in range(0, len(data) - width + 1, width)]


def _server_name(data: bytes) -> str | None:
    at = 2  # the list's length
    while at + 3 <= len(data):
        kind, length = data[at], int.from_bytes(data[at + 1:at + 3], "big")
        name = data[at + 3:at + 3 + length]
        if kind == 0 and name:
            return name[:255].decode("utf-8", "surrogateescape")  # as a command's bytes are kept
        at += 3 + length
    return None
