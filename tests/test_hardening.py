"""The sensor as a process under attack and faults: memory, file descriptors, kill -9, a full disk."""

from __future__ import annotations

import re
import resource
import signal
import socket
import threading
import time
from pathlib import Path

from test_cli import jsonl, start
from transport.test_server import read_replies, read_reply


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M).group(1))


def test_concurrent_large_messages_stay_within_the_message_memory(tmp_path):
    """Eight clients each send a 20 MiB message at once against a 32 MiB bound: the one that fits
    is stored, the others get the persona's 452 and a limit_memory record, and the sensor's peak
    memory grows by far less than the 160 MiB sent (without the bound it held them all)."""
    proc, port = start(tmp_path, "--quiet", "--persona", "postfix",
                       env={"RELAYPOT_LIMITS_MAX_MESSAGE_MEMORY": "32MiB"})
    time.sleep(0.5)
    before = rss_kib(proc.pid)
    body = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * (20 * 1024)
    replies: list[bytes] = []

    def client() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            read_reply(sock)
            sock.sendall(b"EHLO big.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
            read_replies(sock, 4)
            sock.sendall(body)
            barrier.wait()  # every body is in flight before any ends
            sock.sendall(b".\r\n")
            replies.append(read_reply(sock, 60))

    barrier = threading.Barrier(8)
    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    peak = rss_kib(proc.pid, "VmHWM")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert len(replies) == 8
    accepted = [r for r in replies if r.startswith(b"250 ")]
    refused = [r for r in replies if r == b"452 4.3.1 Insufficient system storage\r\n"]
    assert len(accepted) >= 1 and len(accepted) + len(refused) == 8 and len(refused) >= 6
    memory = [r for r in jsonl(tmp_path) if r["kind"] == "smtp.violation" and r["violation"] == "limit_memory"]
    assert len(memory) == len(refused)
    assert (peak - before) / 1024 < 130, f"peak grew by {(peak - before) / 1024:.0f} MiB"


def soft_nofile(pid: int) -> int:
    return resource.prlimit(pid, resource.RLIMIT_NOFILE)[0]


def test_the_descriptor_limit_is_raised_and_connections_fit_under_it(tmp_path):
    """At start the soft descriptor limit is raised to the hard one; where that is still low,
    max_connections is lowered under it (with a warning), so that every client past it gets the
    persona's 421 instead of a failed accept."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    proc, port = start(tmp_path / "a", "--quiet", preexec=lambda: resource.setrlimit(
        resource.RLIMIT_NOFILE, (256, hard)))
    assert soft_nofile(proc.pid) == hard
    proc.terminate()
    proc.communicate(timeout=30)
    proc, port = start(tmp_path / "b", "--quiet", env={"RELAYPOT_LIMITS_MAX_CONNECTIONS_PER_IP": "1000"},
                       preexec=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (160, 160)))
    held, answers = [], []
    try:
        for _ in range(100):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            held.append(sock)
            answers.append(read_reply(sock)[:4])
    finally:
        for sock in held:
            sock.close()
        proc.terminate()
        err = proc.early_stderr + proc.communicate(timeout=30)[1]
    assert "[limits] max_connections lowered from 1024 to 64" in err
    assert answers.count(b"220 ") == 64 and answers.count(b"421 ") == 36
    assert "out of file descriptors" not in err


def test_running_out_of_descriptors_is_logged_once_per_interval(tmp_path):
    """When the descriptors run out anyway (the limit lowered under a running sensor), the log
    says so once, with counts, not once per client; once there are descriptors again, clients
    are greeted."""
    proc, port = start(tmp_path, "--quiet")
    time.sleep(0.5)
    in_use = len(list(Path(f"/proc/{proc.pid}/fd").iterdir()))
    hard = resource.prlimit(proc.pid, resource.RLIMIT_NOFILE)[1]
    resource.prlimit(proc.pid, resource.RLIMIT_NOFILE, (in_use + 4, hard))
    clients = []
    for _ in range(40):
        sock = socket.socket()
        sock.settimeout(3)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            pass
        clients.append(sock)
    time.sleep(3)
    for sock in clients:
        sock.close()
    resource.prlimit(proc.pid, resource.RLIMIT_NOFILE, (4096, hard))
    time.sleep(1.5)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        assert read_reply(sock).startswith(b"220 ")
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    lines = [line for line in err.splitlines() if "out of file descriptors" in line]
    assert len(lines) == 1, err
    assert "Raise `ulimit -n`" in lines[0]
