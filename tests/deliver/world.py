"""The outside world of the probe-delivery tests, run inside a network namespace of their own:
a DNS server that says where each domain's mail goes, traps that count every connection made to
an address no delivery may reach, and hostile mail servers. Started by tests/deliver/net.py as

    ip netns exec NS python3 world.py CONFIG.json

with CONFIG {"dns": "ADDRESS", "records": {"NAME TYPE": [...] | "DELAY:SECONDS [...]"},
"traps": ["ADDRESS", ...], "trap_log": PATH, "hostile": {"ADDRESS:PORT": "endless" | "drip" |
"longline"}}; prints "ready" once every socket listens, and runs until killed.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from pathlib import Path

from dnslib import QTYPE, RCODE, RR, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSServer


class Zone(BaseResolver):
    def __init__(self, records: dict[str, list[str] | str]) -> None:
        self.records = {}
        for key, value in records.items():
            name, rdtype = key.rsplit(" ", 1)
            self.records[(name.lower().rstrip("."), rdtype)] = value
        self.names = {name for name, _ in self.records}

    def resolve(self, request: DNSRecord, handler) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip(".")
        rdtype = QTYPE[request.q.qtype]
        value = self.records.get((name, rdtype))
        if isinstance(value, str) and value.startswith("DELAY:"):
            seconds, _, rest = value[6:].partition(" ")
            time.sleep(float(seconds))
            value = json.loads(rest or "[]")
        if value is not None:
            for data in value:
                reply.add_answer(*RR.fromZone(f"{name}. 60 IN {rdtype} {data}"))
        elif name not in self.names:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class Quiet:
    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


def listen(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((address, port))
    server.listen(64)
    return server


def trap(server: socket.socket, log: Path, lock: threading.Lock) -> None:
    """Every connection is written down, then closed: no delivery may ever reach one."""
    while True:
        conn, peer = server.accept()
        with lock, log.open("a") as out:
            out.write(f"{server.getsockname()[0]} {peer[0]}\n")
        conn.close()


def hostile(server: socket.socket, kind: str) -> None:
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve_hostile, args=(conn, kind), daemon=True).start()


def serve_hostile(conn: socket.socket, kind: str) -> None:
    try:
        if kind == "drip":  # a byte a second, for ever: the greeting never ends
            for byte in b"220 slow.example ESMTP" * 1000:
                conn.sendall(bytes([byte]))
                time.sleep(1.0)
            return
        conn.sendall(b"220 mx.example ESMTP\r\n")
        conn.recv(1024)  # EHLO
        if kind == "endless":  # an EHLO reply that never ends: a continuation line after another
            line = b"250-" + b"X" * 200 + b"\r\n"
            while True:
                conn.sendall(line * 500)
        if kind == "longline":  # one reply line that never ends
            conn.sendall(b"250-")
            while True:
                conn.sendall(b"Y" * 65536)
    except OSError:
        pass
    finally:
        conn.close()


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text())
    servers = []
    if config.get("dns"):
        dns = DNSServer(Zone(config["records"]), address=config["dns"], port=53, logger=Quiet(), handler=DNSHandler)
        dns.start_thread()
        servers.append(dns)
    lock = threading.Lock()
    log = Path(config.get("trap_log", "/dev/null"))
    for address in config.get("traps", []):
        threading.Thread(target=trap, args=(listen(address, 25), log, lock), daemon=True).start()
    for where, kind in config.get("hostile", {}).items():
        address, _, port = where.rpartition(":")
        threading.Thread(target=hostile, args=(listen(address.strip("[]"), int(port)), kind), daemon=True).start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
