"""What docs/deploy.md installs: the systemd unit (checked by systemd itself) and the sample
configuration with every setting (kept equal to the options table)."""

from __future__ import annotations

import configparser
import re
import subprocess
from pathlib import Path

from relaypot import config
from support import RELAYPOT, require

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_the_sample_configuration_is_every_setting_at_its_default():
    text = (DEPLOY / "relaypot.toml").read_text()
    assert text == config.sample(), "deploy/relaypot.toml is out of date: write config.sample() to it"
    keys = re.findall(r"^#([a-z_0-9]+) = ", text, flags=re.M)
    assert len(keys) == len(config.OPTIONS)


def test_the_sample_uncommented_loads_as_the_defaults(tmp_path):
    uncommented = re.sub(r"^#([a-z_0-9]+ = )", r"\1", config.sample(), flags=re.M)
    path = tmp_path / "relaypot.toml"
    path.write_text(uncommented)
    loaded = config.load(str(path), environ={})
    defaults = config.load(environ={})
    for option in config.OPTIONS:
        assert loaded.value(option.table, option.key) == defaults.value(option.table, option.key), option.key
    assert subprocess.run([*RELAYPOT, "check-config", "--config", str(path)], capture_output=True).returncode == 0


def _unit(tmp_path: Path) -> Path:
    """The unit as installed, its ExecStart pointing at this machine's relaypot (systemd checks it)."""
    relaypot = require("relaypot")
    unit = tmp_path / "relaypot.service"
    unit.write_text((DEPLOY / "relaypot.service").read_text().replace("/usr/local/bin/relaypot", relaypot))
    return unit


def test_systemd_accepts_the_unit_and_rates_it_well_confined(tmp_path):
    analyze = require("systemd-analyze")
    unit = _unit(tmp_path)
    verified = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr
    # systemd's own exposure score, 0 (locked down) to 10 (unconfined): the unit must stay under 3
    # (--threshold counts tenths).
    rated = subprocess.run([analyze, "security", "--offline=true", "--threshold=30", str(unit)],
                           capture_output=True, text=True)
    assert rated.returncode == 0, rated.stdout[-400:]


def test_the_unit_binds_port_25_by_capability_as_its_own_user():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / "relaypot.service").read_text())
    service = unit["Service"]
    assert service["User"] == "relaypot" and "--user" not in service["ExecStart"]
    assert service["AmbientCapabilities"] == service["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    assert (service["NoNewPrivileges"], service["ProtectSystem"]) == ("yes", "strict")
    assert service["StateDirectory"] == "relaypot"
    assert service["Environment"] == "RELAYPOT_SENSOR_DATA_DIR=/var/lib/relaypot"
    assert service["ExecStart"].endswith("run --config /etc/relaypot/relaypot.toml")
