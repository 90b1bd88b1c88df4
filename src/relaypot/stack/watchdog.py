"""The rewriter's watchdog: a process of its own that takes the rewriter out of the packets' path
when its verdicts stop.

NFQUEUE holds every packet of the sensor's ports until the rewriter gives its verdict; with
--queue-bypass the kernel lets them pass only when no program is bound to the queue. A rewriter
that dies unbinds, and packets flow; one that is stopped (SIGSTOP, a debugger, a hung thread)
stays bound and blackholes the sensor. The rewriter stamps a heartbeat into shared memory at
least every half second while it serves the queue; when the stamp is older than STALL seconds,
the watchdog removes the iptables rules (packets then pass with the host's own stack), says so,
and tells the rewriter to stop (it puts the sysctls back when it runs again).
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import signal
import struct
import sys
import time
from typing import TextIO

from relaypot.stack import host

STALL = 5.0  # seconds without a heartbeat before the rewriter is taken out of the path
PR_SET_PDEATHSIG = 1


class Heartbeat:
    """A monotonic time stamp in memory shared with a forked watchdog."""

    def __init__(self) -> None:
        self._memory = mmap.mmap(-1, 8)
        self.beat()

    def beat(self) -> None:
        self._memory[:8] = struct.pack("d", time.monotonic())

    def age(self) -> float:
        return time.monotonic() - struct.unpack("d", self._memory[:8])[0]


def start(heartbeat: Heartbeat, interface: str | None, out: TextIO, stall: float = STALL) -> int:
    """Fork the watchdog (before the queue is opened: it holds nothing of the rewriter's)."""
    rewriter = os.getpid()
    out.flush()
    pid = os.fork()
    if pid:
        return pid
    status = 0  # pragma: no cover (the watchdog process)
    try:
        for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL if signum == signal.SIGTERM else signal.SIG_IGN)
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        while os.getppid() == rewriter:
            time.sleep(0.25)
            if heartbeat.age() > stall:
                host.remove_rules(interface)
                print(f"relaypot stack: watchdog: the rewriter gave no verdict for {stall:g} s (stopped or hung); "
                      "removed its iptables rules, so packets pass with the host's own stack, and told it to stop",
                      file=out, flush=True)
                os.kill(rewriter, signal.SIGTERM)
                break
    except BaseException:  # noqa: BLE001 (nothing of the rewriter's may run on in this process)
        status = 1
    finally:
        os._exit(status)


def stop(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
