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


def test_a_listener_takes_its_own_relay_policy_and_the_rest_take_smtp_relay():
    settings = config.load(environ={"RELAYPOT_SMTP_LISTEN": "0.0.0.0:25,[::]:2525,relay=auth, 127.0.0.1:2600",
                                    "RELAYPOT_SMTP_RELAY": "closed", "RELAYPOT_SMTP_LOCAL_USERS": "info,sales"})
    assert settings.smtp.listen == ["0.0.0.0:25", "[::]:2525,relay=auth", "127.0.0.1:2600"]
    specs = [config.parse_listener(spec) for spec in settings.smtp.listen]
    assert [(s.host, s.port, s.relay) for s in specs] == [("0.0.0.0", 25, ""), ("::", 2525, "auth"),
                                                          ("127.0.0.1", 2600, "")]
    assert settings.smtp.relay == "closed" and settings.smtp.local_users == ["info", "sales"]


@pytest.mark.parametrize(("spec", "complaint"), [
    ("0.0.0.0:25,relay=maybe", "relay must be one of open, closed, auth"),
    ("0.0.0.0:25,tls=on", "is no listener option"),
    ("0.0.0.0:25,relay", "is no listener option"),
    ("0.0.0.0:25,relay=open,relay=closed", "given twice"),
])
def test_a_bad_listener_option_is_refused_with_what_to_write(spec, complaint, tmp_path):
    path = tmp_path / "relaypot.toml"
    path.write_text(f'[smtp]\nlisten = ["{spec}"]\n')
    with pytest.raises(config.ConfigError, match=complaint):
        config.load(str(path), environ={})


@pytest.mark.parametrize("user", ["a b", "x@y", "<root>", ""])
def test_a_local_user_must_be_a_plain_name(user, tmp_path):
    path = tmp_path / "relaypot.toml"
    path.write_text(f"[smtp]\nlocal_users = [{user!r}]\n".replace("'", '"'))
    with pytest.raises(config.ConfigError, match="local_users"):
        config.load(str(path), environ={})


def test_the_time_zone_must_be_one_this_machine_knows():
    assert config.load(environ={"RELAYPOT_SMTP_TIMEZONE": "Europe/Berlin"}).smtp.timezone == "Europe/Berlin"
    with pytest.raises(config.ConfigError, match="no time zone this machine knows"):
        config.load(environ={"RELAYPOT_SMTP_TIMEZONE": "Mars/Olympus"})
