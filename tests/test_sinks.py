"""Sinks on real files and a real SQLite database: rotation, idempotency, batches, failure isolation."""

from __future__ import annotations

import json
import threading
import time

from relaypot.events import (
    Auth,
    Command,
    Helo,
    MessageReceived,
    Record,
    record_from_dict,
)
from relaypot.pipeline import EventBus
from relaypot.sinks.jsonl import JsonlSink
from relaypot.sinks.memory import MemorySink
from relaypot.sinks.sql import SqlSink
from support import fetch, relaypot, session_records


def test_jsonl_rotates_by_day_and_every_line_is_whole(tmp_path):
    """A record of a new day starts a new events.jsonl; the old one becomes events-DAY.jsonl."""
    sink = JsonlSink(tmp_path, rotate="day")
    sink.open()
    sink.write(session_records("a", "2026-11-27") + session_records("b", "2026-11-28"))
    sink.close()
    old = (tmp_path / "events-2026-11-27.jsonl").read_text().splitlines()
    new = (tmp_path / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["session"] for line in old] == ["a"] * 4
    assert [json.loads(line)["session"] for line in new] == ["b"] * 4


def test_jsonl_rotates_by_size_without_splitting_a_line(tmp_path):
    """Size rotation happens between lines; every rotated file holds whole JSON lines under the bound."""
    sink = JsonlSink(tmp_path, rotate="size", max_bytes=1000, compress=False)
    sink.open()
    for n in range(10):
        sink.write(session_records(f"s{n}"))
    sink.close()
    files = sorted(tmp_path.glob("events*.jsonl"))
    assert len(files) > 3
    seen = []
    for path in files:
        data = path.read_bytes()
        assert data.endswith(b"\n") and (len(data) <= 1000 or data.count(b"\n") == 1)
        seen += [json.loads(line)["session"] for line in data.splitlines()]
    assert sorted(seen) == sorted(f"s{n}" for n in range(10) for _ in range(4))


def test_rotated_files_but_the_newest_are_gzipped_and_import_reads_them_all(tmp_path):
    """The journal does not grow forever: rotated files become .jsonl.gz (all but the newest,
    which a start's catch-up may read), and `relaypot import` takes every record back from them."""
    sink = JsonlSink(tmp_path / "data", rotate="size", max_bytes=1000)
    sink.open()
    for n in range(10):
        sink.write(session_records(f"s{n}"))
    sink.close()  # waits for the compression under way
    data = tmp_path / "data"
    zipped = sorted(data.glob("events-*.jsonl.gz"))
    plain = sorted(data.glob("events-*.jsonl"))
    assert len(zipped) >= 2 and len(plain) == 1 and not list(data.glob("*.partial"))
    assert all(oct(path.stat().st_mode)[-3:] == "640" for path in zipped)
    store = tmp_path / "store.sqlite"
    result = relaypot("import", "--store", f"sqlite:///{store}", *map(str, [*zipped, *plain, data / "events.jsonl"]))
    assert result.returncode == 0, result.stderr
    assert fetch(f"sqlite:///{store}", "SELECT count(*), count(DISTINCT session_id) FROM events") == [(40, 10)]


def test_jsonl_reopened_after_a_restart_rotates_on_the_day_of_its_first_line(tmp_path):
    first = JsonlSink(tmp_path, rotate="day")
    first.open()
    first.write(session_records("old", "2026-11-26"))
    first.close()
    second = JsonlSink(tmp_path, rotate="day")
    second.open()
    second.write(session_records("new", "2026-11-27"))
    second.close()
    assert (tmp_path / "events-2026-11-26.jsonl").exists()
    assert json.loads((tmp_path / "events.jsonl").read_text().splitlines()[0])["session"] == "new"


