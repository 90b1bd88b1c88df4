"""relaypot top against a sensor being attacked: under tmux (a real terminal, driven with
send-keys and read with capture-pane), and as plain text when its output is no terminal."""

from __future__ import annotations

import re
import smtplib
import subprocess
import sys
import time

import pytest

from support import RELAYPOT, RunningSensor, relaypot, require


def attack(address: tuple[str, int], n: int, user: str = "admin") -> None:
    with smtplib.SMTP(*address, timeout=10) as client:
        client.ehlo(f"user-{n:010d}")
        try:
            client.login(user, "123456")
        except smtplib.SMTPException:
            pass
        client.sendmail("probe@scanner.example", ["relay@elsewhere.example"],
                        f"Subject: Super webscan open relay check succeded, hostname = 198.51.100.{n}\r\n\r\nx\r\n")


class Tmux:
    def __init__(self, name: str, command: list[str]) -> None:
        self.tmux = require("tmux")
        self.name = name
        subprocess.run([self.tmux, "-f", "/dev/null", "new-session", "-d", "-s", name, "-x", "150", "-y", "45",
                        " ".join(command)], check=True)
        # A server started earlier may size new windows its own way: 150 x 45, whatever it was.
        subprocess.run([self.tmux, "resize-window", "-t", name, "-x", "150", "-y", "45"], capture_output=True)

    def screen(self) -> str:
        return subprocess.run([self.tmux, "capture-pane", "-p", "-t", self.name], capture_output=True,
                              text=True).stdout

    def wait_for(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.screen():
                time.sleep(0.3)  # the rest of that screen's redraw reaches the pane
                return self.screen()
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        subprocess.run([self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def alive(self) -> bool:
        return subprocess.run([self.tmux, "has-session", "-t", self.name], capture_output=True).returncode == 0

    def kill(self) -> None:
        subprocess.run([self.tmux, "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def sensor(tmp_path):
    running = RunningSensor(tmp_path / "data")
    yield running
    running.stop()


def test_top_follows_an_attack_live_and_switches_panes(sensor, tmp_path):
    for n in range(3):
        attack(sensor.address, n)
    sensor.wait_for("session.closed", 3)
    time.sleep(0.3)  # the SQL sink's flush
    command = [sys.executable, "-m", "relaypot.cli", "top", "--store", sensor.store_url, "--interval", "1"]
    top = Tmux(f"relaypot-top-{id(tmp_path) % 100000}", ["env", "LANG=C.UTF-8", *command])
    try:
        shown = top.wait_for("today: 3 sessions from 1 source")
        assert "relaypot top" in shown and "showing: overview" in shown, shown
        assert "127.0.0.1" in shown and "Super webscan" in shown and "admin" in shown
        assert "non_fqdn" in shown
        assert any(bar in shown for bar in "▁▂▃▄▅▆▇█"), "the sparkline, in Unicode on a UTF-8 terminal"
        for n in range(3, 6):  # the attack goes on: the view follows within its interval
            attack(sensor.address, n, user="evil\x1b]0;owned\x07")
        shown = top.wait_for("today: 6 sessions from 1 source")
        top.keys("c")
        shown = top.wait_for("showing: credentials")
        assert "newest credentials" in shown and "newest sources" not in shown
        assert "evil\\x1b]0;owned\\x07" in shown, "attacker text is escaped, never acted on"
        top.keys("r")
        shown = top.wait_for("showing: relay probes")
        assert "Super webscan open relay check succeded, hostname = 198.51.100.5" in shown
        top.keys("s")
        assert "dnsbl" in top.wait_for("showing: sources")
        top.keys("q")
        deadline = time.monotonic() + 10
        while top.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not top.alive(), "q quits"
    finally:
        top.kill()


def test_top_prints_plain_text_once_when_not_on_a_terminal(sensor):
    attack(sensor.address, 1)
    sensor.wait_for("session.closed")
    time.sleep(0.3)
    result = relaypot("top", "--store", sensor.store_url)  # stdout is a pipe: one snapshot
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("relaypot top") and "today: 1 session from 1 source" in result.stdout
    assert "\x1b" not in result.stdout and "#" in result.stdout  # an ASCII sparkline, no escape sequences
    assert RELAYPOT


def test_top_refuses_a_store_that_does_not_exist(tmp_path):
    result = relaypot("top", "--store", f"sqlite:///{tmp_path / 'none.sqlite'}", "--once")
    assert result.returncode == 2 and "relaypot: error:" in result.stderr


def test_top_refuses_a_sensor_the_store_has_never_seen_and_lists_more_than_a_screenful(sensor):
    """--sensor NOSUCH is one line and exit 2, as `report` says it; a snapshot lists every one of
    20 new sources, not the first 12."""
    import socket

    for n in range(20):
        with socket.create_connection(sensor.address, timeout=10, source_address=(f"127.0.1.{n + 1}", 0)) as sock:
            sock.recv(1024)
    sensor.wait_for("session.closed", 20)
    time.sleep(0.3)
    refused = relaypot("top", "--store", sensor.store_url, "--sensor", "NOSUCH", "--once")
    assert refused.returncode == 2
    assert refused.stderr == "relaypot: error: --sensor: the store has no session of NOSUCH; it has: test-sensor\n"
    shown = relaypot("top", "--store", sensor.store_url, "--once").stdout
    assert all(f"127.0.1.{n + 1} " in shown for n in range(20)), shown
    assert re.search(r"^missing\s+20$", shown, flags=re.M), shown  # no HELO: "missing", as the report says
