"""Clients nobody here wrote, as attackers run them: swaks, Postfix's smtp-source, nmap's scripts."""

from __future__ import annotations

import re
import subprocess
import time
import tomllib

import pytest

from support import REFERENCE, fetch, require
from tls_observations import handshakes, observe, resumption_by_id, sslscan, sslscan_sections, tls_sections

pytestmark = pytest.mark.slow  # nmap scripts, swaks, smtp-source


def run(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def test_swaks_pipelined_relay_attempt_with_auth(sensor):
    """swaks --pipeline --auth: the AUTH LOGIN credentials are kept; the relayed message is stored, not sent."""
    swaks = require("swaks")
    result = run([swaks, "--server", f"{sensor.host}:{sensor.port}", "--from", "spam@bulk.example",
                  "--to", "victim@example.net", "--pipeline", "--auth", "LOGIN", "--auth-user", "Bob",
                  "--auth-password", "S3cret!", "--auth-optional", "--header", "Subject: swaks relay test"])
    assert "535 5.7.3 Authentication unsuccessful" in result.stdout
    assert "250 2.6.0" in result.stdout and "Queued mail for delivery" in result.stdout
    auth = sensor.wait_for("smtp.auth")[0].event
    assert (auth.username, auth.password) == ("Bob", "S3cret!")
    message = sensor.wait_for("smtp.message")[0].event
    assert message.subject == "swaks relay test" and message.rcpt_to == ("victim@example.net",)


def test_swaks_starttls_against_postfix(sensor_factory):
    """swaks --tls completes a real TLS handshake and a whole transaction inside it."""
    swaks = require("swaks")
    sensor = sensor_factory(smtp__persona="postfix")
    result = run([swaks, "--server", f"{sensor.host}:{sensor.port}", "--from", "a@b.example",
                  "--to", "c@d.example", "--tls", "--header", "Subject: over tls"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "220 2.0.0 Ready to start TLS" in result.stdout
    assert sensor.wait_for("smtp.message")[0].event.subject == "over tls"
    assert sensor.wait_for("smtp.tls")[0].event.outcome == "established"


def test_swaks_meets_exchange2019s_login_only_over_tls_and_its_tar_pit(sensor_factory):
    """swaks, as a client would: in clear the EHLO offers AUTH NTLM only, so swaks finds no LOGIN;
    after STARTTLS it offers AUTH NTLM LOGIN, and a wrong password gets Exchange's 535 five seconds
    late (the connector's tar pit, docs/exchange2019-sources.md E5, E7). The login is kept."""
    swaks = require("swaks")
    sensor = sensor_factory(smtp__persona="exchange2019", smtp__hostname="ex01.fabrikam.com")
    server = f"{sensor.host}:{sensor.port}"
    clear = run([swaks, "--server", server, "--auth", "LOGIN", "--auth-user", "alice", "--auth-password", "wrong",
                 "--quit-after", "AUTH"])
    assert "<-  250-AUTH NTLM\n" in clear.stdout, clear.stdout
    assert "*** Auth not attempted, requested type not available" in clear.stderr, clear.stderr
    started = time.monotonic()
    secure = run([swaks, "--server", server, "--tls", "--auth", "LOGIN", "--auth-user", "alice", "--auth-password",
                  "wrong", "--quit-after", "AUTH"])
    waited = time.monotonic() - started
    assert "220 2.0.0 SMTP server ready" in secure.stdout, secure.stdout
    assert "250-AUTH NTLM LOGIN" in secure.stdout and "535 5.7.3 Authentication unsuccessful" in secure.stdout
    assert waited >= 4.5, waited
    kept = sensor.wait_for("smtp.auth", 1)[0].event
    assert kept.mechanism == "LOGIN" and kept.username == "alice" and kept.outcome == "rejected"


def test_smtp_source_many_parallel_sessions(sensor_factory):
    """Postfix's smtp-source: 200 messages over 20 parallel sessions, every one recorded."""
    smtp_source = require("smtp-source")
    sensor = sensor_factory(limits__max_connections_per_ip=64)
    result = run([smtp_source, "-s", "20", "-m", "200", "-l", "2000", "-f", "bulk@spam.example",
                  "-t", "victim@example.net", f"{sensor.host}:{sensor.port}"])
    assert result.returncode == 0, result.stderr
    messages = sensor.wait_for("smtp.message", 200, timeout=30)
    assert len(messages) == 200
    sensor.stop()
    assert fetch(sensor.store_url, "SELECT count(*) FROM sessions WHERE close_reason = 'quit'") == [(200,)]
    assert fetch(sensor.store_url, "SELECT count(*), min(size), max(size) FROM messages")[0][0] == 200


def test_smtp_source_into_a_postgresql_store(sensor_factory, postgresql_url):
    """The sensor with `[store] url = postgresql://...`: parallel sessions, every one in PostgreSQL."""
    smtp_source = require("smtp-source")
    sensor = sensor_factory(store__url=postgresql_url, limits__max_connections_per_ip=64)
    result = run([smtp_source, "-s", "10", "-m", "50", "-l", "1500", "-f", "bulk@spam.example",
                  "-t", "victim@example.net", f"{sensor.host}:{sensor.port}"])
    assert result.returncode == 0, result.stderr
    sensor.wait_for("session.closed", 50, timeout=30)
    sensor.stop()
    assert not (sensor.data_dir / "relaypot.sqlite").exists()
    quits = "SELECT count(*), sum(messages) FROM sessions WHERE close_reason = 'quit'"
    assert fetch(sensor.store_url, quits) == [(50, 50)]
    assert fetch(sensor.store_url, "SELECT count(*), count(DISTINCT sha256) FROM messages") == [(50, 50)]
    assert fetch(sensor.store_url, "SELECT count(*) FROM events") == [(len(sensor.memory.records),)]


def test_nmap_identifies_the_exchange_persona_as_windows(sensor):
    """nmap -sV, smtp-commands, smtp-ntlm-info and smtp-open-relay see Exchange 2000 on Windows, an open relay."""
    nmap = require("nmap")
    result = run([nmap, "-n", "-Pn", "-sV", "-p", str(sensor.port), "--script",
                  "smtp-commands,smtp-ntlm-info,smtp-open-relay", sensor.host], timeout=180)
    out = result.stdout
    assert "Microsoft ESMTP 5.0.2195.5329" in out, out
    assert "OS: Windows" in out
    assert "NetBIOS_Computer_Name: MAIL" in out and "DNS_Computer_Name: mail.example.com" in out
    assert "Product_Version" not in out  # Windows 2000 sends no NTLM VERSION
    assert "Server is an open relay" in out
    assert "AUTH GSSAPI NTLM LOGIN" in out
    # nmap's open-relay script sends probe messages: they are all kept.
    assert len(sensor.wait_for("smtp.rcpt_to", 10)) >= 10


def test_nmap_recognises_the_postfix_persona(sensor_factory):
    """nmap -sV names the postfix persona Postfix smtpd."""
    nmap = require("nmap")
    sensor = sensor_factory(smtp__persona="postfix")
    result = run([nmap, "-n", "-Pn", "-sV", "-p", str(sensor.port), sensor.host], timeout=180)
    assert "Postfix smtpd" in result.stdout, result.stdout


def test_nmap_names_the_exim_persona_as_it_names_the_real_exim(sensor_factory):
    """nmap -sV's line for the real Exim 4.96 on this machine (tests/exim_server.py) was
    "smtp    Exim smtpd 4.96" with "Service Info: Host: mail.example.com"; the persona's is the same."""
    nmap = require("nmap")
    sensor = sensor_factory(smtp__persona="exim", smtp__hostname="mail.example.com")
    result = run([nmap, "-n", "-Pn", "-sV", "-p", str(sensor.port), sensor.host], timeout=180)
    assert re.search(r"open\s+smtp\s+Exim smtpd 4\.96\n", result.stdout), result.stdout
    assert "Service Info: Host: mail.example.com" in result.stdout, result.stdout


def test_nmap_names_the_opensmtpd_persona_as_it_names_the_real_opensmtpd(sensor_factory):
    """nmap -sV's line for the real OpenSMTPD 6.8.0p2 on this machine (tests/opensmtpd_server.py)
    was "smtp    OpenSMTPD" with "Service Info: Host: mail.example.com"; the persona's is the same."""
    nmap = require("nmap")
    sensor = sensor_factory(smtp__persona="opensmtpd", smtp__hostname="mail.example.com")
    result = run([nmap, "-n", "-Pn", "-sV", "-p", str(sensor.port), sensor.host], timeout=180)
    assert re.search(r"open\s+smtp\s+OpenSMTPD\n", result.stdout), result.stdout
    assert "Service Info: Host: mail.example.com" in result.stdout, result.stdout


def test_nmap_names_the_sendmail_persona_as_it_names_the_real_sendmail(sensor_factory):
    """nmap -sV's line for the real Sendmail 8.17.1.9 on this machine (tests/sendmail_server.py)
    was "smtp    Sendmail 8.17.1.9/8.17.1.9/Debian-2+deb12u2" with "Service Info: Host:
    mail.example.com; OS: Unix"; the persona's is the same (after its one-second greet pause)."""
    nmap = require("nmap")
    sensor = sensor_factory(smtp__persona="sendmail", smtp__hostname="mail.example.com")
    result = run([nmap, "-n", "-Pn", "-sV", "-p", str(sensor.port), sensor.host], timeout=180)
    line = r"open\s+smtp\s+Sendmail 8\.17\.1\.9/8\.17\.1\.9/Debian-2\+deb12u2\n"
    assert re.search(line, result.stdout), result.stdout
    assert "Service Info: Host: mail.example.com; OS: Unix" in result.stdout, result.stdout


def test_nmap_sees_the_exchange2019_persona_as_public_scans_of_exchange_2019_show_it(sensor_factory):
    """docs/exchange2019-sources.md E3 and E4, nmap's own output against real Exchange servers:
    "Microsoft Exchange smtpd" on Windows; smtp-commands' EHLO and HELP lines; smtp-ntlm-info's
    names, forest and "Product_Version: 10.0.17763" (Windows Server 2019, E8); ssl-cert's
    self-signed CN=<NetBIOS name> with both names as alternatives, valid five years; and (E9)
    TLS 1.2 alone, the server's order, ECDHE on X25519."""
    nmap = require("nmap")
    sensor = sensor_factory(smtp__persona="exchange2019", smtp__hostname="ex01.fabrikam.com", smtp__relay="closed")
    result = run([nmap, "-n", "-Pn", "-sV", "-p", str(sensor.port), "--script",
                  "smtp-commands,smtp-ntlm-info,ssl-cert,ssl-enum-ciphers", sensor.host], timeout=180)
    out = result.stdout
    assert re.search(r"open\s+smtp\s+Microsoft Exchange smtpd\n", out), out
    assert "Service Info: Host: ex01.fabrikam.com; OS: Windows; CPE: cpe:/o:microsoft:windows" in out
    assert ("| smtp-commands: ex01.fabrikam.com Hello [127.0.0.1], SIZE 37748736, PIPELINING, DSN, "
            "ENHANCEDSTATUSCODES, STARTTLS, X-ANONYMOUSTLS, AUTH NTLM, X-EXPS GSSAPI NTLM, 8BITMIME, BINARYMIME, "
            "CHUNKING, SMTPUTF8, XRDST\n") in out
    assert "This server supports the following commands: HELO EHLO STARTTLS RCPT DATA RSET MAIL QUIT HELP AUTH " \
           "BDAT" in out
    for line in ("Target_Name: FABRIKAM", "NetBIOS_Domain_Name: FABRIKAM", "NetBIOS_Computer_Name: EX01",
                 "DNS_Domain_Name: fabrikam.com", "DNS_Computer_Name: ex01.fabrikam.com",
                 "DNS_Tree_Name: fabrikam.com", "Product_Version: 10.0.17763"):
        assert f"|   {line}" in out or f"|_  {line}" in out, (line, out)
    assert "| ssl-cert: Subject: commonName=ex01\n| Subject Alternative Name: DNS:ex01, DNS:ex01.fabrikam.com" in out
    before = re.search(r"Not valid before: (\d{4})", out)
    after = re.search(r"Not valid after:  (\d{4})", out)
    assert before and after and int(after.group(1)) - int(before.group(1)) == 5, out
    tls = tls_sections(out)
    assert set(tls) == {"cert", "TLSv1.2"}, out
    assert tls["TLSv1.2"][2] == "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 (ecdh_x25519) - A"
    assert "cipher preference: server" in tls["TLSv1.2"]


def test_nmap_sees_the_exim_personas_tls_as_the_real_exims(sensor_factory):
    """nmap's ssl-cert and ssl-enum-ciphers against the real Exim 4.96 (GnuTLS) on this machine,
    tests/reference/exim/nmap-tls.txt: the same certificate fields and the same suites, key
    exchanges and preference in TLS 1.0 and 1.3. (nmap lists no TLS 1.1 or 1.2 for the real
    server, whose GnuTLS ends those probes; OpenSSL answers them: docs/personas.md, "exim".)"""
    nmap = require("nmap")
    sensor = sensor_factory(smtp__persona="exim", smtp__hostname="mail.example.com", smtp__relay="closed")
    result = run([nmap, "-n", "-Pn", "-sV", "-p", str(sensor.port), "--script", "ssl-cert,ssl-enum-ciphers",
                  sensor.host], timeout=180)
    real = tls_sections((REFERENCE / "exim" / "nmap-tls.txt").read_text())
    seen = tls_sections(result.stdout)
    assert set(real) == {"cert", "TLSv1.0", "TLSv1.3"}
    for section in real:
        assert seen.get(section) == real[section], (section, result.stdout)


def test_the_exim_tls_auth_personas_certificate_is_the_real_exims(sensor_factory):
    """nmap's ssl-cert of the real Exim in its TLS-and-AUTH configuration with the certificate
    Debian's exim-gencert makes (tests/reference/exim-tls-auth/nmap-cert.txt) and of the persona;
    its suites are the exim persona's (test_nmap_sees_the_exim_personas_tls_as_the_real_exims)."""
    nmap = require("nmap")
    sensor = sensor_factory(smtp__persona="exim-tls-auth", smtp__hostname="mail.example.com", smtp__relay="closed")
    result = run([nmap, "-n", "-Pn", "-sV", "-p", str(sensor.port), "--script", "ssl-cert", sensor.host],
                 timeout=180)
    real = tls_sections((REFERENCE / "exim-tls-auth" / "nmap-cert.txt").read_text())
    assert tls_sections(result.stdout) == real, result.stdout


def test_the_sendmail_tls_auth_personas_tls_is_the_real_sendmails(sensor_factory):
    """The real Sendmail 8.17.1.9 with Debian's starttls.m4 (tests/sendmail_server.py "tls-auth";
    tests/personas/test_real_sendmail.py takes these again from it): nmap's ssl-cert and
    ssl-enum-ciphers lines (tests/reference/sendmail-tls-auth/nmap-tls.txt) and what openssl
    s_client sees: a certificate request naming the server's own certificate, ECDHE on P-256
    alone, a one-second ticket lifetime hint, an internal_error alert for TLS 1.0 and 1.1."""
    nmap = require("nmap")
    sensor = sensor_factory(smtp__persona="sendmail-tls-auth", smtp__hostname="mail.example.com",
                            smtp__relay="closed")
    result = run([nmap, "-n", "-Pn", "-sV", "-p", str(sensor.port), "--script", "ssl-cert,ssl-enum-ciphers",
                  sensor.host], timeout=180)
    real = tls_sections((REFERENCE / "sendmail-tls-auth" / "nmap-tls.txt").read_text())
    assert tls_sections(result.stdout) == real, result.stdout
    assert observe(sensor.port) == tomllib.loads((REFERENCE / "sendmail-tls-auth" / "s_client.toml").read_text())


def test_nmap_sees_the_opensmtpd_tls_auth_personas_failing_tls_as_the_real_opensmtpds(sensor_factory):
    """The real OpenSMTPD 6.8.0p2's TLS listener on Debian 12 (tests/personas/test_real_opensmtpd.py
    takes this again from it), whose handshakes stop where the server must use its key
    (test_each_personas_handshakes_are_its_real_servers): nmap's ssl-enum-ciphers lists the suites
    whose ServerHello came, and ssl-cert gets nothing."""
    nmap = require("nmap")
    sensor = sensor_factory(smtp__persona="opensmtpd-tls-auth", smtp__hostname="mail.example.com",
                            smtp__relay="closed")
    result = run([nmap, "-n", "-Pn", "-sV", "-p", str(sensor.port), "--script", "ssl-cert,ssl-enum-ciphers",
                  sensor.host], timeout=300)
    assert re.search(r"open\s+smtp\s+OpenSMTPD\n", result.stdout), result.stdout
    assert tls_sections(result.stdout) == tls_sections((REFERENCE / "opensmtpd-tls-auth" / "nmap-tls.txt").read_text())


def _beyond_openssl(seen: str) -> str:
    """A handshake line (tests/tls_observations.py) without what OpenSSL cannot say as GnuTLS says
    it (docs/personas.md, "exim"): the order of a ServerHello's extensions and its size (OpenSSL's
    ec_point_formats lists three formats, GnuTLS's one), and in TLS 1.3 the size of the
    EncryptedExtensions (OpenSSL names its groups there where the client's share is not its first)."""
    seen = re.sub(r"extensions ([0-9a-f-]+), \d+\)",
                  lambda m: f"extensions {'-'.join(sorted(m.group(1).split('-')))})", seen)
    return re.sub(r"ChangeCipherSpec\(1\) encrypted\(\d+\)", "ChangeCipherSpec(1) encrypted(extensions)", seen)


HANDSHAKE_PERSONAS = {"postfix": None, "sendmail-tls-auth": None, "opensmtpd-tls-auth": None,
                      "exim": _beyond_openssl}


@pytest.mark.parametrize("persona", list(HANDSHAKE_PERSONAS))
def test_each_personas_handshakes_are_its_real_servers(sensor_factory, persona):
    """tests/reference/<persona>/handshakes.toml, taken from the real server (its test_real_*
    module takes it again): Python's ssl handshakes in TLS 1.0 to 1.3, with and without SNI, with a
    refused key share, an RSA key exchange, DHE alone; plain text and a FIN after STARTTLS. Each
    server record's kind, size and ServerHello fields (session id, suite, extensions), the alerts,
    how the handshake and the connection end: Postfix's one TLS 1.3 ticket and Sendmail's two,
    Exim's none, OpenSMTPD's failing key."""
    aspects = tomllib.loads((REFERENCE / persona / "aspects.toml").read_text())
    sensor = sensor_factory(smtp__persona=persona, smtp__hostname="mail.example.com", smtp__relay="closed")
    stored = tomllib.loads((REFERENCE / persona / "handshakes.toml").read_text())
    seen = handshakes(sensor.port, "mail.example.com", aspects.get("client", "127.0.0.1"))
    mend = HANDSHAKE_PERSONAS[persona] or (lambda line: line)
    assert {k: mend(v) for k, v in seen.items()} == {k: mend(v) for k, v in stored.items()}


# What sslscan cannot see alike, by persona: Exim's GnuTLS takes a TLS 1.2 ClientHello offering no
# signature algorithm it knows (sslscan's bogus 0xfdff: "Server accepts all signature
# algorithms."), where OpenSSL refuses it and sslscan goes on to list the ones it takes
# (docs/personas.md, "exim").
SSLSCAN_BEYOND_OPENSSL = {"exim-tls-auth": ("Server Signature Algorithm(s)", "TLSv1.2 ")}


@pytest.mark.parametrize("persona", ["postfix", "exim-tls-auth", "sendmail-tls-auth", "opensmtpd-tls-auth"])
def test_sslscan_sees_each_personas_tls_as_its_real_servers(sensor_factory, persona):
    """sslscan against the real server on this machine (tests/reference/<persona>/sslscan.txt; its
    test_real_* module takes it again) and against the persona: the same protocols, fallback SCSV,
    renegotiation, Heartbleed, every suite of every version as accepted or preferred with its key
    exchange, the key-exchange groups of TLS 1.2 and 1.3, the signature algorithms, the
    certificate (its validity's length kept, not its dates)."""
    sensor = sensor_factory(smtp__persona=persona, smtp__hostname="mail.example.com", smtp__relay="closed")
    real = sslscan_sections((REFERENCE / persona / "sslscan.txt").read_text())
    seen = sslscan_sections(sslscan(sensor.port))
    assert "errors" not in real and "TLSv1.3   enabled" in real["SSL/TLS Protocols"]
    if persona in SSLSCAN_BEYOND_OPENSSL:
        section, prefix = SSLSCAN_BEYOND_OPENSSL[persona]
        assert f"{prefix} Server accepts all signature algorithms." in real[section]
        for sections in (real, seen):
            sections[section] = [line for line in sections[section] if not line.startswith(prefix)]
    assert seen == real


@pytest.mark.parametrize("persona", ["postfix", "exim-tls-auth", "sendmail-tls-auth"])
def test_each_persona_issues_session_ids_and_resumes_by_none(sensor_factory, persona):
    """A TLS 1.2 client without tickets gets a 32-byte session id and, offering it again, a full
    handshake: Debian's Postfix keeps no server session cache (no smtpd_tls_session_cache_database),
    Exim's and Sendmail's child per connection takes its cache with it. testssl.sh says "ID: no"
    of each real server (their answers: tests/personas/test_real_{postfix,exim,sendmail}.py)."""
    sensor = sensor_factory(smtp__persona=persona, smtp__hostname="mail.example.com", smtp__relay="closed")
    assert resumption_by_id(sensor.port) == "64 New"


def _nmap_blocks(text: str) -> dict[str, list[str]]:
    """tests/reference/<server>/nmap.txt: nmap's arguments → the script lines it printed."""
    blocks: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("== "):
            current = blocks.setdefault(line[3:], [])
        elif line.startswith("|"):
            current.append(line)
    return blocks


# What nmap's scripts printed against each real server on this machine, by persona (Sendmail's
# from 127.0.0.2, as its other captures: the address its replies name)
NMAP_REFERENCES = {persona: _nmap_blocks((REFERENCE / persona / "nmap.txt").read_text())
                   for persona in ("postfix", "exim", "opensmtpd", "sendmail")}
NMAP_CASES = [pytest.param(persona, arguments, id=f"{persona}-{arguments}")
              for persona, blocks in NMAP_REFERENCES.items() for arguments in blocks]


@pytest.mark.parametrize(("persona", "arguments"), NMAP_CASES)
def test_nmaps_scripts_see_each_closed_persona_as_its_real_server(sensor_factory, persona, arguments):
    """With relay closed, nmap's SMTP scripts (smtp-commands, smtp-open-relay's sixteen forms,
    smtp-enum-users by RCPT, VRFY and EXPN, the Exim and Postfix vulnerability checks; Postfix's
    TLS ciphers) print exactly what they printed against the real server on this machine."""
    nmap = require("nmap")
    sensor = sensor_factory(smtp__persona=persona, smtp__relay="closed", smtp__hostname="mail.example.com",
                            limits__max_connections_per_ip=100)
    client = tomllib.loads((REFERENCE / persona / "aspects.toml").read_text()).get("client")
    source = ["-S", client, "-e", "lo"] if client else []
    result = run([nmap, "-n", "-Pn", "-sV", *source, "-p", str(sensor.port), *arguments.split(), sensor.host],
                 timeout=300)
    got = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert _script_blocks(got) == _script_blocks(NMAP_REFERENCES[persona][arguments]), result.stdout


def _script_blocks(lines: list[str]) -> list[tuple[str, ...]]:
    """nmap's script results, one block per script, in name order: nmap prints scripts that ran
    side by side in whichever order they finished."""
    blocks: list[list[str]] = []
    for line in lines:
        if line[2:3] != " " or not blocks:  # "| name:" or "|_name:" opens a block; "|   ..." goes on
            blocks.append([])
        blocks[-1].append(line)
    return sorted(tuple(block) for block in blocks)


def test_nmap_finds_an_open_relay_where_the_listener_is_open(sensor_factory):
    """The same persona on a listener left open (the default) is the open relay the scanners hope
    for, and keeps refusing users it does not have."""
    nmap = require("nmap")
    sensor = sensor_factory(smtp__persona="postfix")
    result = run([nmap, "-n", "-Pn", "-sV", "-p", str(sensor.port), "--script", "smtp-open-relay,smtp-enum-users",
                  "--script-args", "smtp-enum-users.methods={VRFY}", sensor.host], timeout=180)
    assert "Server is an open relay (16/16 tests)" in result.stdout, result.stdout
    assert "Couldn't find any accounts" in result.stdout


def test_swaks_logs_in_with_an_accepted_login_and_relays_where_the_policy_allows(sensor_factory):
    """[deception] accept_logins user:secret on a postfix listener with relay policy auth: swaks's
    wrong password gets Postfix's 535 and its relay recipient the 454; the right one gets 235 and
    its relay is taken, recorded, never sent; the store keeps both logins with their outcomes."""
    swaks = require("swaks")
    sensor = sensor_factory(smtp__persona="postfix", smtp__relay="auth", deception__accept_logins=["user:secret"])
    common = [swaks, "--server", f"{sensor.host}:{sensor.port}", "--from", "spam@bulk.example",
              "--to", "victim@example.net", "--auth", "PLAIN", "--auth-user", "user", "--auth-optional",
              "--header", "Subject: through a stolen account"]
    refused = run([*common, "--auth-password", "wrong"])
    assert "535 5.7.8 Error: authentication failed" in refused.stdout
    assert "454 4.7.1 <victim@example.net>: Relay access denied" in refused.stdout
    taken = run([*common, "--auth-password", "secret"])
    assert "235 2.7.0 Authentication successful" in taken.stdout
    assert "250 2.0.0 Ok: queued as" in taken.stdout, taken.stdout
    message = sensor.wait_for("smtp.message")[0].event
    assert message.subject == "through a stolen account" and message.rcpt_to == ("victim@example.net",)
    sensor.wait_for("session.closed", 2)
    sensor.stop()
    assert fetch(sensor.store_url, "SELECT username, password, outcome FROM credentials ORDER BY ts, seq") == [
        ("user", "wrong", "rejected"), ("user", "secret", "accepted")]


def test_swaks_submits_through_587_and_465_after_a_login_and_not_before(sensor_factory):
    """The postfix persona's submission services on real sockets, with swaks: 587 wants STARTTLS
    before anything but the greeting (530) and a login before any recipient (554); 465 speaks
    TLS from the first byte. A login [deception] accepts relays through both; all is recorded."""
    swaks = require("swaks")
    sensor = sensor_factory(smtp__persona="postfix", deception__accept_logins=["user:secret"],
                            smtp__listen=["127.0.0.1:0", "127.0.0.1:0,service=submission",
                                          "127.0.0.1:0,service=submissions"])
    (_, submission), (_, submissions) = sensor.bound[1], sensor.bound[2]
    base = [swaks, "--server", sensor.host, "--from", "ceo@corp.example", "--to", "victim@example.net",
            "--header", "Subject: submitted"]
    clear = run([*base, "--port", str(submission)])
    assert "530 5.7.0 Must issue a STARTTLS command first" in clear.stdout, clear.stdout
    no_login = run([*base, "--port", str(submission), "--tls"])
    assert "554 5.7.1 <victim@example.net>: Recipient address rejected: Access denied" in no_login.stdout
    for port, tls in ((submission, "--tls"), (submissions, "--tls-on-connect")):
        sent = run([*base, "--port", str(port), tls, "--auth", "PLAIN", "--auth-user", "user",
                    "--auth-password", "secret"])
        assert "235 2.7.0 Authentication successful" in sent.stdout and "250 2.0.0 Ok: queued as" in sent.stdout, (
            sent.stdout)
    messages = sensor.wait_for("smtp.message", 2)
    assert [m.event.rcpt_to for m in messages] == [("victim@example.net",)] * 2
    established = [r.event for r in sensor.records("smtp.tls") if r.event.outcome == "established"]
    assert len(established) == 3  # STARTTLS twice on 587, and 465's own handshake
