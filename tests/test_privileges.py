"""Running as root: files private, the data directory handed over without following a link, and
everything the sensor needs loaded before it becomes a user that cannot read the installation."""

from __future__ import annotations

import base64
import os
import pwd
import signal
import smtplib
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from support import RELAYPOT, jsonl, lenient_tls_client, relaypot, send, start, unreadable_python

pytestmark = pytest.mark.slow  # root, a sensor per persona dropping privileges

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="changing user needs root (CI runs as root)")
TESTS = Path(__file__).resolve().parent


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path, follow_symlinks=False).st_mode)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


STARTED: list[subprocess.Popen] = []  # every sensor a test started: none outlives its test


@pytest.fixture(autouse=True)
def no_sensor_left_behind():
    """A test that fails after starting a sensor leaves no `relaypot run --user nobody` behind
    (one did, holding its port and data directory, until the machine's next reboot)."""
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def run_as_nobody(data: Path, *extra: str, env: dict | None = None,
                  command: list[str] = RELAYPOT) -> tuple[subprocess.Popen, int]:
    """`relaypot run --user nobody` on a free port; returns the process and the port once listening."""
    port = free_port()
    proc = subprocess.Popen([*command, "run", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data),
                             "--user", "nobody", "--quiet", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "RELAYPOT_ENRICH_ENABLED": "false", **(env or {})})
    STARTED.append(proc)
    seen = []
    for _ in range(40):
        line = proc.stderr.readline()
        seen.append(line)
        if "listening on" in line or not line:
            break
    if "listening on" not in seen[-1]:
        proc.kill()
        raise AssertionError("".join(seen) + proc.stderr.read())
    return proc, port


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def private_tmp() -> Path:
    """A directory under /tmp (which nobody can traverse), unlike pytest's 0700 tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="relaypot-priv-"))
    os.chmod(path, 0o755)
    return path


def test_what_the_sensor_writes_is_private(tmp_path):
    """Data files are 0640 or stricter and directories 0750, whatever the caller's umask; a data
    directory an older version left readable by all is tightened at start."""
    old = tmp_path / "old"
    old.mkdir(mode=0o755)
    os.chmod(old, 0o755)
    (old / "events.jsonl").write_text("")
    os.chmod(old / "events.jsonl", 0o644)
    for data in (tmp_path / "new", old):
        proc, port = start(data, "--quiet", "--persona", "postfix")
        send(port, 1)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.starttls(context=lenient_tls_client())
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert mode(data) == 0o750
        files = [data / "events.jsonl", data / "relaypot.sqlite", data / "tls" / "cert.pem",
                 *(data / "messages").rglob("*.eml")]
        files += [p for p in data.glob("relaypot.sqlite-*")]
        assert len(files) >= 4
        for path in files:
            assert mode(path) & 0o137 == 0, (path, oct(mode(path)))
        assert mode(data / "tls" / "key.pem") == 0o600
        for directory in [data / "messages", data / "tls", *(data / "messages").iterdir()]:
            assert mode(directory) & ~0o750 == 0, (directory, oct(mode(directory)))


@ROOT_ONLY
def test_user_hand_over_never_follows_a_planted_link():
    """Links the sensor's own account planted in its data directory (a symbolic link to a file of
    root's, a hard link to one, a directory link) leave root's files root's at the next start."""
    nobody = pwd.getpwnam("nobody")
    outside = private_tmp()
    victims = [outside / name for name in ("shadow", "passwd", "hard")]
    for victim in victims:
        victim.write_text("root's\n")
        os.chmod(victim, 0o600)
    (outside / "dir").mkdir()
    data = private_tmp() / "data"
    proc, port = run_as_nobody(data, "--persona", "postfix")
    send(port, 1)
    stop(proc)
    # What the account could plant (the hard link stands for a system without protected_hardlinks).
    (data / "events-2020-01-01.jsonl").symlink_to(victims[0])
    (data / "events-2020-01-02.jsonl.gz").symlink_to(victims[1])
    os.link(victims[2], next((data / "messages").iterdir()) / "planted.eml")
    (data / "spool").symlink_to(outside / "dir")
    (data / "tls" / "key.pem").unlink()
    (data / "tls" / "key.pem").symlink_to(victims[1])
    for path in data.rglob("*"):  # the account owns what it planted (not the hard link's file)
        if path.name != "planted.eml":
            os.chown(path, nobody.pw_uid, nobody.pw_gid, follow_symlinks=False)
    proc, port = run_as_nobody(data, "--persona", "postfix")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.starttls(context=lenient_tls_client())
    stop(proc)
    for victim in [*victims, outside / "dir"]:
        info = os.stat(victim)
        assert (info.st_uid, info.st_gid) == (0, 0), victim
    assert all(victim.read_text() == "root's\n" for victim in victims)
    assert not (data / "tls" / "key.pem").is_symlink()  # the user made itself a new key


@ROOT_ONLY
@pytest.mark.parametrize("case", ["system", "foreign"])
def test_user_refuses_a_system_or_foreign_data_directory(case):
    """--user with a system directory, or one holding what relaypot did not make, is refused in
    one line, and nothing in it changes owner."""
    if case == "system":
        data = Path("/var/lib")
        message = "/var/lib is a system directory"
    else:
        data = private_tmp()
        (data / "notes.txt").write_text("the operator's\n")
        message = "holds what relaypot did not make ('notes.txt')"
    before = {p: os.stat(p, follow_symlinks=False).st_uid for p in [data, *data.iterdir()]}
    result = relaypot("run", "--listen", "127.0.0.1:0", "--data-dir", str(data), "--user", "nobody",
                     env={"RELAYPOT_ENRICH_ENABLED": "false"})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert {p: os.stat(p, follow_symlinks=False).st_uid for p in [data, *data.iterdir()]} == before


