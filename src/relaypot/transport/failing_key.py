"""The TLS handshake of a server whose private key cannot be used: OpenSMTPD 6.8.0p2 on OpenSSL 3
(Debian 12). Its key lives in another process, reached through an RSA_METHOD
(ssl_ctx_fake_private_key) that OpenSSL 3 no longer calls (OpenSMTPD issues #1171, #1239). As
measured on the real server (tests/reference/opensmtpd-tls-auth/handshakes.toml), the handshake
goes on until the server must use its key, then stops with a fatal alert:

- TLS 1.3: ServerHello, ChangeCipherSpec, EncryptedExtensions and Certificate, then internal_error
  encrypted with the server's handshake key (no CertificateVerify, no Finished);
- TLS 1.2 with an ECDHE suite: ServerHello and Certificate, then internal_error in clear (no
  ServerKeyExchange, which must be signed);
- TLS 1.2 with RSA key exchange (nothing to sign): the whole first flight; then the client's
  ClientKeyExchange, whose premaster secret cannot be decrypted: decrypt_error in clear, its
  ChangeCipherSpec and Finished left unread (so the close is a reset).

relaypot's OpenSSL, whose key works, writes the whole flight; this cuts it where the real one
stopped and writes the alert. The TLS 1.3 alert needs the server's handshake traffic secret, which
OpenSSL gives out only through its key log (SSLContext.keylog_filename): read, then emptied.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tempfile

from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

HANDSHAKE, CHANGE_CIPHER_SPEC, ALERT, APPLICATION_DATA = 22, 20, 21, 23
SERVER_HELLO, SERVER_KEY_EXCHANGE, SERVER_HELLO_DONE, CLIENT_KEY_EXCHANGE = 2, 12, 14, 16
SUPPORTED_VERSIONS, TLS13 = 43, 0x0304
UNEXPECTED_MESSAGE, INTERNAL_ERROR, DECRYPT_ERROR = 10, 80, 51
# RFC 8446 4.1.3: a ServerHello with this random is a HelloRetryRequest
RETRY_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()
MAX_CLIENT_BYTES = 64 * 1024  # the client's second flight is a few hundred bytes
# TLS 1.3 suites: the AEAD, its key size, the hash of the key schedule
_SUITES: dict[int, tuple[type[AESGCM | ChaCha20Poly1305 | AESCCM], int, str]] = {
    0x1301: (AESGCM, 16, "sha256"), 0x1302: (AESGCM, 32, "sha384"),
    0x1303: (ChaCha20Poly1305, 32, "sha256"), 0x1304: (AESCCM, 16, "sha256")}


class SigningFailed(Exception):
    """The handshake ended as the persona's server ends it: its key could not be used."""


def split_records(data: bytes) -> tuple[list[bytes], bytes]:
    """The whole TLS records in `data` (each with its header), and what is left of a last one."""
    records, at = [], 0
    while at + 5 <= len(data):
        end = at + 5 + int.from_bytes(data[at + 3:at + 5], "big")
        if end > len(data):
            break
        records.append(data[at:end])
        at = end
    return records, data[at:]


def alert(version: bytes, description: int) -> bytes:
    """A fatal alert in a clear record of `version` (two bytes, as the ServerHello's)."""
    return bytes([ALERT]) + version + b"\x00\x02\x02" + bytes([description])


def _server_hello(record: bytes) -> tuple[bytes, bytes, int, int] | None:
    """(record version, random, suite, negotiated version) of a record holding a ServerHello."""
    body = record[5:]
    if record[0] != HANDSHAKE or len(body) < 39 or body[0] != SERVER_HELLO:
        return None
    legacy, random = int.from_bytes(body[4:6], "big"), body[6:38]
    at = 39 + body[38]  # past the session id
    suite = int.from_bytes(body[at:at + 2], "big")
    at += 3  # suite, compression
    version = legacy
    end = min(len(body), at + 2 + int.from_bytes(body[at:at + 2], "big"))
    at += 2
    while at + 4 <= end:
        kind, size = int.from_bytes(body[at:at + 2], "big"), int.from_bytes(body[at + 2:at + 4], "big")
        if kind == SUPPORTED_VERSIONS and size == 2:
            version = int.from_bytes(body[at + 4:at + 6], "big")
        at += 4 + size
    return record[1:3], random, suite, version


def expand_label(secret: bytes, label: bytes, length: int, hash_name: str) -> bytes:
    """RFC 8446 7.1's HKDF-Expand-Label with an empty context."""
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([counter]), hash_name).digest()
        out, counter = out + block, counter + 1
    return out[:length]


def encrypted_alert(secret: bytes, suite: int, sequence: int, description: int) -> bytes | None:
    """A fatal alert as a TLS 1.3 record protected with the traffic secret `secret` (RFC 8446 5.2);
    None for a suite this does not know."""
    if suite not in _SUITES:
        return None
    aead, size, hash_name = _SUITES[suite]
    key = expand_label(secret, b"key", size, hash_name)
    iv = expand_label(secret, b"iv", 12, hash_name)
    nonce = bytes(a ^ b for a, b in zip(iv, sequence.to_bytes(12, "big"), strict=True))
    inner = bytes([2, description, ALERT])  # the alert, then its real content type
    header = bytes([APPLICATION_DATA, 3, 3]) + (len(inner) + 16).to_bytes(2, "big")
    return header + aead(key).encrypt(nonce, inner, header)


