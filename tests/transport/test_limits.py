"""Limits over real sockets: each ends in the persona's reply and a record, never a crash."""

from __future__ import annotations

import json
import smtplib
import socket
import time
from pathlib import Path

import pytest

from relaypot.personas import model
from support import REFERENCE, fetch, lenient_tls_client, read_replies, read_reply, read_until_closed, unesc

pytestmark = pytest.mark.slow  # the real tar pit's seconds, session limits


def test_full_message_store_gets_the_persona_452_and_nothing_is_written(sensor_factory):
    """Past max_store_bytes a new message is refused with the persona's 452; the session goes on."""
    sensor = sensor_factory(smtp__persona="postfix", limits__max_store_bytes=1500)
    with smtplib.SMTP(*sensor.address, timeout=10) as client:
        client.sendmail("a@b.example", ["c@d.example"], "Subject: first\r\n\r\n" + "x" * 1000 + "\r\n")
        with pytest.raises(smtplib.SMTPDataError) as info:
            client.sendmail("a@b.example", ["c@d.example"], "Subject: second\r\n\r\n" + "y" * 1000 + "\r\n")
        assert (info.value.smtp_code, info.value.smtp_error) == (452, b"4.3.1 Insufficient system storage")
        assert client.noop()[0] == 250
    assert len(sensor.wait_for("smtp.message")) == 1
    violation = next(r.event for r in sensor.wait_for("smtp.violation") if r.event.violation == "limit_disk")
    assert "full" in violation.detail
    assert len(list((sensor.data_dir / "messages").rglob("*.eml"))) == 1


@pytest.mark.parametrize("persona", ["exchange2000", "postfix"])
def test_a_message_to_as_many_recipients_as_allowed_is_captured(sensor_factory, persona):
    """With the default limits, a message to max_recipients (1000) recipients is accepted and
    stored with all of them (a command budget of 1000 once cut the session at RCPT #998)."""
    sensor = sensor_factory(smtp__persona=persona)
    recipients = [f"user{n}@victim{n % 7}.example" for n in range(1000)]
    with smtplib.SMTP(*sensor.address, timeout=30) as client:
        refused = client.sendmail("bulk@spam.example", recipients, "Subject: to everyone\r\n\r\nhi\r\n")
        assert refused == {}
        code, _ = client.rcpt("one.more@victim.example") if client.mail("again@spam.example")[0] == 250 else (0, b"")
        assert code == 250
    message = sensor.wait_for("smtp.message")[0].event
    assert len(message.rcpt_to) == 1000 and message.rcpt_to[-1] == "user999@victim5.example"


def test_total_session_time_is_bounded_even_for_a_chatty_client(sensor_factory):
    """A client that keeps talking is still cut off at max_session_time, with the persona's reply."""
    sensor = sensor_factory(smtp__persona="postfix", limits__max_session_time=1.5)
    with socket.create_connection(sensor.address) as sock:
        read_reply(sock)
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 10:
            try:
                sock.sendall(b"NOOP\r\n")
                data = read_reply(sock, 5)
            except OSError:
                closed = True
                break
            if data.startswith(b"421") or not data:
                closed = True
                break
            time.sleep(0.2)
        assert closed and time.monotonic() - started < 5
    assert sensor.wait_for("session.closed")[0].event.reason == "session_time"
    assert any(r.event.violation == "limit_session_time" for r in sensor.records("smtp.violation"))


def test_overall_connection_limit(sensor_factory):
    """Past max_connections, any source gets the persona's 421 instead of a greeting."""
    sensor = sensor_factory(limits__max_connections=3, limits__max_connections_per_ip=100)
    held = [socket.create_connection(sensor.address) for _ in range(3)]
    for sock in held:
        assert read_reply(sock).startswith(b"220 ")
    with socket.create_connection(sensor.address) as extra:
        assert read_until_closed(extra) == b"421 4.3.2 Service not available, closing transmission channel\r\n"
    for sock in held:
        sock.close()
    sensor.wait_for("session.closed", 4)
    with smtplib.SMTP(*sensor.address, timeout=10) as client:
        assert client.noop()[0] == 250


