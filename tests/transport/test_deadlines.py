"""Deadlines nobody can dodge: a stalled STARTTLS, a drip of bytes, a pile of delayed replies.

Each ends the session once, with one record per violation, and gives its connection slot back,
under uvloop (the sensor's loop) and asyncio's own loop (its fallback)."""

from __future__ import annotations

import base64
import select
import socket
import ssl
import time

import pytest

from support import read_reply, read_until_closed, ready_for_tls

pytestmark = pytest.mark.slow  # real idle and session deadlines

LOOPS = pytest.mark.parametrize("loop", ["uvloop", "asyncio"])


def greeted(address: tuple[str, int]) -> bytes:
    with socket.create_connection(address, timeout=5) as sock:
        return read_reply(sock)


@LOOPS
def test_a_stalled_starttls_handshake_gives_its_slot_back(sensor_factory, loop):
    """Clients that say STARTTLS and never start the handshake are cut at the idle deadline: every
    slot comes back, each handshake is recorded as failed (never as established), and each
    session closes once, for its deadline."""
    sensor = sensor_factory(loop=loop, smtp__persona="postfix", limits__idle_timeout=1.0,
                            limits__max_connections=3, limits__max_connections_per_ip=10)
    held = []
    for _ in range(3):
        sock, reply = ready_for_tls(sensor.address)
        assert reply == b"220 2.0.0 Ready to start TLS\r\n"
        held.append(sock)
    closed = sensor.wait_for("session.closed", 3, timeout=10)
    assert {r.event.reason for r in closed} == {"timeout"}
    assert greeted(sensor.address).startswith(b"220 ")  # a slot is free again
    # A handshake begun after the deadline finds the connection gone: no TLS is recorded.
    context = ssl._create_unverified_context()
    with pytest.raises(OSError):
        context.wrap_socket(held[0], server_hostname="x").do_handshake()
    time.sleep(2.5)  # a leaked connection would be visited (and recorded) again each second
    assert len(sensor.records("session.closed")) == 4
    assert [(r.event.outcome, r.event.error) for r in sensor.records("smtp.tls")] == [
        ("failed", "no TLS handshake before the timeout deadline")] * 3
    assert len(sensor.records()) == len(set((r.session, r.seq) for r in sensor.records()))
    for sock in held:
        sock.close()


@LOOPS
def test_a_drip_of_bytes_does_not_hold_a_connection(sensor_factory, loop):
    """One byte at a time never completes a line: the idle deadline still ends the session with the
    persona's timeout reply, and a fresh client is greeted instead of refused."""
    sensor = sensor_factory(loop=loop, smtp__persona="postfix", limits__idle_timeout=1.5,
                            limits__max_connections=2, limits__max_connections_per_ip=10)
    drips = [socket.create_connection(sensor.address, timeout=5) for _ in range(2)]
    for sock in drips:
        read_reply(sock)
    assert greeted(sensor.address).startswith(b"421 ")  # both slots are taken
    started = time.monotonic()
    ended = []
    while len(ended) < 2 and time.monotonic() - started < 8:
        for sock in drips:
            if sock in ended:
                continue
            try:
                sock.sendall(b"a")
                sock.settimeout(0.01)
                data = sock.recv(1024)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            assert data in (b"", b"421 4.4.2 mail.example.com Error: timeout exceeded\r\n")
            ended.append(sock)
        time.sleep(0.3)
    assert len(ended) == 2 and time.monotonic() - started < 4
    assert greeted(sensor.address).startswith(b"220 ")
    reasons = [r.event.reason for r in sensor.wait_for("session.closed", 3)]
    assert sorted(reasons[:3]) == ["limit", "timeout", "timeout"]  # the refused one, then the drips


def test_whole_lines_keep_a_slow_client_alive(sensor_factory):
    """The deadline is per line: a client that sends a complete command more often than the idle
    timeout is not cut off, however slowly it types each one."""
    sensor = sensor_factory(smtp__persona="postfix", limits__idle_timeout=1.0)
    with socket.create_connection(sensor.address, timeout=5) as sock:
        read_reply(sock)
        for _ in range(4):
            for byte in b"NOOP\r\n":
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
            assert read_reply(sock) == b"250 2.0.0 Ok\r\n"
            time.sleep(0.3)
    assert sensor.wait_for("session.closed")[0].event.reason == "peer_closed"


