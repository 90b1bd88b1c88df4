"""The sensor as a process under attack and faults: memory, file descriptors, kill -9, a full disk."""

from __future__ import annotations

import re
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
