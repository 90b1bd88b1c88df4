"""The sensor over real loopback sockets: smtplib and raw sockets, records in memory, JSONL and SQLite."""

from __future__ import annotations

import base64
import json
import smtplib
import socket
import ssl
import threading
import time

import pytest

from support import fetch, read_replies, read_reply, read_until_closed


def test_smtplib_sends_a_message_which_is_stored_and_recorded(sensor):
    """smtplib's whole transaction: the .eml is on disk, the events in memory, JSONL and SQLite."""
    with smtplib.SMTP(*sensor.address, timeout=10) as client:
        code, text = client.ehlo("spammer.example")
        assert code == 250 and b"XEXCH50" in text
        refused = client.sendmail("from@domain.com", ["to@domain.com", "victim@example.net"],
                                  b"Subject: BC_82.155.126.2\r\n\r\nHello, I'm a spammer! http://spam.example/x\r\n")
        assert refused == {}
    message = sensor.wait_for("smtp.message")[0].event
    assert message.subject == "BC_82.155.126.2" and message.urls == ("http://spam.example/x",)
    assert message.rcpt_to == ("to@domain.com", "victim@example.net")
    stored = sensor.data_dir / message.path
    assert stored.read_bytes().endswith(b"Hello, I'm a spammer! http://spam.example/x\r\n")
    sensor.wait_for("session.closed")
    sensor.stop()
    kinds = [json.loads(line)["kind"] for line in (sensor.data_dir / "events.jsonl").read_text().splitlines()]
    assert kinds == [r.kind for r in sensor.records()]
    assert fetch(sensor.store_url, "SELECT helo, close_reason, messages, shape FROM sessions") == [
        ("spammer.example", "quit", 1, "EHLO MAIL RCPT+ DATA QUIT")]
    assert fetch(sensor.store_url, "SELECT url, host FROM urls") == [("http://spam.example/x", "spam.example")]
    assert fetch(sensor.store_url, "SELECT excerpt FROM messages") == [("Hello, I'm a spammer! http://spam.example/x",)]
    assert fetch(sensor.store_url, "SELECT subject, sha256 FROM messages") == [("BC_82.155.126.2", message.sha256)]
    assert fetch(sensor.store_url, "SELECT kind, domain FROM envelopes ORDER BY seq") == [
        ("mail", "domain.com"), ("rcpt", "domain.com"), ("rcpt", "example.net")]


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_smtplib_credentials_are_captured_as_sent(sensor_factory, mechanism):
    """smtplib's AUTH LOGIN and AUTH PLAIN are both captured, with the password's case intact."""
    sensor = sensor_factory(smtp__persona="postfix")
    with smtplib.SMTP(*sensor.address, timeout=10) as client:
        client.ehlo("bot.example")
        client.user, client.password = "Admin", "Winter2024!"
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"), initial_response_ok=True)
        assert info.value.smtp_code == 535
    auth = sensor.wait_for("smtp.auth")[0].event
    assert (auth.mechanism, auth.username, auth.password) == (mechanism, "Admin", "Winter2024!")
    sensor.stop()
    assert fetch(sensor.store_url, "SELECT mechanism, username, password FROM credentials") == [
        (mechanism, "Admin", "Winter2024!")]


