"""Benchmark: where relaypot's CPU per session goes once the sockets are taken away, beside the
recording floor's, both run in this one process.

`throughput.py` measures whole servers under smtp-source. This takes the sockets out: each
server's own code answers the same one-message conversation (smtp-source's: HELO, MAIL, RCPT,
DATA, a 1000-byte message, QUIT) through a transport that discards what it is given, so what is
left is the Python (and SQLite) each server runs per session, part by part:

    relaypot   loop        transport/connection.py, the sans-IO session, the message store, the
                           records and the journal (events.jsonl), as `relaypot run` wires them
               sink-sql    its SQL sink thread: of it, row building and SQLite's inserts, each
                           timed again alone over the same records, in batches of the size the
                           sink takes per wake under a flood
    floor      loop        recording_floor.py's responder: its record tuples and .eml files
               writer      its JSON lines and SQLite rows

relaypot runs twice per round: its sink thread beside the loop (as it runs), and holding every
record until the loop is done, which shows what the two threads cost each other.

    python3 bench/cpu_breakdown.py [--sessions 10000] [--repeat 3] [--data-dir /dev/shm]

With throughput.py's figures (the sockets' share is what bare+uvloop costs) this says what
relaypot could reach at best: its socket cost plus its socket-free cost. Figures, never
assertions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import orjson

from relaypot import app, config
from relaypot.events import record_from_dict
from relaypot.judgements.derive import Deriver
from relaypot.sinks.rows import build_rows
from relaypot.storage.database import Database
from relaypot.storage.statements import ORDER
from relaypot.transport.connection import SmtpConnection
from throughput import threads_cpu  # bench/ is on the path: this script runs from it

BATCH = 1500  # records per SQL transaction: about what relaypot's sink takes per wake under a flood


def conversation(number: int, size: int = 1000) -> list[bytes]:
    """What smtp-source sends for one message, one read per command (it waits for each reply);
    each message its own (its Message-Id), so each is a new .eml file, as under smtp-source."""
    header = b"From: <foo@vm>\r\nTo: <foo@vm>\r\nMessage-Id: <%d@vm>\r\nSubject: bench\r\n\r\n" % number
    body = header + (b"La de da de da 1.\r\n" * (size // 19 + 1))[: size - len(header)]
    return [b"HELO vm\r\n", b"MAIL FROM:<foo@vm>\r\n", b"RCPT TO:<foo@vm>\r\n", b"DATA\r\n",
            body + b"\r\n.\r\n", b"QUIT\r\n"]


class DiscardingTransport:
    """An asyncio transport that takes every write and sends nothing."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", self.port), "sockname": ("127.0.0.1", 25)}.get(name, default)

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        self.closing = True

    abort = close

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class InlineLoop:
    """The little of an event loop a connection asks for, run at once (no sockets, no waiting)."""

    def time(self) -> float:
        return time.monotonic()

    def call_soon(self, callback: Any, *args: Any) -> None:
        callback(*args)

    def call_later(self, delay: float, callback: Any, *args: Any) -> None:
        callback(*args)


def relaypot_round(sessions: int, where: Path, hold_sink: bool) -> dict[str, float]:
    overrides: dict[tuple[str, str], Any] = {("sensor", "data_dir"): str(where / "run"), ("run", "quiet"): True,
                                             ("enrich", "enabled"): False, ("smtp", "hostname"): "mx.bench.example"}
    if hold_sink:  # every record waits in the queue, so nothing may pause the (absent) clients
        overrides.update({("store", "queue_limit"): 20 * sessions, ("store", "queue_max_bytes"): 2**40})
    settings = config.load(environ={}, overrides=overrides)
    sensor = app.make_sensor(settings)
    server = sensor.server
    server.loop = InlineLoop()
    sensor.bus.start(None)  # no loop: the journal commits before each 250 at once
    sink = sensor.bus.workers[0]
    if hold_sink:  # (a private knob: the sink writes nothing until the loop is done)
        sink._held_until = float("inf")
    started = time.thread_time()
    for n in range(sessions):
        connection = SmtpConnection(server, sensor.listeners[0].name)
        transport = DiscardingTransport(1024 + n % 60000)
        connection.connection_made(transport)
        for line in conversation(n):
            connection.data_received(line)
        connection.connection_lost(None)
    loop_cpu = time.thread_time() - started
    sink._held_until = 0.0
    sensor.bus.commit()  # the last records to the journal, so the sink has them all
    journal = sensor.bus.journal
    assert journal is not None
    while sink.written < journal.written:  # its thread ends at close: CPU is read once it is done
        sink.wake.set()
        time.sleep(0.05)
    sink_cpu = threads_cpu(os.getpid())[sink.thread.native_id][1]
    sensor.bus.close_journal()
    sensor.bus.close()
    app.release(sensor)
    # The sink's two parts alone, over the same records in batches of BATCH.
    with open(where / "run" / "events.jsonl", "rb") as journal:
        records = [record_from_dict(orjson.loads(line)) for line in journal]
    for record in records:
        record.to_json()  # as live records carry it, encoded once by the journal
    batches = [records[i:i + BATCH] for i in range(0, len(records), BATCH)]
    deriver = Deriver((), sensor.hostname, ())
    started = time.thread_time()
    rows = [build_rows(batch, deriver) for batch in batches]
    rows_cpu = time.thread_time() - started
    db = Database(f"sqlite:///{where / 'alone.sqlite'}")
    db.create_schema()
    started = time.thread_time()
    for batch_rows in rows:
        with db.transaction() as tx:
            for statement in ORDER:
                if batch_rows[statement]:
                    tx.insert(statement, batch_rows[statement])
    insert_cpu = time.thread_time() - started
    db.close()
    return {"loop": loop_cpu, "store": sink_cpu, "rows": rows_cpu,
            "inserts": insert_cpu, "records": len(records)}


