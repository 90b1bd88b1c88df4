"""Input a client sends with its connection, before the banner, over real sockets. Postfix's
smtpd_proto() peeks at the socket before it writes its banner (smtpd_flag_ill_pipelining) and
reads what is there, so the banner waits in its output buffer behind the replies to that input
until smtpd next reads the socket. Measured on the real Postfix 3.7.11 of this machine
(tests/postfix_server.py, its SASL listener, 2026-12-07): "AUTH PLAIN <wrong>" sent with the
connection is answered 2 s on, banner and 535 in one write; "NOOP" at once, banner and 250 in
one write; a client that waits for the banner gets it at once (0.06-0.2 ms). The persona's
[server] setup_time gives the same; the differential test found the difference
(tests/personas/test_differential.py, an early AUTH)."""

from __future__ import annotations

import base64
import socket
import time

import pytest

from support import read_reply

pytestmark = pytest.mark.slow  # real sockets, a login's 2 s failure delay

BANNER = b"220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n"
WRONG = b"AUTH PLAIN " + base64.b64encode(b"\0user\0wrong") + b"\r\n"


def first_write(sock: socket.socket, sent: bytes) -> tuple[float, bytes]:
    """(seconds from connecting to the first bytes, those bytes) for `sent` sent at once."""
    started = time.monotonic()
    if sent:
        sock.sendall(sent)
    sock.settimeout(5)
    data = sock.recv(65536)
    return time.monotonic() - started, data


@pytest.fixture
def postfix(sensor_factory):
    return sensor_factory(smtp__persona="postfix", smtp__relay="auth", deception__accept_logins=["user:secret"])


def test_an_early_failed_login_holds_the_banner_until_its_answer(postfix):
    with socket.create_connection(postfix.address, timeout=10) as sock:
        waited, data = first_write(sock, WRONG)
    assert data == BANNER + b"535 5.7.8 Error: authentication failed: (reason unavailable)\r\n", data
    assert waited >= 1.9, waited


def test_an_early_command_is_answered_in_the_banners_write(postfix):
    with socket.create_connection(postfix.address, timeout=10) as sock:
        waited, data = first_write(sock, b"NOOP\r\n")
    assert data == BANNER + b"250 2.0.0 Ok\r\n", data
    assert waited < 0.5, waited


def test_a_client_that_waits_gets_the_banner_at_once_and_its_login_answer_alone(postfix):
    with socket.create_connection(postfix.address, timeout=10) as sock:
        waited, data = first_write(sock, b"")
        assert (data, waited < 0.5) == (BANNER, True)
        sock.sendall(WRONG)
        started = time.monotonic()
        assert read_reply(sock).startswith(b"535 5.7.8 ")
        assert time.monotonic() - started >= 1.9
