"""A real DNS server on loopback for the enrichment tests: fake DNSBL zones, PTR and A records,
NXDOMAIN, SERVFAIL, and names it never answers (timeouts). Built on dnslib; UDP on port 0."""

from __future__ import annotations

import threading

from dnslib import QTYPE, RCODE, RR, DNSError, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSServer

SERVFAIL = "SERVFAIL"
SILENCE = "SILENCE"  # never answered: the client times out

class _Zone(BaseResolver):
    def __init__(self, records: dict[tuple[str, str], list[str] | str]) -> None:
        self.records = {(name.lower().rstrip("."), rdtype): value for (name, rdtype), value in records.items()}
        self.names = {name for name, _ in self.records}
        self.questions: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def resolve(self, request: DNSRecord, handler) -> DNSRecord | None:
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip(".")
        rdtype = QTYPE[request.q.qtype]
        with self.lock:
            self.questions.append((name, rdtype))
        value = next((self.records[key] for key in ((name, rdtype), (name, "*"), ("*", "*")) if key in self.records),
                     None)
        if value == SILENCE:
            raise DNSError("silence")  # the handler drops the question: the client times out
        if value == SERVFAIL:
            reply.header.rcode = RCODE.SERVFAIL
        elif value is not None:
            for data in value:
                reply.add_answer(*RR.fromZone(f"{name}. 300 IN {rdtype} {data}"))
        elif name not in self.names:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply  # a known name without that type: NOERROR and no answer (NODATA)

class FakeDns:
    """`with FakeDns({("4.3.2.1.zen.example", "A"): ["127.0.0.2"]}) as dns: dns.address` → "127.0.0.1:PORT".
    A type of "*" answers every type of that name; the name "*" with type "*" answers everything."""

    def __init__(self, records: dict[tuple[str, str], list[str] | str]) -> None:
        self.zone = _Zone(records)
        self.server = DNSServer(self.zone, address="127.0.0.1", port=0, logger=_Quiet(), handler=DNSHandler)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server.server_address[1]}"

    @property
    def questions(self) -> list[tuple[str, str]]:
        with self.zone.lock:
            return list(self.zone.questions)

    def __enter__(self) -> FakeDns:
        self.server.start_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
        self.server.server.server_close()

class _Quiet:
    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None
