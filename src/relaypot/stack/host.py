"""What `relaypot stack` changes on the host, and how it puts everything back.

Two kinds of change, both in the current network namespace: sysctls (each one's value before is
kept, in memory and in a state file, so even a run that was killed can be undone with
`relaypot stack --undo`), and iptables rules in two chains of the mangle table that send the
sensor's packets to the rewriter's queue with --queue-bypass (no rewriter bound: packets flow
unchanged).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from relaypot.errors import ConfigError
from relaypot.personas.model import SYSCTL_NAME, StackProfile

CHAIN_OUT = "RELAYPOT-STACK-OUT"
CHAIN_IN = "RELAYPOT-STACK-IN"
SYSCTL_ROOT = Path("/proc/sys")


@dataclass(frozen=True)
class SysctlChange:
    name: str
    before: str
    after: str


@dataclass
class HostPlan:
    sysctls: list[SysctlChange] = field(default_factory=list)
    rules: list[list[str]] = field(default_factory=list)  # iptables arguments, in order

    def describe(self) -> list[str]:
        lines = [f"sysctl {change.name}: {change.before} -> {change.after}" for change in self.sysctls
                 if change.before != change.after]
        lines += [f"sysctl {change.name}: {change.after} (unchanged)" for change in self.sysctls
                  if change.before == change.after]
        lines += ["iptables " + " ".join(rule) for rule in self.rules]
        return lines


def sysctl_path(name: str) -> Path:
    return SYSCTL_ROOT / name.replace(".", "/")


def read_sysctl(name: str) -> str:
    try:
        return " ".join(sysctl_path(name).read_text().split())
    except OSError as exc:
        raise ConfigError(f"cannot read sysctl {name}: {exc.strerror or exc}") from None


def write_sysctl(name: str, value: str) -> None:
    try:
        sysctl_path(name).write_text(value + "\n")
    except OSError as exc:
        raise ConfigError(f"cannot set sysctl {name} to {value!r}: {exc.strerror or exc}") from None


def rules(ports: list[int], queue: int, interface: str | None) -> list[list[str]]:
    """The rules that queue the sensor's packets: its TCP segments, every RST (the closed ports'
    answers are the stack's too), its ICMP echo replies and unreachables going out; echo requests
    and the segments the kernel ignores (no SYN, ACK or RST; SYN with FIN) coming in."""
    target = ["-j", "NFQUEUE", "--queue-num", str(queue), "--queue-bypass"]
    port_list = ",".join(str(port) for port in ports)
    mangle = ["-w", "-t", "mangle"]
    out = [
        ["-p", "tcp", "-m", "multiport", "--sports", port_list],
        ["-p", "tcp", "--tcp-flags", "RST", "RST"],
        ["-p", "icmp", "--icmp-type", "echo-reply"],
        ["-p", "icmp", "--icmp-type", "destination-unreachable"],
    ]
    into = [
        ["-p", "icmp", "--icmp-type", "echo-request"],
        ["-p", "tcp", "-m", "multiport", "--dports", port_list, "--tcp-flags", "SYN,ACK,RST", "NONE"],
        ["-p", "tcp", "-m", "multiport", "--dports", port_list, "--tcp-flags", "SYN,FIN", "SYN,FIN"],
    ]
    found = [mangle + ["-N", CHAIN_OUT], mangle + ["-N", CHAIN_IN]]
    found += [mangle + ["-A", CHAIN_OUT, *match, *target] for match in out]
    found += [mangle + ["-A", CHAIN_IN, *match, *target] for match in into]
    found.append(mangle + ["-I", "POSTROUTING", *(["-o", interface] if interface else []), "-j", CHAIN_OUT])
    found.append(mangle + ["-I", "PREROUTING", *(["-i", interface] if interface else []), "-j", CHAIN_IN])
    return found


def plan(profile: StackProfile, ports: list[int], queue: int, interface: str | None) -> HostPlan:
    changes = [SysctlChange(name, read_sysctl(name), " ".join(value.split()))
               for name, value in profile.sysctls.items()]
    return HostPlan(sysctls=changes, rules=rules(ports, queue, interface) if profile.rewrite else [])


def iptables() -> str:
    found = shutil.which("iptables")
    if found is None:
        raise ConfigError("relaypot stack needs iptables (Debian: apt install iptables)")
    return found


def _run(binary: str, arguments: list[str], check: bool = True) -> bool:
    result = subprocess.run([binary, *arguments], capture_output=True, text=True)
    if check and result.returncode:
        raise ConfigError(f"iptables {' '.join(arguments)}: {result.stderr.strip()}")
    return result.returncode == 0


def remove_rules(interface: str | None) -> None:
    """Take out relaypot's chains and the jumps to them (whatever run put them there)."""
    binary = iptables()
    mangle = ["-w", "-t", "mangle"]
    for hook, chain, flag in (("POSTROUTING", CHAIN_OUT, "-o"), ("PREROUTING", CHAIN_IN, "-i")):
        for jump in [["-j", chain]] + ([[flag, interface, "-j", chain]] if interface else []):
            while _run(binary, mangle + ["-D", hook, *jump], check=False):
                pass
        _run(binary, mangle + ["-F", chain], check=False)
        _run(binary, mangle + ["-X", chain], check=False)


def apply(host_plan: HostPlan, state_file: Path, interface: str | None) -> None:
    """Make the changes, the state file first, so that a run killed halfway can still be undone."""
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state = {"sysctls": [asdict(change) for change in host_plan.sysctls], "interface": interface,
             "rules": bool(host_plan.rules), "pid": os.getpid()}
    state_file.write_text(json.dumps(state, indent=1) + "\n")
    if host_plan.rules:
        binary = iptables()
        remove_rules(interface)
        for rule in host_plan.rules:
            _run(binary, rule)
    for change in host_plan.sysctls:
        if change.before != change.after:
            write_sysctl(change.name, change.after)


def ipv6_listeners(ports: list[int], table: Path = Path("/proc/net/tcp6")) -> list[int]:
    """The ports among `ports` something listens on over IPv6, which the rewriter does not dress."""
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return []
    found = set()
    for line in lines:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
            port = int(fields[1].rsplit(":", 1)[1], 16)
            if port in ports:
                found.add(port)
    return sorted(found)


def running_owner(state_file: Path) -> int | None:
    """The pid of a live relaypot stack that owns the state file, if any."""
    try:
        pid = int(json.loads(state_file.read_text()).get("pid", 0))
    except (OSError, ValueError, AttributeError):
        return None
    if pid <= 0 or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    try:  # a reused pid is not relaypot
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"stack" in command else None


def undo(state_file: Path) -> list[str]:
    """Put back what the state file says was changed; returns what was done, a line each."""
    try:
        state = json.loads(state_file.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {state_file}: {exc}") from None
    owner = running_owner(state_file)
    if owner is not None:
        raise ConfigError(f"relaypot stack (pid {owner}) is running with {state_file}: stop it, "
                          "and it puts everything back itself")
    done = []
    if state.get("rules"):
        remove_rules(state.get("interface"))
        done.append(f"removed the iptables chains {CHAIN_OUT} and {CHAIN_IN}")
    for change in state.get("sysctls", []):
        if not SYSCTL_NAME.fullmatch(str(change.get("name", ""))):
            raise ConfigError(f"{state_file}: {change.get('name')!r} is no sysctl relaypot stack sets")
        if read_sysctl(change["name"]) != change["before"]:
            write_sysctl(change["name"], change["before"])
            done.append(f"sysctl {change['name']}: back to {change['before']}")
    state_file.unlink()
    return done
