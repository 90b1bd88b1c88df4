"""Two network namespaces joined by a veth pair on the benchmarking range (RFC 2544,
198.18.0.0/15): the sensor's host and the scanner's, made and removed by the tests themselves,
so nothing here touches a real network or the machine's own namespace."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from support import ip, require, require_root

SENSOR_IP, SCANNER_IP = "198.18.0.1", "198.18.0.2"
SCANNER_IF = "rps0"
CLIENT = Path(__file__).with_name("smtp_client.py")


class Namespaces:
    def __init__(self) -> None:
        require_root("stack", "network namespaces, sysctls, iptables")
        for tool in ("ip", "iptables"):
            require(tool)
        suffix = os.getpid() % 100000
        self.sensor, self.scanner = f"rp-sensor-{suffix}", f"rp-scanner-{suffix}"
        self.remove()
        ip("netns", "add", self.sensor)
        ip("netns", "add", self.scanner)
        ip("link", "add", "rpv0", "type", "veth", "peer", "name", SCANNER_IF)
        ip("link", "set", "rpv0", "netns", self.sensor)
        ip("link", "set", SCANNER_IF, "netns", self.scanner)
        for ns, dev, address in ((self.sensor, "rpv0", SENSOR_IP), (self.scanner, SCANNER_IF, SCANNER_IP)):
            ip("-n", ns, "addr", "add", f"{address}/24", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")

    def remove(self) -> None:
        for ns in (self.sensor, self.scanner):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def run(self, ns: str, *command: str, timeout: float = 180, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", ns, *command], capture_output=True, text=True,
                              timeout=timeout, **kwargs)

    def popen(self, ns: str, *command: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", ns, *command], text=True, **kwargs)

    def smtp_client(self, mode: str, size: int, sessions: int = 1, timeout: float = 300) -> dict:
        """tests/stack/smtp_client.py from the scanner's namespace: its codes, seconds and size."""
        result = self.run(self.scanner, sys.executable, str(CLIENT), mode, str(size), str(sessions), timeout=timeout)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def state(self) -> tuple[str, str]:
        """The sensor host's sysctls and mangle rules, to compare before and after."""
        sysctls = self.run(self.sensor, "sysctl", "net.ipv4").stdout
        rules = self.run(self.sensor, "iptables", "-w", "-t", "mangle", "-S").stdout
        return sysctls, rules


def wait_for_line(proc: subprocess.Popen, pattern: str, timeout: float = 30) -> str:
    """Read proc's stdout (stderr merged) until a line matches; the lines read come back."""
    seen = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            seen.append(line)
            if re.search(pattern, line):
                return "".join(seen)
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"no line matching {pattern!r}:\n{''.join(seen)}{proc.stdout.read() or ''}")


def stop(proc: subprocess.Popen, signum: int = signal.SIGTERM, timeout: float = 20) -> str:
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=timeout)
    return out or ""


def sensor(ns: Namespaces, data_dir: Path, persona: str, *extra: str, env: dict | None = None) -> subprocess.Popen:
    proc = ns.popen(ns.sensor, sys.executable, "-m", "relaypot.cli", "run", "--listen", f"{SENSOR_IP}:25",
                    "--data-dir", str(data_dir), "--persona", persona, "--sensor", "netns",
                    "--hostname", "mail.example.com", "--quiet", *extra,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    env={**os.environ, "RELAYPOT_ENRICH_ENABLED": "false", **(env or {})})
    wait_for_line(proc, r"listening on 198\.18\.0\.1:25")
    return proc


def stack(ns: Namespaces, state: Path, persona: str) -> subprocess.Popen:
    proc = ns.popen(ns.sensor, sys.executable, "-m", "relaypot.cli", "stack", "--persona", persona,
                    "--ports", "25", "--state", str(state), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    env=dict(os.environ))
    wait_for_line(proc, r"puts everything back")
    return proc


def nmap_os(ns: Namespaces) -> str:
    """nmap's OS detection of the sensor (port 25 open, 26 closed): its guesses line."""
    require("nmap")
    result = ns.run(ns.scanner, "nmap", "-n", "-Pn", "-O", "--osscan-guess", "-p", "25,26", SENSOR_IP)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines()
             if line.startswith(("Aggressive OS guesses:", "OS details:", "Running"))]
    assert lines, result.stdout
    return "\n".join(lines)
