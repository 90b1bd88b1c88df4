"""Probe delivery end to end, in network namespaces the tests make (tests/deliver/net.py): a
scanner's probe reaches a real receiving MTA (Postfix's smtp-sink) through the MX a real DNS
server names; every address a delivery may not reach is refused and never connected to (traps
count every connection); hostile mail servers cost the sensor neither memory nor time; the
limits, the kill file and the stop hold. Nothing here can leave the machine whatever the code
does: the sensor's namespace knows no route but to the world the test made."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

from deliver.net import HOSTILE_IP, SCANNERS, SENSOR_IP, WORLD_IP, DeliveryNet, Sensor, settings
from support import unreadable_python

pytestmark = pytest.mark.slow  # network namespaces, real MX servers

LAB = ["198.18.0.0/15"]
ENDLESS, DRIP, LONGLINE = HOSTILE_IP, "198.18.0.4", "198.18.0.5"

# Each domain's mail server resolves to an address no delivery may reach (and the reason said).
FORBIDDEN = {
    "loop.example": ("A", "127.0.0.1", "is loopback"),
    "zero.example": ("A", "0.0.0.0", "is unspecified"),
    "loop6.example": ("AAAA", "::1", "is loopback"),
    "private.example": ("A", "10.20.30.40", "is private (RFC 1918)"),
    "metadata.example": ("A", "169.254.169.254", "is link-local"),
    "shared.example": ("A", "100.64.1.1", "is shared address space (RFC 6598)"),
    "rfc1918.example": ("A", "192.168.77.7", "is private (RFC 1918)"),
    "doc.example": ("A", "203.0.113.9", "is documentation"),
    "own.example": ("A", SENSOR_IP, "is the sensor's own address"),
    "mapped.example": ("AAAA", "::ffff:7f00:1", "stands for 127.0.0.1, 127.0.0.1 is loopback"),
    "nat64.example": ("AAAA", "64:ff9b::a14:1e28", "stands for 10.20.30.40, 10.20.30.40 is private"),
    "ula.example": ("AAAA", "fd00::25", "is unique local (RFC 4193)"),
    "multicast.example": ("A", "224.0.0.1", "is multicast"),
}

RECORDS: dict[str, list[str] | str] = {
    "dropbox.example MX": ["10 mx.dropbox.example."], "mx.dropbox.example A": [WORLD_IP],
    # No MX: the domain's own address (RFC 5321 §5.1), here a loopback one.
    "bare.example A": ["127.0.0.2"],
    # The best MX is forbidden, the second is not: the second takes it, as an MTA would.
    "mixed.example MX": ["10 bad.mixed.example.", "20 mx.dropbox.example."], "bad.mixed.example A": ["127.0.0.1"],
    # The MX answer comes three seconds late: time to drop the kill file in between.
    "slow.example MX": 'DELAY:3 ["10 mx.dropbox.example."]',
    "endless.example MX": ["10 mx.endless.example."], "mx.endless.example A": [ENDLESS],
    "drip.example MX": ["10 mx.drip.example."], "mx.drip.example A": [DRIP],
    "longline.example MX": ["10 mx.longline.example."], "mx.longline.example A": [LONGLINE],
}
for _domain, (_kind, _address, _) in FORBIDDEN.items():
    RECORDS[f"{_domain} MX"] = [f"10 mx.{_domain}."]
    RECORDS[f"mx.{_domain} {_kind}"] = [_address]


@pytest.fixture(scope="module")
def net():
    world = DeliveryNet()
    try:
        for address in (DRIP, LONGLINE):
            subprocess.run(["ip", "-n", world.world, "addr", "add", f"{address}/24", "dev", "rpd1"], check=True)
        world.start_world(RECORDS, {f"{ENDLESS}:25": "endless", f"{DRIP}:25": "drip", f"{LONGLINE}:25": "longline"})
        world.sink = world.start_sink()
        yield world
    finally:
        world.close()


def delivered(net: DeliveryNet) -> list[bytes]:
    return sorted(path.read_bytes() for path in net.sink.iterdir())


def wait_delivered(net: DeliveryNet, count: int) -> list[bytes]:
    deadline = time.monotonic() + 20
    while len(found := delivered(net)) < count:
        assert time.monotonic() < deadline, f"{len(found)} of {count} messages arrived"
        time.sleep(0.1)
    return found


def clear_sink(net: DeliveryNet) -> None:
    for path in net.sink.iterdir():
        path.unlink()


def outcomes(records: list[dict]) -> dict[str, tuple[str, str]]:
    return {r["recipients"][0].split("@")[1]: (r["outcome"], r["reason"]) for r in records}


def test_every_address_a_delivery_may_not_reach_is_refused_and_never_connected(net, tmp_path):
    sensor = Sensor(net, tmp_path / "data", settings(deliver_lab_networks=LAB, deliver_per_day=100,
                                                     deliver_per_source_per_day=100))
    try:
        domains = [*FORBIDDEN, "bare.example", "mixed.example"]
        for n, domain in enumerate(domains):
            net.scan(SCANNERS[n % len(SCANNERS)], to=f"drop@{domain}")
        found = outcomes(sensor.wait_for("deliver.probe", len(domains)))
    finally:
        sensor.stop()
    for domain, (_, address, why) in FORBIDDEN.items():
        outcome, reason = found[domain]
        assert outcome == "refused" and why in reason and address.split("::")[-1] in reason, (domain, reason)
    assert found["bare.example"][0] == "refused" and "127.0.0.2 is loopback" in found["bare.example"][1]
    assert found["mixed.example"] == ("delivered", "")  # past the forbidden best MX, to the next
    assert net.trapped() == [], "a delivery connected where it must never go"
    wait_delivered(net, 1)
    clear_sink(net)


def test_the_benchmarking_range_is_refused_unless_named_a_lab_and_a_smarthost_is_the_operators_choice(net, tmp_path):
    sensor = Sensor(net, tmp_path / "plain", settings())
    try:
        net.scan(SCANNERS[0])
        [refused] = sensor.wait_for("deliver.probe", 1)
    finally:
        sensor.stop()
    assert refused["outcome"] == "refused" and f"{WORLD_IP} is benchmarking (RFC 2544)" in refused["reason"]
    # A smarthost the operator names is exempt: it is where the operator sends mail, not the attacker.
    sensor = Sensor(net, tmp_path / "smarthost", settings(deliver_smarthost=f"{WORLD_IP}:25"))
    try:
        net.scan(SCANNERS[1], to="drop@loop.example")
        [sent] = sensor.wait_for("deliver.probe", 1)
    finally:
        sensor.stop()
    assert (sent["outcome"], sent["relay"]) == ("delivered", f"{WORLD_IP}:25")
    assert b"X-Rcpt-Args: <drop@loop.example>" in wait_delivered(net, 1)[0]  # smtp-sink's record of RCPT
    clear_sink(net)


def test_only_a_probe_shaped_message_is_delivered_normalised_with_the_personas_received_line(net, tmp_path):
    sensor = Sensor(net, tmp_path / "data", settings(deliver_lab_networks=LAB, deliver_per_day=100,
                                                     deliver_per_source_per_day=100))
    subject = f"Subject: open relay test for {SENSOR_IP}"
    phishing = (f"{subject}\r\nContent-Type: text/html\r\n\r\n<html><body><form action='https://evil.example/'>"
                + "x" * 59_000 + "</form></body></html>\r\n").encode()
    small_html = f"{subject}\r\n\r\n<html><body><a href='https://evil.example/'>relay test</a></body></html>\r\n"
    attachment = (f"{subject}\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
                  "Content-Type: application/zip\r\n\r\nUEsDBA==\r\n--B--\r\n")
    body_only = "Subject: Invoice 4711\r\n\r\nplease run an open relay test on our server\r\n"
    try:
        # A probe whose lines end in CRLF, bare LF and bare CR, and one starting with a dot (sent
        # dot-stuffed, as the client must: the sensor stores ".hidden", and must stuff it again).
        net.scan(SCANNERS[0], data=f"{subject}\r\nX-Probe: 1\n\nline one\rline two\n..hidden\r\n".encode())
        for n, data in enumerate((phishing, small_html.encode(), attachment.encode(), body_only.encode()), 1):
            net.scan(SCANNERS[n], data=data)
        net.scan(SCANNERS[5], data=b"Subject: Cheap meds\r\n\r\nbuy\r\n")  # spam: never even considered
        records = sensor.wait_for("deliver.probe", 5)
        sensor.wait_for("session.closed", 6)
        time.sleep(1.5)
        assert len(sensor.records("deliver.probe")) == 5
    finally:
        sensor.stop()
    by_source = {r["src_ip"]: (r["outcome"], r["reason"]) for r in records}
    assert by_source[SCANNERS[0]] == ("delivered", "")
    assert by_source[SCANNERS[1]][0] == "refused"
    assert re.fullmatch(r"not probe-shaped: larger than deliver_max_bytes \(59\d{3} > 4096\)",
                        by_source[SCANNERS[1]][1])
    assert by_source[SCANNERS[2]] == ("refused", "not probe-shaped: HTML: probes are plain text")
    assert by_source[SCANNERS[3]] == ("refused", "not probe-shaped: multipart: probes carry no attachments")
    assert by_source[SCANNERS[4]][1].startswith("not probe-shaped: a relay-test wording only in the body")
    [message] = wait_delivered(net, 1)
    clear_sink(net)
    text = message.decode()
    # smtp-sink writes its own Received: first; relaypot's, the real Postfix's form, follows.
    assert re.search(r"Received: from 198\.18\.0\.1 \(unknown \[198\.18\.0\.31\]\)\n"
                     r"\tby mail\.example\.com \(Postfix\) with ESMTP id [0-9A-F]{10,}\n"
                     r"\tfor <drop@dropbox\.example>; \w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000 \(UTC\)\n"
                     r"Subject: open relay test", text), text
    # Every line break became one line (bare CR and LF alike), and the dot line arrived as sent.
    assert "X-Probe: 1\n\nline one\nline two\n.hidden\n" in text, text


def test_a_hostile_mail_server_costs_the_sensor_neither_memory_nor_time(net, tmp_path):
    sensor = Sensor(net, tmp_path / "data", settings(deliver_lab_networks=LAB, deliver_per_day=100,
                                                     deliver_per_source_per_day=100, deliver_timeout=4.0))
    try:
        before = sensor.rss_kib()
        for n, domain in enumerate(("endless.example", "longline.example", "drip.example")):
            net.scan(SCANNERS[n], to=f"drop@{domain}")
        found = outcomes(sensor.wait_for("deliver.probe", 3, timeout=30))
        after = sensor.rss_kib()
    finally:
        sensor.stop()
    replies = {r["recipients"][0].split("@")[1]: r["reply"] for r in sensor.records("deliver.probe")}
    assert all(outcome == "failed" for outcome, _ in found.values()), found
    assert replies["endless.example"] == "a reply of more than 64 lines"
    assert replies["longline.example"] == "a reply line longer than 1000 bytes"
    assert replies["drip.example"] == "timed out: the delivery took more than 4 s in all"
    print(f"sensor RSS {before} KiB before, {after} KiB after three hostile deliveries")
    assert after - before < 16 * 1024, (before, after)  # the replies were read in a child, and bounded


def test_the_stop_ends_every_delivery_in_flight_and_records_it(net, tmp_path):
    sensor = Sensor(net, tmp_path / "data", settings(deliver_lab_networks=LAB, deliver_per_day=100,
                                                     deliver_per_source_per_day=100, deliver_timeout=120.0))
    for n in range(6):  # more than the helper runs at once: some wait for a slot
        net.scan(SCANNERS[n], to="drop@drip.example")
    time.sleep(2)  # each is in its conversation, or waits for a slot
    said = sensor.stop(timeout=30)
    records = sensor.records("deliver.probe")
    assert len(records) == 6, said
    assert {(r["outcome"], r["reason"]) for r in records} == {
        ("failed", "stopped: the sensor stopped before the delivery ended")}, records
    assert "relaypot: stopped; every record is written." in said


def test_the_daily_caps_hold_across_a_restart(net, tmp_path):
    config = settings(deliver_lab_networks=LAB, deliver_per_day=1)
    sensor = Sensor(net, tmp_path / "data", config)
    try:
        net.scan(SCANNERS[0])
        [first] = sensor.wait_for("deliver.probe", 1)
    finally:
        sensor.stop()
    assert first["outcome"] == "delivered"
    sensor = Sensor(net, tmp_path / "data", config)
    try:
        net.scan(SCANNERS[1])
        records = sensor.wait_for("deliver.probe", 2)
    finally:
        said = sensor.stop()
    assert "(1 spent already today)" in said
    assert (records[1]["outcome"], records[1]["reason"]) == ("refused", "deliver_per_day reached (1)")
    wait_delivered(net, 1)
    clear_sink(net)


@pytest.mark.parametrize("kind", ["dangling link", "looping link", "directory"])
def test_any_entry_named_no_delivery_stops_delivery(net, tmp_path, kind):
    data = tmp_path / "data"
    sensor = Sensor(net, data, settings(deliver_lab_networks=LAB))
    kill = data / "no-delivery"
    if kind == "dangling link":
        kill.symlink_to(tmp_path / "nowhere")
    elif kind == "looping link":
        kill.symlink_to(kill)
    else:
        kill.mkdir()
    try:
        net.scan(SCANNERS[0])
        [record] = sensor.wait_for("deliver.probe", 1)
    finally:
        sensor.stop()
    assert (record["outcome"], record["reason"]) == ("refused", "stopped: no-delivery exists in the data directory")
    assert delivered(net) == []


def test_the_kill_file_stops_a_delivery_decided_before_it_appeared(net, tmp_path):
    data = tmp_path / "data"
    sensor = Sensor(net, data, settings(deliver_lab_networks=LAB))
    try:
        net.scan(SCANNERS[0], to="drop@slow.example")  # its MX is answered three seconds late
        time.sleep(1)
        (data / "no-delivery").touch()
        [record] = sensor.wait_for("deliver.probe", 1)
    finally:
        sensor.stop()
    assert (record["outcome"], record["reason"]) == ("refused", "stopped: no-delivery exists in the data directory")
    time.sleep(0.5)
    assert delivered(net) == []


def test_a_utf8_recipient_ends_in_a_record(net, tmp_path):
    sensor = Sensor(net, tmp_path / "data", settings(deliver_lab_networks=LAB))
    try:
        net.scan(SCANNERS[0], to="dröp@dropbox.example",
                 data=f"Subject: open relay test for {SENSOR_IP}\r\n\r\nok\r\n".encode())
        [record] = sensor.wait_for("deliver.probe", 1)
    finally:
        said = sensor.stop()
    assert record["recipients"] == ["dröp@dropbox.example"]
    assert record["outcome"] in ("delivered", "failed") and record["reply"], record
    assert "Traceback" not in said and "internal error" not in said
    clear_sink(net)


def test_under_user_the_helper_delivers_and_the_kill_file_does_not_block_the_next_start(net, tmp_path):
    root = net.tmp / "user"
    root.mkdir(mode=0o755)
    command = unreadable_python(root)
    data = root / "data"
    config = settings(deliver_lab_networks=LAB)
    sensor = Sensor(net, data, config, "--user", "nobody", command=command)
    try:
        net.scan(SCANNERS[0])
        [record] = sensor.wait_for("deliver.probe", 1)
        assert record["outcome"] == "delivered", record
        (data / "no-delivery").touch()  # root's, in the directory handed to nobody
        os.chmod(data / "no-delivery", 0o600)
    finally:
        said = sensor.stop(signal.SIGINT)
    assert "after dropping privileges" not in said and "Traceback" not in said, said
    wait_delivered(net, 1)
    clear_sink(net)
    sensor = Sensor(net, data, config, "--user", "nobody", command=command)
    try:
        net.scan(SCANNERS[1])
        [_, record] = sensor.wait_for("deliver.probe", 2)
    finally:
        said = sensor.stop()
    assert (record["outcome"], record["reason"]) == ("refused", "stopped: no-delivery exists in the data directory")
    assert "after dropping privileges" not in said, said


def test_nothing_is_delivered_unless_the_operator_turned_it_on(net, tmp_path):
    sensor = Sensor(net, tmp_path / "data", settings().replace("deliver_probes = true", "deliver_probes = false")
                    + "deliver_lab_networks = [\"198.18.0.0/15\"]\n")
    try:
        net.scan(SCANNERS[0])
        sensor.wait_for("smtp.message", 1)
        time.sleep(1.5)
        assert sensor.records("deliver.probe") == []
    finally:
        sensor.stop()
    assert delivered(net) == [] and net.trapped() == []


def test_a_scanner_whose_probe_arrives_comes_back_and_the_report_shows_it(net, tmp_path):
    """The whole story: a scanner probes, its probe reaches the drop box (smtp-sink), it reads it
    there and comes back with its spam run; a second scanner's probe is refused by the day's
    limit and it never returns. The report puts the two side by side."""
    import json

    from support import relaypot

    sensor = Sensor(net, tmp_path / "data", settings(deliver_lab_networks=LAB, deliver_per_day=1))
    first, second = SCANNERS[0], SCANNERS[1]
    try:
        net.scan(first)
        wait_delivered(net, 1)  # the scanner polls its drop box
        net.scan(second)
        sensor.wait_for("deliver.probe", 2)
        time.sleep(1.1)  # the spam run comes a moment later
        for n in range(2):
            net.scan(first, to="a@example.net,b@example.org", data=f"Subject: Cheap meds {n}\r\n\r\nbuy\r\n".encode())
        sensor.wait_for("session.closed", 4)
    finally:
        sensor.stop()
    clear_sink(net)
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


def test_through_a_smarthost_that_offers_starttls_the_probe_goes_encrypted(net, tmp_path):
    """deliver_smarthost instead of MX (no DNS), and a receiving server that offers STARTTLS (a
    second relaypot, as Postfix, in the world): the delivery says EHLO as the sensor and uses TLS."""
    receiver = Sensor(net, tmp_path / "receiver", "[enrich]\nenabled = false\n[smtp]\npersona = \"postfix\"\n"
                      "hostname = \"relay.example.org\"\n", ns=net.world, listen=f"{WORLD_IP}:2526")
    try:
        sensor = Sensor(net, tmp_path / "data", settings(deliver_smarthost=f"{WORLD_IP}:2526"))
        try:
            net.scan(SCANNERS[0])
            [decision] = sensor.wait_for("deliver.probe", 1)
        finally:
            sensor.stop()
        assert (decision["outcome"], decision["relay"]) == ("delivered", f"{WORLD_IP}:2526"), decision
        assert decision["reply"].startswith("250 2.0.0 Ok: queued as")
        [message] = receiver.wait_for("smtp.message", 1)
        assert message["subject"].startswith("Super webscan open relay check succeded")
        # EHLO as the sensor, before and after TLS
        assert [r["hostname"] for r in receiver.records("smtp.helo")] == ["mail.example.com"] * 2
        assert [r["outcome"] for r in receiver.records("smtp.tls")] == ["established"]
    finally:
        receiver.stop()
