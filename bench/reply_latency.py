"""Benchmark: how long the replies a client can time take, relaypot's postfix persona beside the
real Postfix 3.7.11 (started from the reference configuration by tests/postfix_server.py; root
needed), in one run: the first accepted RCPT (Postfix opens its queue file then), the end of DATA
(Postfix syncs the queue file), and NOOP as the floor. Medians over a connection's transactions,
the two servers alternating. Figures, never assertions; docs/personas.md quotes them.

    sudo python3 bench/reply_latency.py [--transactions 40] [--rounds 2] [--fsync]

`--fsync` runs the persona with [store] fsync = true, which syncs each message before its reply.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
os.environ.setdefault("RELAYPOT_SMTP_HOSTNAME", "mail.example.com")

from postfix_server import PostfixServer
from support import RunningSensor, read_reply


def timed(sock: socket.socket, line: bytes) -> float:
    began = time.perf_counter()
    sock.sendall(line)
    read_reply(sock)
    return time.perf_counter() - began


def measure(port: int, transactions: int) -> tuple[float, float, float]:
    """Median µs of (the first RCPT's reply, the end of DATA's, NOOP's)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each line its own segment, at once
    read_reply(sock)
    timed(sock, b"EHLO client.example.org\r\n")
    rcpt, end, noop = [], [], []
    for _ in range(transactions):
        timed(sock, b"MAIL FROM:<a@client.example.org>\r\n")
        rcpt.append(timed(sock, b"RCPT TO:<root@mail.example.com>\r\n"))
        timed(sock, b"DATA\r\n")
        sock.sendall(b"Subject: x\r\n\r\n" + b"y" * 900 + b"\r\n")
        time.sleep(0.01)
        end.append(timed(sock, b".\r\n"))
        noop.append(timed(sock, b"NOOP\r\n"))
    sock.close()
    return tuple(statistics.median(values) * 1e6 for values in (rcpt, end, noop))  # type: ignore[return-value]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--fsync", action="store_true")
    args = parser.parse_args()
    with PostfixServer() as postfix:
        sensor = RunningSensor(Path(tempfile.mkdtemp()) / "data", smtp__persona="postfix", store__fsync=args.fsync)
        try:
            print(f"# reply latency on loopback, µs (medians of {args.transactions}); persona fsync={args.fsync}")
            for n in range(args.rounds):
                for name, port in (("postfix", postfix.ports["sasl"]), ("relaypot", sensor.port)):
                    rcpt, end, noop = measure(port, args.transactions)
                    print(f"round {n + 1}: {name:8} first RCPT {rcpt:7.0f}  end of DATA {end:7.0f}  NOOP {noop:5.0f}")
        finally:
            sensor.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
