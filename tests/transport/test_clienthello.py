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
from support import ready_for_tls, require


def client_hello(server_name: str | None, **options) -> bytes:
    """The bytes Python's own TLS client sends first."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for key, value in options.items():
        setattr(context, key, value)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


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
