"""`relaypot import`: a sensor's JSON lines back into a store, on SQLite and PostgreSQL, as a process."""

from __future__ import annotations

import gzip
import json
import signal
import smtplib
from pathlib import Path

from support import fetch, relaypot

SESSIONS = "SELECT session_id, src_ip, helo, helo_class, relay, messages, close_reason, shape FROM sessions " \
           "ORDER BY session_id"


def recorded_sensor(sensor_factory):
    sensor = sensor_factory()
    for n in range(3):
        with smtplib.SMTP(*sensor.address, timeout=15) as smtp:
            smtp.ehlo(f"bot{n}.example.org")
            smtp.sendmail("spam@bulk.example", ["victim@example.net"], f"Subject: offer {n}\r\n\r\nbuy\r\n")
    sensor.wait_for("session.closed", 3)
    sensor.stop()
    return sensor


def test_import_rebuilds_the_store_and_adds_nothing_twice(sensor_factory, store_url, tmp_path):
    sensor = recorded_sensor(sensor_factory)
    events = sensor.data_dir / "events.jsonl"
    lines = events.read_bytes().splitlines()
    # Split into two files, the second gzipped, as rotation and archiving leave them.
    first, second = tmp_path / "events-a.jsonl", tmp_path / "events-b.jsonl.gz"
    first.write_bytes(b"\n".join(lines[:10]) + b"\n")
    second.write_bytes(gzip.compress(b"\n".join(lines[10:]) + b"\n"))

    result = relaypot("import", str(first), str(second), "--store", store_url)
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"relaypot: imported {len(lines)} records from 2 files\n"
    original = f"sqlite:///{sensor.data_dir / 'relaypot.sqlite'}"
    assert fetch(store_url, SESSIONS) == fetch(original, SESSIONS)
    assert fetch(store_url, SESSIONS)[0][3:7] == ("fqdn", 1, 1, "quit")
    assert fetch(store_url, "SELECT count(*) FROM events") == [(len(lines),)]

    again = relaypot("import", str(events), "--store", store_url)
    assert again.returncode == 0, again.stderr
    assert again.stderr == (f"relaypot: read {len(lines)} records from 1 file: 0 new, {len(lines)} already in "
                            "the store\n")
    assert fetch(store_url, "SELECT count(*) FROM events") == [(len(lines),)]
    assert fetch(store_url, "SELECT count(*) FROM commands") == fetch(original, "SELECT count(*) FROM commands")


def test_import_skips_what_is_not_a_record_and_says_so(sensor_factory, store_url, tmp_path):
    sensor = recorded_sensor(sensor_factory)
    lines = (sensor.data_dir / "events.jsonl").read_bytes().splitlines()
    good = [json.loads(line) for line in lines]
    wrong_type = dict(good[-1], session="x" * 24, reply_code="two hundred fifty")  # an edited line
    wrong_type["kind"] = "smtp.command"
    wrong_type.update(verb="NOOP", argument="", raw_line_b64="Tk9PUA0K", reply="250 OK")
    mixed = tmp_path / "events.jsonl"
    mixed.write_bytes(b"\n".join([
        lines[0],
        # an unknown kind whose name would clear the terminal if printed as it is
        b'{"kind": "\\u001b[2Jno.such.kind", "session": "a", "seq": 1, "ts": "t", "sensor": "s", "src_ip": "1.2.3.4"}',
        b'{"kind": "smtp.command", "session": "cut',  # a line cut by a crash
        b"\x1b[2Jnot json at all",
        *lines[1:],
    ]) + b"\n")
    result = relaypot("import", str(mixed), "--store", store_url)
    assert result.returncode == 1
    assert result.stderr.startswith(f"relaypot: imported {len(lines)} records from 1 file; skipped 3 unreadable "
                                    "(the first: events.jsonl:2: ")
    assert "\\x1b[2Jno.such.kind" in result.stderr and "\x1b" not in result.stderr
    assert fetch(store_url, "SELECT count(*) FROM events") == [(len(lines),)]

    # A record of the right shape whose field a store column refuses (PostgreSQL checks types;
    # SQLite stores what it is given): on PostgreSQL it alone is skipped, the rest go in.
    edited = tmp_path / "edited.jsonl"
    edited.write_bytes(json.dumps(wrong_type).encode() + b"\n")
    result = relaypot("import", str(edited), "--store", store_url)
    if store_url.startswith("postgresql"):
        assert result.returncode == 1 and "edited.jsonl:1: the store refused it" in result.stderr
    else:
        assert result.returncode == 0, result.stderr


