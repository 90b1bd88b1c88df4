"""Enrichment inside a running sensor: real SMTP clients on loopback, a real DNS server, fixture
GeoIP files, and the real p0f on the loopback interface."""

from __future__ import annotations

import os
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dns_server import SILENCE, FakeDns
from geo_fixture import write_geo
from p0f_support import p0f_available, running_p0f, windows_xp_syn

from support import fetch, relaypot

pytestmark = pytest.mark.slow  # sensors with a DNS server, slow and silent resolvers

SOURCE = "127.0.0.11"  # Taipei in the GeoIP fixture
ZONES = ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"]


def dns_records(source: str = SOURCE) -> dict:
    reverse = ".".join(reversed(source.split(".")))
    return {
        (f"{reverse}.zen.spamhaus.org", "A"): ["127.0.0.4"],
        (f"{reverse}.b.barracudacentral.org", "A"): ["127.0.0.2"],
        (f"{reverse}.in-addr.arpa", "PTR"): [f"{source.replace('.', '-')}.dynamic.hinet.example."],
        (f"{source.replace('.', '-')}.dynamic.hinet.example", "A"): [source],
        ("relay.example.net", "A"): ["192.0.2.25"],
    }


def enriched_sensor(sensor_factory, tmp_path: Path, dns: FakeDns, **options):
    city, asn = write_geo(tmp_path / "geo")
    # Live HELO lookups are off by default (a canary's tell): these tests turn them on to check them.
    settings = {"enrich__enabled": True, "enrich__resolver": dns.address, "enrich__dns_timeout": 1.0,
                "enrich__dnsbl_zones": ZONES, "enrich__city_db": str(city), "enrich__asn_db": str(asn),
                "enrich__helo_lookups_per_session": 2}
    return sensor_factory(**{**settings, **options})


def spam_session(address: tuple[str, int], source: str = SOURCE, helo: str = "relay.example.net") -> None:
    with smtplib.SMTP(*address, timeout=15, source_address=(source, 0)) as smtp:
        smtp.ehlo(helo)
        smtp.sendmail("a@bulk.example", ["v@example.net"], "Subject: hi\r\n\r\nbuy\r\n")


def test_every_new_source_is_looked_up_once_and_the_answers_are_recorded(sensor_factory, tmp_path):
    with FakeDns(dns_records()) as dns:
        sensor = enriched_sensor(sensor_factory, tmp_path, dns)
        spam_session(sensor.address)
        opened = sensor.wait_for("session.opened")[0]
        geo = sensor.wait_for("enrich.geo")[0]
        rdns = sensor.wait_for("enrich.rdns")[0]
        listings = sensor.wait_for("enrich.dnsbl", 3)
        helo = sensor.wait_for("enrich.helo")[0]
        spam_session(sensor.address)  # the same source again, within the cache's TTL
        sensor.wait_for("session.closed", 2)
        time.sleep(0.5)
        assert len(sensor.records("enrich.dnsbl")) == 3 and len(sensor.records("enrich.geo")) == 1
        assert len([q for q in dns.questions if q[1] == "PTR"]) == 1
    for record in (geo, rdns, *listings, helo):
        assert record.event.for_session == opened.session and record.src_ip == SOURCE
        assert record.session != opened.session and record.seq == 1 and record.sensor == "test-sensor"
    assert (geo.event.country, geo.event.city, geo.event.asn) == ("TW", "Taipei", 3462)
    assert rdns.event.ptr == "127-0-0-11.dynamic.hinet.example" and rdns.event.confirmed is True
    assert rdns.event.generic == "the address is in the name"
    verdicts = {r.event.zone: (r.event.listed, r.event.codes) for r in listings}
    assert verdicts == {"zen.spamhaus.org": (True, ("127.0.0.4",)), "bl.spamcop.net": (False, ()),
                        "b.barracudacentral.org": (True, ("127.0.0.2",))}
    assert (helo.event.name, helo.event.resolves, helo.event.matches_peer) == ("relay.example.net", True, False)
    # ...and in the SQL store's raw events, as every record is.
    kinds = dict(fetch(sensor.store_url, "SELECT kind, count(*) FROM events WHERE kind LIKE 'enrich.%' GROUP BY kind"))
    assert kinds == {"enrich.geo": 1, "enrich.rdns": 1, "enrich.dnsbl": 3, "enrich.helo": 1}
    # ...and in the typed tables the report reads.
    assert fetch(sensor.store_url, "SELECT src_ip, country, city, asn, organisation, ptr, ptr_confirmed, "
                                   "ptr_generic, os FROM sources") == [
        (SOURCE, "TW", "Taipei", 3462, "Data Communication Business Group", "127-0-0-11.dynamic.hinet.example", 1,
         "the address is in the name", None)]
    assert fetch(sensor.store_url, "SELECT zone, listed, codes, error FROM dnsbl ORDER BY zone") == [
        ("b.barracudacentral.org", 1, '["127.0.0.2"]', None), ("bl.spamcop.net", 0, "[]", None),
        ("zen.spamhaus.org", 1, '["127.0.0.4"]', None)]
    assert fetch(sensor.store_url, "SELECT name, src_ip, resolves, matches_peer, addresses FROM helo_names") == [
        ("relay.example.net", SOURCE, 1, 0, '["192.0.2.25"]')]