@ROOT_ONLY
@pytest.mark.parametrize("persona", ["postfix", "exchange2000"])
def test_user_loads_everything_before_dropping_root(persona):
    """Run from a copy nobody cannot read, the sensor does everything once more after the drop
    (TLS, every AUTH mechanism, BDAT, MIME in many charsets, DNS and DNSBL lookups) without
    loading a module or file of the installation, and records it all."""
    sys.path.insert(0, str(TESTS / "enrich"))
    from dns_server import FakeDns

    root = private_tmp()
    command = unreadable_python(root)
    data = root / "data"
    reverse = "1.0.0.127"
    records = {(f"{reverse}.zen.spamhaus.org", "A"): ["127.0.0.4"], (f"{reverse}.in-addr.arpa", "PTR"): ["lo.example."],
               ("lo.example", "A"): ["127.0.0.1"], ("client.example.org", "A"): ["127.0.0.1"]}
    with FakeDns(records) as dns:
        proc, port = run_as_nobody(data, "--persona", persona, "--hostname", "mx.example.org", command=command,
                                   env={"RELAYPOT_ENRICH_ENABLED": "true", "RELAYPOT_ENRICH_RESOLVER": dns.address,
                                        "RELAYPOT_ENRICH_DNSBL_ZONES": "zen.spamhaus.org",
                                        "RELAYPOT_TLS_STARTTLS": "yes", "RELAYPOT_ENRICH_DNS_TIMEOUT": "1"})
        with smtplib.SMTP("127.0.0.1", port, timeout=15) as client:
            client.ehlo("client.example.org")
            client.starttls(context=lenient_tls_client())
            client.ehlo("client.example.org")
            with pytest.raises(smtplib.SMTPAuthenticationError):
                client.login("user", "secret")  # every mechanism smtplib knows that the persona offers
            negotiate = base64.b64encode(b"NTLMSSP\x00\x01\x00\x00\x00\x07\x82\x08\xa2" + b"\x00" * 16).decode()
            for mechanism, answer in (("NTLM", negotiate), ("GSSAPI", "dG9rZW4="), ("X-UNKNOWN", "")):
                if client.docmd("AUTH", mechanism)[0] == 334:
                    client.docmd(answer)
                    client.docmd("*")
            client.sendmail("a@b.example", ["c@d.example"],
                            b"Subject: =?koi8-r?b?8NLJ18XU?=\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
                            b"--B\r\nContent-Type: text/plain; charset=big5\r\nContent-Transfer-Encoding: base64\r\n"
                            b"\r\npLqm6w==\r\n--B\r\nContent-Type: application/zip; name=x.zip\r\n"
                            b"Content-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--B--\r\n")
            client.mail("a@b.example")
            client.rcpt("c@d.example")
            for raw in (b"BDAT 12 LAST\r\nSubject: x\r\n", b"\x00\xff\r\n", b"XEXCH50 2 2\r\n"):
                client.send(raw)
                if client.getreply()[0] == 354:  # Exchange's XEXCH50: two bytes of binary data
                    client.send(b"ab")
                    client.getreply()
        import time

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (data / "events.jsonl").exists():
            time.sleep(0.1)
        time.sleep(3)  # the lookups' answers
        err = stop(proc)
    assert "after dropping privileges" not in err, err
    assert "Traceback" not in err and "ERROR" not in err, err
    kinds = [r["kind"] for r in jsonl(data)]
    assert "smtp.message" in kinds and "smtp.auth" in kinds and "enrich.dnsbl" in kinds and "enrich.rdns" in kinds
    assert any(r["kind"] == "smtp.tls" and r["outcome"] == "established" for r in jsonl(data))


@ROOT_ONLY
def test_every_output_starts_and_sends_after_dropping_root():
    """[outputs] syslog and hpfeeds under --user, run from a copy nobody cannot read: each is
    rehearsed before the drop (hpfeeds once refused to start, 'needs the hpfeeds package', since it
    imported in open() after root was gone), and each delivers."""
    from hpfeeds_broker import SECRET, Broker

    root = private_tmp()
    command = unreadable_python(root)
    collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    collector.bind(("127.0.0.1", 0))
    collector.settimeout(20)
    broker = Broker(free_port())
    reader = broker.subscribe("relaypot.sessions")
    try:
        proc, port = run_as_nobody(root / "data", command=command, env={
            "RELAYPOT_OUTPUTS_SYSLOG": f"udp://127.0.0.1:{collector.getsockname()[1]}",
            "RELAYPOT_OUTPUTS_HPFEEDS": f"127.0.0.1:{broker.port}", "RELAYPOT_OUTPUTS_HPFEEDS_IDENT": "relaypot",
            "RELAYPOT_OUTPUTS_HPFEEDS_SECRET": SECRET})
        send(port, 1)
        datagram = collector.recv(65536)
        [(channel, summary)] = reader.take(1)
        err = stop(proc)
    finally:
        reader.stop()
        broker.stop()
        collector.close()
    assert b" relaypot - session.opened - " in datagram
    assert channel == "relaypot.sessions" and summary["messages"]
    assert "after dropping privileges" not in err and "Traceback" not in err, err
