"""[outputs] syslog: every record reaches a real syslog collector (rsyslog, on loopback) as RFC
5424, over UDP and over TCP, and a collector that is away costs the sensor nothing."""

from __future__ import annotations

import json
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from support import jsonl, require

CONFIG = """global(workDirectory="{dir}")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="{udp}")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
template(name="fields" type="string"
         string="%PRI%|%PROTOCOL-VERSION%|%HOSTNAME%|%APP-NAME%|%MSGID%|%STRUCTURED-DATA%|%msg%\\n")
action(type="omfile" file="{dir}/received.log" template="fields")
"""


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def rsyslog():
    rsyslogd = require("rsyslogd")
    directory = Path(tempfile.mkdtemp(prefix="relaypot-rsyslog-"))
    udp, tcp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    (directory / "rsyslog.conf").write_text(CONFIG.format(dir=directory, udp=udp, tcp=tcp))
    proc = subprocess.Popen([rsyslogd, "-n", "-f", str(directory / "rsyslog.conf"), "-i", str(directory / "pid")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while socket.socket().connect_ex(("127.0.0.1", tcp)) != 0:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "rsyslogd did not start"
        time.sleep(0.05)
    yield udp, tcp, directory / "received.log"
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(directory, ignore_errors=True)


def received(log: Path, sensor: str) -> list[list[str]]:
    if not log.exists():
        return []
    return [line.split("|", 6) for line in log.read_text().splitlines() if f"|{sensor}|" in line]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_every_record_reaches_rsyslog_as_rfc5424(sensor_factory, rsyslog, transport):
    udp, tcp, log = rsyslog
    name = f"syslog-{transport}"
    port = udp if transport == "udp" else tcp
    sensor = sensor_factory(sensor__name=name, outputs__syslog=f"{transport}://127.0.0.1:{port}",
                            outputs__syslog_facility="mail")
    with smtplib.SMTP(*sensor.address, timeout=10) as client:
        client.sendmail("a@b.example", ["c@d.example"], "Subject: to the SIEM\r\n\r\nx\r\n")
    sensor.wait_for("session.closed", 1)
    sensor.stop()
    written = jsonl(sensor.data_dir)
    deadline = time.monotonic() + 10
    while len(received(log, name)) < len(written) and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = received(log, name)
    assert [json.loads(msg) for *_, msg in lines] == written  # every record, as events.jsonl has it
    for pri, version, host, app, msgid, data, msg in lines:
        assert (version, host, app, data) == ("1", name, "relaypot", "-")
        assert msgid == json.loads(msg)["kind"]
        assert int(pri) // 8 == 2  # facility mail
    assert {int(pri) % 8 for pri, *_, msgid, _data, _msg in lines if msgid == "smtp.message"} == {5}  # notice


def test_a_collector_that_is_away_costs_the_sensor_nothing(sensor_factory):
    closed = free_port(socket.SOCK_STREAM)
    sensor = sensor_factory(outputs__syslog=f"tcp://127.0.0.1:{closed}")
    with smtplib.SMTP(*sensor.address, timeout=10) as client:
        client.sendmail("a@b.example", ["c@d.example"], "Subject: nobody listens\r\n\r\nx\r\n")
    sensor.wait_for("session.closed", 1)
    sensor.stop()
    assert len(jsonl(sensor.data_dir)) == len(sensor.memory.records) > 0  # the journal and the store are whole


def test_a_collector_that_stops_reading_never_pauses_a_client(sensor_factory, caplog):
    """A collector that takes the connection and never reads: every send blocks until its timeout.
    An output is best effort (its own bounded queue, drops counted): with the bus's bound set
    low, the clients would pause behind it if it were a store (the SQL store may still pause
    them for a moment, as a store does); they never pause for the output."""
    collector = socket.socket()
    collector.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    collector.bind(("127.0.0.1", 0))
    collector.listen(1)  # the kernel completes the connection; nobody ever reads it
    sensor = sensor_factory(outputs__syslog=f"tcp://127.0.0.1:{collector.getsockname()[1]}", store__queue_limit=500)
    try:
        for _ in range(200):  # each about 40 KiB of records: far more than the socket buffers take
            with smtplib.SMTP(*sensor.address, timeout=10) as client:
                for _noop in range(20):
                    client.docmd("NOOP", "x" * 900)
        sensor.wait_for("session.closed", 200)
        assert "sink syslog is" not in caplog.text
    finally:
        sensor.stop()
        collector.close()
    [output] = [w.sink for w in sensor.sensor.bus.workers if w.sink.name == "syslog"]
    assert output.policy == "output" and output.sent < 200 * 23  # it could not take them all ...
    assert len(jsonl(sensor.data_dir)) == len(sensor.memory.records)  # ... the journal and the store did