def test_import_of_a_missing_file_is_one_clear_error(tmp_path):
    result = relaypot("import", str(tmp_path / "nope.jsonl"), "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == f"relaypot: error: no such file: {tmp_path / 'nope.jsonl'}\n"


def test_a_truncated_gzip_file_is_reported_not_fatal(sensor_factory, tmp_path):
    sensor = recorded_sensor(sensor_factory)
    whole = gzip.compress((sensor.data_dir / "events.jsonl").read_bytes())
    cut = tmp_path / "events-cut.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    result = relaypot("import", str(cut), "--store", f"sqlite:///{tmp_path / 'store.sqlite'}")
    assert result.returncode == 1
    assert "events-cut.jsonl.gz: unreadable from here on" in result.stderr


def test_catch_up_imports_exactly_what_the_store_lacks(store_url, tmp_path):
    """A store that holds a prefix of the journal (a sensor killed before its store caught up)
    gets the rest, found by bisection, even across a rotation; a complete store gets nothing."""
    from relaypot.catchup import catch_up
    from relaypot.sinks.jsonl import JsonlSink
    from relaypot.sinks.sql import SqlSink
    from support import session_records

    journal = JsonlSink(tmp_path, rotate="day")
    journal.open()
    records = [r for n in range(300) for r in session_records(f"{n:05d}", "2026-11-27" if n < 200 else "2026-11-28")]
    journal.write(records)
    journal.close()
    assert (tmp_path / "events-2026-11-27.jsonl").exists()
    sink = SqlSink(store_url)
    sink.open()
    try:
        for stored in (1199, 500, 0, 800):  # the boundary in the live file, in the rotated one, at the start
            sink.write(records[:stored])
            queries = []
            sink.db.conn.set_trace_callback(queries.append) if store_url.startswith("sqlite") else None
            summary = catch_up(sink, tmp_path)
            assert fetch(store_url, "SELECT count(*) FROM events") == [(1200,)]
            assert summary is not None and summary.skipped == 0
            if store_url.startswith("sqlite"):
                lookups = [q for q in queries if q.startswith("SELECT 1 FROM events")]
                assert len(lookups) < 60, len(lookups)  # bisected, not read record by record
            sink.db.execute("DELETE FROM events")
            if store_url.startswith("sqlite"):
                sink.db.conn.set_trace_callback(None)
        sink.write(records)
        assert catch_up(sink, tmp_path) is None
    finally:
        sink.close()


def test_spooled_batches_the_catch_up_wrote_are_not_imported_again(tmp_path):
    """A store that was away: its batches wait in the spool, and the journal has them too. The
    start's catch-up writes them from the journal; the spool's files then go without a resend."""
    from relaypot.catchup import catch_up
    from relaypot.sinks.jsonl import JsonlSink
    from relaypot.sinks.sql import SqlSink
    from relaypot.spool import Spool
    from support import session_records

    journal = JsonlSink(tmp_path)
    journal.open()
    records = [r for n in range(200) for r in session_records(f"{n:05d}")]
    journal.write(records)
    journal.close()
    resent: list[Path] = []
    spool = Spool(tmp_path / "spool" / "sql", resent.append)
    spool.keep(records[400:])  # the last half never reached the store
    spool.keep(records[:4])  # ... and a batch from before the store's prefix: it has it
    mine = spool.keep([r for r in session_records("x" * 5)])  # and one the journal never had
    sink = SqlSink(f"sqlite:///{tmp_path / 's.sqlite'}")
    sink.open()
    try:
        sink.write(records[:400])
        summary = catch_up(sink, tmp_path, spool)
    finally:
        sink.close()
    assert summary is not None and summary.records == len(records) - 400
    assert fetch(f"sqlite:///{tmp_path / 's.sqlite'}", "SELECT count(*) FROM events") == [(len(records),)]
    assert spool.pending() == [mine] and spool.used == mine.stat().st_size  # only what the store lacks stays


def test_the_sensor_listens_while_it_catches_up_with_a_long_journal(tmp_path):
    """40,000 records in events.jsonl and none in the store (it was lost, or away): the sensor is
    listening, and answering, before the catch-up is done, and the store gets them all."""
    from relaypot.sinks.jsonl import JsonlSink
    from support import send, session_records, sql, start

    data = tmp_path / "data"
    data.mkdir()
    journal = JsonlSink(data)
    journal.open()
    journal.write([r for n in range(10_000) for r in session_records(f"{n:024x}", "2026-12-01")])
    journal.close()
    proc, port = start(data)
    try:
        assert "the store lacked" not in proc.early_stderr  # not caught up before listening
        send(port, 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "the store lacked the journal's last records" in err and "imported 40,000 records" in err, err
    assert sql(data, "SELECT count(*) FROM sessions") == [(10_001,)]
