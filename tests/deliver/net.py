"""The probe-delivery tests' own network: two namespaces joined by a veth pair on the benchmarking
range (RFC 2544, 198.18.0.0/15), made and removed by the tests. The sensor's namespace routes
everything else to the world's, so wherever a delivery might connect, it lands on a host the test
made: the world's DNS server, mail servers and traps, or a trap in the sensor's own namespace.
Nothing can leave the machine whatever the code does.

    sensor namespace                          world namespace
    198.18.0.1 (the sensor, port 2525)  <-->  198.18.0.2 (DNS :53, smtp-sink :25)
    traps :25 on 127.0.0.1, ::1,              198.18.0.3 (hostile mail servers)
    10.20.30.40, 169.254.169.254,             198.18.0.31-39 (scanners)
    fd00::25, 198.18.0.1                      traps :25 on 192.168.77.7, 100.64.1.1, 172.16.9.9,
                                              203.0.113.9
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from support import ip, require, require_root

SENSOR_IP, WORLD_IP, HOSTILE_IP = "198.18.0.1", "198.18.0.2", "198.18.0.3"
SCANNERS = [f"198.18.0.{n}" for n in range(31, 40)]
SENSOR_TRAPS = ["127.0.0.1", "::1", "10.20.30.40", "169.254.169.254", "fd00::25", SENSOR_IP, "127.0.0.2"]
WORLD_TRAPS = ["192.168.77.7", "100.64.1.1", "172.16.9.9", "203.0.113.9"]
HERE = Path(__file__).parent
WORLD = HERE / "world.py"
SCANNER = HERE / "scanner.py"
PROBE_SUBJECT = f"Super webscan open relay check succeded, hostname = {SENSOR_IP}"


class DeliveryNet:
    def __init__(self) -> None:
        require_root("probe-delivery", "they run in network namespaces of their own")
        require("ip")
        suffix = os.getpid() % 100000
        self.sensor, self.world = f"rp-dsen-{suffix}", f"rp-dwld-{suffix}"
        self.remove()
        self.tmp = Path(tempfile.mkdtemp(prefix="relaypot-deliver-"))
        self.tmp.chmod(0o755)
        self.processes: list[subprocess.Popen] = []
        ip("netns", "add", self.sensor)
        ip("netns", "add", self.world)
        ip("link", "add", "rpd0", "type", "veth", "peer", "name", "rpd1")
        ip("link", "set", "rpd0", "netns", self.sensor)
        ip("link", "set", "rpd1", "netns", self.world)
        ip("-n", self.sensor, "addr", "add", f"{SENSOR_IP}/24", "dev", "rpd0")
        for address in (WORLD_IP, HOSTILE_IP, *SCANNERS):
            ip("-n", self.world, "addr", "add", f"{address}/24", "dev", "rpd1")
        for ns, dev in ((self.sensor, "rpd0"), (self.world, "rpd1")):
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", self.sensor, "route", "add", "default", "via", WORLD_IP)
        for address in SENSOR_TRAPS[2:5]:  # on the sensor's loopback: the kernel may have no dummy devices
            ip("-n", self.sensor, "addr", "add", address + ("/128" if ":" in address else "/32"), "dev", "lo")
        for address in WORLD_TRAPS:
            ip("-n", self.world, "addr", "add", f"{address}/32", "dev", "lo")
        self.trap_log = self.tmp / "traps.log"
        self.trap_log.touch()
        self.trap_log.chmod(0o666)

    def remove(self) -> None:
        for ns in (self.sensor, self.world):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def close(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        self.remove()

    def popen(self, ns: str, *command: str, **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *command], **kwargs)
        self.processes.append(proc)
        return proc

    def run(self, ns: str, *command: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", ns, *command], capture_output=True, text=True, timeout=timeout,
                              **kwargs)

    def start_world(self, records: dict[str, list[str] | str], hostile: dict[str, str] | None = None) -> None:
        """The world's DNS (with `records`), its traps and hostile servers; the sensor's traps."""
        for ns, config in ((self.world, {"dns": WORLD_IP, "records": records, "traps": WORLD_TRAPS,
                                         "hostile": hostile or {}}),
                           (self.sensor, {"traps": SENSOR_TRAPS})):
            path = self.tmp / f"{ns}.json"
            path.write_text(json.dumps({**config, "trap_log": str(self.trap_log)}))
            proc = self.popen(ns, sys.executable, str(WORLD), str(path), stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.strip() == "ready", f"the world in {ns} did not start"

    def start_sink(self) -> Path:
        """Postfix's smtp-sink at 198.18.0.2:25 in the world, each message it takes dumped to a file."""
        smtp_sink = require("smtp-sink")
        dumps = self.tmp / "sink"
        dumps.mkdir()
        dumps.chmod(0o777)  # smtp-sink drops to nobody before it writes
        self.popen(self.world, smtp_sink, "-u", "nobody", "-d", f"{dumps}/m.", f"{WORLD_IP}:25", "50")
        deadline = time.monotonic() + 10
        while self.run(self.world, sys.executable, "-c",
                       f"import socket; socket.create_connection(('{WORLD_IP}', 25), 1)").returncode != 0:
            assert time.monotonic() < deadline, "smtp-sink did not start"
            time.sleep(0.1)
        return dumps

    def trapped(self) -> list[str]:
        """Every connection a trap took: "trap-address client-address"."""
        return self.trap_log.read_text().splitlines()

    def scan(self, source: str, *, to: str = "drop@dropbox.example", data: bytes | None = None,
             subject: str = PROBE_SUBJECT, helo: str = SENSOR_IP, port: int = 2525) -> dict:
        """One message from `source` in the world to the sensor, by tests/deliver/scanner.py (raw
        bytes, as sent), or by swaks when no raw data is given (a real client)."""
        if data is None:
            swaks = require("swaks")
            result = self.run(self.world, swaks, "--server", f"{SENSOR_IP}:{port}", "--local-interface", source,
                              "--from", "scan@webscan.example", "--to", to, "--helo", helo,
                              "--header", f"Subject: {subject}", "--body", "ok", "--timeout", "20")
            assert result.returncode == 0, result.stdout + result.stderr
            return {"client": "swaks"}
        path = self.tmp / f"data-{time.monotonic_ns()}.eml"
        path.write_bytes(data)
        result = self.run(self.world, sys.executable, str(SCANNER), source, f"{SENSOR_IP}:{port}", helo, to,
                          str(path))
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


