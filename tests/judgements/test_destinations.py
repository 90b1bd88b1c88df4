"""Which addresses probe delivery may connect to (judgements/destinations.py): every special-
purpose range refused with its reason, IPv4 inside IPv6 unwrapped, the sensor's own never."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaypot.judgements.destinations import ALWAYS_REFUSED, SPECIAL, embedded_ipv4, lab_network_problem, refusal

LAB = (ipaddress.ip_network("198.18.0.0/15"),)


@pytest.mark.parametrize("address,why", [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("0.0.0.0", "unspecified"), ("0.1.2.3", "unspecified"),
    ("::", "unspecified"), ("::1", "loopback"), ("10.1.2.3", "private (RFC 1918)"),
    ("172.31.255.1", "private (RFC 1918)"), ("192.168.0.1", "private (RFC 1918)"),
    ("100.64.0.1", "shared address space (RFC 6598)"), ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"), ("fd12:3456::1", "unique local (RFC 4193)"), ("fc00::1", "unique local"),
    ("198.18.0.1", "benchmarking (RFC 2544)"), ("198.19.255.255", "benchmarking"),
    ("192.0.2.5", "documentation"), ("203.0.113.9", "documentation"), ("2001:db8::25", "documentation"),
    ("224.0.0.1", "multicast"), ("239.1.1.1", "multicast"), ("ff02::1", "multicast"), ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"), ("192.0.0.9", "IETF protocol assignments"), ("192.88.99.1", "6to4 relay"),
    ("2001::1", "IETF protocol assignments"), ("fec0::1", "site-local"), ("100::1", "discard-only"),
    ("::ffff:127.0.0.1", "stands for 127.0.0.1, 127.0.0.1 is loopback"),
    ("64:ff9b::a9fe:a9fe", "stands for 169.254.169.254"), ("2002:a00:1::1", "stands for 10.0.0.1"),
    ("::127.0.0.1", "IPv4-compatible"), ("64:ff9b:1::1", "local-use NAT64"), ("4000::1", "outside 2000::/3"),
    ("fe80::1%eth0", "link-local"), ("mx.example", "is not an IP address"),
])
def test_each_special_address_is_refused_with_its_reason(address, why):
    found = refusal(address)
    assert found is not None and why in found, found


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "193.0.6.139", "2001:4860:4860::8888",
                                     "2a00:1450:4001:80b::200e", "64:ff9b::808:808", "2002:808:808::1"])
def test_global_unicast_addresses_may_be_reached(address):
    assert refusal(address) is None


def test_the_sensors_own_address_is_refused_even_inside_a_lab_network():
    assert refusal("198.18.0.2", lab=LAB) is None
    assert refusal("198.18.0.1", own=("198.18.0.1",), lab=LAB) == "198.18.0.1 is the sensor's own address"
    assert "own address" in refusal("8.8.8.8", own=("8.8.8.8",))
    assert "own address" in refusal("::ffff:8.8.8.8", own=("8.8.8.8",))
    assert refusal("127.0.0.1", lab=(ipaddress.ip_network("0.0.0.0/0"),)) == "127.0.0.1 is loopback"


@given(st.sampled_from([*ALWAYS_REFUSED, *SPECIAL]).flatmap(
    lambda entry: st.integers(int(entry[0].network_address), int(entry[0].broadcast_address)).map(
        lambda n, net=entry[0]: str(ipaddress.ip_address(n) if net.version == 4 else ipaddress.IPv6Address(n)))))
def test_every_address_of_every_special_range_is_refused(address):
    assert refusal(address) is not None


@given(st.integers(0, 2**32 - 1))
def test_an_ipv4_address_inside_ipv6_is_judged_as_itself(n):
    v4 = ipaddress.IPv4Address(n)
    inner = refusal(str(v4))
    for wrapped in (f"::ffff:{v4}", str(ipaddress.IPv6Address((0x64FF9B << 96) | n)),
                    str(ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1))):
        assert embedded_ipv4(ipaddress.ip_address(wrapped)) == v4
        assert (refusal(wrapped) is None) == (inner is None), wrapped


def test_a_lab_network_may_not_take_in_the_machine_or_its_link():
    assert lab_network_problem("198.18.0.0/15") is None
    assert lab_network_problem("10.0.0.0/8") is None
    assert "loopback" in lab_network_problem("127.0.0.0/16")
    assert "link-local" in lab_network_problem("169.254.169.254/32")
    assert "overlaps" in lab_network_problem("0.0.0.0/0")
    assert "not a network" in lab_network_problem("lab")
