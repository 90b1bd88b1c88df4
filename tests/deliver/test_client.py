"""One delivery against hostile mail servers on loopback (deliver/client.py): every reply bounded
in lines and bytes, one deadline for the whole conversation, no byte the far side chose trusted.
And the helper process that runs it (deliver/helper.py): a memory limit, the deadline enforced by
a kill, every job in flight ended at the stop, and no helper left behind by a sensor's death."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from relaypot.deliver.client import Job, deliver
from relaypot.deliver.helper import DeliveryHelper


def server(behaviour: Callable[[socket.socket], None]):
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=_run, args=(behaviour, conn), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener


def _run(behaviour: Callable[[socket.socket], None], conn: socket.socket) -> None:
    try:
        behaviour(conn)
    except OSError:
        pass
    finally:
        conn.close()


def endless(conn: socket.socket) -> None:
    conn.sendall(b"220 mx ESMTP\r\n")
    conn.recv(100)
    while True:
        conn.sendall(b"250-" + b"X" * 100 + b"\r\n")


def drip(conn: socket.socket) -> None:
    for byte in b"220 slow ESMTP\r\n" * 100:
        conn.sendall(bytes([byte]))
        time.sleep(0.5)


def http(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n")


def plain_mx(conn: socket.socket) -> None:
    """Says yes to everything, offers no SMTPUTF8."""
    stream = conn.makefile("rb")
    conn.sendall(b"220 mx ESMTP\r\n")
    while line := stream.readline():
        if line.upper().startswith(b"EHLO"):
            conn.sendall(b"250-mx\r\n250 8BITMIME\r\n")
        elif line.upper().startswith(b"DATA"):
            conn.sendall(b"354 go\r\n")
            while stream.readline() != b".\r\n":
                pass
            conn.sendall(b"250 queued\r\n")
        elif line.upper().startswith(b"QUIT"):
            conn.sendall(b"221 bye\r\n")
            return
        else:
            conn.sendall(b"250 ok\r\n")


def job(listener: socket.socket, timeout: float = 5.0, **changes) -> Job:
    fields = dict(address="127.0.0.1", port=listener.getsockname()[1], helo="mail.example.com",
                  mail_from="scan@webscan.example", recipients=("drop@dropbox.example",),
                  data=b"Subject: x\r\n\r\nok\r\n", timeout=timeout, exempt=True)
    return Job(**{**fields, **changes})


@pytest.mark.parametrize("behaviour,reply", [
    (endless, "a reply of more than 64 lines"),
    (http, "not an SMTP reply: 'HTTP/1.1 200 OK'"),
    (drip, "timed out: the delivery took more than 2 s in all"),
])
def test_a_hostile_server_ends_the_delivery_within_its_bounds(behaviour, reply):
    with server(behaviour) as listener:
        outcome = deliver(job(listener, timeout=2.0))
    assert (outcome.ok, outcome.reply) == (False, reply)


def test_an_address_that_was_not_vetted_is_never_talked_to():
    with server(plain_mx) as listener:
        outcome = deliver(job(listener, exempt=False))
    assert (outcome.ok, outcome.reply) == (False, "127.0.0.1 is loopback")


def test_a_utf8_address_needs_smtputf8_and_an_address_cannot_smuggle_a_command():
    with server(plain_mx) as listener:
        assert deliver(job(listener)).ok
        utf8 = deliver(job(listener, recipients=("dröp@dropbox.example",)))
        smuggled = deliver(job(listener, recipients=("a@b.example>\r\nRCPT TO:<c@d.example",)))
    assert (utf8.ok, utf8.reply) == (False, "a non-ASCII address, and the far side does not offer SMTPUTF8")
    assert not smuggled.ok and smuggled.reply.startswith("an address with a space, control character or angle")


def run(coroutine):
    return asyncio.run(coroutine)


def test_the_helper_delivers_kills_an_overrun_and_ends_every_job_at_the_stop():
    with server(plain_mx) as good, server(drip) as slow:
        helper = DeliveryHelper(concurrency=2)
        helper.start()
        pid = helper.pid

        async def scenario():
            ok = await helper.submit(job(good))
            timed_out = await helper.submit(job(slow, timeout=1.0))
            in_flight = [asyncio.ensure_future(helper.submit(job(slow, timeout=100.0))) for _ in range(3)]
            await asyncio.sleep(0.5)
            await helper.stop("stopped: the test stopped it")
            return ok, timed_out, await asyncio.wait_for(asyncio.gather(*in_flight), 5)

        ok, timed_out, stopped = run(scenario())
    assert ok.ok and ok.reply == "250 queued"
    assert (timed_out.ok, timed_out.reply) == (False, "timed out: the delivery took more than 1 s in all")
    assert [(o.ok, o.reply) for o in stopped] == [(False, "stopped: the test stopped it")] * 3
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped: neither running nor a zombie


def test_a_delivery_child_cannot_grow_past_its_memory_limit():
    code = ("from relaypot.deliver.helper import _limit_memory\n_limit_memory()\n"
            "try:\n    b = bytearray(256 * 1024 * 1024)\nexcept MemoryError:\n    print('bounded')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "bounded", result.stderr


def test_the_helper_dies_with_the_sensor():
    code = ("import sys, time\nfrom relaypot.deliver.helper import DeliveryHelper\nh = DeliveryHelper()\n"
            "h.start()\nprint(h.pid, flush=True)\ntime.sleep(60)\n")
    sensor = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    helper = int(sensor.stdout.readline())
    sensor.send_signal(signal.SIGKILL)
    sensor.wait(10)
    deadline = time.monotonic() + 10
    while alive(helper):
        assert time.monotonic() < deadline, "the helper outlived the sensor"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it is not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
