"""Probe delivery end to end, on loopback only: a scanner's probe reaches a real receiving MTA
(Postfix's smtp-sink) through the MX a real DNS server on loopback names; limits hold under a
burst; nothing but recognised probes is ever delivered; failures are recorded, never retried."""

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

from enrich.dns_server import FakeDns
from support import fetch, relaypot, require

SCANNERS = [f"127.0.0.{n}" for n in (31, 32, 33)]
PROBE = "Subject: Super webscan open relay check succeded, hostname = 127.0.0.1\r\n\r\nok\r\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def sink():
    """Postfix's smtp-sink on loopback, each message it takes dumped to a file."""
    smtp_sink = require("smtp-sink")
    # smtp-sink drops to nobody before it writes: a directory nobody can reach (not under pytest's
    # own, which only root may enter) and write to.
    dumps = Path(tempfile.mkdtemp(prefix="relaypot-sink-"))
    dumps.chmod(0o777)
    port = free_port()
    proc = subprocess.Popen([smtp_sink, "-u", "nobody", "-d", f"{dumps}/m.", f"127.0.0.1:{port}", "50"])
    deadline = time.monotonic() + 10
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        assert time.monotonic() < deadline, "smtp-sink did not start"
        time.sleep(0.05)
    yield port, dumps
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(dumps, ignore_errors=True)


@pytest.fixture
def mx():
    """dropbox.example's MX is mx.dropbox.example, at 127.0.0.1; dead.example's MX answers nothing."""
    with FakeDns({("dropbox.example", "MX"): ["10 mx.dropbox.example."],
                  ("mx.dropbox.example", "A"): ["127.0.0.1"],
                  ("dead.example", "MX"): ["10 mx.dead.example."], ("mx.dead.example", "A"): ["127.0.0.1"]}) as dns:
        yield dns


def probe(sensor, source: str, to: str = "drop@dropbox.example", body: str = PROBE) -> None:
    with smtplib.SMTP(*sensor.address, timeout=15, source_address=(source, 0)) as smtp:
        smtp.helo("127.0.0.1")
        smtp.sendmail("scan@webscan.example", [to], body)


def delivered(dumps: Path) -> list[str]:
    return sorted(path.read_text() for path in dumps.iterdir())


def decisions(sensor, count: int) -> list:
    return sorted((r.src_ip, r.event.outcome, r.event.reason) for r in sensor.wait_for("deliver.probe", count))


