"""The client's name in DNS, where the persona's server says it (issue 27: Sendmail's banner,
Hello, relay refusal and the words of its other refusals name the client as getauthinfo() found
it; Exim's Hello names it by its PTR name where that leads back). Every outcome is captured from
the real server asking a DNS server on loopback (tests/client_names.py →
tests/reference/{sendmail,exim}/client-names.json): a PTR name that leads back (OK), one that
leads elsewhere or nowhere (FORGED), none (FAIL), a failed lookup (TEMP). The persona answers
each the same: sans-IO, given the name; and over sockets, where the sensor asks the same zone
itself ([enrich] resolver)."""

from __future__ import annotations

import json
import random

import pytest

from client_names import SOURCES, naming, probes, records
from relaypot.personas import model
from relaypot.protocol.client_names import FAIL, FORGED, OK, TEMP, ClientName, host_name, placeholders
from relaypot.protocol.listener import ListenerContext
from relaypot.protocol.session import Session
from support import REFERENCE, Driver, RunningSensor, normalize, unesc

SERVERS = ("sendmail", "exim")  # each persona is its server's name
CAPTURES = [{**c, "server": server} for server in SERVERS
            for c in json.loads((REFERENCE / server / "client-names.json").read_text())]


def expected(conversation: dict) -> bytes:
    return normalize(b"".join(unesc(text) for direction, text in conversation["exchange"] if direction == "S"))


def name_of(source: str, outcome: str) -> ClientName:
    """What DNS says of `source` in the zone of tests/client_names.py, as the sensor reads it."""
    reverse = ".".join(reversed(source.split("."))) + ".in-addr.arpa"
    ptr = records().get((reverse, "PTR"))
    return ClientName(ptr[0].rstrip(".") if isinstance(ptr, list) else None, outcome)


def session(source: str, persona: str = "sendmail") -> Session:
    loaded = model.load(persona)
    context = ListenerContext(loaded, "mail.example.com", "mail.example.com", clock=lambda: 1.0, rng=random.Random(0),
                              tls_available=loaded.server.starttls_offered)
    return Session(context, source, 40000, "127.0.0.1", 25, "127.0.0.1:25", relay="closed")


@pytest.mark.parametrize("server", SERVERS)
def test_every_outcome_and_probe_is_captured(server):
    captured = [c for c in CAPTURES if c["server"] == server]
    assert {(c["source"], c["name"]) for c in captured} == {(s, p[0]) for s, _, _ in SOURCES for p in probes(server)}
    assert {c["resolve"] for c in captured} == {OK, FAIL, FORGED, TEMP}


def test_sendmails_banner_says_each_outcome_as_captured():
    banners = {c["source"]: unesc(c["exchange"][0][1]) for c in CAPTURES if c["server"] == "sendmail"}
    assert all(f"({outcome})-".encode() in banners[source] for source, _, outcome in SOURCES)


@pytest.mark.parametrize("conversation", [c for c in CAPTURES if c["name"] != "named_timeout"],
                         ids=lambda c: f"{c['server']}-{c['source']}-{c['name']}")
def test_the_persona_names_the_client_as_the_real_server(conversation):
    named = session(conversation["source"], conversation["server"])
    named.named(name_of(conversation["source"], conversation["resolve"]))
    driver = Driver(named)
    for direction, text in conversation["exchange"]:
        if direction == "C":
            driver.feed(unesc(text))
    assert normalize(driver.wire) == expected(conversation)


def test_a_timed_out_client_gets_the_close_alone():
    """Sendmail's disconnect() closes the channel before its "Lost input channel" is written."""
    driver = Driver(session("127.0.0.2")).feed(b"EHLO client.example.org\r\n")
    before = len(driver.replies)
    driver.take(driver.session.timed_out("timeout"))
    assert b"".join(r.data for r in driver.replies[before:]) == b""
    assert driver.closed == "timeout"


def test_an_unnamed_client_is_said_as_before_any_lookup():
    assert placeholders(ClientName(None, FAIL), "192.0.2.1") == {
        "client_name": "[192.0.2.1]", "client_resolve": "FAIL", "client_host": "[192.0.2.1]"}
    assert placeholders(ClientName(None, TEMP), "192.0.2.1")["client_host"] == "[192.0.2.1]"


@pytest.mark.parametrize(("name", "kept"), [
    ("mail.example.org.", "mail.example.org"), ("Mixed.Example.ORG", "Mixed.Example.ORG"),
    ("a_b.example", "a_b.example"),
    ("bad name.example", None), ("a\r\nb.example", None), ("-lead.example", None), ("x" * 254, None), ("", None),
    ("a..b", None), ("\\032.example", None), ("trail-.example", None),
])
def test_only_a_host_name_from_dns_reaches_a_reply(name, kept):
    """A PTR name is the client's own to write: anything but a host name is no name."""
    assert host_name(name) == kept


@pytest.fixture(scope="module")
def dns():
    from dns_server import FakeDns

    with FakeDns(records()) as server:
        yield server


