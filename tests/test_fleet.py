"""A fleet: four sensor processes write into one real PostgreSQL at once while clients hit all of
them, and PostgreSQL is restarted in the middle; afterwards every session of every sensor is in
the store exactly once, and the report shows each sensor and the fleet's union."""

from __future__ import annotations

import json
import smtplib
import threading
import time
from datetime import UTC, datetime

import pytest

from support import fetch, relaypot, start

pytestmark = pytest.mark.slow  # four sensors and a PostgreSQL restarted midway

SENSORS = 4


def attack(port: int, stop: threading.Event, failures: list) -> None:
    """Sessions, one after another, until told to stop."""
    n = 0
    while not stop.is_set():
        n += 1
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                client.ehlo(f"bot{n % 7}.example")
                client.sendmail(f"s{n}@spam.example", [f"r{n}@victim.example"],
                                f"Subject: fleet {port} {n}\r\n\r\nbody {n}\r\n")
        except (OSError, smtplib.SMTPException) as exc:
            failures.append(f"{port}/{n}: {exc}")


def test_four_sensors_one_postgresql_restarted_midway_every_session_once(postgresql_server, postgresql_url,
                                                                         tmp_path):
    env = {"RELAYPOT_STORE_URL": postgresql_url, "RELAYPOT_STORE_FLUSH_INTERVAL": "0.1"}
    sensors = [start(tmp_path / f"s{n}", "--sensor", f"fleet-{n}", "--quiet", env=env) for n in range(SENSORS)]
    failures: list[str] = []
    try:
        stop = threading.Event()
        threads = [threading.Thread(target=attack, args=(port, stop, failures)) for _, port in sensors]
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # the attack is under way
        postgresql_server.restart()
        restarted = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        time.sleep(2.0)  # and goes on with the store back
        stop.set()
        for thread in threads:
            thread.join(120)
    finally:
        for proc, _ in sensors:
            proc.terminate()
        said = [proc.communicate(timeout=60)[1] for proc, _ in sensors]
    assert not failures, failures[:5]
    # The restart cut the sensors' store connections while they wrote: they said so, and retried.
    assert any("sink sql failed" in text for text in said), said

    counts = {}
    for n in range(SENSORS):
        journal = [json.loads(line) for line in (tmp_path / f"s{n}" / "events.jsonl").read_text().splitlines()]
        opened = {r["session"] for r in journal if r["kind"] == "session.opened"}
        counts[f"fleet-{n}"] = len(opened)
        starts = [r["ts"] for r in journal if r["kind"] == "session.opened"]
        assert min(starts) < restarted < max(starts), "sessions before the restart and after it"
        assert any(r["ts"] > restarted for r in journal if r["kind"] == "session.opened"), "sessions went on after"
        stored = fetch(postgresql_url, f"SELECT session_id FROM sessions WHERE sensor = 'fleet-{n}'")
        assert sorted(row[0] for row in stored) == sorted(opened), f"fleet-{n}: every session, once"
        events = fetch(postgresql_url, f"SELECT count(*), count(DISTINCT session_id || '/' || seq) FROM events "
                                       f"WHERE sensor = 'fleet-{n}'")
        assert events == [(len(journal), len(journal))]
    report = relaypot("report", "--store", postgresql_url, "--format", "json")
    assert report.returncode == 0, report.stderr
    document = json.loads(report.stdout)
    assert document["sessions"] == sum(counts.values())
    assert {s["sensor"]: s["sessions"] for s in document["sensors"]} == counts
    assert document["sources_count"] == 1, "one source seen by four sensors is one source"
    one = json.loads(relaypot("report", "--store", postgresql_url, "--format", "json", "--sensor", "fleet-2").stdout)
    assert one["sessions"] == counts["fleet-2"] and one["sources_count"] == 1
    print(f"sessions per sensor: {counts}")


def test_sensors_started_at_the_same_instant_against_a_new_database_all_start(postgresql_url, tmp_path):
    """Three sensors, one new PostgreSQL database, one instant: each creates the schema it finds
    missing, in turn (an advisory lock), and all of them listen; none dies of another's tables."""
    import os
    import subprocess

    from support import RELAYPOT

    env = {**os.environ, "RELAYPOT_STORE_URL": postgresql_url, "RELAYPOT_ENRICH_ENABLED": "false"}
    procs = [subprocess.Popen([*RELAYPOT, "run", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / f"s{n}"),
                               "--sensor", f"first-{n}", "--quiet"], env=env, stderr=subprocess.PIPE, text=True)
             for n in range(3)]
    said = []
    try:
        for proc in procs:
            lines = []
            while not lines or "listening on" not in lines[-1]:
                line = proc.stderr.readline()
                assert line, "".join(lines) + (proc.stderr.read() or "")
                lines.append(line)
            said.append("".join(lines))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.communicate(timeout=60)
    assert all(proc.returncode == 0 for proc in procs), said
    assert fetch(postgresql_url, "SELECT count(*) FROM schema_version") == [(1,)]
    assert "Traceback" not in "".join(said)


def test_a_start_its_store_refuses_says_so_in_one_line_and_leaves_nothing(postgresql_server, tmp_path):
    """The store refuses (a database that does not exist): one line, exit 2, and the data
    directory this start made (its lock, its journal, no certificate yet) is gone again."""
    import os
    import subprocess

    from support import RELAYPOT

    url = postgresql_server.url("no_such_database")
    result = subprocess.run([*RELAYPOT, "run", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d")],
                            env={**os.environ, "RELAYPOT_STORE_URL": url, "RELAYPOT_ENRICH_ENABLED": "false"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "no_such_database" in result.stderr, result.stderr
    assert not (tmp_path / "d").exists()
