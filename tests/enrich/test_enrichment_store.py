"""Enrichment records in the SQL store, on SQLite and PostgreSQL: the newest answer wins, a
failed lookup erases nothing."""

from __future__ import annotations

from collections.abc import Callable

from relaypot.events import DnsblResult, GeoFound, HeloDns, OsFingerprint, Record, ReverseDns
from relaypot.sinks.sql import SqlSink
from support import fetch

IP = "118.165.91.55"


def rec(n: int, event, ip: str = IP) -> Record:
    return Record(f"{n:024x}", 1, f"2026-11-27T10:00:{n:02d}.000000Z", "s1", ip, event)


def store(url: str, *batches: list[Record]) -> Callable[[str], list[tuple]]:
    """Write each batch (one transaction each) into the store at `url`; returns a query function."""
    sink = SqlSink(url)
    sink.open()
    for batch in batches:
        sink.write(batch)
    sink.close()
    return lambda query: fetch(url, query)


def test_a_dnsbl_error_never_hides_a_verdict_in_one_batch_or_across_batches(store_url):
    listed = DnsblResult(for_session="a", zone="zen.spamhaus.org", listed=True, codes=("127.0.0.4",), meaning=("XBL",))
    failed = DnsblResult(for_session="b", zone="zen.spamhaus.org", listed=None, error="timeout")
    cleared = DnsblResult(for_session="c", zone="zen.spamhaus.org", listed=False)
    db = store(store_url, [rec(1, listed), rec(2, failed)], [rec(3, failed)])
    assert db("SELECT listed, codes, error, checked FROM dnsbl") == [
        (1, '["127.0.0.4"]', "timeout", "2026-11-27T10:00:01.000000Z")]
    db = store(store_url, [rec(4, cleared)])
    assert db("SELECT listed, codes, error FROM dnsbl") == [(0, "[]", None)]
    # A source first seen while the list did not answer: the row says so, with no verdict.
    db = store(store_url, [rec(5, failed, "203.0.113.9")])
    assert db("SELECT listed, error FROM dnsbl WHERE src_ip = '203.0.113.9'") == [(None, "timeout")]


def test_source_facts_merge_by_group(store_url):
    geo = GeoFound(for_session="a", country="TW", country_source="registry")
    rdns = ReverseDns(for_session="a", ptr="118-165-91-55.dynamic-ip.hinet.net", confirmed=True, generic="x")
    timeout = ReverseDns(for_session="b", error="timeout")
    xp = OsFingerprint(for_session="a", os="Windows", flavor="XP", match_quality=0, distance=12)
    unknown = OsFingerprint(for_session="b", error="p0f has no fingerprint for this source")
    db = store(store_url, [rec(1, geo), rec(2, rdns), rec(3, xp)], [rec(4, timeout), rec(5, unknown)],
               [rec(6, GeoFound(for_session="c", country="TW", city="Taipei", country_source="city_db"))])
    assert db("SELECT country, country_source, city, ptr, ptr_confirmed, os, os_flavor, os_distance "
                      "FROM sources") == [
        ("TW", "city_db", "Taipei", "118-165-91-55.dynamic-ip.hinet.net", 1, "Windows", "XP", 12)]


def test_helo_names_keep_the_name_as_sent(store_url):
    db = store(store_url, [rec(1, HeloDns(for_session="a", name="Relay.Example.NET", resolves=True,
                                         addresses=("192.0.2.1",), matches_peer=False)),
                          rec(2, HeloDns(for_session="b", name="relay.example.net", resolves=False,
                                         matches_peer=False))])
    assert db("SELECT name, resolves FROM helo_names ORDER BY name") == [
        ("Relay.Example.NET", 1), ("relay.example.net", 0)]
