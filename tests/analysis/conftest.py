"""Fixtures for the report tests: a sensor that met every scripted attacker."""

from __future__ import annotations

import pytest

from analysis import attackers


@pytest.fixture(scope="package")
def recorded(tmp_path_factory):
    """A sensor that met every scripted attacker, stopped so every record is in the store."""
    from support import RunningSensor

    sensor = RunningSensor(tmp_path_factory.mktemp("report") / "data", smtp__hostname="mail.example.com")
    address = sensor.address
    attackers.spam_bot(address)
    attackers.relay_scanner(address, sensor.host)
    attackers.auth_guesser(address)
    attackers.vrfy_harvester(address)
    attackers.knocker(address)
    attackers.hostile(address)
    sensor.wait_for("session.closed", 3 + 3 + 3 + 1 + 2 + 1)
    sensor.stop()
    return sensor
