"""The `relaypot` command as a user runs it: a real process, real signals, real files."""

from __future__ import annotations

import base64
import os
import re
import signal
import smtplib
import socket
import subprocess
import time
from pathlib import Path

import pytest

from support import RELAYPOT, jsonl, relaypot, send, sql, start


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_gracefully_and_every_event_is_in_both_sinks(tmp_path, signum):
    """SIGTERM/SIGINT: stop accepting, end open sessions with the persona's reply, flush, exit 0."""
    proc, port = start(tmp_path, "--persona", "postfix", env={"RELAYPOT_LIMITS_SHUTDOWN_GRACE": "0.5"})
    for n in range(5):
        send(port, n)
    lingering = smtplib.SMTP("127.0.0.1", port, timeout=10)
    lingering.ehlo("still.here")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "relaypot: stopped; every record is written." in err
    records = jsonl(tmp_path)
    assert len(records) == sql(tmp_path, "SELECT count(*) FROM events")[0][0]
    closed = [r for r in records if r["kind"] == "session.closed"]
    assert len(closed) == 6 and closed[-1]["reason"] == "shutdown"
    assert sql(tmp_path, "SELECT count(*) FROM messages") == [(5,)]
    lines = [line for line in out.splitlines() if "messages=" in line]
    assert len(lines) == 6 and "EHLO still.here" in lines[-1]


def test_kill_9_loses_at_most_the_last_flush_interval(tmp_path):
    """After SIGKILL, every session that ended more than one flush interval earlier is in both sinks."""
    proc, port = start(tmp_path, "--quiet", env={"RELAYPOT_STORE_FLUSH_INTERVAL": "0.2"})
    for n in range(20):
        send(port, n)
    time.sleep(0.2 * 2 + 0.3)  # two flush intervals and scheduling slack
    proc.kill()
    proc.wait(10)
    assert sql(tmp_path, "SELECT count(*) FROM sessions WHERE close_reason = 'quit'") == [(20,)]
    assert len([r for r in jsonl(tmp_path) if r["kind"] == "smtp.message"]) == 20