def test_a_burst_of_probes_is_delivered_within_the_limits_and_spam_never(sensor_factory, sink, mx):
    port, dumps = sink
    sensor = sensor_factory(deception__deliver_probes=True, deception__deliver_port=port,
                            deception__deliver_per_day=2, enrich__resolver=mx.address)
    for source in SCANNERS:  # three sources, two probes each: one per source per day, two in all
        probe(sensor, source)
        probe(sensor, source)
    with smtplib.SMTP(*sensor.address, timeout=15, source_address=("127.0.0.34", 0)) as smtp:
        smtp.sendmail("promo@bulk.example", ["victim@dropbox.example"], "Subject: Cheap meds\r\n\r\nbuy\r\n")
    outcomes = decisions(sensor, 6)
    assert [o for _, o, _ in outcomes].count("delivered") == 2
    # 1: delivered; 1 again: its source's one; 2: delivered; then the day's two are spent.
    assert sum(reason.startswith("deliver_per_source_per_day") for _, _, reason in outcomes) == 1
    assert sum(reason.startswith("deliver_per_day") for _, _, reason in outcomes) == 3
    deadline = time.monotonic() + 10
    while len(delivered(dumps)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    got = delivered(dumps)
    assert len(got) == 2 and all("Super webscan open relay check succeded" in text for text in got)
    assert all("X-Helo-Args: mail.example.com" in text for text in got)  # the sensor's own name
    assert all("X-Rcpt-Args: <drop@dropbox.example>" in text for text in got)
    time.sleep(0.5)
    assert not any("Cheap meds" in text for text in delivered(dumps))  # spam is never delivered
    assert len(sensor.records("deliver.probe")) == 6  # ... nor even considered
    sensor.stop()
    rows = fetch(sensor.store_url, "SELECT outcome, count(*) FROM deliveries GROUP BY outcome ORDER BY outcome")
    assert rows == [("delivered", 2), ("refused", 4)]


def test_a_failed_delivery_is_recorded_once_and_the_kill_file_stops_all(sensor_factory, mx):
    closed = free_port()  # nothing listens there
    sensor = sensor_factory(deception__deliver_probes=True, deception__deliver_port=closed,
                            deception__deliver_per_source_per_day=5, enrich__resolver=mx.address)
    probe(sensor, SCANNERS[0], "drop@dead.example")
    [failed] = sensor.wait_for("deliver.probe", 1)
    assert failed.event.outcome == "failed" and "ConnectionRefusedError" in failed.event.reply
    (sensor.data_dir / "no-delivery").touch()
    probe(sensor, SCANNERS[0])
    records = sensor.wait_for("deliver.probe", 2)
    assert records[1].event.outcome == "refused" and "no-delivery" in records[1].event.reason
    time.sleep(0.5)
    assert len(sensor.records("deliver.probe")) == 2  # no retry


def test_nothing_is_delivered_unless_the_operator_turned_it_on(sensor_factory, sink, mx):
    port, dumps = sink
    sensor = sensor_factory(deception__deliver_port=port, enrich__resolver=mx.address)
    probe(sensor, SCANNERS[0])
    sensor.wait_for("smtp.message", 1)
    time.sleep(0.5)
    assert not sensor.records("deliver.probe") and not delivered(dumps)


def test_a_scanner_whose_probe_arrives_comes_back_and_the_report_shows_it(sensor_factory, sink, mx):
    """The whole story: a scanner probes, its probe reaches the drop box (smtp-sink), it reads it
    there and comes back with its spam run; a second scanner's probe is refused by the day's
    limit and it never returns. The report puts the two side by side."""
    port, dumps = sink
    sensor = sensor_factory(deception__deliver_probes=True, deception__deliver_port=port,
                            deception__deliver_per_day=1, enrich__resolver=mx.address)
    first, second = SCANNERS[0], SCANNERS[1]
    probe(sensor, first)
    deadline = time.monotonic() + 10
    while not delivered(dumps):  # the scanner polls its drop box
        assert time.monotonic() < deadline, "the probe never arrived"
        time.sleep(0.05)
    probe(sensor, second)
    sensor.wait_for("deliver.probe", 2)
    time.sleep(1.1)  # the spam run comes a moment later
    for n in range(2):
        with smtplib.SMTP(*sensor.address, timeout=15, source_address=(first, 0)) as smtp:
            smtp.helo("127.0.0.1")
            smtp.sendmail("news@bulk.example", ["a@example.net", "b@example.org"],
                          f"Subject: Cheap meds {n}\r\n\r\nbuy\r\n")
    sensor.wait_for("session.closed", 4)
    sensor.stop()
    result = relaypot("report", "--format", "json", "--data-dir", str(sensor.data_dir))
    assert result.returncode == 0, result.stderr
    delivery = json.loads(result.stdout)["relay_probes"]["delivery"]
    assert delivery["decisions"] == {"delivered": 1, "refused": 1}
    came = delivery["delivered"]
    assert (came["sources"], came["returned"], came["sessions_after"], came["messages_after"],
            came["recipients_after"], came["campaigns_after"]) == (1, 1, 2, 2, 4, 1)  # one body: one campaign
    assert came["median_return_seconds"] >= 1 and came["top"][0]["src_ip"] == first
    stayed = delivery["not_delivered"]
    assert (stayed["sources"], stayed["returned"], stayed["messages_after"]) == (1, 0, 0)
    text = relaypot("report", "--data-dir", str(sensor.data_dir)).stdout
    assert "probe delivery ([deception] deliver_probes): 1 delivered, 1 refused." in text
    assert "delivered: 1 sources, 1 came back: 2 sessions, 2 messages to 4 recipients in 1 campaigns" in text


def test_through_a_smarthost_that_offers_starttls_the_probe_goes_encrypted(sensor_factory):
    """deliver_smarthost instead of MX (no DNS at all), and a receiving server that offers
    STARTTLS (a second sensor, as Postfix): the delivery says EHLO as the sensor and uses TLS."""
    receiver = sensor_factory(smtp__persona="postfix", smtp__hostname="relay.example.org")
    sensor = sensor_factory(deception__deliver_probes=True,
                            deception__deliver_smarthost=f"{receiver.host}:{receiver.port}")
    probe(sensor, SCANNERS[0])
    [decision] = sensor.wait_for("deliver.probe", 1)
    assert decision.event.outcome == "delivered", decision.event
    assert decision.event.relay == f"{receiver.host}:{receiver.port}"
    assert decision.event.reply.startswith("250 2.0.0 Ok: queued as")
    [message] = receiver.wait_for("smtp.message", 1)
    assert message.event.subject.startswith("Super webscan open relay check succeded")
    assert [r.event.hostname for r in receiver.records("smtp.helo")] == ["mail.example.com"] * 2  # before and after TLS
    assert [r.event.outcome for r in receiver.records("smtp.tls")] == ["established"]
