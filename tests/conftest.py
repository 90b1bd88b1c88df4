"""Shared fixtures: a running sensor, and a factory for sensors with other settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support import RunningSensor


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