class Sensor:
    """`relaypot run` in the sensor's namespace on 198.18.0.1:2525, with a configuration file."""

    def __init__(self, net: DeliveryNet, data_dir: Path, settings: str, *extra: str, ns: str = "",
                 listen: str = f"{SENSOR_IP}:2525", command: list[str] | None = None) -> None:
        self.net = net
        self.data_dir = data_dir
        self.config = net.tmp / f"relaypot-{time.monotonic_ns()}.toml"
        self.config.write_text(settings)
        self.config.chmod(0o644)
        self.output = ""
        self.proc = net.popen(ns or net.sensor, *(command or [sys.executable, "-m", "relaypot.cli"]), "run",
                              "--config", str(self.config), "--listen", listen, "--data-dir", str(data_dir),
                              "--quiet", *extra, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._wait_for_line("listening on")

    def _wait_for_line(self, text: str, timeout: float = 30) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        os.set_blocking(self.proc.stdout.fileno(), False)
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line:
                self.output += line
                if text in line:
                    return
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.05)
        raise AssertionError(f"relaypot run never said {text!r}:\n{self.output}")

    def records(self, kind: str) -> list[dict]:
        found = []
        path = self.data_dir / "events.jsonl"
        for line in (path.read_text().splitlines() if path.exists() else []):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record["kind"] == kind:
                found.append(record)
        return found

    def wait_for(self, kind: str, count: int, timeout: float = 60) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.records(kind)
            if len(found) >= count:
                return found
            assert time.monotonic() < deadline, f"{len(found)} of {count} {kind} records:\n{self.output}"
            assert self.proc.poll() is None, f"the sensor died:\n{self.output}{self.proc.stdout.read()}"
            time.sleep(0.1)

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        out, _ = self.proc.communicate(timeout=timeout)
        self.output += out or ""
        return self.output


def settings(**deception: object) -> str:
    """A configuration: enrichment off, the world's DNS as resolver, delivery on with `deception`."""
    lines = ["[enrich]", "enabled = false", f'resolver = "{WORLD_IP}:53"', "dns_timeout = 5.0",
             "[smtp]", 'persona = "postfix"', 'hostname = "mail.example.com"',
             "[deception]", "deliver_probes = true"]
    for key, value in deception.items():
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"
