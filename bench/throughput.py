"""Benchmark: relaypot (recording everything) beside aiosmtpd (accept and drop), in one run.

Part 1 drives each server with Postfix's smtp-source (`-s 50 -m 20000 -l 1000`: 50 parallel
sessions, 20,000 messages of 1000 bytes, one message per session), server and client pinned to
different cores, and prints sessions/s, server CPU per session and peak RSS, with ratios.
Beside relaypot and aiosmtpd (also on uvloop) run two floors: `bare_responder.py` (the same
replies, nothing recorded) and `recording_floor.py` (those replies plus the least any Python
sensor recording everything must write, with no parsing); `--only` picks among the five.
Part 2 holds 10,000 idle connections open against each server and prints the memory each costs
and how long a fresh client then waits for its banner.

    pip install -e '.[bench]'       # aiosmtpd
    apt-get install postfix         # for /usr/sbin/smtp-source ("No configuration" is enough)
    python3 bench/throughput.py [--messages 20000] [--idle 10000] [--repeat 3]

Each part runs `--repeat` interleaved rounds (default 3) and prints medians, each round's ratio,
and relaypot's CPU by thread (the event loop and each sink), read from /proc after the sinks
have flushed. On a journal-less ext4, files created within minutes of deleting many cost several
times more (the inode allocator skips recently freed inodes): the rounds never delete, but a
second invocation straight after the first pays for the first one's cleanup.

Figures, never assertions: read them, and put them in your notes with the command.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

HERE = Path(__file__).resolve().parent
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime, all threads


def status_kib(pid: int, key: str) -> int:
    match = re.search(rf"^{key}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(match.group(1)) if match else 0


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start(server: Server, core: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    argv = [a.replace("{port}", str(port)) for a in server.argv]
    if shutil.which("taskset"):
        argv = ["taskset", "-c", core, *argv]
    # stderr to a file: a pipe nobody reads would block a server that logs.
    log = open(Path(tempfile.gettempdir()) / f"bench-{server.name}.log", "w")
    proc = subprocess.Popen(argv, env={**os.environ, **server.env}, stdout=subprocess.DEVNULL,
                            stderr=log, preexec_fn=raise_fd_limit)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.recv(1024)
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{server.name} did not start: see {log.name}")


def stop(proc: subprocess.Popen) -> resource.struct_rusage:
    proc.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = status
    return usage


def threads_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """{thread id: (OS thread name, CPU seconds)}: relaypot names its sink threads."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        found[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / TICKS)
    return found


def per_thread(pid: int, before: dict, after: dict, messages: int) -> dict[str, float]:
    """CPU µs per session by thread: the event loop (the main thread) and each named thread."""
    spent: dict[str, float] = {}
    for tid, (name, cpu) in after.items():
        label = "loop" if tid == pid else name
        spent[label] = spent.get(label, 0.0) + (cpu - before.get(tid, (name, 0.0))[1]) / messages * 1e6
    return spent