def test_a_silent_resolver_never_delays_the_dialogue(sensor_factory, tmp_path):
    """Every DNS question goes unanswered for 3 s; the session still ends before any answer is in."""
    with FakeDns({("*", "*"): SILENCE}) as dns:
        sensor = enriched_sensor(sensor_factory, tmp_path, dns, enrich__dns_timeout=3.0)
        spam_session(sensor.address)
        sensor.wait_for("session.closed")
        assert sensor.records("enrich.dnsbl") == [] and sensor.records("enrich.rdns") == []
        assert sensor.records("enrich.geo")  # offline: not waiting on DNS
        dnsbl = sensor.wait_for("enrich.dnsbl", 3)
    assert {r.event.error for r in dnsbl} == {"timeout"} and {r.event.listed for r in dnsbl} == {None}
    kinds = [r.kind for r in sensor.records()]
    assert kinds.index("session.closed") < kinds.index("enrich.dnsbl")


def test_enrichment_off_asks_nothing(sensor_factory, tmp_path):
    with FakeDns(dns_records()) as dns:
        sensor = sensor_factory(enrich__enabled=False, enrich__resolver=dns.address)
        spam_session(sensor.address)
        sensor.wait_for("session.closed")
        time.sleep(0.3)
        assert dns.questions == []
    assert not [r for r in sensor.records() if r.kind.startswith("enrich.")]


# --- the operating system, from the real p0f -------------------------------------------------

@pytest.fixture
def p0f(tmp_path):
    with running_p0f(p0f_available(), tmp_path) as sock:
        yield sock


def test_p0f_names_the_operating_system_of_each_source(sensor_factory, tmp_path, p0f):
    with FakeDns(dns_records()) as dns:
        sensor = enriched_sensor(sensor_factory, tmp_path, dns, enrich__p0f_socket=str(p0f), enrich__p0f_delay=1.5)
        # A Linux client (this machine's own SYN) that then sends Windows XP's SYN: p0f keeps the latest.
        with smtplib.SMTP(*sensor.address, timeout=15, source_address=(SOURCE, 0)) as smtp:
            windows_xp_syn(SOURCE, sensor.port)
            smtp.ehlo("relay.example.net")
        # A second source left as this machine made it: Linux.
        with smtplib.SMTP(*sensor.address, timeout=15, source_address=("127.0.0.12", 0)) as smtp:
            smtp.ehlo("other.example.net")
        found = {r.src_ip: r.event for r in sensor.wait_for("enrich.os", 2)}
    assert (found[SOURCE].os, found[SOURCE].flavor, found[SOURCE].match_quality) == ("Windows", "XP", 0)
    assert found["127.0.0.12"].os == "Linux" and found["127.0.0.12"].error is None


def test_an_unreachable_p0f_is_recorded_not_raised(sensor_factory, tmp_path):
    with FakeDns(dns_records()) as dns:
        sensor = enriched_sensor(sensor_factory, tmp_path, dns, enrich__p0f_socket=str(tmp_path / "nothing.sock"),
                                 enrich__p0f_delay=0.0)
        spam_session(sensor.address)
        os_record = sensor.wait_for("enrich.os")[0]
    assert os_record.event.os is None and "cannot reach p0f" in os_record.event.error
    assert sensor.records("smtp.message")  # the session went on as always


def test_the_p0f_client_speaks_the_api(tmp_path, p0f):
    """Straight to the socket: an address p0f never saw is None; a malformed query would be refused."""
    import asyncio

    from relaypot.enrich import p0f as client

    assert asyncio.run(client.ask(str(p0f), "127.0.0.99")) is None
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        windows_xp_syn("127.0.0.98", server.getsockname()[1])
        time.sleep(0.3)
        answer = asyncio.run(client.ask(str(p0f), "127.0.0.98"))
    finally:
        server.close()
    assert (answer.os_name, answer.os_flavor, answer.distance) == ("Windows", "XP", 0)