class KeyLog:
    """OpenSSL's key log file of one context, whose secrets are taken as they are written, through
    a descriptor opened when it was made (the sensor may have dropped root since)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def take(self, label: str, client_random: bytes) -> bytes | None:
        """The secret `label` logged for the handshake of `client_random`; the file is emptied,
        since each handshake's secrets are written and wanted within one call into OpenSSL."""
        try:
            text = os.pread(self._fd, 1 << 20, 0)
            os.ftruncate(self._fd, 0)
        except OSError:
            return None
        wanted = f"{label} {client_random.hex()} ".encode()
        for line in text.splitlines():
            if line.startswith(wanted):
                try:
                    return bytes.fromhex(line[len(wanted):].decode())
                except ValueError:
                    return None
        return None


_KEY_LOGS: dict[str, KeyLog] = {}


def new_key_log() -> str:
    """A new, empty key log file of this process's own, for SSLContext.keylog_filename; once
    OpenSSL has opened it, unlink_key_log() takes its name away."""
    directory = tempfile.mkdtemp(prefix="relaypot-keylog-")  # mode 0700
    path = os.path.join(directory, "keys")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    _KEY_LOGS[path] = KeyLog(fd)
    return path


def unlink_key_log(path: str) -> None:
    """The key log's name and directory removed: OpenSSL writes, and the KeyLog reads, through
    what each opened, so nothing is left on disk (nor in /tmp after a sensor that dropped root)."""
    try:
        os.unlink(path)
        os.rmdir(os.path.dirname(path))
    except OSError:
        pass


def key_log(path: str | None) -> KeyLog | None:
    """The KeyLog of a file new_key_log made."""
    return _KEY_LOGS.get(path) if path else None


class FailingKey:
    """One connection's handshake, cut where the real server's stopped."""

    def __init__(self, keys: KeyLog | None) -> None:
        self._keys = keys
        self.awaiting_client = False  # TLS 1.2 with RSA key exchange: the client's second flight is read here
        self._client = b""
        self._version = b"\x03\x03"

    def server_flight(self, flight: bytes, client_random: bytes) -> tuple[bytes, bool]:
        """What to send of OpenSSL's flight, and whether the handshake ends with it."""
        records, rest = split_records(flight)
        hello = _server_hello(records[0]) if records else None
        if hello is None:
            return flight, False  # no ServerHello: OpenSSL's own alert, or nothing to change
        self._version, random, suite, version = hello
        if random == RETRY_RANDOM:
            return flight, False  # a HelloRetryRequest: the client's second ClientHello comes first
        if version == TLS13:
            kept = [r for r in records if r[0] != APPLICATION_DATA]
            kept += [r for r in records if r[0] == APPLICATION_DATA][:2]  # EncryptedExtensions, Certificate
            secret = self._keys.take("SERVER_HANDSHAKE_TRAFFIC_SECRET", client_random) if self._keys else None
            sealed = encrypted_alert(secret, suite, 2, INTERNAL_ERROR) if secret else None
            return b"".join(kept) + (sealed or b""), True
        for at, record in enumerate(records):
            if record[0] == HANDSHAKE and record[5:6] == bytes([SERVER_KEY_EXCHANGE]):
                return b"".join(records[:at]) + alert(self._version, INTERNAL_ERROR), True
        if any(r[0] == HANDSHAKE and r[5:6] == bytes([SERVER_HELLO_DONE]) for r in records):
            self.awaiting_client = True  # RSA key exchange: nothing signed yet
        return b"".join(records) + rest, False

    def client_bytes(self, data: bytes) -> tuple[bytes, bool, bool]:
        """After an RSA key exchange's flight: the client's bytes, read record by record until its
        ClientKeyExchange, whose premaster secret the real server cannot decrypt. (What to send,
        whether the handshake ends, whether the client's bytes are left unread: its
        ChangeCipherSpec and Finished come with the ClientKeyExchange, and the close resets.)"""
        self._client += data
        records, rest = split_records(self._client)
        if records:  # the first whole record decides
            record, unread = records[0], len(records) > 1 or bool(rest)
            if record[0] == ALERT:
                return b"", True, unread  # the client gave up: OpenSSL closes without a word
            if record[0] == HANDSHAKE and record[5:6] == bytes([CLIENT_KEY_EXCHANGE]):
                return alert(self._version, DECRYPT_ERROR), True, unread
            return alert(self._version, UNEXPECTED_MESSAGE), True, unread
        self._client = rest
        if len(rest) > MAX_CLIENT_BYTES or (rest[:1] and rest[0] not in (CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE)):
            return b"", True, True
        return b"", False, False
