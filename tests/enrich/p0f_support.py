"""The real p0f on the loopback interface, and a SYN crafted the way Windows XP sends it."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from support import require


def p0f_available() -> str:
    """p0f's path; skips locally, fails in CI, when p0f or root (to capture) is missing."""
    binary = require("p0f")
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("p0f needs root to capture; CI runs as root")
        pytest.skip("p0f needs root to capture on the loopback interface")
    return binary


@contextmanager
def running_p0f(binary: str, directory: Path) -> Iterator[Path]:
    """p0f on `lo`, its API socket in `directory`; yields the socket's path."""
    import scapy.all  # noqa: F401 (imported now: it takes a second, longer than a p0f_delay)

    sock = directory / "p0f.sock"
    proc = subprocess.Popen([binary, "-i", "lo", "-s", str(sock), "-o", str(directory / "p0f.log"),
                             "tcp and dst host 127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            if sock.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        if not sock.exists():
            pytest.fail(f"p0f did not start: {proc.stderr.read().decode(errors='replace')[-500:]}")
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)


def windows_xp_syn(source: str, port: int) -> None:
    """A SYN as Windows XP sends it (TTL 128, DF, window 65535, MSS/NOP/NOP/SACK): p0f's XP signature.
    p0f keeps a host's newest SYN, so this relabels a source that connected a moment before."""
    from scapy.all import IP, TCP, send

    send(IP(src=source, dst="127.0.0.1", ttl=128, flags="DF", id=4321)
         / TCP(sport=40000 + os.getpid() % 20000, dport=port, flags="S", seq=123456789, window=65535,
               options=[("MSS", 1460), ("NOP", None), ("NOP", None), ("SAckOK", b"")]), verbose=False)
