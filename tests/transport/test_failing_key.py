"""transport/failing_key.py: the handshake of a server whose key cannot be used (OpenSMTPD 6.8.0p2
on OpenSSL 3), cut from the flight relaypot's own OpenSSL writes. What the real server does is
held over sockets in tests/transport/test_real_clients.py; here, the pieces: RFC 8448's key
schedule, the sealed alert, the cuts of real OpenSSL flights, and hostile bytes."""

from __future__ import annotations

import os
import ssl

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from hypothesis import given
from hypothesis import strategies as st

from relaypot.transport.failing_key import (
    FailingKey,
    KeyLog,
    encrypted_alert,
    expand_label,
    key_log,
    new_key_log,
    split_records,
    unlink_key_log,
)
from relaypot.transport.tls import ensure_certificate

# RFC 8448 3 (a simple 1-RTT handshake): the server's handshake traffic secret and the key and IV
# derived from it
RFC8448_SERVER_HANDSHAKE = bytes.fromhex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")


def test_the_key_schedule_is_rfc_8448s():
    assert expand_label(RFC8448_SERVER_HANDSHAKE, b"key", 16, "sha256").hex() == "3fce516009c21727d0f2e4e86ee403bc"
    assert expand_label(RFC8448_SERVER_HANDSHAKE, b"iv", 12, "sha256").hex() == "5d313eb2671276ee13000b30"


@pytest.mark.parametrize(("suite", "aead", "size", "hash_name"), [(0x1301, AESGCM, 16, "sha256"),
                                                                  (0x1302, AESGCM, 32, "sha384"),
                                                                  (0x1303, ChaCha20Poly1305, 32, "sha256")])
def test_the_sealed_alert_opens_with_the_handshake_key(suite, aead, size, hash_name):
    secret = os.urandom(48 if hash_name == "sha384" else 32)
    record = encrypted_alert(secret, suite, 2, 80)
    assert record[:5] == b"\x17\x03\x03\x00\x13" and len(record) == 24
    key, iv = expand_label(secret, b"key", size, hash_name), expand_label(secret, b"iv", 12, hash_name)
    nonce = iv[:-1] + bytes([iv[-1] ^ 2])  # the third record under this key
    assert aead(key).decrypt(nonce, record[5:], record[:5]) == b"\x02\x50\x15"  # fatal internal_error, alert


def test_an_unknown_suite_seals_nothing():
    assert encrypted_alert(os.urandom(32), 0x13FF, 2, 80) is None


@pytest.fixture(scope="module")
def server_context(tmp_path_factory):
    cert, key = ensure_certificate(tmp_path_factory.mktemp("tls"), "mail.example.com")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.set_ciphers("HIGH:!aNULL:!MD5")
    context.keylog_filename = new_key_log()
    unlink_key_log(context.keylog_filename)  # as transport/tls.py does: OpenSSL writes through what it opened
    return context


def first_flight(context: ssl.SSLContext, maximum: ssl.TLSVersion, ciphers: str = "DEFAULT") -> tuple[bytes, bytes]:
    """(the client's random, the server's first flight) of one handshake in memory."""
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.check_hostname, client_context.verify_mode = False, ssl.CERT_NONE
    client_context.maximum_version = maximum
    client_context.set_ciphers(ciphers)
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(c_in, c_out)
    server = context.wrap_bio(s_in, s_out, server_side=True)
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    hello = c_out.read()
    s_in.write(hello)
    with pytest.raises(ssl.SSLWantReadError):
        server.do_handshake()
    return hello[11:43], s_out.read()


def kinds(data: bytes) -> list[tuple[int, int]]:
    records, rest = split_records(data)
    assert rest == b""
    return [(r[0], r[5] if r[0] == 22 else len(r) - 5) for r in records]


def test_a_tls13_flight_stops_after_the_certificate_with_a_sealed_alert(server_context):
    random, flight = first_flight(server_context, ssl.TLSVersion.TLSv1_3)
    assert [k for k, _ in kinds(flight)] == [22, 20, 23, 23, 23, 23]  # ... CertificateVerify, Finished
    sent, ended = FailingKey(key_log(server_context.keylog_filename)).server_flight(flight, random)
    assert ended
    shape = kinds(sent)
    assert [k for k, _ in shape] == [22, 20, 23, 23, 23] and shape[-1] == (23, 19)
    assert sent[:-24] == b"".join(split_records(flight)[0][:4])  # OpenSSL's own records, untouched