@LOOPS
def test_delayed_replies_do_not_outlive_the_session_limit(sensor_factory, loop):
    """Thirty pipelined AUTH failures, each delayed 2 s by the persona: the session still ends at
    max_session_time, with one limit_session_time record, whether or not the client reads."""
    sensor = sensor_factory(loop=loop, smtp__persona="postfix", limits__max_session_time=2.0)
    bad = b"AUTH PLAIN " + base64.b64encode(b"\0u\0p") + b"\r\n"
    readers = []
    for reads in (True, False):
        sock = socket.create_connection(sensor.address, timeout=10)
        read_reply(sock)
        sock.sendall(b"EHLO slow.example\r\n")
        read_reply(sock)
        sock.sendall(bad * 30)
        readers.append((sock, reads))
    started = time.monotonic()
    data = read_until_closed(readers[0][0], 15)
    assert time.monotonic() - started < 5
    assert data.endswith(b"421 4.4.2 mail.example.com Error: timeout exceeded\r\n")
    closed = sensor.wait_for("session.closed", 2, timeout=15)
    assert time.monotonic() - started < 10  # the silent reader too: cut after a grace period
    assert {r.event.reason for r in closed} == {"session_time"}
    time.sleep(2.5)
    violations = [r for r in sensor.records("smtp.violation") if r.event.violation == "limit_session_time"]
    assert len(violations) == 2 and len({r.session for r in violations}) == 2
    for sock, _ in readers:
        sock.close()


@LOOPS
def test_a_client_that_does_not_read_is_not_read_either(sensor_factory, loop):
    """Sixty thousand pipelined EHLOs (14 MB of replies, more than the kernel's buffers hold) from
    a client that reads no reply: the sensor stops reading once its replies back up, instead of
    making and buffering them all, and answers the rest once the client reads. (exchange2000,
    which has no error accounting: Postfix's would count the EHLOs past a hundred as junk.)"""
    sensor = sensor_factory(loop=loop, smtp__persona="exchange2000", limits__max_commands=100_000)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(sensor.address)
    read_reply(sock)
    sent = 60_000
    sock.setblocking(False)
    payload = b"EHLO pipelined.example\r\n" * sent
    while payload:
        try:
            payload = payload[sock.send(payload):]
        except BlockingIOError:
            break  # the sensor no longer reads us: exactly what should happen
    time.sleep(1.5)
    answered = len(sensor.records("smtp.command"))
    assert answered < sent / 2, answered  # each reply is ~230 bytes: most are not made yet
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # now read quickly
    last_line, replies, tail = b"250 OK\r\n", 0, b""
    deadline = time.monotonic() + 60
    while (payload or replies < sent) and time.monotonic() < deadline:
        readable, writable, _ = select.select([sock], [sock] if payload else [], [], 5)
        if writable:
            payload = payload[sock.send(payload[:65536]):]
        if readable:
            chunk = tail + sock.recv(1 << 20)
            replies += chunk.count(last_line)
            tail = chunk[1 - len(last_line):]  # too short to hold a whole last line: none counted twice
    assert replies == sent
    sock.close()
    assert len(sensor.wait_for("smtp.command", sent, timeout=30)) == sent


def test_a_handshake_the_stop_cuts_is_recorded_as_failed(sensor_factory):
    sensor = sensor_factory(smtp__persona="postfix")
    sock, reply = ready_for_tls(sensor.address)
    assert reply == b"220 2.0.0 Ready to start TLS\r\n"
    sensor.stop()
    assert sock.recv(1024) == b""  # cut, not told "421" in the clear in the middle of a handshake
    [closed] = sensor.records("session.closed")
    assert closed.event.reason == "shutdown"
    assert [(r.event.outcome, r.event.error) for r in sensor.records("smtp.tls")] == [
        ("failed", "the sensor stopped during the TLS handshake")]
    sock.close()
