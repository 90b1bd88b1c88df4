"""Domains of addresses and URLs, and which domains are the sensor's own."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relaypot.judgements.addresses import domain_of, our_domains, url_host


def test_domain_of_an_address():
    assert domain_of("Bob@Example.NET") == "example.net"
    assert domain_of("postmaster") == ""
    assert domain_of("a@b@c.example") == "c.example"  # the last @ is the domain's


def test_the_host_of_a_url():
    assert url_host("http://user@Evil.Example:8080/x?y#z") == "evil.example"
    assert url_host("https://[2001:db8::1]:443/") == "[2001:db8::1]"
    assert url_host("hxxp://Bare.Example") == "bare.example"


def test_our_domains_are_the_configured_ones_and_every_announced_name_with_its_parent():
    assert our_domains((), ["mail.example.com"]) == {"mail.example.com", "example.com"}
    # Configured domains add to the announced names, never replace them: mail to
    # postmaster@mail.example.com is not a relay attempt whatever else is configured.
    assert our_domains(("Corp.Example.",), ["MX1.Example.ORG"]) == {"corp.example", "mx1.example.org", "example.org"}
    assert our_domains((), ["localhost", ""]) == {"localhost"}  # no parent of a one-label name


@given(st.lists(st.text(max_size=30), max_size=4), st.lists(st.text(max_size=30), max_size=4))
def test_what_is_ours_never_depends_on_order_or_case(configured, hostnames):
    ours = our_domains(configured, hostnames)
    assert ours == our_domains(list(reversed(configured)), list(reversed(hostnames)))
    assert ours == our_domains([c.upper() for c in configured], [h.upper() for h in hostnames]) or any(
        c.upper().lower() != c.lower() for c in configured + hostnames)  # where upper-casing is not reversible


def test_addresses_sort_as_numbers_not_as_text():
    """127.0.0.3 before 127.0.0.27 (as text it comes after), IPv4 before IPv6, junk last."""
    from relaypot.judgements.addresses import address_order

    shuffled = ["::1", "junk", "127.0.0.27", "2001:db8::2", "127.0.0.3", "10.0.0.1", "2001:db8::10"]
    assert sorted(shuffled, key=address_order) == [
        "10.0.0.1", "127.0.0.3", "127.0.0.27", "::1", "2001:db8::2", "2001:db8::10", "junk"]
