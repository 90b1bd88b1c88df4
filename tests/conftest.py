"""Shared fixtures: a running sensor, and a factory for sensors with other settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from support import RunningSensor

# The references and expectations were captured under this announced name; without it a sensor
# announces the machine's own name. Tests of that default remove the variable (tests/test_cli.py).
os.environ.setdefault("RELAYPOT_SMTP_HOSTNAME", "mail.example.com")


@pytest.fixture
def sensor_factory(tmp_path: Path):
    started: list[RunningSensor] = []

    def start(**options: Any) -> RunningSensor:
        sensor = RunningSensor(tmp_path / f"data{len(started)}", **options)
        started.append(sensor)
        return sensor

    yield start
    for sensor in started:
        sensor.stop()


@pytest.fixture
def sensor(sensor_factory) -> RunningSensor:
    """The default persona (exchange2000) on 127.0.0.1, port chosen by the kernel."""
    return sensor_factory()


@pytest.fixture(scope="session")
def postgresql_server():
    """One real PostgreSQL server on loopback for the whole run, started on first use."""
    from pg_server import PostgresServer

    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgresql_url(postgresql_server):
    """The URL of a fresh, empty database on the test server, dropped afterwards."""
    url = postgresql_server.new_database()
    yield url
    postgresql_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """An empty store on each engine the SQL runs on: a SQLite file, and a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return request.getfixturevalue("postgresql_url")