def test_a_tls12_ecdhe_flight_stops_before_the_key_exchange_with_internal_error(server_context):
    random, flight = first_flight(server_context, ssl.TLSVersion.TLSv1_2)
    assert kinds(flight)[:3] == [(22, 2), (22, 11), (22, 12)]
    sent, ended = FailingKey(None).server_flight(flight, random)
    assert ended and kinds(sent) == [(22, 2), (22, 11), (21, 2)]
    assert sent.endswith(b"\x15\x03\x03\x00\x02\x02\x50")


def test_a_tls12_rsa_key_exchange_fails_at_the_clients_key_exchange(server_context):
    random, flight = first_flight(server_context, ssl.TLSVersion.TLSv1_2, "AES256-GCM-SHA384")
    failing = FailingKey(None)
    sent, ended = failing.server_flight(flight, random)
    assert sent == flight and not ended and failing.awaiting_client
    key_exchange = b"\x16\x03\x03\x00\x06\x10\x00\x00\x02\x00\x00"
    finished = b"\x14\x03\x03\x00\x01\x01" + b"\x16\x03\x03\x00\x03abc"
    assert failing.client_bytes(key_exchange[:4]) == (b"", False, False)  # a record in two pieces
    assert failing.client_bytes(key_exchange[4:] + finished) == (b"\x15\x03\x03\x00\x02\x02\x33", True, True)
    assert FailingKey(None).client_bytes(key_exchange) == (b"\x15\x03\x03\x00\x02\x02\x33", True, False)


def test_the_key_log_gives_a_handshakes_secret_once_and_leaves_no_file():
    path = new_key_log()
    keys = key_log(path)
    assert isinstance(keys, KeyLog)
    with open(path, "a") as f:  # as OpenSSL appends, through the file it opened
        unlink_key_log(path)
        assert not os.path.exists(path) and not os.path.exists(os.path.dirname(path))
        f.write(f"CLIENT_HANDSHAKE_TRAFFIC_SECRET {'11' * 32} {'aa' * 32}\n")
        f.write(f"SERVER_HANDSHAKE_TRAFFIC_SECRET {'11' * 32} {'bb' * 32}\n")
        f.flush()
        assert keys.take("SERVER_HANDSHAKE_TRAFFIC_SECRET", b"\x11" * 32) == b"\xbb" * 32
        f.write(f"SERVER_HANDSHAKE_TRAFFIC_SECRET {'22' * 32} {'cc' * 32}\n")
        f.flush()
        assert keys.take("SERVER_HANDSHAKE_TRAFFIC_SECRET", b"\x11" * 32) is None  # taken once, then emptied


@given(st.binary(max_size=600), st.binary(min_size=32, max_size=32))
def test_any_server_flight_is_cut_or_passed_without_error(flight, random):
    sent, ended = FailingKey(None).server_flight(flight, random)
    assert isinstance(sent, bytes) and isinstance(ended, bool)


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_any_client_bytes_after_the_flight_end_the_handshake_or_wait_bounded(chunks):
    failing = FailingKey(None)
    failing.awaiting_client = True
    for chunk in chunks:
        sent, ended, _ = failing.client_bytes(chunk)
        assert sent in (b"", b"\x15\x03\x03\x00\x02\x02\x33", b"\x15\x03\x03\x00\x02\x02\x0a")
        if ended:
            break


def record(kind: int, body: bytes) -> bytes:
    return bytes([kind, 3, 3]) + len(body).to_bytes(2, "big") + body


@given(st.sampled_from([b"\x03\x03", b"\x03\x04"]), st.lists(st.tuples(st.sampled_from([20, 21, 22, 23]),
                                                                       st.binary(max_size=40)), max_size=6))
def test_a_server_hello_followed_by_any_records_is_cut_without_error(version, records):
    extensions = b"\x00\x2b\x00\x02" + version  # supported_versions: TLS 1.2 or 1.3
    body = b"\x03\x03" + b"r" * 32 + b"\x00" + b"\x13\x01" + b"\x00" + len(extensions).to_bytes(2, "big") + extensions
    hello = record(22, b"\x02" + len(body).to_bytes(3, "big") + body)
    sent, ended = FailingKey(None).server_flight(hello + b"".join(record(k, b) for k, b in records), b"x" * 32)
    assert sent.startswith(hello)
    key_exchange = any(k == 22 and b[:1] == b"\x0c" for k, b in records)
    assert ended == (version == b"\x03\x04" or key_exchange)  # TLS 1.3 always stops; 1.2 where it must sign
