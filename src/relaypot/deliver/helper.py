"""The delivery helper: a process of its own, forked before the sensor binds or drops root, that
runs each delivery in a child of its own under a memory limit and a deadline.

Delivery is the one place where the sensor reads what a server of the attacker's choosing sends
back. Whatever that server does, it must not cost the sensor memory or time: each conversation
runs in a process with an address-space limit (RLIMIT_AS), is killed at its deadline, and can
neither block the event loop nor fill an executor the sensor shares. The helper is single-
threaded (so forking a child per delivery is safe), holds none of the sensor's files or sockets,
drops to the sensor's user like the sensor, and dies with it (PR_SET_PDEATHSIG, and the end of
its socket).

The two talk JSON lines over a socket pair: the sensor sends {"id", "job"}, the helper answers
{"id", "ok", "reply"}. A job's data travels base64-encoded (it is at most deliver_max_bytes).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import json
import logging
import os
import resource
import selectors
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass, field

from relaypot.deliver.client import Job, Outcome, deliver
from relaypot.deliver.rehearsal import rehearse_delivery

log = logging.getLogger(__name__)

MEMORY_ALLOWANCE = 64 * 1024 * 1024  # address space a delivery child may add to what it inherits
KILL_GRACE = 2.0  # seconds past a job's own deadline before its child is killed
MAX_MESSAGE = 1024 * 1024  # one line between the sensor and the helper
PR_SET_PDEATHSIG = 1


def encode_job(job_id: int, job: Job) -> bytes:
    fields = asdict(job)
    fields["data"] = base64.b64encode(job.data).decode("ascii")
    return json.dumps({"id": job_id, "job": fields}).encode() + b"\n"


def decode_job(line: bytes) -> tuple[int, Job]:
    message = json.loads(line)
    fields = message["job"]
    fields["data"] = base64.b64decode(fields["data"])
    for key in ("recipients", "own", "lab"):
        fields[key] = tuple(fields[key])
    return int(message["id"]), Job(**fields)


@dataclass
class DeliveryHelper:
    """The sensor's side: start() forks the helper; submit() hands it a job and awaits its outcome."""

    concurrency: int = 4
    pid: int = 0
    sock: socket.socket | None = None
    _pending: dict[int, asyncio.Future[Outcome]] = field(default_factory=dict)
    _next_id: int = 0
    _writer: asyncio.StreamWriter | None = None
    _reader_task: asyncio.Task | None = None
    gone: str = ""  # why the helper can take no more jobs

    def start(self, uid: int | None = None, gid: int | None = None) -> None:
        """Fork the helper (before the listeners are bound and before root is dropped), once
        everything a delivery runs has been run, so that the helper, which drops to `uid` at once,
        never needs to read the installation again."""
        rehearse_delivery()
        ours, theirs = socket.socketpair()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover (runs in the helper process)
            status = 1
            try:
                ours.close()
                status = _helper_main(theirs, self.concurrency, uid, gid)
            except BaseException:  # noqa: BLE001 (nothing of the sensor's may run on in this process)
                status = 1
            finally:
                os._exit(status)
        theirs.close()
        self.pid, self.sock = pid, ours

    async def _connect(self) -> None:
        assert self.sock is not None
        reader, self._writer = await asyncio.open_unix_connection(sock=self.sock, limit=MAX_MESSAGE)
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                answer = json.loads(line)
                future = self._pending.pop(int(answer["id"]), None)
                if future is not None and not future.done():
                    future.set_result(Outcome(bool(answer["ok"]), str(answer["reply"])))
        except (OSError, ValueError, KeyError, asyncio.LimitOverrunError) as exc:
            log.error("the delivery helper said something unreadable (%s); deliveries stop", exc.__class__.__name__)
        if not self.gone:
            self.gone = "the delivery helper exited"
            log.error("the delivery helper exited; no more probes are delivered until the next start")
        self._fail_pending(self.gone)

    def _fail_pending(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_result(Outcome(False, why))

    async def submit(self, job: Job) -> Outcome:
        if self.gone:
            return Outcome(False, self.gone)
        if self._writer is None:
            await self._connect()
        assert self._writer is not None
        self._next_id += 1
        job_id = self._next_id
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending[job_id] = future
        try:
            self._writer.write(encode_job(job_id, job))
            await self._writer.drain()
            # The helper kills the child at its deadline; this is the last resort should it not answer.
            return await asyncio.wait_for(asyncio.shield(future), job.timeout + 2 * KILL_GRACE + 1)
        except TimeoutError:
            return Outcome(False, f"timed out: the delivery helper gave no answer within {job.timeout:g} s")
        except (OSError, ConnectionError) as exc:
            return Outcome(False, f"the delivery helper is gone ({exc.__class__.__name__})")
        finally:
            self._pending.pop(job_id, None)

    def kill(self) -> None:
        """At a failed start: the helper goes at once."""
        self.gone = "the sensor did not start"
        if self.sock is not None:
            self.sock.close()
        if self.pid:
            _reap(self.pid, wait=0.5)
            self.pid = 0

    async def stop(self, why: str = "stopped") -> None:
        """End every delivery in flight (each then answers `why`) and the helper with them."""
        self.gone = why
        self._fail_pending(why)
        if self._writer is not None:
            self._writer.close()
        elif self.sock is not None:
            self.sock.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task
        if self.pid:
            await asyncio.get_running_loop().run_in_executor(None, _reap, self.pid)
            self.pid = 0


def _reap(pid: int, wait: float = 2.0) -> None:
    """Wait for the helper to exit (it does once its socket closes), killing it after `wait`."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


# ---------------------------------------------------------------- the helper process itself


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _become_helper(keep: int, uid: int | None, gid: int | None) -> None:
    """Nothing of the sensor's: no signal handling of its, none of its files or sockets, its user."""
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_IGN)  # the terminal's Ctrl-C is the sensor's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _die_with_parent()
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    os.closerange(3, keep)
    os.closerange(keep + 1, _max_fd())
    if uid is not None and gid is not None and os.getuid() == 0:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        return 65536


