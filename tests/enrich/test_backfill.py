"""`relaypot enrich`: sources recorded with enrichment off, or while the resolver failed, are looked
up afterwards by the real command, against a real DNS server on loopback."""

from __future__ import annotations

import json
import os
import smtplib
import subprocess

from dns_server import SERVFAIL, FakeDns
from geo_fixture import write_geo

from support import fetch, relaypot

SOURCES = ("127.0.0.11", "127.0.0.14")


def records(zen_failing: bool = False) -> dict:
    return {
        ("11.0.0.127.zen.spamhaus.org", "A"): SERVFAIL if zen_failing else ["127.0.0.2"],
        ("relay.example.net", "A"): ["127.0.0.11"],
    }


def enrich(data_dir, store: str, dns: FakeDns, city, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RELAYPOT_ENRICH_RESOLVER": dns.address, "RELAYPOT_ENRICH_DNS_TIMEOUT": "1",
           "RELAYPOT_ENRICH_DNSBL_ZONES": "zen.spamhaus.org,bl.spamcop.net", "RELAYPOT_ENRICH_CITY_DB": str(city)}
    # The store as the sensor's configuration names it ([store] url): JSON lines go to the data dir too.
    env["RELAYPOT_STORE_URL"] = store
    return relaypot("enrich", "--data-dir", str(data_dir), *extra, env=env)


def test_enrich_fills_in_what_the_sensor_did_not_look_up_and_retries_only_failures(sensor_factory, tmp_path,
                                                                                   store_url):
    """On SQLite and on PostgreSQL."""
    sensor = sensor_factory(store__url=store_url)  # enrichment off, as in every test sensor
    for source in SOURCES:
        with smtplib.SMTP(*sensor.address, timeout=15, source_address=(source, 0)) as smtp:
            smtp.ehlo("relay.example.net")
    sensor.wait_for("session.closed", 2)
    sensor.stop()
    city, _ = write_geo(tmp_path / "geo")

    with FakeDns(records(zen_failing=True)) as dns:
        first = enrich(sensor.data_dir, store_url, dns, city)
    assert first.returncode == 0, first.stderr
    assert "looked up 2 sources and 2 HELO names" in first.stderr
    assert fetch(store_url, "SELECT src_ip, country, city FROM sources ORDER BY src_ip") == [
        ("127.0.0.11", "TW", "Taipei"), ("127.0.0.14", "BR", "São Paulo")]
    assert fetch(store_url, "SELECT src_ip, zone, listed, error FROM dnsbl ORDER BY src_ip, zone") == [
        ("127.0.0.11", "bl.spamcop.net", 0, None),
        ("127.0.0.11", "zen.spamhaus.org", None, "no server answered: SERVFAIL"),
        ("127.0.0.14", "bl.spamcop.net", 0, None), ("127.0.0.14", "zen.spamhaus.org", 0, None)]
    assert fetch(store_url, "SELECT src_ip, resolves, matches_peer FROM helo_names ORDER BY src_ip") == [
        ("127.0.0.11", 1, 1), ("127.0.0.14", 1, 0)]
    lines = [json.loads(line) for line in (sensor.data_dir / "events.jsonl").read_text().splitlines()]
    enriched = [line for line in lines if line["kind"].startswith("enrich.")]
    opened = {line["src_ip"]: line["session"] for line in lines if line["kind"] == "session.opened"}
    assert enriched and all(line["for_session"] == opened[line["src_ip"]] for line in enriched)

    # The list answers now: only the one question without a verdict is asked again.
    with FakeDns(records()) as dns:
        second = enrich(sensor.data_dir, store_url, dns, city)
        asked = dns.questions
    assert second.returncode == 0, second.stderr
    assert "looked up 1 source and 0 HELO names" in second.stderr
    assert asked == [("11.0.0.127.zen.spamhaus.org", "A")]
    assert fetch(store_url, "SELECT listed, codes, error FROM dnsbl WHERE src_ip = '127.0.0.11' AND zone = "
                      "'zen.spamhaus.org'") == [(1, '["127.0.0.2"]', None)]

    with FakeDns(records()) as dns:
        everything = enrich(sensor.data_dir, store_url, dns, city, "--all")
    assert "looked up 2 sources and 2 HELO names" in everything.stderr


def test_enrich_without_a_store_says_so(tmp_path):
    result = relaypot("enrich", "--data-dir", str(tmp_path / "none"))
    assert result.returncode == 2 and result.stderr.startswith("relaypot: error:") and "\n" == result.stderr[-1]
    assert result.stderr.count("\n") == 1
