"""A store away for longer than the retry window costs no record: batches are spooled to disk and
resent, by themselves, once the store writes again. Real SQLite and a real PostgreSQL server."""

from __future__ import annotations

import json
import smtplib
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from relaypot import app
from relaypot.pipeline import EventBus
from relaypot.sinks.sql import SqlSink
from relaypot.spool import Spool
from support import RunningSensor, fetch, session_records

pytestmark = pytest.mark.slow  # a PostgreSQL that hangs, refuses, restarts


def execute(url: str, *statements: str) -> None:
    from relaypot.storage.database import Database

    db = Database(url, must_exist=True)
    try:
        for statement in statements:
            db.conn.execute(statement)
        if not url.startswith("postgresql"):
            db.conn.commit()
    finally:
        db.close()


@contextmanager
def store_refusing_writes(url: str):
    """The store answers, but refuses every write into `events`, even after a reconnect (which
    recreates missing tables): the table is moved aside and a view that takes no rows stands in."""
    execute(url, "ALTER TABLE events RENAME TO events_away",
            "CREATE VIEW events AS SELECT DISTINCT * FROM events_away")
    try:
        yield
    finally:
        execute(url, "DROP VIEW events", "ALTER TABLE events_away RENAME TO events")


def wait(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def spooling_bus(url: str, tmp_path: Path, retry_for: float = 30.0,
                 **spool_options) -> tuple[SqlSink, Spool, EventBus]:
    """A SQL sink on `url` with the sensor's spool under `tmp_path`, on a fast-flushing bus."""
    sink = SqlSink(url)
    spool = app.sql_spool(sink, tmp_path, **spool_options)
    return sink, spool, EventBus([sink], flush_interval=0.05, retry_for=retry_for, spools={"sql": spool},
                                     probe_every=0.3)


def publish(bus: EventBus, records) -> None:
    for record in records:
        bus.publish(record)


def spooled(spool: Spool) -> list[dict]:
    """The records in the spool's finished files. A running sensor's `.partial` is a file being
    written (its lines perhaps not whole yet), renamed when done, perhaps between the listing and
    the read: it is read on the next poll, under its final name."""
    records = []
    for path in spool.pending():
        if path.suffix == ".partial":
            continue
        try:
            text = path.read_text()
        except FileNotFoundError:  # resent and deleted by the sensor since the listing
            continue
        records.extend(json.loads(line) for line in text.splitlines())
    return records


def spooled_sessions(spool: Spool) -> list[str]:
    return [record["session"] for record in spooled(spool)]


def test_a_store_refusing_writes_spools_them_and_resends_them_once_it_recovers(store_url, tmp_path, caplog):
    """Past the retry window a batch goes to the spool; the store comes back with no new records
    arriving, and the worker finds it by itself and writes everything, once."""
    caplog.set_level("INFO", logger="relaypot")
    _sink, spool, bus = spooling_bus(store_url, tmp_path, retry_for=2.0)
    bus.start()
    try:
        publish(bus, session_records("a"))
        assert bus.flush(10)
        with store_refusing_writes(store_url):
            publish(bus, session_records("b"))
            assert wait(lambda: bus.stats()["sql"]["spooled"] == 4)
            # While the store is known to fail, a new batch goes straight to the spool: a store
            # away for an hour neither holds records in memory nor pauses the clients.
            started = time.monotonic()
            publish(bus, session_records("c"))
            assert wait(lambda: bus.stats()["sql"]["spooled"] == 8)
            assert time.monotonic() - started < 1.0  # not another 2 s retry window
            assert spooled_sessions(spool) == ["b"] * 4 + ["c"] * 4
            assert len(spool.pending()) == 2
        # No new records arrive: the worker probes the store by itself and resends the spool.
        assert wait(lambda: not spool.pending(), timeout=30)
    finally:
        bus.close()
    stats = bus.stats()["sql"]
    assert stats["dropped"] == 0 and stats["written"] == 4 and stats["failures"] >= 2
    assert fetch(store_url, "SELECT session_id, close_reason FROM sessions ORDER BY session_id") == [
        ("a", "quit"), ("b", "quit"), ("c", "quit")]
    assert fetch(store_url, "SELECT count(*) FROM events") == [(12,)]
    assert fetch(store_url, "SELECT count(*) FROM commands") == [(3,)]
    # What the operator reads: the failure and the first spooled batch once each (however many
    # probes found the store still away), then the recovery once, as information.
    said = [r.getMessage() for r in caplog.records if r.levelno >= 30]
    assert sum("records spooled to" in line for line in said) == 1
    assert sum(line.startswith("sink sql failed: ") for line in said) == 1
    assert not [line for line in said if line.startswith(("sink sql writes again", "sink sql has caught up"))]
    info = [r.getMessage() for r in caplog.records if r.levelno == 20 and r.name == "relaypot.pipeline"]
    assert [line.split(" after ")[0] for line in info if line.startswith("sink sql writes again")] == [
        "sink sql writes again"]
    assert next(line for line in info if "writes again" in line).endswith("; resending its spool")
    assert info[-1] == "sink sql has caught up: its spool is empty"


def test_a_sink_without_a_spool_still_drops_loudly_after_its_window(tmp_path):
    """The old contract where no spool is configured (a library user's own bus): counted, logged."""
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    sink = SqlSink(url)
    bus = EventBus([sink], flush_interval=0.05, retry_for=0.3)
    bus.start()
    try:
        publish(bus, session_records("a"))
        assert bus.flush(10)
        with store_refusing_writes(url):
            publish(bus, session_records("b"))
            assert wait(lambda: bus.stats()["sql"]["dropped"] == 4)
    finally:
        bus.close()
    assert bus.stats()["sql"]["spooled"] == 0


def test_a_spool_file_cut_by_a_crash_is_resent_up_to_the_cut(tmp_path):
    """A `.partial` file (the sensor died while spooling) still counts: its whole lines go in."""
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    sink = SqlSink(url)
    spool = app.sql_spool(sink, tmp_path)
    whole = b"".join(r.to_json() + b"\n" for r in session_records("a"))
    spool.directory.mkdir(parents=True)
    (spool.directory / "20261127T100000Z-1-000001.jsonl.partial").write_bytes(whole + b'{"session": "b", "se')
    sink.open()
    try:
        assert spool.resend_oldest()
    finally:
        sink.close()
    assert spool.pending() == []
    assert fetch(url, "SELECT session_id FROM sessions") == [("a",)]


def test_a_resend_the_store_refuses_keeps_its_file(tmp_path):
    """Resend deletes a file only once it is written: a store failing mid-resend skips nothing."""
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    sink = SqlSink(url)
    sink.open()
    spool = app.sql_spool(sink, tmp_path)
    kept = spool.keep(session_records("a"))
    assert kept is not None and spool.pending() == [kept]
    try:
        with store_refusing_writes(url):
            assert not spool.resend_oldest()
            assert spool.pending() == [kept]
        assert spool.resend_oldest()
    finally:
        sink.close()
    assert spool.pending() == []
    assert fetch(url, "SELECT count(*) FROM events") == [(4,)]


def send(address: tuple[str, int], n: int) -> None:
    with smtplib.SMTP(*address, timeout=10) as client:
        client.ehlo("spool.example")
        client.sendmail("a@spool.example", ["victim@example.net"], f"Subject: spooled {n}\r\n\r\nhello {n}\r\n")


def test_a_sensor_keeps_what_postgresql_refused_and_writes_it_after_a_restart(postgresql_server, postgresql_url,
                                                                              tmp_path):
    """PostgreSQL refuses connections while sessions arrive, and the sensor is stopped before it
    is back: the next start resends the spool, and the store holds every session, unaided."""
    import psycopg

    name = postgresql_url.rsplit("/", 1)[1]
    sensor = RunningSensor(tmp_path / "data", store__url=postgresql_url, store__retry_for=0.5)
    try:
        send(sensor.address, 0)
        assert wait(lambda: fetch(postgresql_url, "SELECT count(*) FROM sessions WHERE close_reason = 'quit'")
                    == [(1,)])
        with psycopg.connect(postgresql_server.url(), autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        for n in range(1, 4):
            send(sensor.address, n)
        spool = Spool(sensor.data_dir / "spool" / "sql", lambda path: None)
        assert wait(lambda: sum(r["kind"] == "session.closed" for r in spooled(spool)) == 3)
    finally:
        sensor.stop()
    sessions = set(spooled_sessions(spool))
    assert len(sessions) == 3
    with psycopg.connect(postgresql_server.url(), autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
    assert fetch(postgresql_url, "SELECT count(*) FROM sessions") == [(1,)]

    restarted = RunningSensor(tmp_path / "data", store__url=postgresql_url, store__retry_for=0.5)
    try:
        assert wait(lambda: not spool.pending())
    finally:
        restarted.stop()
    rows = fetch(postgresql_url, "SELECT session_id, close_reason, messages FROM sessions")
    assert len(rows) == 4 and {r[0] for r in rows} >= sessions
    assert all(reason == "quit" and messages == 1 for _, reason, messages in rows)
    subjects = fetch(postgresql_url, "SELECT subject FROM messages ORDER BY subject")
    assert subjects == [(f"spooled {n}",) for n in range(4)]
    jsonl = [json.loads(line) for line in Path(tmp_path / "data" / "events.jsonl").read_text().splitlines()]
    assert fetch(postgresql_url, "SELECT count(*) FROM events") == [(len(jsonl),)]


def test_a_full_spool_drops_loudly_and_frees_its_room_on_resend(tmp_path):
    """The spool is bounded (`spool_max_bytes`): a store away for days cannot fill the sensor's disk."""
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    one_batch = len(b"".join(r.to_json() + b"\n" for r in session_records("b")))
    _sink, spool, bus = spooling_bus(url, tmp_path, retry_for=0.2, max_bytes=one_batch + 10)
    bus.start()
    try:
        publish(bus, session_records("a"))
        assert bus.flush(10)
        with store_refusing_writes(url):
            publish(bus, session_records("b"))
            assert wait(lambda: bus.stats()["sql"]["spooled"] == 4)
            assert spool.used == one_batch
            publish(bus, session_records("c"))
            assert wait(lambda: bus.stats()["sql"]["dropped"] == 4)
        assert wait(lambda: not spool.pending(), timeout=30)
    finally:
        bus.close()
    assert spool.used == 0
    assert fetch(url, "SELECT session_id FROM sessions ORDER BY session_id") == [("a",), ("b",)]


def test_a_resent_batch_is_derived_as_it_would_have_been_live(tmp_path):
    """A session opened before the store failed and ended while it was away: the resent part is
    derived with the session's own context (its destination address here), not a default one.
    The live store, written without failures, is the reference."""
    def batches():
        records = session_records("x", helo="[192.0.2.1]")  # our own address: impersonation
        return records[:1], records[1:]

    reference_url = f"sqlite:///{tmp_path / 'reference.sqlite'}"
    reference = SqlSink(reference_url)
    reference.open()
    for batch in batches():
        reference.write(batch)
    reference.close()

    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    _sink, spool, bus = spooling_bus(url, tmp_path, retry_for=0.2)
    bus.start()
    first, rest = batches()
    try:
        publish(bus, first)
        assert bus.flush(10)
        with store_refusing_writes(url):
            publish(bus, rest)
            assert wait(lambda: bus.stats()["sql"]["spooled"] == len(rest))
        assert wait(lambda: not spool.pending(), timeout=30)
    finally:
        bus.close()
    query = "SELECT helo, helo_class, helo_syntax, close_reason FROM sessions"
    assert fetch(url, query) == fetch(reference_url, query) == [("[192.0.2.1]", "impersonation", "address_literal",
                                                                 "quit")]


def test_records_wait_behind_the_spool_so_the_store_gets_them_in_order(tmp_path):
    """What an earlier run spooled goes in before anything newer, even though the store is up."""
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    sink = SqlSink(url)
    spool = app.sql_spool(sink, tmp_path)
    assert spool.keep(session_records("older1")) is not None  # resent at start, one file per turn
    assert spool.keep(session_records("older2")) is not None
    bus = EventBus([sink], flush_interval=0.05, spools={"sql": spool})
    publish(bus, session_records("newer"))  # queued before the worker starts: its first batch
    bus.start()
    try:
        assert wait(lambda: not spool.pending() and bus.stats()["sql"]["queued"] == 0)
        assert bus.flush(10)
        assert wait(lambda: fetch(url, "SELECT count(*) FROM events") == [(12,)])
    finally:
        bus.close()
    order = [row[0] for row in fetch(url, "SELECT session_id FROM events ORDER BY id")]
    assert order == ["older1"] * 4 + ["older2"] * 4 + ["newer"] * 4


def test_a_record_the_store_refuses_costs_only_itself(postgresql_url, tmp_path, caplog):
    """A value PostgreSQL refuses (an integer column given text, as a bug might send) fails its
    whole batch live; past the retry window the batch is spooled, and the resend skips that one
    record, says so, and writes the rest."""
    from relaypot.events import Command, Record

    caplog.set_level("INFO", logger="relaypot")
    _sink, spool, bus = spooling_bus(postgresql_url, tmp_path, retry_for=0.3)
    records = session_records("p")
    poison = Record("p", 9, records[-1].ts, "s1", "203.0.113.5",
                    Command(verb="NOOP", argument="", raw_line=b"NOOP\r\n", reply_code="two hundred fifty",
                            reply="250 OK"))
    bus.start()
    try:
        publish(bus, records + [poison])
        assert wait(lambda: bus.stats()["sql"]["spooled"] == 5)
        assert wait(lambda: not spool.pending(), timeout=30)
    finally:
        bus.close()
    assert fetch(postgresql_url, "SELECT count(*) FROM events") == [(4,)]
    assert fetch(postgresql_url, "SELECT session_id, close_reason FROM sessions") == [("p", "quit")]
    skipped = [r.getMessage() for r in caplog.records if "skipped 1" in r.getMessage()]
    assert len(skipped) == 1 and "the store refused it: InvalidTextRepresentation" in skipped[0]


def test_a_sensor_may_start_while_postgresql_refuses_and_fill_it_once_it_accepts(postgresql_server, postgresql_url,
                                                                                tmp_path):
    """[store] start_unreachable: the store refuses connections from the start; sessions are
    taken and spooled, and reach the store, each once, when it accepts connections again. Without
    the option the sensor refuses to start, as before."""
    import psycopg

    from relaypot.errors import StorageError

    name = postgresql_url.rsplit("/", 1)[1]
    with psycopg.connect(postgresql_server.url(), autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
    try:
        RunningSensor(tmp_path / "refused", store__url=postgresql_url).stop()
        raise AssertionError("the sensor started without its store")
    except StorageError as refused:
        assert "not currently accepting connections" in str(refused)
    sensor = RunningSensor(tmp_path / "data", store__url=postgresql_url, store__retry_for=0.5,
                           store__start_unreachable=True)
    try:
        for n in range(3):
            send(sensor.address, n)
        spool = Spool(sensor.data_dir / "spool" / "sql", lambda path: None)
        assert wait(lambda: sum(r["kind"] == "session.closed" for r in spooled(spool)) == 3)
        with psycopg.connect(postgresql_server.url(), autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        assert wait(lambda: not spool.pending(), timeout=30)
        send(sensor.address, 3)
        assert wait(lambda: fetch(postgresql_url, "SELECT count(*) FROM sessions WHERE close_reason = 'quit'")
                    == [(4,)])
    finally:
        sensor.stop()
    subjects = fetch(postgresql_url, "SELECT subject FROM messages ORDER BY subject")
    assert subjects == [(f"spooled {n}",) for n in range(4)]
    jsonl = [json.loads(line) for line in Path(tmp_path / "data" / "events.jsonl").read_text().splitlines()]
    assert fetch(postgresql_url, "SELECT count(*) FROM events") == [(len(jsonl),)]


def _cluster(server) -> list[int]:
    """The server's postmaster and every process it forked."""
    import os

    postmaster = int((server.root / "data" / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            children.append(int(stat.parent.name))
    assert os.path.exists(f"/proc/{postmaster}")
    return [postmaster, *children]


def _signal(pids: list[int], signum: int) -> None:
    import contextlib
    import os

    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # a backend that ended since: nothing to stop
            os.kill(pid, signum)


def test_a_postgresql_that_hangs_is_a_failure_then_the_spool_and_nothing_waits_for_it(tmp_path):
    """PostgreSQL stopped (SIGSTOP: its kernel still ACKs every packet, so no TCP timeout
    notices): each write is cut at its deadline, retried, then spooled within retry_for; the
    clients go on, and once it runs again everything reaches it, once."""
    import signal

    from pg_server import PostgresServer

    with PostgresServer() as server:
        url = server.new_database()
        sensor = RunningSensor(tmp_path / "data", store__url=url, store__retry_for=2.0)
        stopped: list[int] = []
        try:
            send(sensor.address, 0)
            assert wait(lambda: fetch(url, "SELECT count(*) FROM sessions") == [(1,)])
            stopped = _cluster(server)
            _signal(stopped, signal.SIGSTOP)
            for n in range(1, 6):  # each would wait for the stopped store if anything waited for it
                send(sensor.address, n)
            spool = Spool(sensor.data_dir / "spool" / "sql", lambda path: None)
            assert wait(lambda: sum(r["kind"] == "session.closed" for r in spooled(spool)) == 5, timeout=60)
            _signal(stopped, signal.SIGCONT)
            stopped = []
            assert wait(lambda: not spool.pending(), timeout=60)
        finally:
            _signal(stopped, signal.SIGCONT)
            sensor.stop()
        assert fetch(url, "SELECT subject FROM messages ORDER BY subject") == [(f"spooled {n}",) for n in range(6)]
        journal = (tmp_path / "data" / "events.jsonl").read_text().splitlines()
        assert fetch(url, "SELECT count(*) FROM events") == [(len(journal),)]


def test_a_long_outage_is_logged_once_then_reminded_at_a_slowing_pace(tmp_path, caplog, monkeypatch):
    """A store refusing for a while, probed every 20 ms: one error when it fails, reminders at
    1, 2, 4 ... (here: 0.2, 0.4, 0.8) seconds with the figures, the recovery once at info; not a
    warning per probe (720 an hour in journald at one probe per 5 s)."""
    from relaypot import pipeline

    monkeypatch.setattr(pipeline, "REMIND_FIRST", 0.2)
    caplog.set_level("INFO", logger="relaypot")
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    sink = SqlSink(url)
    spool = app.sql_spool(sink, tmp_path)
    bus = EventBus([sink], flush_interval=0.02, retry_for=0.1, spools={"sql": spool}, probe_every=0.02)
    bus.start()
    try:
        with store_refusing_writes(url):
            publish(bus, session_records("a"))
            started = time.monotonic()
            assert wait(lambda: bus.stats()["sql"]["spooled"] == 4)
            time.sleep(max(0.0, 1.7 - (time.monotonic() - started)))  # about 80 probes
        assert wait(lambda: not spool.pending(), timeout=30)
    finally:
        bus.close()
    said = [r.getMessage() for r in caplog.records if r.levelno >= 30 and r.name.startswith("relaypot.")]
    reminders = [line for line in said if line.startswith("sink sql still failing after ")]
    assert 2 <= len(reminders) <= 4, said
    assert all("4 records spooled" in line for line in reminders)
    assert len(said) - len(reminders) == 2, said  # "failed", and "records spooled to"
    info = [r.getMessage() for r in caplog.records if r.levelno == 20 and "writes again after" in r.getMessage()]
    assert len(info) == 1
