"""A server's sleep whose end sees what came during it, over real sockets: Sendmail's
checksmtpattack() sleeps before it answers the third HELO or EHLO (a second; two for the fourth),
and its check for input sent ahead (Debian's CVE-2023-51765 backport) comes after the sleep, so a
client that sends its next command during the sleep is refused as a stuffer. Captured from the real
Sendmail on this machine (tests/sendmail_server.py, 2026-12-07): a NOOP 0.3 s after the third EHLO
gets `554 5.5.0 SMTP protocol error` for the EHLO, then `250 2.0.0 OK` (the rejecting session
still takes NOOP); 1.5 s after it, the EHLO's 250 list, then the NOOP's 250. Sendmail sleeps with
its replies unflushed: after an EHLO, `HELO\r\nHELO\r\n` in one write is answered in one piece a
second on, the first HELO's 554 (input behind it) with the second's 250. The session asks its
transport for a Wait (protocol/outputs.py) and answers when it has passed. (Inside TLS the check
sees only what the last read decrypted: there the persona decides before the sleep, as it did.)"""

from __future__ import annotations

import socket
import time

import pytest

from support import read_reply, read_until_closed

pytestmark = pytest.mark.slow  # real sockets, sleeps of a second

REAL = {  # the real Sendmail's answer to the third EHLO and the NOOP, by the NOOP's delay
    0.3: b"554 5.5.0 SMTP protocol error\r\n250 2.0.0 OK\r\n",
    1.5: b"250-mail.example.com Hello ",
}


def third_ehlo_then_noop(sock: socket.socket, gap: float) -> tuple[float, bytes]:
    """(seconds from the third EHLO to the first byte of its answer, what came in 4 s)."""
    read_reply(sock)
    for _ in range(2):
        sock.sendall(b"EHLO client.example.org\r\n")
        read_reply(sock)
    sock.sendall(b"EHLO client.example.org\r\n")
    started = time.monotonic()
    time.sleep(gap)
    sock.sendall(b"NOOP\r\n")
    sock.settimeout(4)
    data, first = b"", 0.0
    deadline = started + 4
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        first = first or time.monotonic() - started
        data += chunk
        if data.endswith(b"250 2.0.0 OK\r\n"):
            break
    return first, data


@pytest.mark.parametrize("gap", [0.3, 1.5])
def test_a_command_sent_during_the_helo_sleep_is_stuffing(sensor_factory, gap):
    sensor = sensor_factory(smtp__persona="sendmail", smtp__relay="closed")
    with socket.create_connection(sensor.address, timeout=10) as sock:
        first, data = third_ehlo_then_noop(sock, gap)
    assert data.startswith(REAL[gap]), data
    assert data.endswith(b"250 2.0.0 OK\r\n"), data
    assert 0.95 <= first < 1.5 or gap > 1, first  # the EHLO's answer after its second of sleep


def test_replies_wait_unflushed_through_the_sleep(sensor_factory):
    sensor = sensor_factory(smtp__persona="sendmail", smtp__relay="closed")
    with socket.create_connection(sensor.address, timeout=10) as sock:
        read_reply(sock)
        sock.sendall(b"EHLO client.example.org\r\n")
        read_reply(sock)
        sock.sendall(b"HELO client.example.org\r\nHELO client.example.org\r\n")
        started = time.monotonic()
        sock.settimeout(4)
        data = sock.recv(65536)
        waited = time.monotonic() - started
    assert data.startswith(b"554 5.5.0 SMTP protocol error\r\n250 mail.example.com Hello "), data
    assert waited >= 0.95, waited


# The end of input reads as input sent ahead (select() finds the socket readable), captured from
# the real Sendmail (2026-12-07): an EHLO whose FIN follows at once, and a last line that the FIN
# ends without its CR LF, are each answered "554 5.5.0 SMTP protocol error".
@pytest.mark.parametrize("sent", [b"EHLO client.example.org\r\n", b"EHLO client.example.org"])
def test_an_ehlo_behind_which_the_client_hangs_up_is_stuffing(sensor_factory, sent):
    sensor = sensor_factory(smtp__persona="sendmail", smtp__relay="closed")
    with socket.create_connection(sensor.address, timeout=10) as sock:
        read_reply(sock)
        sock.sendall(sent)
        sock.shutdown(socket.SHUT_WR)
        data = read_until_closed(sock)
    assert data.startswith(b"554 5.5.0 SMTP protocol error\r\n"), data


def test_a_client_that_leaves_during_the_sleep_still_gets_its_answer(sensor_factory):
    """The third EHLO, then the client's FIN during the second of sleep: the end of input reads
    as input sent ahead, so the EHLO is the 554, written before the close (as the real Sendmail,
    captured 2026-12-07: the harness's hang-up after a slowed EHLO)."""
    sensor = sensor_factory(smtp__persona="sendmail", smtp__relay="closed")
    with socket.create_connection(sensor.address, timeout=10) as sock:
        read_reply(sock)
        for _ in range(2):
            sock.sendall(b"EHLO client.example.org\r\n")
            read_reply(sock)
        sock.sendall(b"EHLO client.example.org\r\n")
        time.sleep(0.3)
        sock.shutdown(socket.SHUT_WR)
        data = read_until_closed(sock)
    assert data.startswith(b"554 5.5.0 SMTP protocol error\r\n"), data
