"""`relaypot prune`: what is older than the cutoff goes, rows and files, on SQLite and
PostgreSQL, while the sensor runs; what is newer, or still named, stays."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import time

import pytest

from support import RunningSensor, fetch, relaypot, send, sql, start

OLD = "2026-06-01T10:00:00.000000Z"


def _send(sensor: RunningSensor, subject: str, body: str = "same body\r\n") -> None:
    with smtplib.SMTP(*sensor.address, timeout=10) as client:
        client.sendmail("a@b.example", ["c@d.example"], f"Subject: {subject}\r\n\r\n{body}")


def _age(url: str, sessions: list[str]) -> None:
    """Make these sessions (and every row of theirs) half a year old, as if recorded then."""
    from relaypot.storage.database import Database

    db = Database(url, must_exist=True)
    try:
        marks = ", ".join("?" * len(sessions))
        with db.transaction():
            db.execute(f"UPDATE sessions SET started = ?, ended = ? WHERE session_id IN ({marks})",
                       [OLD, OLD, *sessions])
            for table in ("events", "commands", "envelopes", "messages", "credentials", "violations"):
                db.execute(f"UPDATE {table} SET ts = ? WHERE session_id IN ({marks})", [OLD, *sessions])
    finally:
        db.close()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_prune_removes_what_is_old_and_keeps_what_is_new_or_still_named(sensor_factory, engine, request):
    options = {}
    if engine == "postgresql":
        options["store__url"] = request.getfixturevalue("postgresql_url")
    sensor = sensor_factory(**options)
    _send(sensor, "old and alone", "a body only the old session has\r\n")
    _send(sensor, "old, shared body")
    sensor.wait_for("session.closed", 2)
    old_sessions = [r.session for r in sensor.records("session.opened")]
    time.sleep(0.3)  # the store has them
    _age(sensor.store_url, old_sessions)
    alone = next(r.event for r in sensor.records("smtp.message") if r.event.subject == "old and alone")
    shared = next(r.event for r in sensor.records("smtp.message") if r.event.subject == "old, shared body")
    for event in (alone, shared):  # their files too are from then
        os.utime(sensor.data_dir / event.path, (time.time() - 200 * 86400,) * 2)
    _send(sensor, "old, shared body")  # the very message again, today: its file is in use again
    sensor.wait_for("session.closed", 3)
    time.sleep(0.3)
    args = ["prune", "--older-than", "90d", "--store", sensor.store_url, "--data-dir", str(sensor.data_dir)]

    dry = relaypot(*args, "--dry-run")  # while the sensor runs
    assert dry.returncode == 0, dry.stderr
    assert "would remove 2 sessions" in dry.stdout and "1 message files" in dry.stdout, dry.stdout
    assert fetch(sensor.store_url, "SELECT count(*) FROM sessions")[0][0] == 3

    done = relaypot(*args)
    assert done.returncode == 0, done.stderr
    assert "removed 2 sessions" in done.stdout and "1 message files" in done.stdout, done.stdout
    assert fetch(sensor.store_url, "SELECT count(*) FROM sessions")[0][0] == 1
    assert fetch(sensor.store_url, "SELECT subject, ts > '2026-09' FROM messages") == [("old, shared body", True)]
    for table in ("events", "commands", "envelopes"):
        assert fetch(sensor.store_url, f"SELECT count(*) FROM {table} WHERE session_id IN "
                     f"({', '.join(repr(s) for s in old_sessions)})") == [(0,)], table
    assert not (sensor.data_dir / alone.path).exists()
    assert (sensor.data_dir / shared.path).exists()  # named by the new message
    # The sensor goes on recording after the prune, and the report covers what is left.
    _send(sensor, "after the prune")
    sensor.wait_for("session.closed", 4)
    sensor.stop()
    report = relaypot("report", "--format", "json", "--store", sensor.store_url)
    assert '"sessions": 2' in report.stdout


def test_prune_refuses_an_age_it_cannot_read(tmp_path):
    result = relaypot("prune", "--older-than", "ninety days", "--data-dir", str(tmp_path))
    assert result.returncode != 0 and "write a number of days, hours or minutes" in result.stderr


def _stop(proc) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def test_a_prune_stays_done_through_the_next_start_and_an_import(tmp_path):
    """The journal still holds what a prune removed from the store: neither the start's catch-up
    with events.jsonl nor `relaypot import` brings it back (a retention purge of captured
    credentials that the next start undid was a compliance failure)."""
    data = tmp_path / "data"
    proc, port = start(data)
    for n in range(3):
        send(port, n)
    _stop(proc)
    # Make the journal half a year old and lose the store: the next start rebuilds it from the journal.
    lines = (data / "events.jsonl").read_text().splitlines()
    aged = [json.dumps({**json.loads(line), "ts": f"2026-06-01T10:00:{n // 1000:02d}.{n % 1000:06d}Z"})
            for n, line in enumerate(lines)]
    (data / "events.jsonl").write_text("\n".join(aged) + "\n")
    for path in data.glob("relaypot.sqlite*"):
        path.unlink()
    proc, _ = start(data)
    _stop(proc)
    assert sql(data, "SELECT count(*) FROM sessions") == [(3,)]  # caught up from the journal
    done = relaypot("prune", "--older-than", "90d", "--data-dir", str(data))
    assert "removed 3 sessions" in done.stdout, done.stdout + done.stderr
    proc, port = start(data)
    send(port, 9)
    said = _stop(proc)
    assert sql(data, "SELECT count(*) FROM sessions") == [(1,)], said  # only the new one
    assert sql(data, "SELECT count(*) FROM events WHERE ts < '2026-09'") == [(0,)]
    again = relaypot("import", str(data / "events.jsonl"), "--data-dir", str(data))
    assert again.returncode == 0, again.stderr
    assert f"left out {len(lines)} older than the last relaypot prune" in again.stdout + again.stderr
    assert sql(data, "SELECT count(*) FROM sessions") == [(1,)]
