"""The sensor as a process under attack and faults: memory, file descriptors, kill -9, a full disk."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import signal
import smtplib
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from support import jsonl, read_replies, read_reply, send, sql, start

pytestmark = pytest.mark.slow  # kill -9, a full tmpfs, descriptor exhaustion


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M).group(1))


def test_concurrent_large_messages_stay_within_the_message_memory(tmp_path):
    """Eight clients each send a 9.5 MiB message (under the postfix persona's SIZE 10240000) at once
    against a 16 MiB bound: the one that fits is stored, the others get the persona's 452 and a
    limit_memory record, and the sensor's peak memory grows by far less than the 76 MiB sent
    (without the bound it held them all)."""
    proc, port = start(tmp_path, "--quiet", "--persona", "postfix",
                       env={"RELAYPOT_LIMITS_MAX_MESSAGE_MEMORY": "16MiB", "RELAYPOT_LIMITS_MAX_MESSAGE_SIZE": "16MiB"})
    time.sleep(0.5)
    before = rss_kib(proc.pid)
    body = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * (9 * 1024 + 512)
    replies: list[bytes] = []

    def client() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            read_reply(sock)
            sock.sendall(b"EHLO big.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
            read_replies(sock, 4)
            sock.sendall(body)
            barrier.wait()  # every body is in flight before any ends
            sock.sendall(b".\r\n")
            replies.append(read_reply(sock, 60))

    barrier = threading.Barrier(8)
    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    peak = rss_kib(proc.pid, "VmHWM")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert len(replies) == 8
    accepted = [r for r in replies if r.startswith(b"250 ")]
    refused = [r for r in replies if r == b"452 4.3.1 Insufficient system storage\r\n"]
    assert len(accepted) >= 1 and len(accepted) + len(refused) == 8 and len(refused) >= 6
    memory = [r for r in jsonl(tmp_path) if r["kind"] == "smtp.violation" and r["violation"] == "limit_memory"]
    assert len(memory) == len(refused)
    assert (peak - before) / 1024 < 64, f"peak grew by {(peak - before) / 1024:.0f} MiB"


def soft_nofile(pid: int) -> int:
    return resource.prlimit(pid, resource.RLIMIT_NOFILE)[0]


def test_the_descriptor_limit_is_raised_and_connections_fit_under_it(tmp_path):
    """At start the soft descriptor limit is raised to the hard one; where that is still low,
    max_connections is lowered under it (with a warning), so that every client past it gets the
    persona's 421 instead of a failed accept."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    proc, port = start(tmp_path / "a", "--quiet", preexec=lambda: resource.setrlimit(
        resource.RLIMIT_NOFILE, (256, hard)))
    assert soft_nofile(proc.pid) == hard
    proc.terminate()
    proc.communicate(timeout=30)
    proc, port = start(tmp_path / "b", "--quiet", env={"RELAYPOT_LIMITS_MAX_CONNECTIONS_PER_IP": "1000"},
                       preexec=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (160, 160)))
    held, answers = [], []
    try:
        for _ in range(100):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            held.append(sock)
            answers.append(read_reply(sock)[:4])
    finally:
        for sock in held:
            sock.close()
        proc.terminate()
        err = proc.early_stderr + proc.communicate(timeout=30)[1]
    assert "[limits] max_connections lowered from 1024 to 64" in err
    assert answers.count(b"220 ") == 64 and answers.count(b"421 ") == 36
    assert "out of file descriptors" not in err


def test_running_out_of_descriptors_is_logged_once_per_interval(tmp_path):
    """When the descriptors run out anyway (the limit lowered under a running sensor), the log
    says so once, with counts, not once per client; once there are descriptors again, clients
    are greeted."""
    proc, port = start(tmp_path, "--quiet")
    time.sleep(0.5)
    in_use = len(list(Path(f"/proc/{proc.pid}/fd").iterdir()))
    hard = resource.prlimit(proc.pid, resource.RLIMIT_NOFILE)[1]
    resource.prlimit(proc.pid, resource.RLIMIT_NOFILE, (in_use + 4, hard))
    clients = []
    for _ in range(40):
        sock = socket.socket()
        sock.settimeout(3)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            pass
        clients.append(sock)
    time.sleep(3)
    for sock in clients:
        sock.close()
    resource.prlimit(proc.pid, resource.RLIMIT_NOFILE, (4096, hard))
    time.sleep(1.5)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        assert read_reply(sock).startswith(b"220 ")
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    lines = [line for line in err.splitlines() if "out of file descriptors" in line]
    assert len(lines) == 1, err
    assert "Raise `ulimit -n`" in lines[0]