@pytest.fixture(scope="module")
def sensors(dns, tmp_path_factory):
    running = {server: RunningSensor(tmp_path_factory.mktemp(f"names-{server}"), smtp__persona=server,
                                     smtp__relay="closed", deception__client_lookups=True,
                                     enrich__resolver=dns.address, limits__idle_timeout=3.0) for server in SERVERS}
    try:
        yield running
    finally:
        for sensor in running.values():
            sensor.stop()


@pytest.mark.parametrize("conversation", [
    pytest.param(c, marks=pytest.mark.slow) if c["name"] == "named_timeout" else c for c in CAPTURES  # 3 s idle each
], ids=lambda c: f"{c['server']}-{c['source']}-{c['name']}")
def test_over_sockets_the_sensor_asks_dns_and_answers_as_the_real_server(sensors, conversation):
    """The same probes from the same addresses: the sensor's own lookup (PTR, then the name's
    address) makes the banner, Hello and refusals the real server sent; the idle timeout (made
    3 s here, as the capture made Sendmail's) is the close alone."""
    from battery import run_probe

    sensor = sensors[conversation["server"]]
    steps = {name: steps for name, _, steps in probes(conversation["server"])}[conversation["name"]]
    played = run_probe(sensor.host, sensor.port, conversation["name"], "", steps, conversation["source"])
    assert expected(played) == expected(conversation)
    assert played["close"] == conversation["close"]


def test_the_sensor_asks_each_address_once_while_its_answer_is_kept(sensors, dns):
    from battery import run_probe

    sensor = sensors["sendmail"]

    def asked() -> int:
        return dns.questions.count(("3.0.0.127.in-addr.arpa", "PTR"))

    run_probe(sensor.host, sensor.port, "first", "", [("read", 1), ("send", b"QUIT\r\n", 1)], "127.0.0.3")
    before = asked()
    for _ in range(3):
        run_probe(sensor.host, sensor.port, "again", "", [("read", 1), ("send", b"QUIT\r\n", 1)], "127.0.0.3")
    assert before >= 1 and asked() == before


@pytest.mark.slow
@pytest.mark.parametrize("name", SERVERS)
def test_the_real_server_still_names_clients_as_captured(name):
    """The capture's server, zone and probes again: the real server's bytes are the capture's."""
    from battery import run_probe

    from exim_server import EximServer
    from sendmail_server import SendmailServer

    with naming() as nameserver, (SendmailServer if name == "sendmail" else EximServer)(nameserver=nameserver) as real:
        for conversation in (c for c in CAPTURES if c["server"] == name):
            if conversation["name"] == "named_timeout":
                continue  # made with a 3 s command timeout; the harness keeps Sendmail's own
            steps = {probe: steps for probe, _, steps in probes(name)}[conversation["name"]]
            played = run_probe("127.0.0.1", real.port, conversation["name"], "", steps, conversation["source"])
            assert expected(played) == expected(conversation), conversation["source"]


def test_the_namer_keeps_answers_a_while_and_only_so_many(dns):
    """Bounded both ways: an answer is asked again once its time is up, and past `kept`
    addresses the oldest is let go (a client cannot grow the sensor's memory by its addresses)."""
    import asyncio

    from relaypot.enrich.resolver import Resolver
    from relaypot.transport.naming import ClientNamer

    now = [0.0]
    namer = ClientNamer(Resolver(dns.address, 2.0), kept=2, seconds=60.0, clock=lambda: now[0])

    def asked(ip: str) -> int:
        return dns.questions.count((".".join(reversed(ip.split("."))) + ".in-addr.arpa", "PTR"))

    async def name(ip: str) -> ClientName:
        return await namer.name(ip)

    start = {ip: asked(ip) for ip in ("127.0.0.3", "127.0.0.4", "127.0.0.8")}
    assert asyncio.run(name("127.0.0.3")) == ClientName("named.client.example.org", OK)
    assert asyncio.run(name("127.0.0.3")) == ClientName("named.client.example.org", OK)
    assert asked("127.0.0.3") == start["127.0.0.3"] + 1  # kept
    now[0] = 61.0
    asyncio.run(name("127.0.0.3"))
    assert asked("127.0.0.3") == start["127.0.0.3"] + 2  # its time was up
    assert asyncio.run(name("127.0.0.4")) == ClientName("forged.client.example.org", FORGED)
    assert asyncio.run(name("127.0.0.8")) == ClientName("Mixed.Client.Example.ORG", OK)
    asyncio.run(name("127.0.0.3"))  # the oldest of three, with room for two: let go, asked again
    assert asked("127.0.0.3") == start["127.0.0.3"] + 3


def test_one_lookup_serves_every_connection_of_an_address_while_it_runs(dns):
    import asyncio

    from relaypot.enrich.resolver import Resolver
    from relaypot.transport.naming import ClientNamer

    namer = ClientNamer(Resolver(dns.address, 2.0))
    before = dns.questions.count(("6.0.0.127.in-addr.arpa", "PTR"))

    async def flood() -> list[ClientName]:
        return await asyncio.gather(*(namer.name("127.0.0.6") for _ in range(20)))

    assert set(asyncio.run(flood())) == {ClientName("nodns.client.example.org", FORGED)}
    assert dns.questions.count(("6.0.0.127.in-addr.arpa", "PTR")) == before + 1
