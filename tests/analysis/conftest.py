"""Fixtures for the report tests: a sensor that met every scripted attacker, with enrichment from
a real DNS server on loopback, GeoIP fixture files, and (as root) the real p0f."""

from __future__ import annotations

import os
from contextlib import ExitStack

import pytest

from analysis import attackers

ZONES = ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"]


def _reverse(ip: str) -> str:
    return ".".join(reversed(ip.split(".")))


def dns_records() -> dict:
    """The field report's scanners were all DNSBL-listed; here the scanner is on two lists, the
    spam bot on one, the others on none. The harvester's HELO name does not exist."""
    scanner, spammer = _reverse(attackers.SCANNER), _reverse(attackers.SPAMMER)
    ptr = f"{attackers.SCANNER.replace('.', '-')}.dynamic-ip.hinet.example"
    return {
        (f"{scanner}.zen.spamhaus.org", "A"): ["127.0.0.4"],
        (f"{scanner}.bl.spamcop.net", "A"): ["127.0.0.2"],
        (f"{spammer}.zen.spamhaus.org", "A"): ["127.0.0.3"],
        (f"{scanner}.in-addr.arpa", "PTR"): [ptr + "."],
        (ptr, "A"): [attackers.SCANNER],
    }


def p0f_usable() -> bool:
    from support import require

    try:
        require("p0f")
    except BaseException:  # a skip: the OS test reports it
        return False
    return os.geteuid() == 0


@pytest.fixture(scope="package")
def recorded(tmp_path_factory):
    """A sensor that met every scripted attacker, stopped so every record is in the store."""
    from enrich.dns_server import FakeDns
    from enrich.geo_fixture import write_geo
    from enrich.p0f_support import running_p0f, windows_xp_syn
    from support import RunningSensor, require

    base = tmp_path_factory.mktemp("report")
    city, asn = write_geo(base / "geo")
    with ExitStack() as stack:
        dns = stack.enter_context(FakeDns(dns_records()))
        options = {"enrich__enabled": True, "enrich__resolver": dns.address, "enrich__dns_timeout": 1.0,
                   "enrich__dnsbl_zones": ZONES, "enrich__city_db": str(city), "enrich__asn_db": str(asn),
                   "enrich__helo_lookups_per_session": 2}  # live, so the report has them without enrich
        with_os = p0f_usable()
        if with_os:
            sock = stack.enter_context(running_p0f(require("p0f"), base))
            options |= {"enrich__p0f_socket": str(sock), "enrich__p0f_delay": 3.0}
        sensor = RunningSensor(base / "data", smtp__hostname="mail.example.com", **options)
        address = sensor.address
        attackers.spam_bot(address)
        attackers.relay_scanner(address, sensor.host)
        if with_os:
            windows_xp_syn(attackers.SCANNER, sensor.port)  # the field report's scanners ran Windows XP
        attackers.auth_guesser(address)
        attackers.vrfy_harvester(address)
        attackers.knocker(address)
        attackers.hostile(address)
        sensor.wait_for("session.closed", 3 + 3 + 3 + 1 + 2 + 1)
        sensor.wait_for("enrich.dnsbl", 6 * len(ZONES))
        sensor.wait_for("enrich.geo", 6)
        sensor.wait_for("enrich.helo", 2)  # the spam bot's and the harvester's names
        if with_os:
            sensor.wait_for("enrich.os", 6)
        sensor.stop()
    sensor.with_os = with_os
    return sensor
