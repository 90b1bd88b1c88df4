"""JARM, the active TLS fingerprint scanners publish for every host they reach (Salesforce's ten
ClientHellos: TLS 1.1 to 1.3, suites forward, reversed and halved, odd ALPN and extension orders,
answers hashed), taken of each face after STARTTLS beside its real server, with pyjarm, the
fingerprint's Python implementation: the hash, and each probe's first record as the client read it
(a ServerHello, or which alert in a record of which version), must be the real server's. A relay
on loopback says EHLO and STARTTLS for pyjarm, which speaks TLS only, then passes the bytes on."""

from __future__ import annotations

import socket
import threading

import pytest
from jarm.scanner.scanner import Scanner

from support import ready_for_tls
from tls_observations import real_server_beside_persona

pytestmark = pytest.mark.slow  # a real server, ten handshakes on each side

FAILED = "0" * 62  # JARM's hash where not one probe got a ServerHello


class StartTlsRelay:
    """A listener that, for each connection, opens one to the SMTP server at `port`, says EHLO
    and STARTTLS there, then relays both ways; `answers` keeps the first seven bytes the server
    sent after its 220 on each (a record header and an alert's two bytes)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.answers: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with client:
                self._relay(client)  # pyjarm is run with one connection at a time: the answers keep its order

    def _relay(self, client: socket.socket) -> None:
        answer = b""
        # (a real OpenSMTPD's banner may wait for its resolver: thirty seconds for each reply)
        server, reply = ready_for_tls(("127.0.0.1", self.port), timeout=30, reply_timeout=30)
        with server:
            assert reply.startswith(b"220"), reply
            client.settimeout(20)
            server.settimeout(20)
            pump = threading.Thread(target=_pump, args=(client, server), daemon=True)
            pump.start()
            try:
                while chunk := server.recv(65536):
                    if len(answer) < 7:
                        answer += chunk[:7 - len(answer)]
                    client.sendall(chunk)
            except OSError:
                pass
            pump.join(20)
        self.answers.append(answer)

    def close(self) -> None:
        """Stop listening once the connection being relayed has ended (its answer is kept)."""
        self.listener.shutdown(socket.SHUT_RDWR)
        self._thread.join(30)
        self.listener.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def fingerprint(port: int) -> tuple[str, list[str]]:
    """(the JARM hash, each probe's answer: "ServerHello" or "alert <level>.<description> record
    <version>") of the SMTP server at `port`."""
    relay = StartTlsRelay(port)
    try:
        jarm, _, _ = Scanner.scan("127.0.0.1", relay.address[1], timeout=20, concurrency=1, proxy="ignore")
    finally:
        relay.close()
    read = []
    for answer in relay.answers:
        if answer[:1] == b"\x16":
            read.append("ServerHello")
        elif answer[:1] == b"\x15" and len(answer) == 7:
            read.append(f"alert {answer[5]}.{answer[6]} record {answer[1:3].hex()}")
        else:
            read.append(repr(answer))
    return jarm, read


@pytest.mark.parametrize("server", ["exim", "postfix", "sendmail", "opensmtpd"])
def test_each_face_has_the_jarm_fingerprint_of_its_real_server(sensor_factory, server):
    real, persona, port_name = real_server_beside_persona(server)
    with real as running:
        jarm_real, read_real = fingerprint(getattr(running, port_name))
    sensor = sensor_factory(smtp__persona=persona, smtp__relay="closed")
    jarm_persona, read_persona = fingerprint(sensor.address[1])
    assert len(read_real) == 10, read_real  # every probe reached the server
    assert (jarm_persona, read_persona) == (jarm_real, read_real)
    if server == "exim":  # Exim refuses JARM's ALPN lists; its TLS 1.1 probe's alert is in a TLS 1.1 record
        assert jarm_real == FAILED and "alert 2.120 record 0302" in read_real
    else:
        assert jarm_real != FAILED and "ServerHello" in read_real