def test_whole_session_in_one_write_gets_every_reply_in_order(sensor):
    """A pipelining bot that writes everything at once gets the lockstep replies."""
    with socket.create_connection(sensor.address) as sock:
        read_reply(sock)
        sock.sendall(b"EHLO a.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
                     b"Subject: one write\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        data = read_until_closed(sock)
    codes = [line[:3] for line in data.split(b"\r\n") if line[3:4] == b" "]
    assert codes == [b"250", b"250", b"250", b"354", b"250", b"221"]


def test_hostile_input_never_kills_the_server(sensor_factory):
    """Binary garbage, NUL bytes, a 1 MB line and a half-close: each gets replies; others are still served."""
    sensor = sensor_factory(limits__max_line_length=4096)
    with socket.create_connection(sensor.address) as sock:
        read_reply(sock)
        sock.sendall(b"\x00\x01\x02\xff\xfe garbage \x1b[2J\r\n")
        assert read_reply(sock).startswith(b"500 ")
        sock.sendall(b"NOOP " + b"A" * 1_000_000 + b"\r\n")
        assert read_reply(sock, 15).startswith(b"500 5.3.3")
        sock.sendall(b"NOOP\r\n")
        assert read_reply(sock) == b"250 2.0.0 OK\r\n"
        sock.sendall(b"QUIT\r\n")
        sock.shutdown(socket.SHUT_WR)  # half-close: the reply must still arrive
        assert read_until_closed(sock).startswith(b"221 ")
    with smtplib.SMTP(*sensor.address, timeout=10) as client:
        assert client.noop()[0] == 250
    violations = {r.event.violation for r in sensor.wait_for("smtp.violation", 2)}
    assert {"binary", "line_too_long"} <= violations


def test_connection_flood_past_the_per_source_limit_gets_the_persona_421(sensor_factory):
    """Past max_connections_per_ip, new connections get the persona's 421 and are closed; the rest go on."""
    sensor = sensor_factory(smtp__persona="postfix", limits__max_connections_per_ip=5)
    held = [socket.create_connection(sensor.address) for _ in range(5)]
    for sock in held:
        assert read_reply(sock).startswith(b"220 ")
    extra = [socket.create_connection(sensor.address) for _ in range(20)]
    for sock in extra:
        assert read_until_closed(sock) == b"421 4.7.0 mail.example.com Error: too many connections from 127.0.0.1\r\n"
        sock.close()
    held[0].sendall(b"NOOP\r\n")
    assert read_reply(held[0]) == b"250 2.0.0 Ok\r\n"
    for sock in held:
        sock.close()
    refused = [r for r in sensor.wait_for("session.closed", 25) if r.event.reason == "limit"]
    assert len(refused) == 20
    with smtplib.SMTP(*sensor.address, timeout=10) as client:
        assert client.noop()[0] == 250


def test_idle_client_is_timed_out_with_the_persona_reply(sensor_factory):
    """Silence past idle_timeout ends the session with the persona's 421 (Postfix) and a record."""
    sensor = sensor_factory(smtp__persona="postfix", limits__idle_timeout=1.0)
    with socket.create_connection(sensor.address) as sock:
        read_reply(sock)
        started = time.monotonic()
        assert read_until_closed(sock, 10) == b"421 4.4.2 mail.example.com Error: timeout exceeded\r\n"
        assert 0.9 < time.monotonic() - started < 5
    assert sensor.wait_for("session.closed")[0].event.reason == "timeout"


def test_starttls_with_smtplib_then_auth_inside_tls(sensor_factory):
    """STARTTLS is real TLS with a generated certificate; the session restarts and AUTH is captured inside."""
    sensor = sensor_factory(smtp__persona="postfix", smtp__hostname="mx.example.org")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP(*sensor.address, timeout=10) as client:
        client.ehlo("c.example")
        assert client.has_extn("starttls")
        client.starttls(context=context)
        cert = client.sock.getpeercert(binary_form=True)
        client.ehlo("c.example")
        assert not client.has_extn("starttls") and client.has_extn("auth")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("user@example.org", "hunter2")
    from cryptography import x509

    assert "mx.example.org" in x509.load_der_x509_certificate(cert).subject.rfc4514_string()
    tls = sensor.wait_for("smtp.tls")[0].event
    assert tls.outcome == "established" and tls.version.startswith("TLS")
    # smtplib tries every advertised mechanism in turn: CRAM-MD5, PLAIN, LOGIN.
    attempts = [(r.event.mechanism, r.event.username, r.event.password) for r in sensor.wait_for("smtp.auth", 3)]
    assert attempts == [("CRAM-MD5", "user@example.org", None), ("PLAIN", "user@example.org", "hunter2"),
                        ("LOGIN", "user@example.org", "hunter2")]
    sensor.stop()
    assert fetch(sensor.store_url, "SELECT tls FROM sessions") == [(1,)]


def test_a_failed_handshake_is_recorded_and_harmless(sensor_factory):
    """Plain text after "220 Ready to start TLS" fails the handshake: recorded, and the server goes on."""
    sensor = sensor_factory(smtp__persona="postfix")
    with socket.create_connection(sensor.address) as sock:
        read_reply(sock)
        sock.sendall(b"STARTTLS\r\n")
        assert read_reply(sock) == b"220 2.0.0 Ready to start TLS\r\n"
        sock.sendall(b"EHLO not-tls\r\n" * 10)
        read_until_closed(sock)
    assert sensor.wait_for("smtp.tls")[0].event.outcome == "failed"
    assert sensor.wait_for("session.closed")[0].event.reason == "tls_failed"
    with smtplib.SMTP(*sensor.address, timeout=10) as client:
        assert client.noop()[0] == 250


def test_the_reply_to_a_delayed_failure_keeps_pipelined_order(sensor_factory):
    """A 2 s failure delay holds back the replies pipelined after it, which keep their order."""
    sensor = sensor_factory(smtp__persona="postfix")
    with socket.create_connection(sensor.address) as sock:
        read_reply(sock)
        sock.sendall(b"EHLO a.example\r\n")
        read_reply(sock)
        started = time.monotonic()
        sock.sendall(b"AUTH PLAIN " + base64.b64encode(b"\0u\0p") + b"\r\nNOOP\r\nQUIT\r\n")
        data = read_until_closed(sock, 10)
        assert time.monotonic() - started >= 1.9
    assert data == (b"535 5.7.8 Error: authentication failed: (reason unavailable)\r\n"
                    b"250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n")


def test_many_parallel_clients(sensor):
    """Fifty concurrent smtplib clients each get their message stored."""
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            with smtplib.SMTP(*sensor.address, timeout=20) as smtp:
                smtp.sendmail(f"s{n}@x.example", [f"r{n}@y.example"], f"Subject: n{n}\r\n\r\nbody {n}\r\n")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(sensor.wait_for("smtp.message", 50)) == 50
    sensor.stop()
    assert fetch(sensor.store_url, "SELECT count(DISTINCT sha256) FROM messages") == [(50,)]


def test_ipv6_listener(sensor_factory):
    """An IPv6 listener works like an IPv4 one, and records the IPv6 source."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    sensor = sensor_factory(smtp__listen=["[::1]:0"])
    with smtplib.SMTP("::1", sensor.port, timeout=10) as client:
        assert client.noop()[0] == 250
    assert sensor.wait_for("session.opened")[0].src_ip == "::1"


def test_bdat_chunks_over_a_socket(sensor_factory):
    """CHUNKING (RFC 3030) over a real socket: two chunks, the second LAST, stored as one message."""
    sensor = sensor_factory(smtp__persona="postfix")
    first, last = b"Subject: chunked\r\n\r\n", b"x" * 5000 + b"\r\n"
    with socket.create_connection(sensor.address) as sock:
        read_reply(sock)
        sock.sendall(b"EHLO a.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n")
        read_replies(sock, 3)
        sock.sendall(f"BDAT {len(first)}\r\n".encode() + first)
        assert read_reply(sock) == f"250 2.0.0 Ok: {len(first)} bytes\r\n".encode()
        sock.sendall(f"BDAT {len(last)} LAST\r\n".encode() + last)
        assert read_reply(sock).startswith(f"250 2.0.0 Ok: {len(first) + len(last)} bytes queued as ".encode())
    message = sensor.wait_for("smtp.message")[0].event
    assert (message.subject, message.size, message.transfer) == ("chunked", len(first) + len(last), "BDAT")


class RecordingTransport:
    """The transport side of one connection, recording each write(2) the connection asks for."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def get_extra_info(self, name: str) -> object:
        return {"peername": ("192.0.2.7", 40000), "sockname": ("192.0.2.1", 25)}.get(name)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    abort = close

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def test_replies_to_a_pipelined_group_go_out_in_one_write(tmp_path):
    """A pipelined group (RFC 2920) read at once is answered in one write, as Postfix flushes its
    replies once no input is left, not one segment per reply (a tell for a packet capture)."""
    import asyncio

    from relaypot.pipeline import EventBus
    from relaypot.storage.messages import MessageStore
    from relaypot.transport.connection import SmtpConnection
    from relaypot.transport.server import ServerLimits, SmtpServer
    from support import make_session

    server = SmtpServer(make_session("postfix").context, EventBus(), MessageStore(tmp_path, 10**9), "s", ServerLimits())
    server.loop = asyncio.new_event_loop()
    try:
        connection = SmtpConnection(server, "192.0.2.1:25")
        transport = RecordingTransport()
        connection.connection_made(transport)
        server.loop.run_until_complete(asyncio.sleep(0.01))  # the banner, once smtpd is set up ([server] setup_time)
        assert [w[:4] for w in transport.writes] == [b"220 "]
        transport.writes.clear()
        connection.data_received(b"EHLO a.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
                                 b"RCPT TO:<e@f.example>\r\nDATA\r\n")
        assert len(transport.writes) == 1
        codes = [line[:4] for line in transport.writes[0].split(b"\r\n") if line[3:4] == b" "]
        assert codes == [b"250 ", b"250 ", b"250 ", b"250 ", b"354 "]
        transport.writes.clear()
        connection.data_received(b"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        # The 250 waits for the journal's commit, then the 221 follows: in order, none lost.
        server.loop.run_until_complete(asyncio.sleep(0))
        assert b"".join(transport.writes).startswith(b"250 2.0.0 Ok: queued as ")
        assert b"".join(transport.writes).endswith(b"221 2.0.0 Bye\r\n") and transport.closed
    finally:
        connection.connection_lost(None)
        server.loop.close()
        server.store_executor.shutdown()