def test_quiet_prints_no_session_lines_and_lines_escape_attacker_text(tmp_path):
    """The per-session line escapes terminal control characters an attacker put in HELO."""
    proc, port = start(tmp_path)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.putcmd("HELO", "evil\x1b]0;pwned\x07\x1b[2J")
        client.getreply()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert "\x1b" not in out and "\x07" not in out
    assert "HELO evil\\x1b]0;pwned\\x07\\x1b[2J" in out
    proc, port = start(tmp_path / "q", "--quiet")
    send(port, 1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert out == ""


def test_check_config_merges_file_environment_and_flags(tmp_path):
    """Defaults < file < RELAYPOT_* < flags, each value printed with its source."""
    config = tmp_path / "relaypot.toml"
    config.write_text('[limits]\nidle_timeout = 60\nmax_connections = 50\n[smtp]\npersona = "postfix"\n')
    result = relaypot("check-config", "--config", str(config), "--hostname", "mx.example.org",
                     env={"RELAYPOT_LIMITS_MAX_CONNECTIONS": "70"})
    assert result.returncode == 0, result.stderr
    assert f"idle_timeout = 60.0  # {config}" in result.stdout
    assert "max_connections = 70  # environment RELAYPOT_LIMITS_MAX_CONNECTIONS" in result.stdout
    assert 'hostname = "mx.example.org"  # command line' in result.stdout
    assert 'persona = "postfix"' in result.stdout


@pytest.mark.parametrize("content,message", [
    ('[limits]\nidle_timeout = "soon"\n', '[limits] idle_timeout: expected a number of seconds, got \'soon\''),
    ("[limits]\nidle_timout = 5\n", "[limits] unknown key 'idle_timout'"),
    ("[smtp]\nlisten = [\"localhost:25\"]\n", "[smtp] listen: 'localhost:25': 'localhost' is not an IP address"),
    ("[smtp\n", "not valid TOML"),
    ('[smtp]\npersona = "qmail"\n', "unknown persona 'qmail'"),
    ("[limits]\nmax_commands = 1000\n", "[limits] max_commands: max_commands must be at least max_recipients + 10 "
                                        "(1010), so that one message to max_recipients recipients fits in a session "
                                        "(max_recipients is 1000, from default)"),
    # The user set only the other key of the pair: it is the one blamed, never "default".
    ("[limits]\nmax_recipients = 20000\n", "[limits] max_recipients: max_commands must be at least max_recipients"),
    ('[limits]\nmax_message_size = "1GiB"\n', "[limits] max_message_size: max_message_memory must be at least "),
])
def test_config_errors_are_one_clear_line(tmp_path, content, message):
    """A bad file exits non-zero with one line naming the file, table and key."""
    config = tmp_path / "relaypot.toml"
    config.write_text(content)
    result = relaypot("check-config", "--config", str(config))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("relaypot: error: ") and message in lines[0], result.stderr
    if "persona" not in message:
        assert str(config) in lines[0]


@pytest.mark.parametrize("flags,message", [
    (["--listen", "127.0.0.1:4650,service=submissions"],
     "[smtp] listen '127.0.0.1:4650,service=submissions': the persona exchange2000 has no submissions service"),
    (["--persona", "postfix"], "cannot load the TLS certificate /nonexistent/cert.pem / key /nonexistent/key.pem"),
    (["--user", "no-such-user-here"], "[run] user: no such user 'no-such-user-here'"),
])
def test_check_config_refuses_what_run_would_refuse(tmp_path, flags, message):
    """The checks run makes before it binds, made by check-config too, in the same one line;
    neither leaves a data directory behind."""
    env = {"RELAYPOT_TLS_CERTIFICATE": "/nonexistent/cert.pem", "RELAYPOT_TLS_KEY": "/nonexistent/key.pem"}
    data = ["--hostname", "mx.example.org", "--data-dir", str(tmp_path / "data")]
    for command in (["check-config"], ["run", "--listen", "127.0.0.1:0"]):
        result = relaypot(*command, *data, *flags, env=env, timeout=30)
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.strip().splitlines()[-1].startswith(f"relaypot: error: {message}"), result.stderr
    assert not (tmp_path / "data").exists()


def test_check_config_says_what_run_would_start_with(tmp_path):
    result = relaypot("check-config", "--persona", "postfix", "--hostname", "mx.example.org", "--data-dir",
                      str(tmp_path), "--listen", "127.0.0.1:2525", "--listen", "127.0.0.1:4650,service=submissions")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"# relaypot run would start: persona postfix as mx.example.org; listening on 127.0.0.1:2525 (smtp, relay "
        f"open), 127.0.0.1:4650 (submissions, relay open); data in {tmp_path}; store sqlite:///{tmp_path}/"
        f"relaypot.sqlite; TLS certificate {tmp_path}/tls/cert.pem (self-signed, made at the first start).")


def test_the_machine_name_is_never_localhost_unless_asked_for():
    """getfqdn() says localhost where the machine's name does not resolve: its host name is used."""
    from relaypot.app import machine_name

    assert machine_name("localhost", "vm") == "vm"
    assert machine_name("mx1.example.org", "mx1") == "mx1.example.org"
    assert machine_name("localhost.localdomain", "localhost") is None
    asked = relaypot("check-config", "--hostname", "localhost")
    assert asked.returncode == 0 and "as localhost;" in asked.stdout


def test_environment_errors_name_the_variable():
    result = relaypot("check-config", env={"RELAYPOT_LIMITS_MAX_COMMANDS": "lots"})
    assert result.returncode == 2
    assert "environment RELAYPOT_LIMITS_MAX_COMMANDS: expected a whole number, got 'lots'" in result.stderr


