"""relaypot stack for real: the sensor and `relaypot stack` in one network namespace, nmap, p0f,
smtplib and swaks in another (tests/stack/netns.py), the kernel's own stack in between."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest

from stack.netns import SCANNER_IF, SENSOR_IP, Namespaces, nmap_os, sensor, stack, stop
from support import require

pytestmark = pytest.mark.slow  # network namespaces, nmap -O, p0f


@pytest.fixture(scope="module")
def namespaces():
    ns = Namespaces()
    yield ns
    ns.remove()


def first_guess(report: str) -> str:
    """nmap's best guess: an exact match's "OS details", else the first of its aggressive guesses."""
    for line in report.splitlines():
        if line.startswith("OS details:"):
            return line.split(":", 1)[1]
    return re.split(r"[:,]", report, maxsplit=2)[1]


@pytest.mark.parametrize("persona,system,stop_signal", [
    ("exchange2000", "Microsoft Windows 2000", signal.SIGTERM),
    # nmap-os-db 7.93 has no Windows Server 2019 of its own: 2016's NT 10.0 stack is the one it names
    ("exchange2019", "Microsoft Windows Server 2016", signal.SIGTERM),
    ("postfix", "Linux", signal.SIGINT),
])
def test_nmap_sees_the_personas_system_only_with_relaypot_stack(namespaces, tmp_path, persona, system, stop_signal):
    before = namespaces.state()
    run = sensor(namespaces, tmp_path / "data", persona)
    try:
        plain = nmap_os(namespaces)
        running = stack(namespaces, tmp_path / "state.json", persona)
        try:
            dressed = nmap_os(namespaces)
        finally:
            said = stop(running, stop_signal)
    finally:
        stop(run)
    print(f"{persona} without relaypot stack:\n{plain}\n{persona} with it:\n{dressed}")
    assert "Linux" in first_guess(plain) and "Windows" not in plain
    assert system in first_guess(dressed), dressed
    if persona.startswith("exchange"):
        assert "Linux" not in dressed
    assert "stopped;" in said
    assert namespaces.state() == before, "every sysctl and rule is as before"
    assert not (tmp_path / "state.json").exists()


P0F_LINE = re.compile(r"subj=srv\|os=([^|]*)\|.*raw_sig=([^|\n]*)")


def p0f_server_label(namespaces: Namespaces, tmp_path, with_stack: bool, persona: str) -> tuple[str, str]:
    p0f = require("p0f")
    tmp_path.mkdir()
    log = tmp_path / "p0f.log"
    watcher = namespaces.popen(namespaces.scanner, p0f, "-i", SCANNER_IF, "-o", str(log),
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    running = stack(namespaces, tmp_path / "state.json", persona) if with_stack else None
    try:
        time.sleep(1.0)  # p0f opens its capture
        namespaces.smtp_client("plain", 1000)
        for _ in range(50):
            found = [m for m in P0F_LINE.finditer(log.read_text() if log.exists() else "")]
            if found:
                return found[0].group(1), found[0].group(2)
            time.sleep(0.1)
        raise AssertionError(log.read_text() if log.exists() else "p0f wrote nothing")
    finally:
        if running is not None:
            stop(running)
        watcher.terminate()
        watcher.wait(timeout=10)


@pytest.mark.parametrize("persona,label,signature", [
    # p0f.fp has no Windows 2000 SYN+ACK signature; this is its s:win:Windows:XP one (NT 5).
    ("exchange2000", "Windows XP", "4:128+0:0:1460:65535,0:mss,nop,ws,nop,nop,ts,nop,nop,sok:df,id+,ts1-:0"),
    # p0f 3.09b predates Windows 10, whose SYN+ACK is its "Windows 7 or 8" (NT 6) one.
    ("exchange2019", "Windows 7 or 8", "4:128+0:0:1460:8192,8:mss,nop,ws,sok,ts:df,id+:0"),
])
def test_p0f_labels_the_sensors_syn_ack_windows_with_relaypot_stack(namespaces, tmp_path, persona, label, signature):
    run = sensor(namespaces, tmp_path / "data", persona)
    try:
        plain_os, plain_sig = p0f_server_label(namespaces, tmp_path / "plain", False, persona)
        dressed_os, dressed_sig = p0f_server_label(namespaces, tmp_path / "dressed", True, persona)
    finally:
        stop(run)
    print(f"p0f without relaypot stack: {plain_os} {plain_sig}\np0f with it: {dressed_os} {dressed_sig}")
    assert "Windows" not in plain_os and ":64+0:" in plain_sig
    assert dressed_os == label
    assert dressed_sig == signature


VOLATILE = {"session", "ts", "src_port", "seq", "duration", "duration_ms", "queue_id", "banner", "for_session"}


def recorded(data_dir) -> list[dict]:
    """The records of a run, without what differs between any two runs (ids, times, ports)."""
    records = []
    for line in (data_dir / "events.jsonl").read_text().splitlines():
        record = json.loads(line)
        kept = {key: value for key, value in record.items()
                if key not in VOLATILE and not key.endswith(("_ms", "_at", "_id"))}
        if isinstance(kept.get("reply"), str):  # the queue id Exchange's 250 names is random
            kept["reply"] = re.sub(r"<mail[0-9a-z]+@", "<mailQUEUEID@", kept["reply"])
        records.append(kept)
    return records


def sessions(namespaces: Namespaces, data_dir, with_stack: bool, state) -> list[dict]:
    swaks = require("swaks")
    run = sensor(namespaces, data_dir, "exchange2000", env={"RELAYPOT_TLS_STARTTLS": "yes"})
    running = stack(namespaces, state, "exchange2000") if with_stack else None
    try:
        for mode, size in (("tls", 10 * 1024 * 1024), ("plain", 10 * 1024 * 1024), ("tls", 2000)):
            codes = namespaces.smtp_client(mode, size)["codes"]
            assert codes == [[250, 220, 250, 250, 250, 250] if mode == "tls" else [250, 250, 250, 250]]
        result = namespaces.run(namespaces.scanner, swaks, "--server", f"{SENSOR_IP}:25", "--from",
                                "a@scanner.example.org", "--to", "b@example.net", "--helo", "swaks.example.org",
                                "--tls", "--tls-protocol", "tlsv1", "--tls-cipher", "ALL:@SECLEVEL=0",
                                "--header", "Subject: swaks through the rewriter",
                                "--header", "Date: Mon, 30 Nov 2026 12:00:00 +0000",
                                "--header", "Message-Id: <same-in-both-runs@scanner.example.org>")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "<~  221" in result.stdout
    finally:
        if running is not None:
            said = stop(running)
            assert "stopped;" in said
        stop(run)
    return recorded(data_dir)


def test_sessions_through_the_rewriter_succeed_and_are_recorded_as_without_it(namespaces, tmp_path):
    plain = sessions(namespaces, tmp_path / "plain", with_stack=False, state=tmp_path / "s1.json")
    dressed = sessions(namespaces, tmp_path / "dressed", with_stack=True, state=tmp_path / "s2.json")
    kinds = [record["kind"] for record in dressed]
    assert kinds.count("smtp.message") == 4 and kinds.count("smtp.tls") == 3, kinds
    sizes = sorted(record["size"] for record in dressed if record["kind"] == "smtp.message")
    assert sizes[-2:] == [10 * 1024 * 1024 + 33] * 2, sizes  # the two 10 MiB bodies and their header, whole
    assert dressed == plain


def test_undo_puts_back_what_a_killed_run_left_and_a_second_run_is_refused(namespaces, tmp_path):
    before = namespaces.state()
    state = tmp_path / "state.json"
    first = stack(namespaces, state, "exchange2000")
    try:
        second = namespaces.run(namespaces.sensor, sys.executable, "-m", "relaypot.cli", "stack", "--persona",
                                "exchange2000", "--state", str(state), timeout=30)
        assert second.returncode == 2 and "is running" in second.stderr, second.stderr
        changed = namespaces.state()
        assert changed != before and "RELAYPOT-STACK-OUT" in changed[1]
        assert "net.ipv4.ip_default_ttl = 128" in changed[0]
    finally:
        first.kill()  # SIGKILL: nothing is put back
        first.wait(timeout=10)
    assert namespaces.state() == changed
    undone = namespaces.run(namespaces.sensor, sys.executable, "-m", "relaypot.cli", "stack", "--undo",
                            "--state", str(state), timeout=30)
    assert undone.returncode == 0, undone.stderr
    assert "removed the iptables chains" in undone.stdout and "ip_default_ttl: back to 64" in undone.stdout
    assert namespaces.state() == before and not state.exists()


def test_dry_run_says_what_it_would_change_and_changes_nothing(namespaces, tmp_path):
    before = namespaces.state()
    result = namespaces.run(namespaces.sensor, sys.executable, "-m", "relaypot.cli", "stack", "--dry-run",
                            "--persona", "exchange2000", "--ports", "25,587", "--state", str(tmp_path / "s.json"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "sysctl net.ipv4.ip_default_ttl: 64 -> 128" in lines
    assert ("iptables -w -t mangle -A RELAYPOT-STACK-OUT -p tcp -m multiport --sports 25,587 "
            "-j NFQUEUE --queue-num 25 --queue-bypass") in lines
    assert namespaces.state() == before and not (tmp_path / "s.json").exists()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_every_stop_signal_puts_back_every_sysctl_and_rule(namespaces, tmp_path, stop_signal):
    before = namespaces.state()
    running = stack(namespaces, tmp_path / "state.json", "exchange2000")
    during = namespaces.state()
    assert "RELAYPOT-STACK-IN" in during[1] and "net.ipv4.tcp_ecn = 0" in during[0]
    said = stop(running, stop_signal)
    assert running.returncode == 0 and "removed the iptables chains" in said
    assert namespaces.state() == before


def test_a_stopped_rewriter_is_taken_out_of_the_path_by_its_watchdog(namespaces, tmp_path):
    """SIGSTOP on relaypot stack left the sensor blackholed (0 of 6 sessions in 30 s): the queue
    stays bound, so --queue-bypass never lets a packet pass. The watchdog removes the rules once
    the verdicts stop; sessions go through with the host's stack; when the rewriter runs again it
    stops and puts every sysctl back."""
    before = namespaces.state()
    run = sensor(namespaces, tmp_path / "data", "exchange2000")
    try:
        running = stack(namespaces, tmp_path / "state.json", "exchange2000")
        try:
            assert namespaces.smtp_client("plain", 100)["codes"][0][0] == 250  # through the rewriter
            running.send_signal(signal.SIGSTOP)
            result = namespaces.smtp_client("plain", 100, sessions=3, timeout=120)
            assert all(codes[-1] == 250 for codes in result["codes"]), result
            assert "RELAYPOT-STACK" not in namespaces.state()[1]  # the rules are gone ...
        finally:
            running.send_signal(signal.SIGCONT)
            said = stop(running)
    finally:
        stop(run)
    assert "watchdog: the rewriter gave no verdict for 5 s" in said, said
    assert namespaces.state() == before  # ... and, once it ran again, everything else is back too
