"""Benchmark: how many sessions per second one PostgreSQL absorbs from N sensors at once.

Each "sensor" replays recorded traffic into the central store through `relaypot import` (the
same SqlSink, rows and transactions as the live sensor's, batches of 20,000 records): N processes
start together against one fresh database, and the time until the last one finishes gives the
fleet's ingest rate. The traffic is bench/report_scale.py's realistic mix (scanners, spam bots,
relay probes, AUTH guessers, harvesters), written as events.jsonl files, each sensor its own
name and session ids. PostgreSQL is a throwaway cluster on loopback (tests/pg_server.py), with
fsync on unless --no-fsync; the sensors and the server share this machine's cores.

    python3 bench/ingest.py [--sessions 20000] [--sensors 1,2,4,8] [--repeat 2]

Figures, never assertions: read them, and put them in your notes with the command.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from pg_server import PostgresServer  # noqa: E402
from report_scale import START, Mix, session  # noqa: E402

RELAYPOT = [sys.executable, "-m", "relaypot.cli"]


def journal(path: Path, sensor: str, sessions: int, seed: int) -> int:
    """A sensor's events.jsonl of `sessions` sessions; returns the records written."""
    mix = Mix(random.Random(seed))
    count = 0
    with path.open("wb") as out:
        for n in range(sessions):
            for record in session(mix, n, START + 86400 * n / sessions):
                line = json.loads(record.to_json())
                line["sensor"] = sensor
                line["session"] = f"{seed:04x}" + line["session"][4:]
                out.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
                count += 1
    return count


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every core), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wal_position(server: PostgresServer) -> int:
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as conn:
        return int(conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')").fetchone()[0])


def database_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])


def ingest(server: PostgresServer, files: list[Path]) -> tuple[float, float, float, int, int]:
    """Seconds from starting one `relaypot import` per file, together, to the last one's end; the
    CPU seconds the importers used, and the rest of the machine (PostgreSQL, mostly); the WAL
    written and the database's size after."""
    url = server.new_database()
    empty = files[0].with_name("empty.jsonl")
    empty.touch()
    subprocess.run([*RELAYPOT, "import", "--store", url, str(empty)], capture_output=True, check=True)  # the schema
    env = {**os.environ, "RELAYPOT_ENRICH_ENABLED": "false"}
    wal, empty_size = wal_position(server), database_bytes(url)
    began, busy, ours = time.perf_counter(), busy_seconds(), children_seconds()
    procs = [subprocess.Popen([*RELAYPOT, "import", "--store", url, str(path)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for path in files]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"relaypot import failed: {err}")
    elapsed = time.perf_counter() - began
    importers = children_seconds() - ours
    rest = busy_seconds() - busy - importers
    written, size = wal_position(server) - wal, database_bytes(url) - empty_size
    server.drop_database(url)
    return elapsed, importers, rest, written, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20_000, help="sessions per sensor (default 20000)")
    parser.add_argument("--sensors", default="1,2,4,8", help="fleet sizes to measure (default 1,2,4,8)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds per fleet size, medians printed (default 2)")
    parser.add_argument("--no-fsync", action="store_true", help="PostgreSQL with fsync off (a test server)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sensors.split(",")]
    with tempfile.TemporaryDirectory(prefix="relaypot-ingest-") as tmp, \
            PostgresServer(fsync=not args.no_fsync) as server:
        files, records = [], 0
        for n in range(max(sizes)):
            path = Path(tmp) / f"sensor-{n}.jsonl"
            records += journal(path, f"sensor-{n}", args.sessions, n + 1)
            files.append(path)
        per_session = records / (max(sizes) * args.sessions)
        print(f"{args.sessions} sessions per sensor ({per_session:.1f} records each); PostgreSQL fsync "
              f"{'off' if args.no_fsync else 'on'}; {os.cpu_count()} cores shared by the sensors and the server")
        print(f"{'sensors':>8}{'seconds':>10}{'sessions/s':>12}{'records/s':>12}{'per sensor':>12}"
              f"{'CPU s: import':>15}{'server+rest':>13}{'server µs/session':>19}{'WAL B/session':>15}"
              f"{'disk B/session':>16}")
        for size in sizes:
            rounds = [ingest(server, files[:size]) for _ in range(args.repeat)]
            seconds, importers, rest, wal, disk = (statistics.median(r[i] for r in rounds) for i in range(5))
            total = size * args.sessions
            rate = total / seconds
            print(f"{size:>8}{seconds:>10.2f}{rate:>12.0f}{rate * per_session:>12.0f}{rate / size:>12.0f}"
                  f"{importers:>15.1f}{rest:>13.1f}{rest / total * 1e6:>19.0f}{wal / total:>15.0f}"
                  f"{disk / total:>16.0f}")


if __name__ == "__main__":
    main()
