"""The SNI a client asks for, read off its ClientHello (transport/clienthello.py), and kept with
its own connection: never acknowledged (Postfix does not), never mixed up with another's."""

from __future__ import annotations

import socket
import ssl
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaypot.transport.clienthello import ClientHelloReader
from support import client_hello, ready_for_tls, require


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_the_name_is_read_whole_or_byte_by_byte(version):
    hello = client_hello("mx.victim.example", maximum_version=version)
    whole = ClientHelloReader()
    whole.feed(hello + b"trailing")
    drip = ClientHelloReader()
    for n in range(len(hello)):
        assert not drip.done
        drip.feed(hello[n:n + 1])
    for reader in (whole, drip):
        assert reader.done and reader.hello is not None and reader.hello.server_name == "mx.victim.example"


def test_no_name_and_no_tls_are_told_apart_from_a_name():
    reader = ClientHelloReader()
    reader.feed(client_hello(None))
    assert reader.done and reader.hello is not None and reader.hello.server_name is None
    plain = ClientHelloReader()
    plain.feed(b"EHLO client.example\r\n")
    assert plain.done and plain.hello is None


@given(st.binary(max_size=600), st.integers(1, 64))
def test_any_bytes_end_in_an_answer_or_a_wait_never_an_error(data, step):
    reader = ClientHelloReader()
    for n in range(0, len(data), step):
        reader.feed(data[n:n + step])
    assert reader.hello is None or isinstance(reader.hello.server_name, (str, type(None)))


@given(st.binary(min_size=1, max_size=300))
def test_a_name_of_any_bytes_comes_back_as_sent(name):
    """A name is cut at 255 bytes; bytes that are not UTF-8 are kept (surrogateescape)."""
    hello = client_hello("placeholder.example")
    at = hello.index(b"placeholder.example")
    size = len(name)
    # Rewrite the name and every length around it: extension, list, name, extensions, handshake, record.
    ext_at = at - 9
    patched = (hello[:ext_at + 2] + (size + 5).to_bytes(2, "big") + (size + 3).to_bytes(2, "big") + b"\x00"
               + size.to_bytes(2, "big") + name + hello[at + len(b"placeholder.example"):])
    delta = size - len(b"placeholder.example")
    body = bytearray(patched[5:])
    body[1:4] = (int.from_bytes(body[1:4], "big") + delta).to_bytes(3, "big")
    record = patched[:3] + (len(body)).to_bytes(2, "big") + bytes(body)
    extensions_at = _extensions_offset(bytes(body[4:]))
    record = bytearray(record)
    old = int.from_bytes(record[5 + 4 + extensions_at:5 + 4 + extensions_at + 2], "big")
    record[5 + 4 + extensions_at:5 + 4 + extensions_at + 2] = (old + delta).to_bytes(2, "big")
    reader = ClientHelloReader()
    reader.feed(bytes(record))
    assert reader.hello is not None
    assert reader.hello.server_name.encode("utf-8", "surrogateescape") == name[:255]


def _extensions_offset(body: bytes) -> int:
    at = 2 + 32
    at += 1 + body[at]
    at += 2 + int.from_bytes(body[at:at + 2], "big")
    return at + 1 + body[at]


def starttls(sensor) -> socket.socket:
    raw, reply = ready_for_tls(sensor.address, timeout=10)
    assert reply.startswith(b"220 ")
    return raw


def test_an_abandoned_handshake_leaves_its_name_to_no_other_connection(sensor_factory):
    """30 handshakes with an attacker's name, abandoned after the ClientHello, then 30 complete
    ones without a name: every one of those is recorded without a name."""
    sensor = sensor_factory(smtp__persona="postfix")
    for _ in range(30):
        with starttls(sensor) as raw:
            raw.sendall(client_hello("attacker.example"))
            raw.recv(65536)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for _ in range(30):
        with starttls(sensor) as raw, context.wrap_socket(raw) as tls:
            tls.sendall(b"QUIT\r\n")
            tls.recv(1024)
    established = [r.event for r in sensor.wait_for("smtp.tls", 60) if r.event.outcome == "established"]
    assert len(established) == 30 and {e.server_name for e in established} == {None}


