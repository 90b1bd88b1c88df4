"""The hpfeeds package's own broker on loopback (env authentication) and a subscriber made with
the same package: what the hpfeeds output's tests publish to and read back with."""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

hpfeeds_client = pytest.importorskip("hpfeeds.client")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SECRET = "s3cret-of-the-sensor"


class Broker:
    """`hpfeeds-broker --auth env`: identity relaypot publishes, identity reader subscribes."""

    def __init__(self, port: int, channels: str = "relaypot.sessions,relaypot.events") -> None:
        broker = shutil.which("hpfeeds-broker") or str(Path(sys.executable).parent / "hpfeeds-broker")
        env = {**os.environ, "HPFEEDS_RELAYPOT_SECRET": SECRET, "HPFEEDS_RELAYPOT_PUBCHANS": channels,
               "HPFEEDS_READER_SECRET": "reader", "HPFEEDS_READER_SUBCHANS": channels}
        self.port = port
        self.proc = subprocess.Popen([broker, "--bind", f"127.0.0.1:{port}", "--auth", "env"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError("the hpfeeds broker did not start")

    def subscribe(self, *channels: str) -> Reader:
        return Reader(self.port, channels)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Reader:
    """A subscriber: the package's classic blocking client, its run loop in a thread."""

    def __init__(self, port: int, channels: tuple[str, ...]) -> None:
        self.received: queue.Queue[tuple[str, str, bytes]] = queue.Queue()
        self.errors: list[str] = []
        self.client = hpfeeds_client.new("127.0.0.1", port, "reader", "reader", reconnect=False)
        self.client.subscribe(list(channels))
        self.thread = threading.Thread(
            target=self.client.run, daemon=True,
            args=(lambda ident, channel, payload: self.received.put((ident, channel, payload)), self.errors.append))
        self.thread.start()
        time.sleep(0.5)  # the subscription reaches the broker before anything is published

    def take(self, count: int, timeout: float = 20) -> list[tuple[str, dict]]:
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            try:
                _ident, channel, payload = self.received.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{len(got)} of {count} payloads arrived: {got}; errors: {self.errors}") from None
            got.append((channel, json.loads(payload)))
        return got

    def stop(self) -> None:
        self.client.stop()
        self.client.close()