@dataclass
class _Running:
    job_id: int
    pid: int
    pipe: int
    kill_at: float
    output: bytes = b""


def _helper_main(sock: socket.socket, concurrency: int, uid: int | None, gid: int | None) -> int:
    _become_helper(sock.fileno(), uid, gid)
    selector = selectors.DefaultSelector()
    sock.setblocking(False)
    selector.register(sock, selectors.EVENT_READ, None)
    waiting: list[tuple[int, Job]] = []
    running: dict[int, _Running] = {}  # by pipe
    inbox = b""
    answers = b""
    open_ = True
    while open_ or running:
        while waiting and len(running) < concurrency:
            job_id, job = waiting.pop(0)
            child = _spawn(job_id, job)
            running[child.pipe] = child
            selector.register(child.pipe, selectors.EVENT_READ, child)
        now = time.monotonic()
        timeout = max(0.0, min((c.kill_at for c in running.values()), default=now + 1.0) - now)
        for key, _ in selector.select(timeout):
            if key.data is None:
                chunk = _recv(sock)
                if chunk is None:
                    continue
                if not chunk:
                    open_ = False
                    selector.unregister(sock)
                    for child in running.values():  # the sensor is stopping: so is every delivery
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(child.pid, signal.SIGKILL)
                    waiting.clear()
                    continue
                inbox += chunk
                if len(inbox) > MAX_MESSAGE and b"\n" not in inbox:
                    return 1  # the sensor never sends that: something is wrong
                while b"\n" in inbox:
                    line, _, inbox = inbox.partition(b"\n")
                    waiting.append(decode_job(line))
            else:
                child = key.data
                chunk = os.read(child.pipe, 65536)
                if chunk and len(child.output) < 65536:
                    child.output += chunk
                    continue
                selector.unregister(child.pipe)
                del running[child.pipe]
                answers += _finish(child, "")
        now = time.monotonic()
        for child in list(running.values()):
            if now >= child.kill_at:
                selector.unregister(child.pipe)
                del running[child.pipe]
                answers += _finish(child, "timed out: the delivery overran its deadline and was killed")
        if answers and open_:
            try:
                sock.setblocking(True)
                sock.sendall(answers)
                sock.setblocking(False)
            except OSError:
                open_ = False
            answers = b""
    return 0


def _recv(sock: socket.socket) -> bytes | None:
    try:
        return sock.recv(65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _spawn(job_id: int, job: Job) -> _Running:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (runs in the delivery child)
        status = 1
        try:
            os.close(read_end)
            _die_with_parent()
            _limit_memory()
            outcome = deliver(job)
            os.write(write_end, json.dumps({"ok": outcome.ok, "reply": outcome.reply}).encode())
            status = 0
        except BaseException:  # noqa: BLE001 (the helper reports a child that said nothing)
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    return _Running(job_id, pid, read_end, time.monotonic() + job.timeout + KILL_GRACE)


def _limit_memory() -> None:
    """What this process maps now, plus MEMORY_ALLOWANCE: a reply can cost no more than that."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return
    limit = mapped + MEMORY_ALLOWANCE
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _finish(child: _Running, killed: str) -> bytes:
    """Reap the child and phrase its answer."""
    if killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)
    _, status = os.waitpid(child.pid, 0)
    os.close(child.pipe)
    reply = killed
    ok = False
    if not killed:
        try:
            answer = json.loads(child.output)
            ok, reply = bool(answer["ok"]), str(answer["reply"])
        except (ValueError, KeyError, TypeError):
            if os.WIFSIGNALED(status):
                reply = f"the delivery process was killed by signal {os.WTERMSIG(status)}"
            else:
                reply = (f"the delivery process ended without an answer (status {os.waitstatus_to_exitcode(status)}; "
                         "out of memory?)")
    return json.dumps({"id": child.job_id, "ok": ok, "reply": reply}).encode() + b"\n"