def test_jsonl_lines_rebuild_the_records(tmp_path):
    """The JSON codec round-trips: raw bytes via base64, text as text."""
    sink = JsonlSink(tmp_path)
    sink.open()
    records = session_records("rt")
    sink.write(records)
    sink.close()
    back = [record_from_dict(json.loads(line)) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [(r.session, r.seq, r.ts, r.event) for r in back] == [(r.session, r.seq, r.ts, r.event) for r in records]


def test_sql_sink_is_idempotent_and_merges_sessions_across_batches(store_url):
    """Replaying a batch adds nothing; a session split over batches ends up as one complete row."""
    url = store_url
    sink = SqlSink(url)
    sink.open()
    records = session_records("x", helo="first.example")
    sink.write(records[:2])
    sink.write(records[2:])
    sink.write(records)  # a retried batch
    sink.write([Record("x", 9, "2026-11-27T10:00:09.000000Z", "s1", "203.0.113.5",
                       Helo(verb="HELO", hostname="second.example"))])
    # A later EHLO with an address literal has a verdict (it names another host) where the first
    # name had none (NULL): the first HELO's columns still win, all of them.
    sink.write([Record("x", 10, "2026-11-27T10:00:10.000000Z", "s1", "203.0.113.5",
                       Helo(verb="EHLO", hostname="[192.0.2.99]"))])
    sink.close()
    assert fetch(url, "SELECT count(*) FROM events") == [(6,)]
    assert fetch(url, "SELECT count(*) FROM commands") == [(1,)]
    row = fetch(url, "SELECT started, ended, helo_verb, helo, helo_class, helo_peer, listener, close_reason, commands "
                     "FROM sessions")
    assert row == [("2026-11-27T10:00:00.000000Z", "2026-11-27T10:00:03.000000Z", "EHLO", "first.example", "non_fqdn",
                    None, "0.0.0.0:25", "quit", 1)]


def test_attacker_text_that_is_not_utf8_reaches_sql_as_valid_text(store_url):
    """Undecodable bytes and NUL in a HELO name are stored as U+FFFD in text columns (PostgreSQL
    refuses NUL in text: it would fail the whole batch), and exactly in raw_line and the JSON."""
    url = store_url
    sink = SqlSink(url)
    sink.open()
    raw = b"EHLO \xff\x00\xfe\r\n"
    name = raw[5:-2].decode("utf-8", "surrogateescape")
    sink.write(session_records("u")[:1] + [
        Record("u", 2, "2026-11-27T10:00:01.000000Z", "s1", "203.0.113.5", Helo(verb="EHLO", hostname=name)),
        Record("u", 3, "2026-11-27T10:00:02.000000Z", "s1", "203.0.113.5",
               Command(verb="EHLO", argument=name, raw_line=raw, reply_code=250, reply="250 ok")),
    ])
    sink.close()
    assert fetch(url, "SELECT helo FROM sessions") == [("\ufffd\ufffd\ufffd",)]
    assert fetch(url, "SELECT argument FROM commands") == [("\ufffd\ufffd\ufffd",)]
    assert fetch(url, "SELECT raw_line FROM commands") == [(raw,)]
    payload = json.loads(fetch(url, "SELECT payload FROM events WHERE seq = 2")[0][0])
    assert payload["hostname"] == "\ufffd\x00\ufffd"  # the JSON keeps the NUL


class FailingSink:
    name = "failing"

    def __init__(self) -> None:
        self.calls = 0

    def open(self) -> None:
        pass

    def write(self, records) -> None:
        self.calls += 1
        raise OSError("disk on fire")

    def close(self) -> None:
        pass


def test_a_failing_sink_never_stops_the_others():
    """One sink raising on every batch: the others get every record; the failures are counted."""
    good, bad = MemorySink(), FailingSink()
    bus = EventBus([bad, good], flush_interval=0.02, retry_for=0.3)
    bus.start()
    for record in session_records("f"):
        bus.publish(record)
    deadline = time.monotonic() + 5
    while len(good.records) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    bus.close()
    assert len(good.records) == 4
    stats = bus.stats()
    assert stats["failing"]["failures"] >= 2 and stats["failing"]["dropped"] == 4
    assert stats["memory"]["written"] == 4


class SlowSink(MemorySink):
    name = "slow"

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def write(self, records) -> None:
        self.gate.wait(10)
        super().write(records)


def test_a_stalled_sink_congests_the_bus_and_releases_it_when_drained():
    """Past the high-water mark the bus reports congestion (the transport pauses reading), then clears it."""
    slow = SlowSink()
    bus = EventBus([slow], flush_interval=0.01, high_water=20, batch_size=5)
    bus.start()
    for n in range(10):
        for record in session_records(f"c{n}"):
            bus.publish(record)
    assert bus.congested
    slow.gate.set()
    deadline = time.monotonic() + 5
    while bus.congested and time.monotonic() < deadline:
        time.sleep(0.01)
    bus.close()
    assert not bus.congested and len(slow.records) == 40


class BatchSizes(MemorySink):
    name = "sizes"

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def write(self, records) -> None:
        self.batches.append(sum(len(r.to_json()) for r in records))
        super().write(records)


def test_queues_and_batches_are_bounded_by_bytes_as_well_as_records():
    """Big records (long lines, long subjects) congest the bus by their JSON bytes long before
    the record count would, and no batch a sink takes holds more than batch_bytes (plus the one
    record that crossed it): what a flood costs in memory is bounded by bytes."""
    slow = SlowSink()
    bus = EventBus([slow], flush_interval=0.01, high_water=100_000, batch_size=20_000,
                   high_water_bytes=64 * 1024, batch_bytes=16 * 1024)
    bus.start()
    records = [r for n in range(60) for r in session_records(f"b{n}", helo="h" * 1000)]
    one = max(len(r.to_json()) for r in records)
    for record in records:
        bus.publish(record)
        if bus.congested:
            break
    assert bus.congested and len(bus.workers[0].queue) < 1000  # far below high_water (100,000)
    assert bus.workers[0].queued_bytes >= 64 * 1024
    slow.gate.set()
    deadline = time.monotonic() + 5
    while bus.congested and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not bus.congested
    bus.close()

    sizes = BatchSizes()
    bus = EventBus([sizes], flush_interval=0.05, batch_bytes=16 * 1024)
    bus.start()
    for record in records:
        bus.publish(record)
    bus.close()
    assert len(sizes.records) == len(records)
    assert max(sizes.batches) < 16 * 1024 + one and len(sizes.batches) >= len(records) * 1000 // (16 * 1024 + one)


def test_sink_threads_carry_their_names_into_the_os():
    """`top -H` and /proc/PID/task/*/comm tell the sink threads apart (Linux)."""
    import os
    import sys
    from pathlib import Path

    import pytest

    if not sys.platform.startswith("linux"):
        pytest.skip("thread names in the OS are set on Linux only")
    bus = EventBus([MemorySink()], flush_interval=0.05)
    bus.start()
    try:
        names = {(task / "comm").read_text().strip()
                 for task in Path(f"/proc/{os.getpid()}/task").iterdir()}
    finally:
        bus.close()
    assert "sink-memory" in names


def test_the_sql_sink_reconnects_when_postgresql_drops_its_connection(postgresql_url):
    """A dropped connection (a restarted or failed-over server) costs a retry, not the batch."""
    import psycopg

    sink = SqlSink(postgresql_url)
    bus = EventBus([sink], flush_interval=0.05)
    bus.start()
    for record in session_records("a"):
        bus.publish(record)
    assert bus.flush(10)
    with psycopg.connect(postgresql_url, autocommit=True) as admin:
        killed = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall()
    assert killed == [(True,)]  # the sink's own connection
    for record in session_records("b"):
        bus.publish(record)
    assert bus.flush(30)
    bus.close()
    stats = bus.stats()["sql"]
    assert stats["failures"] >= 1 and stats["dropped"] == 0
    assert fetch(postgresql_url, "SELECT session_id, close_reason FROM sessions ORDER BY session_id") == [
        ("a", "quit"), ("b", "quit")]


def test_no_attacker_text_can_fail_a_batch(store_url):
    """Text the sink does not clean itself (an unknown AUTH mechanism, a MIME content type) still
    reaches the store: undecodable bytes and NUL become U+FFFD in every text column."""
    mechanism = b"X\xff\x00".decode("utf-8", "surrogateescape")
    content_type = b"text/\xfe\x00html".decode("utf-8", "surrogateescape")
    sink = SqlSink(store_url)
    sink.open()
    sink.write(session_records("h")[:1] + [
        Record("h", 2, "2026-11-27T10:00:01.000000Z", "s1", "203.0.113.5",
               Auth(mechanism=mechanism, advertised=False, outcome="unsupported")),
        Record("h", 3, "2026-11-27T10:00:02.000000Z", "s1", "203.0.113.5",
               MessageReceived(sha256="0" * 64, size=10, path="messages/00/x.eml", transfer="DATA", mail_from="",
                               rcpt_to=(), attachments=({"filename": "a.txt", "content_type": content_type,
                                                         "size": 1, "sha256": "1" * 64},))),
    ])
    sink.close()
    assert fetch(store_url, "SELECT mechanism FROM credentials") == [("X\ufffd\ufffd",)]
    assert fetch(store_url, "SELECT content_type FROM attachments") == [("text/\ufffd\ufffdhtml",)]


def test_the_store_binds_any_text_it_is_given(store_url):
    """Below the sink, too: text a driver cannot bind (surrogates; NUL on PostgreSQL) is made
    storable and the statement sent again, and the transaction goes on."""
    from relaypot.storage.database import Database
    from relaypot.storage.statements import VIOLATION

    SqlSink(store_url).open()  # the schema
    db = Database(store_url)
    identity = ("v" * 24, 1, "2026-11-27T10:00:00.000000Z", "s1", "203.0.113.5")
    with db.transaction():
        db.insert(VIOLATION, [identity + ("binary", "a\udcffb\x00c")])
        db.insert(VIOLATION, [identity[:1] + (2,) + identity[2:] + ("binary", "plain")])
    db.close()
    assert fetch(store_url, "SELECT seq, detail FROM violations ORDER BY seq") == [(1, "a\ufffdb\ufffdc"),
                                                                                (2, "plain")]


def test_text_orders_byte_by_byte_on_both_engines(store_url):
    """Names sort as SQLite's BINARY does on PostgreSQL too, even in a database made with a
    language's collation (the test server's are ICU en-US): a tie broken by name before a LIMIT
    picks the same rows on both engines."""
    names = ["a.example", "B.example", "_z.example", "\u00c4.example", "b.example"]
    sink = SqlSink(store_url)
    sink.open()
    sink.write([r for n, name in enumerate(names) for r in session_records(f"s{n}", helo=name)])
    sink.close()
    assert fetch(store_url, "SELECT helo FROM sessions ORDER BY helo") == [(name,) for name in sorted(names)]
    assert fetch(store_url, "SELECT helo FROM sessions GROUP BY helo ORDER BY count(*) DESC, helo LIMIT 2") == [
        ("B.example",), ("_z.example",)]


def test_a_session_whose_first_records_come_last_keeps_its_start(store_url):
    """A spool resend or an import can write a session's opening records after its later ones:
    the row still starts when the session did, in that hour, names its first HELO, and keeps what
    the close said."""
    records = session_records("late", day="2026-11-27", helo="first.example")
    early = [Record(r.session, r.seq, f"2026-11-27T09:59:5{r.seq}.000000Z", r.sensor, r.src_ip, r.event)
             for r in records[:2]]
    second = records[2]  # a second EHLO (after STARTTLS, say) in the later records
    later = [Record(second.session, second.seq, second.ts, second.sensor, second.src_ip,
                    Helo(verb="EHLO", hostname="second.example")), records[3]]
    sink = SqlSink(store_url)
    sink.open()
    sink.write(later)
    sink.write(early)
    sink.close()
    assert fetch(store_url, "SELECT started, hour, helo, close_reason, src_port FROM sessions") == [
        ("2026-11-27T09:59:51.000000Z", "2026-11-27T09", "first.example", "quit", 1)]


def test_a_sink_failure_is_one_escaped_log_line(caplog):
    """A store's error message can quote a value an attacker sent: the log gets one line, escaped
    by the sensor's formatter, with the traceback only at debug level."""
    import logging

    from relaypot.escape import LogFormatter

    class Hostile(FailingSink):
        name = "hostile"

        def write(self, records) -> None:
            raise ValueError("bad value \x1b[2J\nforged line")

    bus = EventBus([Hostile()], flush_interval=0.02, retry_for=0.0)
    with caplog.at_level(logging.INFO, logger="relaypot.pipeline"):
        bus.start()
        for record in session_records("h"):
            bus.publish(record)
        deadline = time.monotonic() + 5
        while bus.stats()["hostile"]["dropped"] < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        bus.close()
    failures = [r for r in caplog.records if r.getMessage().startswith("sink hostile failed")]
    assert len(failures) == 1 and failures[0].exc_info is None
    assert LogFormatter("%(message)s").format(failures[0]) == (
        "sink hostile failed: ValueError: bad value \\x1b[2J forged line")


def test_the_sinks_get_a_record_only_once_the_journal_has_written_it(tmp_path):
    """After a kill -9 the SQL store must hold nothing events.jsonl lacks (the catch-up at start
    assumes the store trails the journal): a sink is handed a record only once the journal wrote it."""
    memory = MemorySink()
    bus = EventBus([memory], flush_interval=0.01, batch_size=1, journal=JsonlSink(tmp_path))
    bus.start()
    for record in session_records("journal-first"):
        bus.publish(record)
    time.sleep(0.3)  # thirty flush intervals: a sink not held back would have them by now
    assert memory.records == []
    bus.commit()
    deadline = time.monotonic() + 5
    while len(memory.records) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r.seq for r in memory.records] == [1, 2, 3, 4]
    assert (tmp_path / "events.jsonl").read_text().count("\n") == 4
    bus.close()


def test_jsonl_rotates_by_day_and_by_size_together(tmp_path):
    """day+size: a new file at each new day, and within a day whenever the file would pass max_bytes."""
    sink = JsonlSink(tmp_path, rotate="day+size", max_bytes=1000, compress=False)
    sink.open()
    for n in range(6):
        sink.write(session_records(f"a{n}", "2026-11-27"))
    for n in range(2):
        sink.write(session_records(f"b{n}", "2026-11-28"))
    sink.close()
    first_day = sorted(tmp_path.glob("events-2026-11-27*.jsonl"))
    assert len(first_day) >= 2, "the first day's records passed 1000 bytes: more than one file"
    for path in first_day:
        lines = path.read_text().splitlines()
        assert all(json.loads(line)["ts"].startswith("2026-11-27") for line in lines)
        assert len(path.read_bytes()) <= 1000 or len(lines) == 1
    live = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert {record["ts"][:10] for record in live} == {"2026-11-28"}, "the new day began a new file"
    seen = [json.loads(line)["session"] for path in sorted(tmp_path.glob("events*.jsonl"))
            for line in path.read_text().splitlines()]
    assert sorted(seen) == sorted([f"a{n}" for n in range(6)] * 4 + [f"b{n}" for n in range(2)] * 4)