def throughput(server: Server, messages: int, sessions: int, size: int, smtp_source: str, settle: float) -> dict:
    proc, port = start(server, "0")
    time.sleep(0.5)
    cpu_ready = cpu_seconds(proc.pid)
    threads_ready = threads_cpu(proc.pid)
    client = [smtp_source, "-s", str(sessions), "-m", str(messages), "-l", str(size),
              "-f", "bench@spam.example", "-t", "victim@example.net", f"127.0.0.1:{port}"]
    if shutil.which("taskset"):
        client = ["taskset", "-c", "1", *client]
    began = time.monotonic()
    subprocess.run(client, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.monotonic() - began
    # Past a flush interval, the sinks have written what the client caused: read each thread's
    # share then. Everything the server does afterwards (closing) counts in the total too.
    time.sleep(settle)
    threads_done = threads_cpu(proc.pid)
    usage = stop(proc)
    cpu = usage.ru_utime + usage.ru_stime - cpu_ready
    return {"sessions_per_s": messages / elapsed, "cpu_us_per_session": cpu / messages * 1e6,
            "sys_us_per_session": usage.ru_stime / messages * 1e6,
            "peak_rss_mib": usage.ru_maxrss / 1024, "elapsed_s": elapsed,
            "threads": per_thread(proc.pid, threads_ready, threads_done, messages)}


def idle(server: Server, connections: int, in_flight: int = 200) -> dict:
    """Open `connections`, each reading its banner, never more than `in_flight` not yet greeted
    (opening thousands at once overflows any listen queue, and the kernel then drops some)."""
    proc, port = start(server, "0")
    time.sleep(0.5)
    rss_before = status_kib(proc.pid, "VmRSS")
    selector = selectors.DefaultSelector()
    socks = []
    greeted = failed = 0
    began = time.monotonic()

    def drain(timeout: float) -> None:
        nonlocal greeted, failed
        for key, _ in selector.select(timeout):
            try:
                ok = key.fileobj.recv(4096).startswith(b"220")
            except OSError:
                ok = False
            selector.unregister(key.fileobj)
            greeted += ok
            failed += not ok

    while len(socks) < connections and time.monotonic() - began < 300:
        if len(socks) - greeted - failed >= in_flight:
            drain(1.0)
            continue
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
        selector.register(s, selectors.EVENT_READ)
    while greeted + failed < len(socks) and time.monotonic() - began < 300:
        drain(1.0)
    time.sleep(1.0)
    rss_after = status_kib(proc.pid, "VmRSS")
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as fresh:
        banner = fresh.recv(4096)
    delay = time.monotonic() - started
    for s in socks:
        s.close()
    stop(proc)
    return {"greeted": greeted, "failed": failed, "kib_per_connection": (rss_after - rss_before) / max(greeted, 1),
            "fresh_banner_ms": delay * 1000, "fresh_banner_ok": banner.startswith(b"220"),
            "open_s": time.monotonic() - began}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--idle", type=int, default=10000)
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; figures are medians (default 3)")
    parser.add_argument("--settle", type=float, default=2.5,
                        help="seconds after the client before reading per-thread CPU (past a flush interval)")
    parser.add_argument("--data-dir", default=None, help="where relaypot writes (default: the system temp dir)")
    parser.add_argument("--only", default="", help="comma-separated server names (default: all)")
    parser.add_argument("--baseline", metavar="CHECKOUT", default=None,
                        help="also run the relaypot of this checkout (a git worktree of an older commit, say) as "
                             "relaypot-base, interleaved with the others, and print relaypot's ratio to it")
    args = parser.parse_args()
    raise_fd_limit()
    smtp_source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    if not Path(smtp_source).exists():
        sys.exit("smtp-source not found: apt-get install postfix")
    data = Path(tempfile.mkdtemp(prefix="relaypot-bench-", dir=args.data_dir))
    relaypot_env = {
        "RELAYPOT_LIMITS_MAX_CONNECTIONS": str(args.idle + 100),
        "RELAYPOT_LIMITS_MAX_CONNECTIONS_PER_IP": str(args.idle + 100),
        "RELAYPOT_RUN_QUIET": "true",
    }
    relaypot = Server("relaypot", [sys.executable, "-m", "relaypot.cli", "run", "--listen", "127.0.0.1:{port}",
                                   "--data-dir", str(data / "run")], relaypot_env)
    reference = Server("aiosmtpd", [sys.executable, str(HERE / "aiosmtpd_server.py"), "{port}"], {})
    reference_uv = Server("aiosmtpd+uvloop", [sys.executable, str(HERE / "aiosmtpd_server.py"), "{port}", "uvloop"], {})
    # The floor: answering SMTP and recording nothing, on uvloop (what relaypot runs on).
    floor = Server("bare+uvloop", [sys.executable, str(HERE / "bare_responder.py"), "{port}", "uvloop"], {})
    # The floor of recording: the bare responder plus the least any Python sensor that records
    # everything must write (each line, each message, JSON lines and SQLite rows; no parsing).
    recording_floor = Server("recording-floor", [sys.executable, str(HERE / "recording_floor.py"), "{port}",
                                                 "uvloop"], {})
    baseline = None
    if args.baseline:
        source = Path(args.baseline).resolve() / "src"
        if not (source / "relaypot").is_dir():
            sys.exit(f"--baseline: no relaypot source under {source}")
        baseline = Server("relaypot-base", list(relaypot.argv), {**relaypot_env, "PYTHONPATH": str(source)})
    chosen = set(args.only.split(",")) if args.only else None
    servers = [s for s in (reference, reference_uv, floor, recording_floor, relaypot)
               if chosen is None or s.name in chosen] + ([baseline] if baseline else [])

    print(f"# smtp-source -s {args.sessions} -m {args.messages} -l {args.size}; server on core 0, client on "
          f"core 1; Python {sys.version.split()[0]}; relaypot writes to {data}; {args.repeat} interleaved rounds")
    # Rounds interleave the servers (A B A B ...): this kind of machine drifts by tens of percent
    # within minutes, and a ratio is only fair between runs made side by side.
    rounds: list[dict[str, dict]] = []
    for n in range(args.repeat):
        results = {}
        for server in servers:
            if server is relaypot or server is baseline:
                # A fresh directory per round, and nothing deleted until the end: on an ext4 without
                # a journal, creating files right after deleting many costs several times more (the
                # allocator skips inodes freed in the last minutes), which no sensor in the field pays.
                tag = "run" if server is relaypot else "base"
                server.argv[server.argv.index("--data-dir") + 1] = str(data / f"{tag}{n + 1}")
            if server is recording_floor:
                server.env["RECORDING_FLOOR_DIR"] = str(data / f"floor{n + 1}")
            results[server.name] = throughput(server, args.messages, args.sessions, args.size, smtp_source,
                                              args.settle)
        rounds.append(results)
        print(f"round {n + 1}: " + ", ".join(f"{name} {r['cpu_us_per_session']:.0f} µs/session"
                                          for name, r in results.items()), flush=True)
    print(f"{'server (median)':16} {'sessions/s':>11} {'CPU µs/session':>15} {'of it kernel':>13} {'peak RSS MiB':>13}")
    for server in servers:
        runs = [r[server.name] for r in rounds]
        print(f"{server.name:16} {median(r['sessions_per_s'] for r in runs):11.0f} "
              f"{median(r['cpu_us_per_session'] for r in runs):15.0f} "
              f"{median(r['sys_us_per_session'] for r in runs):13.0f} {median(r['peak_rss_mib'] for r in runs):13.1f}")
    if relaypot in servers:
        runs = [r["relaypot"]["threads"] for r in rounds]
        labels = sorted({label for run in runs for label in run}, key=lambda l: (l != "loop", l))
        print("relaypot CPU µs/session by thread (median): " + ", ".join(
            f"{label} {median(run.get(label, 0.0) for run in runs):.0f}" for label in labels
            if median(run.get(label, 0.0) for run in runs) >= 1))
    names = [s.name for s in servers]
    for subject in ("relaypot", "recording-floor"):
        for name in ("aiosmtpd", "aiosmtpd+uvloop", "bare+uvloop", "recording-floor", "relaypot-base"):
            if subject in names and name in names and name != subject:
                ratios = [r[subject]["cpu_us_per_session"] / r[name]["cpu_us_per_session"] for r in rounds]
                speed = [r[subject]["sessions_per_s"] / r[name]["sessions_per_s"] for r in rounds]
                print(f"{subject} / {name}: CPU per session {median(ratios):.2f}x "
                      f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)}), sessions/s {median(speed):.2f}x")
    if relaypot in servers:
        print("targets: relaypot's CPU per session at most 2.0x the recording floor's (issue 11), 0.30x aiosmtpd's "
              "(the long-range aim); its peak RSS at most 64 MiB")
        last = Path(relaypot.argv[relaypot.argv.index("--data-dir") + 1])
        conn = sqlite3.connect(last / "relaypot.sqlite")
        recorded = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        conn.close()
        jsonl = sum(1 for _ in open(last / "events.jsonl", "rb"))
        print(f"relaypot recorded {recorded} messages, {events} records in SQLite, {jsonl} lines in events.jsonl "
              "(last round)")

    if not args.skip_idle and args.idle > 0:
        print(f"\n# {args.idle} idle connections (banner read, then silence)")
        print(f"{'server':16} {'KiB/connection':>15} {'fresh banner ms':>16}")
        for server in (s for s in (reference, relaypot) if chosen is None or s.name in chosen):
            r = idle(server, args.idle)
            print(f"{server.name:16} {r['kib_per_connection']:15.2f} {r['fresh_banner_ms']:16.1f}"
                  f"   ({r['greeted']} greeted, {r['failed']} failed; fresh banner ok: {r['fresh_banner_ok']})")
        print("target: relaypot under 5 KiB per idle connection, a fresh client greeted within 1000 ms")
    shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