def test_the_users_own_certificate_is_served(sensor_factory, tmp_path):
    """[tls] certificate and key replace the generated certificate."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "operator-cert.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    # (postfix: its suites include ECDSA ones; exchange2000's, RSA key exchange only, would not
    # serve this EC certificate, as Windows 2000 would not have.)
    sensor = sensor_factory(smtp__persona="postfix", tls__starttls="yes",
                            tls__certificate=str(tmp_path / "c.pem"), tls__key=str(tmp_path / "k.pem"))
    with smtplib.SMTP(*sensor.address, timeout=10) as client:
        _code, text = client.ehlo("x.example")
        assert b"STARTTLS" in text
        assert client.starttls(context=lenient_tls_client())[0] == 220
        served = x509.load_der_x509_certificate(client.sock.getpeercert(binary_form=True))
    assert served.serial_number == 7
    assert not (sensor.data_dir / "tls").exists()


def test_pipelined_messages_after_a_large_one_keep_their_order(sensor_factory):
    """A message big enough to be stored off the loop holds back the replies pipelined after it."""
    sensor = sensor_factory(smtp__persona="postfix")
    big = b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 400  # 400 kB: stored in a worker thread
    with socket.create_connection(sensor.address) as sock:
        read_reply(sock)
        sock.sendall(b"EHLO a.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n" + big +
                     b".\r\nMAIL FROM:<e@f.example>\r\nRCPT TO:<g@h.example>\r\nDATA\r\nSubject: small\r\n\r\nx\r\n"
                     b".\r\nQUIT\r\n")
        data = read_replies(sock, 10, timeout=20)
    codes = [line[:3] for line in data.split(b"\r\n") if line[3:4] == b" "]
    assert codes == [b"250", b"250", b"250", b"354", b"250", b"250", b"250", b"354", b"250", b"221"]
    assert [r.event.subject for r in sensor.wait_for("smtp.message", 2)] == ["big", "small"]


def test_a_probe_naming_the_public_address_behind_nat_is_recognised(sensor_factory):
    """Behind NAT the sensor's own address is private; a probe names the public one. With it in
    [sensor] public_names the probe is recognised, and a HELO claiming it is impersonation;
    without it, neither (nothing an attacker sends teaches the sensor its address)."""
    probe = "Subject: 203.0.113.7\r\n\r\nok from 203.0.113.7:25\r\n"
    found = []
    for public in ([], ["203.0.113.7", "mx.public.example"]):
        sensor = sensor_factory(smtp__persona="postfix", sensor__public_names=public)
        with smtplib.SMTP(*sensor.address, timeout=10) as client:
            client.ehlo("[203.0.113.7]")
            client.sendmail("scan@example.net", ["dropbox@example.org"], probe)
        sensor.stop()
        found.append((fetch(sensor.store_url, "SELECT probe_family, probe_signature FROM messages"),
                      fetch(sensor.store_url, "SELECT helo_class FROM sessions")))
    assert found[0] == ([(None, None)], [("address_literal",)])
    assert found[1] == ([("names the sensor", "names 203.0.113.7")], [("impersonation",)])


def test_the_postfix_tar_pit_over_a_real_socket(sensor_factory, tmp_path):
    """smtplib against the postfix persona (its error delay shortened to 0.5 s in a copy of the
    persona file): ten errors at once, then each reply held back, and at the twentieth the
    persona's 421 and the end of the connection; recorded as limit_errors."""
    bundled = Path(model.__file__).parent / "data" / "postfix.toml"
    fast = tmp_path / "postfix-fast.toml"
    text = bundled.read_text()
    assert "\ndelay = 1.0\n" in text
    fast.write_text(text.replace("\ndelay = 1.0\n", "\ndelay = 0.5\n"))
    sensor = sensor_factory(smtp__persona=str(fast))
    client = smtplib.SMTP(*sensor.address, timeout=10)
    client.helo("client.example.org")
    waits = []
    for _ in range(20):
        began = time.monotonic()
        code, _ = client.docmd("FOO")
        waits.append(time.monotonic() - began)
        assert code == 500
    code, text = client.getreply()
    assert code == 421 and b"Error: too many errors" in text
    assert all(wait < 0.4 for wait in waits[:10]), waits
    assert all(wait >= 0.45 for wait in waits[10:]), waits
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()
    sensor.stop()
    assert fetch(sensor.store_url, "SELECT violation, detail FROM violations WHERE violation = 'limit_errors'") == [
        ("limit_errors", "20 errors, the persona's limit")]
    assert fetch(sensor.store_url, "SELECT close_reason FROM sessions") == [("limit",)]


