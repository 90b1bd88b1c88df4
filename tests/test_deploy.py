"""What docs/deploy.md installs: the systemd unit (checked by systemd itself) and the sample
configuration with every setting (kept equal to the options table)."""

from __future__ import annotations

import configparser
import os
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
    assert "Environment" not in service and "EnvironmentFile" not in service  # the file is the one source
    assert service["ExecStart"].endswith("run --config /etc/relaypot/relaypot.toml")


def test_the_service_takes_its_data_directory_from_the_configuration_and_its_page_is_installed(tmp_path):
    """docs/deploy.md's install steps, run on a copy: the installed file names the unit's
    StateDirectory as data_dir, check-config shows it as coming from that file, and the page the
    unit's Documentation= names is one of the files installed."""
    doc = (DEPLOY.parent / "docs" / "deploy.md").read_text()
    installed = tmp_path / "relaypot.toml"
    installed.write_text((DEPLOY / "relaypot.toml").read_text())
    [edit] = [line for line in doc.splitlines() if line.startswith("sed -i ") and "relaypot.toml" in line]
    subprocess.run(["bash", "-c", edit.replace("/etc/relaypot/relaypot.toml", str(installed))], check=True)
    shown = subprocess.run([*RELAYPOT, "check-config", "--config", str(installed), "--hostname", "mx.example.org"],
                           capture_output=True, text=True, env={k: v for k, v in os.environ.items()
                                                                if not k.startswith("RELAYPOT_")})
    assert shown.returncode == 0, shown.stderr
    assert f'data_dir = "/var/lib/relaypot"  # {installed}' in shown.stdout
    assert "data in /var/lib/relaypot;" in shown.stdout
    unit = (DEPLOY / "relaypot.service").read_text()
    [page] = re.findall(r"^Documentation=file://(\S+)$", unit, flags=re.M)
    assert re.search(rf"^install .*docs/deploy\.md {re.escape(page)}$", doc, flags=re.M), page
    assert "StateDirectory=relaypot" in unit
