"""The lookups against real servers on loopback: a dnslib DNS server, fixture GeoIP files."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from dns_server import SERVFAIL, SILENCE, FakeDns
from geo_fixture import write_geo
from hypothesis import given
from hypothesis import strategies as st

from relaypot.enrich import dnsbl, names
from relaypot.enrich.geo import Geo
from relaypot.enrich.resolver import Resolver

SOURCE = "118.165.91.55"  # one of the field report's Taiwanese scanners


def run(coro):
    return asyncio.run(coro)


def check_all(r: Resolver, address: str) -> list[dnsbl.Verdict]:
    async def ask():
        return await asyncio.gather(*(dnsbl.check(r, address, zone) for zone in (
            "zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org")))
    return asyncio.run(ask())


@pytest.fixture
def dns():
    records = {
        # zen lists the source twice (SBL and XBL); spamcop says NXDOMAIN; barracuda never answers.
        ("55.91.165.118.zen.spamhaus.org", "A"): ["127.0.0.2", "127.0.0.4"],
        ("55.91.165.118.b.barracudacentral.org", "A"): SILENCE,
        # A public resolver asking Spamhaus: an error answer, never a listing.
        ("7.113.0.203.zen.spamhaus.org", "A"): ["127.255.255.254"],
        ("7.113.0.203.bl.spamcop.net", "A"): SERVFAIL,
        # An ISP resolver that rewrites NXDOMAIN to its search page.
        ("7.113.0.203.b.barracudacentral.org", "A"): ["198.51.100.80"],
        # PTR records: a forward-confirmed generic name, an unconfirmed one, a mail host.
        ("55.91.165.118.in-addr.arpa", "PTR"): ["118-165-91-55.dynamic-ip.hinet.net."],
        ("118-165-91-55.dynamic-ip.hinet.net", "A"): [SOURCE],
        ("7.113.0.203.in-addr.arpa", "PTR"): ["mail.example.org."],
        ("mail.example.org", "A"): ["192.0.2.25"],
        ("9.113.0.203.in-addr.arpa", "PTR"): SILENCE,
        # HELO names.
        ("relay.example.net", "A"): [SOURCE],
        ("relay.example.net", "AAAA"): ["2001:db8::25"],
        ("elsewhere.example.net", "A"): ["192.0.2.99"],
        ("broken.example.net", "*"): SERVFAIL,
    }
    with FakeDns(records) as server:
        yield server


def resolver(server: FakeDns, timeout: float = 0.5) -> Resolver:
    return Resolver(server.address, timeout)


def test_dnsbl_listing_meanings_and_the_zones_that_say_nothing(dns):
    r = resolver(dns)
    zen, spamcop, barracuda = check_all(r, SOURCE)
    assert zen.listed is True and zen.codes == ("127.0.0.2", "127.0.0.4")
    assert zen.meaning[0].startswith("SBL") and zen.meaning[1].startswith("XBL") and zen.ttl == 300
    assert spamcop.listed is False and spamcop.error is None
    assert barracuda.listed is None and barracuda.error == "timeout"


def test_dnsbl_error_answers_are_never_listings(dns):
    r = resolver(dns)
    zen, spamcop, barracuda = check_all(r, "203.0.113.7")
    assert zen.listed is None and "public or open resolver" in zen.error
    assert spamcop.listed is None and "SERVFAIL" in spamcop.error
    assert barracuda.listed is None and "198.51.100.80" in barracuda.error


def test_dnsbl_query_names_ipv4_and_ipv6():
    assert dnsbl.query_name("118.165.91.55", "zen.spamhaus.org") == "55.91.165.118.zen.spamhaus.org"
    # RFC 5782 §2.4: 2001:db8:1:2:3:4:567:89ab
    assert dnsbl.query_name("2001:db8:1:2:3:4:567:89ab", "ip6.example") == (
        "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.example")


@given(zone=st.sampled_from(["zen.spamhaus.org", "bl.spamcop.net", "dnsbl.example"]),
       codes=st.lists(st.ip_addresses(v=4).map(str), max_size=4))
def test_dnsbl_a_verdict_lists_only_for_127_answers_outside_the_error_range(zone, codes):
    verdict = dnsbl.interpret(zone, codes)
    listings = {c for c in codes if c.startswith("127.") and not c.startswith("127.255.255.")}
    assert verdict.listed == (True if listings else None if codes else False)
    assert set(verdict.codes) >= listings
    if verdict.listed:
        assert len(verdict.meaning) == len(listings)


def test_reverse_dns_forward_confirmation_and_generic_names(dns):
    r = resolver(dns)
    hinet = run(names.reverse(r, SOURCE))
    assert hinet.ptr == "118-165-91-55.dynamic-ip.hinet.net" and hinet.confirmed is True
    assert hinet.generic == "the address is in the name"
    mail = run(names.reverse(r, "203.0.113.7"))
    assert (mail.ptr, mail.confirmed, mail.generic, mail.error) == ("mail.example.org", False, None, None)
    missing = run(names.reverse(r, "192.0.2.1"))
    assert (missing.ptr, missing.error) == (None, None)
    silent = run(names.reverse(r, "203.0.113.9"))
    assert (silent.ptr, silent.error) == (None, "timeout")


def test_helo_names_resolve_to_the_peer_elsewhere_or_not_at_all(dns):
    r = resolver(dns)
    same = run(names.helo(r, "relay.example.net", SOURCE))
    assert same.resolves is True and same.matches_peer is True and same.addresses == ("118.165.91.55", "2001:db8::25")
    assert run(names.helo(r, "Elsewhere.Example.NET.", SOURCE)).matches_peer is False
    gone = run(names.helo(r, "user-3i39rqqo1r.example.net", SOURCE))
    assert (gone.resolves, gone.matches_peer, gone.error) == (False, False, None)
    broken = run(names.helo(r, "broken.example.net", SOURCE))
    assert broken.resolves is None and "SERVFAIL" in broken.error


@given(st.ip_addresses(v=4), st.sampled_from(["-", ".", "_", ""]), st.booleans(),
       st.sampled_from(["hinet.net", "example.com", "mail.isp.example"]))
def test_a_ptr_name_embedding_the_address_is_generic(ip, sep, reverse_order, suffix):
    octets = str(ip).split(".")
    if reverse_order:
        octets.reverse()
    name = f"h{sep.join(octets)}.{suffix}"  # suffixes without a generic word: only the address can tell
    assert names.generic_reason(name, str(ip)) == "the address is in the name"
    assert names.generic_reason(f"mx.{suffix}", str(ip)) is None


@pytest.mark.parametrize("name, generic", [
    ("mail.example.com", None), ("mx1.smtp.example.org", None), ("smtp-out.example.net", None),
    ("adsl-dynamic-pool-xdsl-151.example.com", "the word 'adsl'"), ("ppp-4-3.example.net", "the word 'ppp'"),
    ("c-73-92-10-4.hsd1.ca.comcast.net", None), ("dyn-12.example.net", "the word 'dyn'"),
])
def test_generic_words(name, generic):
    assert names.generic_reason(name, "192.0.2.1") == generic


def test_geo_city_and_network_from_mmdb_files_and_country_offline(tmp_path):
    city, asn = write_geo(tmp_path)
    geo = Geo(str(city), str(asn))
    taipei = geo.place("127.0.0.11")
    assert (taipei.country, taipei.country_source, taipei.city, taipei.asn, taipei.network) == (
        "TW", "city_db", "Taipei", 3462, "127.0.0.11/32")
    assert geo.place("127.0.0.15").network == "127.0.0.14/31"
    # Not in the files: the registry data inside iptocc still knows the country of a global address.
    hinet = geo.place(SOURCE)
    assert (hinet.country, hinet.country_source, hinet.city) == ("TW", "registry", None)
    assert Geo().place("10.0.0.1").country is None
    assert Geo(str(city)).place("2001:db8::1").country is None  # IPv6 in an IPv4 file: nothing, no error
    geo.close()


@given(st.ip_addresses())
def test_geo_never_fails_for_any_address(ip):
    place = Geo().place(str(ip))
    assert place.country is None or (len(place.country) == 2 and ipaddress.ip_address(ip).is_global)