def test_run_refuses_a_port_in_use_and_leaves_no_data_directory(tmp_path):
    """A start that fails (the port is taken) says so in one line and leaves behind no data
    directory it created."""
    proc, port = start(tmp_path / "a", "--quiet")
    try:
        result = relaypot("run", "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "b"),
                         env={"RELAYPOT_ENRICH_ENABLED": "false"})
        assert result.returncode == 2
        assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and result.stderr.count("\n") == 1
        assert not (tmp_path / "b").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_two_sensors_cannot_share_a_data_directory(tmp_path):
    """The second sensor on a data directory refuses to start, naming the process that holds it;
    once the first has stopped (even by kill -9), the directory is free again."""
    proc, _ = start(tmp_path, "--quiet")
    try:
        result = relaypot("run", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path),
                         env={"RELAYPOT_ENRICH_ENABLED": "false"})
        assert result.returncode == 2 and result.stderr.count("\n") == 1
        assert f"{tmp_path} is in use by another relaypot (process {proc.pid})" in result.stderr
    finally:
        proc.kill()
        proc.wait(10)
    proc, _ = start(tmp_path, "--quiet")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_a_misspelled_environment_variable_is_named_with_its_closest_setting(tmp_path):
    """RELAYPOT_SMTP_HOSTNME would be ignored in silence: a warning names it and the setting meant."""
    result = relaypot("check-config", env={"RELAYPOT_SMTP_HOSTNME": "mx.example.org"})
    assert result.returncode == 0
    assert result.stderr == ("relaypot: warning: RELAYPOT_SMTP_HOSTNME is not a setting and is ignored; "
                             "did you mean RELAYPOT_SMTP_HOSTNAME?\n")


def test_personas_list_and_show():
    listing = relaypot("personas")
    assert listing.returncode == 0
    assert listing.stdout.startswith("exchange2000") and "postfix" in listing.stdout
    summaries = [line.split(" ", 1)[1].lstrip() for line in listing.stdout.splitlines()]
    columns = {len(line) - len(summary) for line, summary in zip(listing.stdout.splitlines(), summaries)}
    assert len(columns) == 1, listing.stdout  # one column for every summary, the longest name's included
    shown = relaypot("personas", "show", "postfix", "--hostname", "mx.example.org")
    assert "S: 220 mx.example.org ESMTP Postfix (Debian/GNU)" in shown.stdout
    assert "C: AUTH LOGIN" in shown.stdout and "S: 535 5.7.8 Error: authentication failed" in shown.stdout
    # the versions it can present and what a client could still tell, before the transcript
    header = shown.stdout.split("\nS: ", 1)[0].splitlines()
    assert header[2] == ("# versions: only 3.7.11 (Debian 12); the banner names no version, and no other "
                         "release is offered as a lure")
    assert [line for line in header if line.startswith("# known tell: relay policy open")]


@pytest.mark.parametrize("name", ["exchange2000", "exchange2016", "exchange2019", "exim", "exim-tls-auth",
                                  "opensmtpd", "opensmtpd-tls-auth", "postfix", "sendmail", "sendmail-tls-auth"])
def test_every_bundled_persona_says_which_versions_it_presents_and_its_known_tells(name):
    """Issue 27's "versions as lures": each face names the versions it can present and lists the
    differences a client could still find (relaypot personas show)."""
    from relaypot.personas import model

    persona = model.load(name)
    assert persona.versions and persona.known_tells
    assert "relay policy open (the default)" in persona.known_tells[0]  # every face's deliberate one


