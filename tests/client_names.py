"""Clients with names in DNS, for the personas whose server says the client's name ([server]
names_client: Sendmail's banner, Hello and relay refusal; Exim's Hello). One zone serves the real
server and the persona alike: the real server asks it through the C library (a resolv.conf
naming NAMESERVER, bind-mounted in the daemon's mount namespace), relaypot through [enrich]
resolver.

    python3 tests/client_names.py SERVER OUT.json       (sendmail or exim)

captures tests/reference/SERVER/client-names.json: the server's probes below against the real
server (tests/sendmail_server.py, tests/exim_server.py) from each source address, on a fresh
connection each. Sendmail's command timeout is made 3 s for the capture (its 1 h default is too
long to wait), so the timeout's words can be captured too; nothing else of the configuration
changes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "enrich"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "reference"))

# (source address, what DNS says of it, the outcome Sendmail's getauthinfo() names)
SOURCES = [
    ("127.0.0.2", "no PTR record (NXDOMAIN)", "FAIL"),
    ("127.0.0.3", "a PTR name whose address is the client's", "OK"),
    ("127.0.0.4", "a PTR name whose address is another", "FORGED"),
    ("127.0.0.5", "SERVFAIL for the PTR question", "TEMP"),
    ("127.0.0.6", "a PTR name with no address", "FORGED"),
    ("127.0.0.8", "a PTR name in mixed case, confirmed", "OK"),
]
NAMESERVER = "127.0.0.153"  # port 53, the only one the C library asks (not 127.0.0.53: systemd-resolved's)


def records() -> dict:
    from dns_server import SERVFAIL

    return {
        ("3.0.0.127.in-addr.arpa", "PTR"): ["named.client.example.org."],
        ("named.client.example.org", "A"): ["127.0.0.3"],
        ("4.0.0.127.in-addr.arpa", "PTR"): ["forged.client.example.org."],
        ("forged.client.example.org", "A"): ["192.0.2.77"],
        ("5.0.0.127.in-addr.arpa", "PTR"): SERVFAIL,
        ("6.0.0.127.in-addr.arpa", "PTR"): ["nodns.client.example.org."],
        ("8.0.0.127.in-addr.arpa", "PTR"): ["Mixed.Client.Example.ORG."],
        ("mixed.client.example.org", "A"): ["127.0.0.8"],
    }


def probes(server: str = "sendmail") -> list[tuple[str, str, list]]:
    ehlo = ("send", b"EHLO client.example.org\r\n", 1)
    quit_ = ("send", b"QUIT\r\n", 1)
    found = [
        ("named_relay", "EHLO, HELO, a relay recipient, a local one",
         [("read", 1), ehlo, ("send", b"HELO client.example.org\r\n", 1),
          ("send", b"MAIL FROM:<a@client.example.org>\r\n", 1), ("send", b"RCPT TO:<victim@example.net>\r\n", 1),
          ("send", b"RCPT TO:<postmaster@mail.example.com>\r\n", 1), quit_]),
        ("named_too_long", "a command line past Sendmail's bound",
         [("read", 1), ("send", b"NOOP " + b"x" * 3000 + b"\r\n", 1)]),
        ("named_open_proxy", "an HTTP request as the first line", [("read", 1), ("send", b"GET / HTTP/1.0\r\n", 1)]),
        ("named_timeout", "nothing after EHLO until the command timeout", [("read", 1), ehlo, ("read", 1)]),
    ]
    if server == "exim":  # its Hello alone names the client: after a HELO of another name too
        return found[:1] + [("named_helo_other", "HELO and EHLO naming some other host",
                             [("read", 1), ("send", b"HELO other.example.net\r\n", 1),
                              ("send", b"EHLO [192.0.2.9]\r\n", 1), quit_])]
    return found


@contextmanager
def naming() -> Iterator[str]:
    """records() answered by a DNS server on NAMESERVER, port 53, while the block runs: the
    address to hand a real server (its `nameserver`). Also what keeps a real server's lookups off
    the machine's resolver, whose dropped queries cost a connection five seconds."""
    from dns_server import _Quiet, _Zone
    from dnslib.server import DNSHandler, DNSServer

    dns = DNSServer(_Zone(records()), address=NAMESERVER, port=53, logger=_Quiet(), handler=DNSHandler)
    dns.start_thread()
    try:
        yield NAMESERVER
    finally:
        dns.stop()


def main() -> int:
    from battery import run_probe

    import exim_server
    import sendmail_server

    name, out = sys.argv[1], Path(sys.argv[2])

    class Capturing(sendmail_server.SendmailServer):
        def _config(self) -> None:
            super()._config()
            with (self.run / "sendmail.cf").open("a") as cf:
                cf.write("O Timeout.command=3s\n")

    conversations = []
    with naming() as nameserver:
        real = Capturing(nameserver=nameserver) if name == "sendmail" else exim_server.EximServer(nameserver=nameserver)
        with real as server:
            for source, dns_says, outcome in SOURCES:
                for probe, description, steps in probes(name):
                    conversation = run_probe("127.0.0.1", server.port, probe, description, steps, source)
                    conversation.update(source=source, dns=dns_says, resolve=outcome)
                    conversations.append(conversation)
                    print(source, probe, conversation["exchange"][-2][1][:90])
    out.write_text(json.dumps(conversations, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