def acknowledging_clients(port: int, acknowledged: list[bytes], stop: threading.Event, clients: int = 6) -> list:
    """Clients sending message after message, pipelined, keeping each 250 they were given."""

    def run(n: int) -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                read_reply(sock)
                sock.sendall(b"EHLO durable.example\r\n")
                read_reply(sock)
                m = 0
                while not stop.is_set():
                    m += 1
                    sock.sendall(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
                    read_replies(sock, 3)
                    sock.sendall(f"Subject: {n}-{m}\r\n\r\nmessage {n}-{m}\r\n.\r\n".encode())
                    reply = read_reply(sock)
                    if not reply.startswith(b"250 "):
                        return
                    acknowledged.append(reply)
        except OSError:
            return  # the sensor was killed

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    return threads


def test_kill_9_loses_no_acknowledged_message(tmp_path):
    """kill -9 in the middle of a flood: every message a client got 250 for has its .eml and its
    record in events.jsonl (written before the 250); the SQL store, which lags, catches up from
    events.jsonl at the next start."""
    proc, port = start(tmp_path, "--quiet", "--persona", "postfix")
    acknowledged: list[bytes] = []
    stop = threading.Event()
    threads = acknowledging_clients(port, acknowledged, stop)
    time.sleep(2.0)
    proc.kill()
    proc.wait(10)
    stop.set()
    for thread in threads:
        thread.join(20)
    assert len(acknowledged) > 100
    # kill -9 may land inside a write(2): the journal may end in a torn line, never acknowledged
    # (a message's record is written whole before its 250), which the next start cuts away.
    whole, _, torn = (tmp_path / "events.jsonl").read_bytes().rpartition(b"\n")
    records = [json.loads(line) for line in whole.splitlines()]
    messages = {r["reply"]: r for r in records if r["kind"] == "smtp.message"}
    for reply in acknowledged:
        record = messages.get(reply.decode().rstrip("\r\n"))
        assert record is not None, reply
        assert (tmp_path / record["path"]).stat().st_size == record["size"]
    stored_before = sql(tmp_path, "SELECT count(*) FROM events")[0][0]
    proc, port = start(tmp_path, "--quiet", "--persona", "postfix")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = len(jsonl(tmp_path))
    assert sql(tmp_path, "SELECT count(*) FROM events") == [(lines,)]
    assert sql(tmp_path, "SELECT count(*) FROM messages")[0][0] >= len(acknowledged)
    if stored_before < lines - 2:  # the store lagged when killed: the catch-up said so
        assert "the store lacked the journal's last records" in proc.early_stderr + err
    if torn:
        assert f"cut {len(torn)} bytes of a last line torn by a crash" in proc.early_stderr + err


def fill(directory: Path) -> Path:
    """Fill the file system of `directory` to the last byte; returns the filler to delete."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


@contextlib.contextmanager
def sensor_on_a_small_disk(tmp_path):
    """A postfix sensor whose data directory is on a 4 MiB tmpfs, one session recorded; yields
    (the mount, the data directory, the process, its port); unmounts after."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        data = mount / "data"
        proc, port = start(data, "--quiet", "--persona", "postfix", env={"RELAYPOT_STORE_FLUSH_INTERVAL": "0.2"})
        send(port, 0)
        time.sleep(0.5)
        yield mount, data, proc, port
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small file system needs root (CI runs as root)")
def test_a_full_disk_loses_no_record(tmp_path):
    """The disk fills while sessions run: clients get the persona's 452, no empty .eml is left,
    the records wait in memory, and once there is room again every one is written, once, in
    events.jsonl and the store; the stop says every record is written."""
    with sensor_on_a_small_disk(tmp_path) as (mount, data, proc, port):
        filler = fill(mount)
        refused = 0
        for n in range(1, 31):
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                client.ehlo("full.example")
                try:
                    client.sendmail("a@b.example", ["c@d.example"], f"Subject: {n}\r\n\r\n" + "x" * 2000 + "\r\n")
                except smtplib.SMTPDataError as exc:
                    assert (exc.smtp_code, exc.smtp_error) == (452, b"4.3.1 Insufficient system storage")
                    refused += 1
        time.sleep(1)
        filler.unlink()
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "relaypot: stopped; every record is written." in err, err
        assert refused >= 25
        assert not [p for p in (data / "messages").rglob("*") if p.is_file() and p.stat().st_size == 0]
        lines = (data / "events.jsonl").read_bytes().splitlines()
        records = [json.loads(line) for line in lines]  # every line whole
        keys = [(r["session"], r["seq"]) for r in records]
        assert len(keys) == len(set(keys))
        opened = [r for r in records if r["kind"] == "session.opened"]
        closed = [r for r in records if r["kind"] == "session.closed"]
        assert len(opened) == len(closed) == 31
        assert sql(data, "SELECT count(*) FROM events") == [(len(records),)]
        assert sql(data, "SELECT count(*) FROM sessions") == [(31,)]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small file system needs root (CI runs as root)")
def test_a_disk_still_full_at_the_stop_counts_each_lost_record_once(tmp_path):
    """Stopped while the disk is still full: the journal and the store give up the same records;
    the stop line counts them once and never offers `relaypot import` for what the journal lacks."""
    with sensor_on_a_small_disk(tmp_path) as (mount, _data, proc, port):
        fill(mount)
        for n in range(1, 6):
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                client.ehlo("full.example")
                with contextlib.suppress(smtplib.SMTPDataError):
                    client.sendmail("a@b.example", ["c@d.example"], f"Subject: {n}\r\n\r\nx\r\n")
        time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
        line = err.strip().splitlines()[-1]
        found = re.fullmatch(r"relaypot: stopped; NOT every record is written: (\d+) records? could not be written "
                             r"to events\.jsonl \(its disk was full\); (\d+) records? did not reach the sql store "
                             r"\((.*)\)\.", line)
        assert found, err
        journal, store, said = int(found[1]), int(found[2]), found[3]
        assert journal > 0 and store >= journal
        assert said == "events.jsonl lacks them too" if store == journal else said.endswith(f"; {journal:,} are in "
                                                                                             "neither")


def test_a_line_torn_by_a_crash_is_cut_at_the_next_start(tmp_path):
    """A partial last line left by a crash is cut off when the sensor starts again, so the next
    record starts a line of its own and every line reads back."""
    proc, port = start(tmp_path, "--quiet")
    send(port, 1)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    whole = (tmp_path / "events.jsonl").read_bytes()
    torn = b'{"session":"0194","seq":1,"ts":"2026-11-30T'
    (tmp_path / "events.jsonl").write_bytes(whole + torn)
    proc, port = start(tmp_path, "--quiet")
    send(port, 2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert f"cut {len(torn)} bytes of a last line torn by a crash" in proc.early_stderr + err
    data = (tmp_path / "events.jsonl").read_bytes()
    assert data.startswith(whole) and torn not in data
    assert len([json.loads(line) for line in data.splitlines()]) == 2 * len(whole.splitlines())


def test_the_stop_says_exactly_what_was_not_written():
    """The last line names each loss and where the records still are, instead of claiming all."""
    from relaypot.app import what_was_written

    clean = {"jsonl": {"written": 9, "queued": 0, "dropped": 0, "spool_bytes": 0},
             "sql": {"written": 9, "queued": 0, "dropped": 0, "spool_bytes": 0}}
    assert what_was_written(clean) == "every record is written."
    waiting = {**clean, "sql": {**clean["sql"], "spool_bytes": 4096}}
    assert what_was_written(waiting).startswith("every record is written; 4096 bytes of them wait in DATA_DIR/spool")
    lost = {"jsonl": {**clean["jsonl"], "dropped": 12},
            "sql": {**clean["sql"], "dropped": 30, "queued": 2, "unjournaled": 12}}
    # The 12 the journal gave up are among the store's 32: counted once, never as ones import restores.
    assert what_was_written(lost) == (
        "NOT every record is written: 12 records could not be written to events.jsonl (its disk was full); "
        "32 records did not reach the sql store (20 of them are in events.jsonl: relaypot import brings them "
        "back; 12 are in neither).")
    alone = {"jsonl": clean["jsonl"], "sql": {**clean["sql"], "dropped": 1}}
    assert what_was_written(alone) == ("NOT every record is written: 1 record did not reach the sql store "
                                       "(events.jsonl has them: relaypot import brings them back).")
    both = {"jsonl": {**clean["jsonl"], "dropped": 5}, "sql": {**clean["sql"], "dropped": 5, "unjournaled": 5}}
    assert what_was_written(both).endswith("5 records did not reach the sql store (events.jsonl lacks them too).")