def test_replay_prints_a_recorded_session(tmp_path):
    """`relaypot replay` rebuilds the conversation from the store, attacker bytes escaped."""
    proc, port = start(tmp_path, "--quiet")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("bot\x1b[31m.example")
        client.sendmail("a@b.example", ["c@d.example"], "Subject: x\r\n\r\nhi\r\n")
        client.docmd("AUTH", "LOGIN")
        client.docmd(base64.b64encode(b"admin\x1b]0;x").decode())
        client.docmd(base64.b64encode(b"hunter2").decode())
        plain = base64.b64encode(b"\x00root\x00toor").decode()
        client.docmd("AUTH", f"PLAIN {plain}")  # one line: the verdict belongs under it
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    session = jsonl(tmp_path)[0]["session"]
    result = relaypot("replay", session, "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("S: 220 mail.example.com Microsoft ESMTP MAIL Service")
    assert "C: ehlo bot\\x1b[31m.example" in lines
    assert any(line.startswith("C: <message: ") for line in lines)
    assert lines[-1].startswith("# closed: quit")
    # AUTH exchanges: each base64 line with what it decodes to, then the credentials it held.
    assert f"C: {base64.b64encode(b'admin' + bytes([27]) + b']0;x').decode()}    # admin\\x1b]0;x" in lines
    assert f"C: {base64.b64encode(b'hunter2').decode()}    # hunter2" in lines
    assert "# AUTH LOGIN rejected: user admin\\x1b]0;x, password hunter2" in lines
    at = lines.index(f"C: AUTH PLAIN {plain}")
    assert lines[at + 1].startswith("S: 504") and lines[at + 2].startswith("# AUTH PLAIN unsupported")
    assert relaypot("replay", "nosuchsession", "--data-dir", str(tmp_path)).returncode == 2
    by_url = relaypot("replay", session, "--store", f"sqlite:///{tmp_path / 'relaypot.sqlite'}")
    assert by_url.stdout == result.stdout


def test_replay_help_offers_only_what_finds_the_store():
    """Not run's --listen, --persona or --user: replay reads a store."""
    shown = relaypot("replay", "--help").stdout
    assert "--store URL" in shown and "--data-dir" in shown and "--config" in shown
    assert not {"--listen", "--persona", "--user", "--relay", "--p0f-socket"} & set(shown.split())


def test_the_session_line_names_the_session(tmp_path):
    """The per-session console line ends with the session id, for `relaypot replay`."""
    proc, port = start(tmp_path)
    send(port, 1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    session = jsonl(tmp_path)[0]["session"]
    [line] = [line for line in out.splitlines() if "messages=" in line]
    assert line.endswith(f" {session}")


@pytest.mark.skipif(os.geteuid() != 0, reason="binding a port under 1024 and changing user need root")
def test_user_binds_a_privileged_port_then_runs_as_that_user(tmp_path):
    """`--user nobody`: port under 1024 bound as root, then every file is written as nobody."""
    import pwd
    import socket
    import tempfile

    nobody = pwd.getpwnam("nobody")
    data = Path(tempfile.mkdtemp(prefix="relaypot-user-"))  # under /tmp, which nobody can traverse
    for port in range(900, 1000):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                break
    proc = subprocess.Popen([*RELAYPOT, "run", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data),
                             "--user", "nobody", "--persona", "postfix", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "RELAYPOT_ENRICH_ENABLED": "false"})
    try:
        for _ in range(20):
            line = proc.stderr.readline()
            if "listening on" in line or not line:
                break
        assert f"listening on 127.0.0.1:{port}" in line, line + proc.stderr.read()
        uid = int(re.search(r"^Uid:\s+(\d+)", Path(f"/proc/{proc.pid}/status").read_text(), re.M).group(1))
        assert uid == nobody.pw_uid
        send(port, 1)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:  # codecs and MIME parsing after the drop
            client.sendmail("a@b.example", ["c@d.example"],
                            b"Subject: =?koi8-r?b?8NLJ18XU?=\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
                            b"--B\r\nContent-Type: application/zip; name=x.zip\r\n"
                            b"Content-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--B--\r\n")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    for path in [data / "events.jsonl", data / "relaypot.sqlite", data / "tls" / "cert.pem",
                 *(data / "messages").rglob("*.eml")]:
        assert path.stat().st_uid == nobody.pw_uid, path
    assert sql(data, "SELECT count(*) FROM messages") == [(2,)]
    assert sql(data, "SELECT subject, attachments LIKE '%x.zip%' FROM messages WHERE subject != 'message 1'") == [
        ("Привет", 1)]


def test_an_unreachable_postgresql_store_is_one_clear_line(tmp_path):
    """A sensor whose store cannot be reached refuses to start, saying why in one line."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    result = relaypot("run", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path),
                     env={"RELAYPOT_STORE_URL": f"postgresql://relaypot@127.0.0.1:{port}/relaypot"})
    assert result.returncode == 2
    assert result.stderr.startswith("relaypot: error: cannot connect to PostgreSQL: ")
    assert result.stderr.count("\n") == 1 and "refused" in result.stderr


def test_log_lines_escape_what_an_attacker_could_have_written():
    """The sensor's log formatter: a message's control characters and line breaks are escaped; a
    traceback keeps its lines, each escaped."""
    import logging

    from relaypot.escape import LogFormatter

    formatter = LogFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("relaypot", logging.ERROR, __file__, 1, "seen %s", ("\x1b]0;pwned\x07\nFORGED",),
                               None)
    assert formatter.format(record) == "ERROR seen \\x1b]0;pwned\\x07\\x0aFORGED"
    try:
        raise ValueError("from the wire: \x1b[2J")
    except ValueError:
        import sys

        record = logging.LogRecord("relaypot", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    lines = formatter.format(record).split("\n")
    assert lines[0] == "ERROR failed" and lines[1].startswith("Traceback")
    assert lines[-1] == "ValueError: from the wire: \\x1b[2J" and not any("\x1b" in line for line in lines)


def test_without_a_hostname_the_sensor_announces_the_machines_name_and_warns_when_it_is_no_public_name(tmp_path):
    """No `mail.example.com` (a published honeypot tell): the banner carries the machine's own
    name, and a name no public mail server has (this machine's) is used anyway, with a warning on
    every start that names --hostname. A configured name is announced without a warning."""
    import socket

    from relaypot.app import machine_name
    from relaypot.judgements.classify import public_name_problem

    env = {k: v for k, v in os.environ.items() if k != "RELAYPOT_SMTP_HOSTNAME"}
    machine = machine_name(socket.getfqdn(), socket.gethostname())
    if machine is None:
        assert relaypot("run", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d")).returncode == 2
        pytest.skip("this machine calls itself localhost: run refuses to announce that (checked above)")
    for attempt in (1, 2):
        proc = subprocess.Popen([*RELAYPOT, "run", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
                                 "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**env, "RELAYPOT_ENRICH_ENABLED": "false"})
        lines = []
        while not any("listening on" in line for line in lines):
            line = proc.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", lines[-1]).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            banner = client.recv(1024).decode()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert machine in banner and "example.com" not in banner, banner
        warning = "".join(lines)
        if public_name_problem(machine):  # as on a VM named "vm": every start says so
            assert f"the machine's name {machine!r}" in warning and "--hostname" in warning, (attempt, warning)
        else:
            assert "the machine's name" not in warning, warning
    named = start(tmp_path / "e", "--hostname", "mx1.relaypot-test.net", env={"RELAYPOT_SMTP_HOSTNAME": ""})[0]
    try:
        assert "the machine's name" not in named.early_stderr  # type: ignore[attr-defined]
    finally:
        named.kill()
        named.communicate()


def test_a_closed_listener_refuses_relay_and_still_records_the_attempt(tmp_path):
    """`--relay closed`: smtplib's relay recipient gets Postfix's 454 and its local one is taken;
    the store keeps both recipients with their reply codes and marks the session a relay attempt."""
    proc, port = start(tmp_path, "--persona", "postfix", "--relay", "closed", "--quiet")
    try:
        assert "(relay closed)" in proc.early_stderr  # type: ignore[attr-defined]
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            refused = client.sendmail("a@b.example", ["victim@example.net", "root@mail.example.com"],
                                      b"Subject: half\r\n\r\nx\r\n")
        assert refused == {"victim@example.net": (454, b"4.7.1 <victim@example.net>: Relay access denied")}
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client, pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("a@b.example", ["nosuchuser@mail.example.com"], b"Subject: none\r\n\r\nx\r\n")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert sql(tmp_path, "SELECT address, reply_code FROM envelopes WHERE kind = 'rcpt' ORDER BY ts, seq") == [
        ("victim@example.net", 454), ("root@mail.example.com", 250), ("nosuchuser@mail.example.com", 550)]
    assert sql(tmp_path, "SELECT sum(relay), sum(messages) FROM sessions") == [(1, 1)]


def test_the_start_line_is_one_short_line_and_a_submission_listener_wants_a_login():
    """Not "open" for a submission service whose every recipient needs a login; the usual
    fleet sensor's line fits a terminal row (it ran to three)."""
    from types import SimpleNamespace

    from relaypot.cli import start_line
    from relaypot.personas import model
    from relaypot.transport.server import Listener

    listeners = [Listener("0.0.0.0", 25, "open"), Listener("::", 25, "open"),
                 Listener("0.0.0.0", 587, "open", "submission")]
    sensor = SimpleNamespace(persona=model.load("postfix"), hostname="mx1.example.org", data_dir="/var/lib/relaypot",
                             deliverer=None, server=SimpleNamespace(bound_listeners=listeners))
    line = start_line(sensor, [("0.0.0.0", 25), ("::", 25), ("0.0.0.0", 587)])
    assert line.endswith("postfix as mx1.example.org listening on 0.0.0.0:25 (relay open), [::]:25 (relay open), "
                         "0.0.0.0:587 (submission, login first); data in /var/lib/relaypot; relays nothing. "
                         "Ctrl-C stops.")
    assert len(line) <= 200 and "\n" not in line