def test_the_name_is_recorded_and_never_acknowledged(sensor_factory):
    """openssl s_client with -servername: the record has the name; the server's hello carries no
    server_name extension (-tlsextdebug lists what the server sent), as from Postfix."""
    openssl = require("openssl")
    sensor = sensor_factory(smtp__persona="postfix")
    result = subprocess.run([openssl, "s_client", "-starttls", "smtp", "-connect", f"{sensor.host}:{sensor.port}",
                             "-servername", "mx.victim.example", "-tlsextdebug", "-tls1_2"],
                            input="QUIT\n", capture_output=True, text=True, timeout=30)
    assert "TLS server extension" in result.stdout, result.stdout  # it does list the server's extensions
    assert 'TLS server extension "server name"' not in result.stdout, result.stdout
    [record] = [r for r in sensor.wait_for("smtp.tls", 1) if r.event.outcome == "established"]
    assert record.event.server_name == "mx.victim.example"


# ---------------------------------------------------------------------------- JA3 and JA4

def _extension(kind: int, data: bytes) -> bytes:
    return kind.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data


def _list16(values: list[int], prefix: int = 2) -> bytes:
    body = b"".join(v.to_bytes(2, "big") for v in values)
    return len(body).to_bytes(prefix, "big") + body


def published_client_hello() -> bytes:
    """A ClientHello with the fields browserleaks.com published for Chrome 143 (ja4_ro: the ciphers
    and extensions in the order sent), with GREASE values where Chrome puts them."""
    ciphers = [0xFAFA, 0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014,
               0x009C, 0x009D, 0x002F, 0x0035]
    name = b"tls.browserleaks.com"
    alpn = b"\x02h2\x08http/1.1"
    extensions = [
        _extension(0xFAFA, b""), _extension(0x002D, b"\x01\x01"), _extension(0x0033, b"\x00\x02\xaa\xaa"),
        _extension(0x0010, len(alpn).to_bytes(2, "big") + alpn), _extension(0xFE0D, b"\x00" * 8),
        _extension(0x0017, b""), _extension(0x44CD, b"\x00\x03\x02h2"),
        _extension(0x0000, (len(name) + 3).to_bytes(2, "big") + b"\x00" + len(name).to_bytes(2, "big") + name),
        _extension(0x000B, b"\x01\x00"), _extension(0x000A, _list16([0xAAAA, 0x11EC, 29, 23, 24])),
        _extension(0x002B, _list16([0x2A2A, 0x0304, 0x0303], prefix=1)), _extension(0xFF01, b"\x00"),
        _extension(0x0023, b""), _extension(0x0012, b""), _extension(0x0005, b"\x01\x00\x00\x00\x00"),
        _extension(0x000D, _list16([0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601])),
        _extension(0x001B, b"\x02\x00\x02"), _extension(0x1A1A, b"\x00"),
    ]
    body = (b"\x03\x03" + bytes(32) + b"\x20" + bytes(32) + _list16(ciphers) + b"\x01\x00"
            + len(b"".join(extensions)).to_bytes(2, "big") + b"".join(extensions))
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(handshake).to_bytes(2, "big") + handshake


def test_ja3_and_ja4_are_what_a_public_service_published_for_the_same_client_hello():
    """browserleaks.com's JA3 text and hash and JA4 for Chrome 143 (its ja4_r/ja4_ro list the fields)."""
    reader = ClientHelloReader()
    reader.feed(published_client_hello())
    hello = reader.hello
    assert hello is not None and hello.server_name == "tls.browserleaks.com"
    assert hello.ja3_text == ("771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,"
                              "45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0")
    assert hello.ja3 == "98487aa16281980e7d1120d399efb6a4"
    assert hello.ja4 == "t13d1516h2_8daaf6152771_d8a2da3f94cd"