def floor_round(sessions: int, where: Path) -> dict[str, float]:
    os.environ["RECORDING_FLOOR_DIR"] = str(where / "floor")  # read once, at the first import
    import recording_floor

    recording_floor.DIR = str(where / "floor")  # each round its own directory, as relaypot's
    os.makedirs(f"{recording_floor.DIR}/messages", exist_ok=True)
    db, out = recording_floor.open_outputs()
    started = time.thread_time()
    for n in range(sessions):
        protocol = recording_floor.RecordingBare()
        protocol.connection_made(DiscardingTransport(1024 + n % 60000))
        for line in conversation(n):
            protocol.data_received(line)
        protocol.connection_lost(None)
    loop_cpu = time.thread_time() - started
    batch, recording_floor.pending = recording_floor.pending, []
    count = len(batch)
    started = time.thread_time()
    for i in range(0, count, 10000):  # the floor's writer takes 10,000 at a time
        recording_floor.write_batch(db, out, batch[i:i + 10000])
    writer_cpu = time.thread_time() - started
    db.close()
    out.close()
    return {"loop": loop_cpu, "store": writer_cpu, "records": count}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", default=None, help="where both write (default: the system temp dir)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="relaypot-cpu-", dir=args.data_dir))
    us = 1e6 / args.sessions
    runs: dict[str, list[dict[str, float]]] = {"floor": [], "live": [], "held": []}
    print(f"# {args.sessions} one-message sessions per round, no sockets, in one process; "
          f"Python {sys.version.split()[0]}; data in {base}; {args.repeat} interleaved rounds")
    for n in range(args.repeat):
        floor = floor_round(args.sessions, base / f"floor{n}")
        live = relaypot_round(args.sessions, base / f"live{n}", hold_sink=False)
        held = relaypot_round(args.sessions, base / f"held{n}", hold_sink=True)
        for name, run in (("floor", floor), ("live", live), ("held", held)):
            runs[name].append(run)
        print(f"round {n + 1}: floor {(floor['loop'] + floor['store']) * us:.0f} µs/session, relaypot "
              f"{(live['loop'] + live['store']) * us:.0f} (sink beside the loop), "
              f"{(held['loop'] + held['store']) * us:.0f} (sink after it)")

    def med(name: str, key: str) -> float:
        return median(r[key] for r in runs[name]) * us

    print("part (median µs/session)          floor  relaypot  relaypot, sink after the loop")
    for label, key in (("loop: answering and recording", "loop"), ("store thread", "store")):
        print(f"{label:32s} {med('floor', key):6.0f} {med('live', key):9.0f} {med('held', key):9.0f}")
    print(f"{'  of it, row building alone':32s} {'':6s} {med('live', 'rows'):9.0f}")
    print(f"{'  of it, SQLite inserts alone':32s} {'':6s} {med('live', 'inserts'):9.0f}")
    totals = {name: med(name, "loop") + med(name, "store") for name in runs}
    print(f"{'total without sockets':32s} {totals['floor']:6.0f} {totals['live']:9.0f} {totals['held']:9.0f}")
    print(f"{'records per session':32s} {runs['floor'][0]['records'] / args.sessions:6.1f} "
          f"{runs['live'][0]['records'] / args.sessions:9.1f}")
    print("relaypot at best, under smtp-source = its socket-free total + what the sockets cost (throughput.py's "
          "bare+uvloop); issue 11's target: at most 2.0x the recording floor's whole CPU per session there.")
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
