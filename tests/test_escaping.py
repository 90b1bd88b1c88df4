"""Attacker text that reaches a terminal through relaypot's own outputs: the journal, the JSON
report, and exports, whether piped or shown."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import smtplib
import subprocess
import unicodedata

import pytest

from relaypot.escape import INVISIBLE, spreadsheet, visible
from support import RELAYPOT, start

# ESC sequences (OSC retitle, CSI clear), BEL, the C1 CSI, a bidi override, a zero-width
# space, a line separator and DEL: each makes a terminal act or hide something.
HOSTILE = "evil\x1b]0;pwned\x07\x1b[2J\u009b31m\u202egnp.exe\u200b\u2028\x7f"
RAW = [b"\x1b", b"\x07", b"\x7f", "\u009b".encode(), "\u202e".encode(), "\u200b".encode(), "\u2028".encode()]


def test_invisible_covers_every_control_format_and_separator_character():
    """The characters \\u-escaped in JSON include every Cc (past C0), Cf, Zl and Zp character
    this Python knows."""
    for code in range(0x7F, 0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            assert INVISIBLE.match(char), hex(code)


def raw_controls(data: bytes) -> list[bytes]:
    return [raw for raw in RAW if raw in data]


def on_a_terminal(*args: str) -> bytes:
    """What a command writes when its output is a terminal (a pseudo-terminal here)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([*RELAYPOT, *args], stdout=follower, stderr=subprocess.DEVNULL, close_fds=True)
    os.close(follower)
    out = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the command ended and closed the terminal
            break
        if not chunk:
            break
        out += chunk
    proc.wait(30)
    os.close(leader)
    return out


def test_attacker_controls_never_reach_a_terminal_raw(tmp_path):
    """A HELO, a subject and a user name full of terminal controls: events.jsonl, the JSON report
    and JSON lines exports \\u-escape them (the same values for a parser); a CSV export escapes
    them whether shown on a terminal or piped (`relaypot export … | head` ends on one too)."""
    proc, port = start(tmp_path, "--quiet", "--persona", "postfix")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.command_encoding = "utf-8"
        client.ehlo(HOSTILE)
        client.sendmail("a@b.example", ["c@d.example"], f"Subject: {HOSTILE}\r\n\r\nbody\r\n".encode())
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    journal = (tmp_path / "events.jsonl").read_bytes()
    assert raw_controls(journal) == []
    helo = next(json.loads(line) for line in journal.splitlines() if b'"smtp.helo"' in line)
    assert helo["hostname"] == HOSTILE
    data = ["--data-dir", str(tmp_path)]
    report = subprocess.run([*RELAYPOT, "report", "--format", "json", *data], capture_output=True, timeout=60)
    assert report.returncode == 0 and raw_controls(report.stdout) == []
    assert b"\\u202egnp.exe" in report.stdout  # the subject is there, escaped
    assert "\u202egnp.exe" in json.dumps(json.loads(report.stdout), ensure_ascii=False)
    lines = subprocess.run([*RELAYPOT, "export", "messages", "--format", "jsonl", *data], capture_output=True,
                           timeout=60).stdout
    assert raw_controls(lines) == [] and json.loads(lines.splitlines()[0])["subject"] == HOSTILE
    shown = on_a_terminal("export", "sessions", "--format", "csv", *data)
    assert raw_controls(shown) == [] and b"evil\\x1b]0;pwned\\x07" in shown
    shown = on_a_terminal("export", "messages", "--format", "csv", *data)
    assert raw_controls(shown) == [] and b"\\u202egnp.exe" in shown
    piped = subprocess.run([*RELAYPOT, "export", "sessions", "--format", "csv", *data], capture_output=True,
                           timeout=60).stdout
    assert raw_controls(piped) == [] and b"evil\\x1b]0;pwned\\x07" in piped


@pytest.mark.parametrize("cell", ["=1+1", " =HYPERLINK(\"http://x\")", "\t=cmd", "  +1", "\u00a0@SUM(A1)", "-2",
                                  "\uff1dcmd()"])
def test_a_cell_a_spreadsheet_would_run_is_quoted(cell):
    assert spreadsheet(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["mail.example.com", " hello", "a=b", "", "CORP\\root"])
def test_a_plain_cell_is_left_as_it_is(cell):
    assert spreadsheet(cell) == cell
    assert visible(cell) == cell


