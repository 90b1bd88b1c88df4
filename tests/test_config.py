"""The typed configuration agrees with the one table of options, and reading a store needs no sensor."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing

import pytest

from relaypot import config

TYPES = {"str": str, "choice": str, "int": int, "bytes": int, "float": float, "bool": bool, "list": list[str]}


def test_every_option_is_a_typed_field_and_every_field_an_option():
    for table, section in config.SECTIONS.items():
        hints = typing.get_type_hints(section)
        options = {o.key: o for o in config.OPTIONS if o.table == table}
        assert [f.name for f in dataclasses.fields(section)] == list(options), table
        for key, option in options.items():
            assert hints[key] == TYPES[option.kind], (table, key)
    assert list(config.SECTIONS) == list(config.TABLES)
    assert set(typing.get_type_hints(config.Settings)) >= set(config.SECTIONS)


def test_settings_are_read_only_and_typed_values_come_through():
    settings = config.load(environ={"RELAYPOT_LIMITS_IDLE_TIMEOUT": "7", "RELAYPOT_SMTP_DOMAINS": "a.test, b.test"})
    assert settings.limits.idle_timeout == 7.0 and isinstance(settings.limits.idle_timeout, float)
    assert settings.smtp.domains == ["a.test", "b.test"]
    assert settings.sources[("limits", "idle_timeout")] == "environment RELAYPOT_LIMITS_IDLE_TIMEOUT"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.limits.idle_timeout = 1.0  # type: ignore[misc]


def test_the_store_url_defaults_to_the_data_directory(tmp_path):
    settings = config.load(environ={"RELAYPOT_SENSOR_DATA_DIR": str(tmp_path)})
    assert settings.store_url == f"sqlite:///{tmp_path.resolve()}/relaypot.sqlite"
    named = config.load(environ={"RELAYPOT_STORE_URL": "postgresql://db/relaypot"})
    assert named.store_url == "postgresql://db/relaypot"


@pytest.mark.parametrize("command", [["report"], ["export", "sessions"], ["replay", "x"]])
def test_commands_that_read_the_store_do_not_load_the_sensor(command, tmp_path):
    """report, export and replay learn where the store is from the configuration alone."""
    run = subprocess.run([sys.executable, "-X", "importtime", "-c", "import sys; from relaypot.cli import main; "
                          "sys.exit(main())", *command, "--data-dir", str(tmp_path)],
                         capture_output=True, text=True, check=False)
    assert "no store" in run.stderr.lower() or "not found" in run.stderr.lower(), run.stderr[-500:]
    loaded = {line.rsplit("|", 1)[1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    assert "relaypot.cli" in loaded
    sensor = ("asyncio", "uvloop", "relaypot.app", "relaypot.transport", "relaypot.pipeline", "relaypot.enrich")
    sensor_parts = {name for name in loaded if name.split(".")[0] in sensor or name.startswith(sensor)}
    assert sensor_parts == set()