def test_an_unreadable_geo_database_stops_the_sensor_with_one_line(tmp_path):
    (tmp_path / "broken.mmdb").write_bytes(b"not a database")
    for path in (tmp_path / "missing.mmdb", tmp_path / "broken.mmdb"):
        result = subprocess.run(
            [sys.executable, "-m", "relaypot.cli", "run", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d")],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "RELAYPOT_ENRICH_CITY_DB": str(path)})
        assert result.returncode == 2
        assert result.stderr.startswith(f"relaypot: error: [enrich] city_db: cannot read {path}")
        assert result.stderr.count("\n") == 1


def test_attacker_chosen_helo_names_cost_a_bounded_number_of_queries(sensor_factory, tmp_path):
    """A session of 60 EHLO names, then five sessions of five new names each from one source: DNS
    questions go out for at most helo_lookups_per_session names a session and
    helo_lookups_per_source a source; the source itself is looked up once."""
    with FakeDns(dns_records()) as dns:
        sensor = enriched_sensor(sensor_factory, tmp_path, dns, enrich__helo_lookups_per_session=2,
                                 enrich__helo_lookups_per_source=5)
        with smtplib.SMTP(*sensor.address, timeout=15, source_address=(SOURCE, 0)) as smtp:
            for n in range(60):
                smtp.ehlo(f"canary{n}.example.net")
        for session in range(5):
            with smtplib.SMTP(*sensor.address, timeout=15, source_address=(SOURCE, 0)) as smtp:
                for n in range(5):
                    smtp.ehlo(f"s{session}-{n}.example.net")
        sensor.wait_for("session.closed", 6)
        time.sleep(2)
        asked = {name for name, rdtype in dns.questions if (name.endswith(".example.net") and "canary" in name)
                 or (name.startswith("s") and name.endswith(".example.net"))}
        assert len([n for n in asked if n.startswith("canary")]) == 2
        assert len(asked) == 5  # two in the first session, three more for the source, then none
        assert len([q for q in dns.questions if q[1] == "PTR"]) == 1


def test_a_source_whose_lookups_failed_is_unknown_never_clean(sensor_factory, tmp_path):
    """Three sources: one listed, one every zone answered for (clean), one whose every DNSBL
    question timed out: `unknown` in the JSON report, the text, the HTML page and the sessions
    export, never clean or "not listed"."""
    import csv
    import io
    import json

    listed, clean, silent = "127.0.0.11", "127.0.0.12", "127.0.0.13"
    records = {(f"11.0.0.127.{zone}", "A"): ["127.0.0.2"] for zone in ZONES[:1]}
    records |= {(f"13.0.0.127.{zone}", "A"): SILENCE for zone in ZONES}
    with FakeDns(records) as dns:
        sensor = enriched_sensor(sensor_factory, tmp_path, dns, enrich__dns_timeout=0.5)
        for source in (listed, clean, silent):
            spam_session(sensor.address, source)
        sensor.wait_for("enrich.dnsbl", 9, timeout=15)
        sensor.stop()
    data = ["--data-dir", str(sensor.data_dir)]

    def run(*args: str) -> str:
        result = relaypot(*args, *data)
        assert result.returncode == 0, result.stderr
        return result.stdout

    report = json.loads(run("report", "--format", "json"))
    status = {s["src_ip"]: (s["dnsbl_status"], s["dnsbl"]) for s in report["sources"]}
    assert status == {listed: ("listed", ["zen.spamhaus.org"]), clean: ("clean", []), silent: ("unknown", None)}
    assert report["origins"]["dnsbl"]["sources"] == {"listed": 1, "clean": 1, "unknown": 1}
    text = run("report")
    silent_row = next(line for line in text.splitlines() if line.startswith(silent))
    assert " unknown " in silent_row and "clean" not in silent_row
    page = tmp_path / "report.html"
    run("report", "--html", str(page))
    html = page.read_text()
    row = html.split(f'<td class="tok">{silent}</td>', 1)[1].split("</tr>", 1)[0]
    assert "<td>unknown</td>" in row and "not listed" not in html and "clean" not in row
    exported = {r["src_ip"]: r["dnsbl_status"] for r in csv.DictReader(io.StringIO(run("export", "sessions")))}
    assert exported == {listed: "listed", clean: "clean", silent: "unknown"}


def test_by_default_a_canary_helo_name_is_never_looked_up_while_the_session_runs(sensor_factory, tmp_path):
    """A real Postfix asks DNS about the client (PTR, then the name's A), never about its HELO
    name: a canary domain in EHLO must see no question from the sensor. With the defaults the
    source is looked up and the HELO name is not; `relaypot enrich` asks about it later."""
    with FakeDns(dns_records()) as dns:
        city, asn = write_geo(tmp_path / "geo")
        sensor = sensor_factory(enrich__enabled=True, enrich__resolver=dns.address, enrich__dns_timeout=1.0,
                                enrich__dnsbl_zones=ZONES, enrich__city_db=str(city), enrich__asn_db=str(asn))
        spam_session(sensor.address, helo="canary-7f3a.example.net")
        sensor.wait_for("enrich.rdns", 1, timeout=15)
        sensor.wait_for("session.closed")
        time.sleep(1.5)
        assert [q for q in dns.questions if q[1] == "PTR"], dns.questions  # the client, as Postfix does
        assert not [name for name, _ in dns.questions if "canary" in name], dns.questions
        assert not sensor.records("enrich.helo")
        sensor.stop()
        result = relaypot("enrich", "--data-dir", str(sensor.data_dir), env={"RELAYPOT_ENRICH_RESOLVER": dns.address,
                                                                           "RELAYPOT_ENRICH_DNS_TIMEOUT": "1"})
        assert result.returncode == 0, result.stderr
        assert [name for name, _ in dns.questions if "canary" in name]  # later, in bulk, by enrich