def _independent_fingerprints(data: bytes) -> tuple[str, str]:
    """JA3 text and JA4's hashed parts from scapy's own TLS parser (not relaypot's)."""
    import hashlib

    from scapy.layers.tls.record import TLS

    hello = TLS(data).msg[0]
    grease = {0x0A0A + 0x1010 * n for n in range(16)}
    ciphers = [c for c in hello.ciphers if c not in grease]
    kinds = [e.type for e in hello.ext if e.type not in grease]
    by_type = {e.type: e for e in hello.ext}
    groups = [g for g in getattr(by_type.get(10), "groups", []) if g not in grease]
    formats = list(getattr(by_type.get(11), "ecpl", []))
    text = f"{hello.version}," + ",".join("-".join(map(str, v)) for v in (ciphers, kinds, groups, formats))
    signatures = [f"{s:04x}" for s in getattr(by_type.get(13), "sig_algs", [])]
    rest = ",".join(sorted(f"{k:04x}" for k in kinds if k not in (0, 16)))
    parts = (hashlib.sha256(",".join(sorted(f"{c:04x}" for c in ciphers)).encode()).hexdigest()[:12],
             hashlib.sha256((rest + ("_" + ",".join(signatures) if signatures else "")).encode()).hexdigest()[:12])
    return text, "_".join(parts)


def _openssl_client_hello(openssl: str) -> bytes:
    """The bytes `openssl s_client` sends first, caught by a socket that answers nothing."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client = subprocess.Popen([openssl, "s_client", "-connect", f"127.0.0.1:{server.getsockname()[1]}",
                                   "-servername", "mail.example.com"], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            connection, _ = server.accept()
            with connection:
                connection.settimeout(10)
                data = b""
                while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
                    data += connection.recv(65536)
                return data
        finally:
            client.kill()
            client.wait()


def _swaks_client_hello(swaks: str) -> bytes:
    """The bytes swaks sends after STARTTLS, caught by a socket that speaks just enough SMTP."""
    import threading

    caught: list[bytes] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def speak() -> None:
            connection, _ = server.accept()
            with connection:
                connection.settimeout(10)
                reader = connection.makefile("rb")
                connection.sendall(b"220 mail.example.com ESMTP\r\n")
                reader.readline()  # EHLO
                connection.sendall(b"250-mail.example.com\r\n250 STARTTLS\r\n")
                reader.readline()  # STARTTLS
                connection.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                data = reader.read1(65536)
                while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
                    data += reader.read1(65536)
                caught.append(data)

        thread = threading.Thread(target=speak, daemon=True)
        thread.start()
        subprocess.run([swaks, "--server", f"127.0.0.1:{server.getsockname()[1]}", "--tls", "--to", "a@example.com",
                        "--timeout", "5", "--tls-sni", "mail.example.com"], capture_output=True, timeout=30)
        thread.join(10)
    return caught[0]


@pytest.mark.parametrize("client", ["python-ssl-1.2", "python-ssl-1.3", "openssl", "swaks"])
def test_real_clients_fingerprints_agree_with_an_independent_parser(client):
    if client == "openssl":
        data = _openssl_client_hello(require("openssl"))
    elif client == "swaks":
        data = _swaks_client_hello(require("swaks"))
    else:
        version = ssl.TLSVersion.TLSv1_2 if client.endswith("1.2") else ssl.TLSVersion.TLSv1_3
        data = client_hello("mail.example.com", maximum_version=version)
    reader = ClientHelloReader()
    reader.feed(data)
    hello = reader.hello
    assert hello is not None
    text, hashed = _independent_fingerprints(data)
    assert hello.ja3_text == text
    assert hello.ja4.split("_", 1)[1] == hashed
    assert hello.ja4.startswith("t13d" if client != "python-ssl-1.2" else "t12d")