@pytest.mark.parametrize("persona", ["postfix", "exim", "opensmtpd", "sendmail"])
def test_one_client_meets_the_personas_own_connection_limit(sensor_factory, persona):
    """With [limits] max_connections_per_ip left at 0 the persona's limit holds, as its real
    server's did for 52 connections from one address (captured: tests/reference/<persona>/
    connections.json): Postfix greets fifty and gives the fifty-first anvil's 421, Exim twenty
    and the twenty-first its daemon's 421; OpenSMTPD and Sendmail greet all 52."""
    real = json.loads((REFERENCE / persona / "connections.json").read_text())[0]
    sensor = sensor_factory(smtp__persona=persona)
    held = []
    try:
        for _ in range(real["greeted"]):
            sock = socket.create_connection(sensor.address, timeout=10)
            held.append(sock)
        for sock in held:  # Sendmail's greet pause: each greeted after a second, all together
            assert read_reply(sock).startswith(b"220 ")
        if real["refusal"] is not None:
            extra = socket.create_connection(sensor.address, timeout=10)
            held.append(extra)
            assert read_until_closed(extra) == unesc(real["refusal"])
    finally:
        for sock in held:
            sock.close()


def test_the_per_client_limit_is_the_operators_then_the_personas_then_a_safety_net():
    from relaypot import config
    from relaypot.app import CONNECTIONS_PER_CLIENT, connections_per_client

    postfix, exchange = model.load("postfix"), model.load("exchange2000")
    assert connections_per_client(config.load(environ={}), postfix) == 50
    assert connections_per_client(config.load(environ={}), exchange) == CONNECTIONS_PER_CLIENT  # IIS: none
    assert connections_per_client(config.load(environ={"RELAYPOT_LIMITS_MAX_CONNECTIONS_PER_IP": "7"}), postfix) == 7


def test_clients_past_the_process_limit_wait_their_turn_and_none_is_lost(sensor_factory, tmp_path):
    """[server] process_limit (here 2): the third and fourth clients wait without a byte; one that
    gives up frees nothing and is not served; when a session ends the next one still waiting is
    greeted; stopping the sensor cuts off whoever still waits."""
    bundled = Path(model.__file__).parent / "data" / "postfix.toml"
    text = bundled.read_text()
    assert "\nprocess_limit = 100\n" in text
    small = tmp_path / "postfix-small.toml"
    small.write_text(text.replace("\nprocess_limit = 100\n", "\nprocess_limit = 2\n"))
    sensor = sensor_factory(smtp__persona=str(small))
    first, second, third, fourth, fifth = (socket.create_connection(sensor.address, timeout=5) for _ in range(5))
    assert read_reply(first).startswith(b"220 ") and read_reply(second).startswith(b"220 ")
    for waiting in (third, fourth, fifth):
        waiting.settimeout(0.5)
        with pytest.raises(TimeoutError):
            waiting.recv(512)
    third.close()  # gave up waiting
    first.sendall(b"QUIT\r\n")
    assert read_reply(first).startswith(b"221 ")
    assert read_reply(fourth).startswith(b"220 ")  # the next one still waiting, not the one that left
    fifth.settimeout(0.5)
    with pytest.raises(TimeoutError):
        fifth.recv(512)
    sensor.stop()
    fifth.settimeout(5)
    try:
        assert fifth.recv(512) == b""  # cut off unanswered
    except ConnectionResetError:
        pass
    for sock in (first, second, fourth, fifth):
        sock.close()
