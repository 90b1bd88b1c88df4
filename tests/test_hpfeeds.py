"""The hpfeeds output against the hpfeeds package's own broker on loopback (env authentication),
read back by a subscriber made with the same package."""

from __future__ import annotations

import json
import logging
import smtplib
import socket
import threading
import time

import pytest

from hpfeeds_broker import SECRET, Broker, free_port
from relaypot.sinks.hpfeeds import HpfeedsSink, parse_target
from support import RunningSensor, session_records

pytestmark = pytest.mark.slow  # a broker, hostile brokers, reconnects

hpfeeds_client = pytest.importorskip("hpfeeds.client")

@pytest.fixture
def broker():
    running = Broker(free_port())
    yield running
    running.stop()


def test_a_sensor_publishes_each_session_and_every_record(broker, tmp_path):
    reader = broker.subscribe("relaypot.sessions", "relaypot.events")
    sensor = RunningSensor(tmp_path / "data", outputs__hpfeeds=f"127.0.0.1:{broker.port}",
                           outputs__hpfeeds_ident="relaypot", outputs__hpfeeds_secret=SECRET,
                           outputs__hpfeeds_events_channel="relaypot.events")
    try:
        with smtplib.SMTP(*sensor.address, timeout=10) as client:
            client.ehlo("() { :; }; spammer.example")  # Shellshock in the HELO: an attack record
            client.sendmail("a@spam.example", ["victim@example.net", "other@example.org"],
                            "Subject: cheap pills\r\n\r\nhttp://pills.example/buy\r\n")
        closed = sensor.wait_for("session.closed")
        records = [r for r in sensor.records() if r.session == closed[0].session]
        got = reader.take(len(records) + 1)
    finally:
        sensor.stop()
        reader.stop()
    events = [payload for channel, payload in got if channel == "relaypot.events"]
    assert [e["kind"] for e in events] == [r.kind for r in records]
    assert events == [json.loads(r.to_json()) for r in records]
    (summary,) = [payload for channel, payload in got if channel == "relaypot.sessions"]
    assert summary["session"] == closed[0].session and summary["sensor"] == "test-sensor"
    assert summary["src_ip"] == "127.0.0.1" and summary["persona"] == "exchange2000"
    assert summary["helo"] == ["() { :; }; spammer.example"] and summary["mail_from"] == ["a@spam.example"]
    assert summary["attacks"] == [{"attack": "shellshock", "attack_class": "exploit", "cves": ["CVE-2014-6271"]}]
    assert summary["fragments"] == []
    assert summary["rcpt_to"] == ["victim@example.net", "other@example.org"]
    (message,) = summary["messages"]
    assert message["subject"] == "cheap pills" and message["urls"] == ["http://pills.example/buy"]
    assert summary["reason"] and summary["end"] >= summary["start"]


def test_sessions_go_on_while_the_broker_is_away_and_reach_it_once_it_comes(tmp_path):
    port = free_port()
    sensor = RunningSensor(tmp_path / "data", outputs__hpfeeds=f"127.0.0.1:{port}",
                           outputs__hpfeeds_ident="relaypot", outputs__hpfeeds_secret=SECRET)
    try:
        started = time.monotonic()
        for n in range(3):
            with smtplib.SMTP(*sensor.address, timeout=10) as client:
                client.sendmail(f"s{n}@spam.example", ["v@example.net"], f"Subject: {n}\r\n\r\nx\r\n")
        sensor.wait_for("session.closed", 3)
        assert time.monotonic() - started < 5, "no session waited for the missing broker"
        late = Broker(port)
        try:
            reader = late.subscribe("relaypot.sessions")
            try:
                got = reader.take(3, timeout=30)  # the backoff brings the sensor back within seconds
            finally:
                reader.stop()
        finally:
            late.stop()
    finally:
        sensor.stop()
    assert sorted(payload["mail_from"][0] for _, payload in got) == ["s0@spam.example", "s1@spam.example",
                                                                     "s2@spam.example"]


def test_a_full_queue_drops_and_counts_instead_of_growing(tmp_path):
    sink = HpfeedsSink(f"127.0.0.1:{free_port()}", "relaypot", SECRET, max_queue=5,
                       events_channel="relaypot.events")
    sink.open()
    try:
        for n in range(4):
            sink.write(session_records(f"{n:024x}"))
        assert len(sink.queue) == 5
        assert sink.dropped == sum(len(session_records(f"{n:024x}")) + 1 for n in range(4)) - 5
    finally:
        sink.close(grace=0.1)


def test_a_refused_identity_is_logged_and_retried_not_fatal(broker, caplog):
    caplog.set_level(logging.WARNING, logger="relaypot.sinks.hpfeeds")
    sink = HpfeedsSink(f"127.0.0.1:{broker.port}", "relaypot", "not-the-secret")
    sink.open()
    try:
        sink.write(session_records("ab" * 12))
        deadline = time.monotonic() + 10
        while sink.refused < 2 and time.monotonic() < deadline:  # refused, backed off, tried again
            time.sleep(0.05)
        assert sink.refused >= 2 and sink.published == 0 and len(sink.queue) == 1
    finally:
        sink.close(grace=0.1)
    assert "identity 'relaypot' refused" in caplog.text


def test_targets_are_checked():
    assert parse_target("broker.example.org:10000") == ("broker.example.org", 10000)
    assert parse_target("[::1]:20000") == ("::1", 20000)
    for bad in ("broker.example.org", ":10000", "host:port", "host:70000"):
        with pytest.raises(ValueError):
            parse_target(bad)


def hostile_broker(frames: bytes, connections: int) -> tuple[int, list[int], threading.Thread]:
    """A broker that sends `frames` to each of its first `connections` clients, then goes away;
    how many connected is counted."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: list[int] = []

    def serve() -> None:
        with listener:
            for n in range(connections):
                conn, _ = listener.accept()
                seen.append(n)
                try:
                    conn.sendall(frames)
                    time.sleep(0.3)
                except OSError:
                    pass
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, seen, thread


@pytest.mark.parametrize("frames,said", [
    (b"\x00\x00\x00\x00\x01" * 10_000, "the broker sent a frame of length 0"),
    (b"\x00\x00\x00\x05\x01", "the broker's INFO is 0 bytes, too short for a name and a nonce"),
    (b"\x7f\xff\xff\xff\x01" + b"A" * 100_000, "the broker sent a frame of length 2147483647"),
    (b"\x00\x00\x00\x06\x09x", "the broker sent opcode 9"),
], ids=["zero-length header", "empty INFO", "oversized header", "unknown opcode"])
def test_a_hostile_broker_costs_a_reconnect_never_the_publisher(frames, said, caplog):
    """Each of these once looped the publisher (a zero-length header: a full core and +220 MiB in
    15 s) or killed its thread for good; now each ends the connection, and once a real broker
    answers on the same port the queued summary is published."""
    caplog.set_level(logging.WARNING, logger="relaypot.sinks.hpfeeds")
    port, seen, hostile = hostile_broker(frames, connections=2)
    sink = HpfeedsSink(f"127.0.0.1:{port}", "relaypot", SECRET)
    sink.open()
    try:
        sink.write(session_records("cd" * 12))
        hostile.join(timeout=30)
        assert len(seen) == 2 and sink._thread.is_alive()
        assert said in caplog.text and sink.published == 0
        broker = Broker(port)
        try:
            deadline = time.monotonic() + 30
            while sink.published == 0:
                assert time.monotonic() < deadline, "the publisher never came back"
                time.sleep(0.05)
            assert sink.refused == 0 and not sink.queue
        finally:
            broker.stop()
    finally:
        sink.close(grace=0.1)
