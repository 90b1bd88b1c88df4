"""The harness for the sendmail face (issue 27): the real Sendmail 8.17.1.9 unpacked from Debian's
packages into a private root (tests/sendmail_server.py) answers the shared 67-probe battery, from
127.0.0.2 as when the reference was captured (tests/reference/sendmail/battery.json, a copy of
../shared/reference-transcripts/sendmail-8.17.1.9.json): dates and queue ids aside, byte for byte."""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest

from client_names import naming
from sendmail_server import SendmailServer
from support import (
    RECAPTURED_GROUPS,
    REFERENCE,
    battery_rerun,
    normalize,
    probes_rerun,
    require,
    rerun_differences,
    unesc,
)
from tls_observations import handshakes, observe, resumption_by_id, sslscan, sslscan_sections, tls_sections

pytestmark = pytest.mark.slow  # a real Sendmail is unpacked, configured, started and stopped


@pytest.fixture(scope="module")
def sendmail():
    with SendmailServer() as server:
        yield server


@pytest.fixture(scope="module")
def sendmail_tls_auth():
    """The references' TLS-and-AUTH configuration: Debian's starttls.m4 and sasl.m4."""
    with SendmailServer("tls-auth") as server:
        yield server


def replies(conversation: dict) -> bytes:
    return normalize(b"".join(unesc(text) for direction, text in conversation["exchange"] if direction == "S"))


def test_the_real_sendmail_answers_the_battery_as_when_it_was_captured(sendmail):
    stored, fresh = battery_rerun("sendmail", sendmail.port, sendmail.source)
    assert [c["name"] for c in fresh] == [c["name"] for c in stored]
    differing = {old["name"]: (replies(old), replies(new)) for old, new in zip(stored, fresh)
                 if replies(new) != replies(old)}
    assert differing == {}


def test_the_real_sendmail_with_tls_and_auth_answers_its_battery_as_when_it_was_captured(sendmail_tls_auth):
    """tests/reference/sendmail-tls-auth/battery.json (../shared/reference-transcripts/
    sendmail-8.17.1.9-tls-auth.json): the harness's TLS-and-AUTH server is the captured one."""
    stored, fresh = battery_rerun("sendmail-tls-auth", sendmail_tls_auth.port, sendmail_tls_auth.source)

    def same_mechanisms(data: bytes) -> bytes:
        # Cyrus SASL lists mechanisms of equal strength in the order it loaded their plugins, which
        # is its plugin directory's readdir order (ext4: a hash seeded per file system): the capture
        # machine listed LOGIN before PLAIN, another Debian 12 may list PLAIN first.
        return data.replace(b"CRAM-MD5 PLAIN LOGIN", b"CRAM-MD5 LOGIN PLAIN")

    differing = {old["name"]: (replies(old), replies(new)) for old, new in zip(stored, fresh)
                 if same_mechanisms(replies(new)) != replies(old)}
    assert differing == {}


TLS_SEEN = tomllib.loads((REFERENCE / "sendmail-tls-auth" / "s_client.toml").read_text())  # tests/tls_observations.py


def test_the_real_sendmails_tls_is_what_the_persona_is_held_to(sendmail_tls_auth):
    """The references the sendmail-tls-auth persona's TLS tests compare with, taken again from the
    real server: nmap's ssl-cert and ssl-enum-ciphers (tests/reference/sendmail-tls-auth/
    nmap-tls.txt) and what openssl s_client sees (s_client.toml beside it)."""
    nmap = require("nmap")
    result = subprocess.run([nmap, "-n", "-Pn", "-sV", "-p", str(sendmail_tls_auth.port), "--script",
                             "ssl-cert,ssl-enum-ciphers", "127.0.0.1"], capture_output=True, text=True, timeout=180)
    stored = tls_sections((REFERENCE / "sendmail-tls-auth" / "nmap-tls.txt").read_text())
    assert tls_sections(result.stdout) == stored
    assert set(stored) == {"cert", "TLSv1.2", "TLSv1.3"} and re.search(r"open\s+smtp\s+Sendmail", result.stdout)
    assert observe(sendmail_tls_auth.port) == TLS_SEEN


@pytest.mark.parametrize("group", [*RECAPTURED_GROUPS, "errors_brief"])
def test_the_real_sendmail_answers_the_limit_probes_as_when_they_were_captured(sendmail, group):
    """tests/reference/sendmail/<group>.json (support.RECAPTURED_GROUPS says what each holds;
    errors_brief: its error limits and NOOP slowdown): the captures the persona is held to, taken
    again, four conversations at a time (each waits a second for its banner; four connections a
    second stay under the configuration's ConnectionRateThrottle of 15, and 127.0.0.2 has no
    ClientConn or ClientRate limit: tests/reference/sendmail/config)."""
    assert rerun_differences(*probes_rerun("sendmail", group, sendmail.port, sendmail.source, workers=4)) == {}


@pytest.mark.parametrize("group", ["guessing", "auth"])
def test_the_real_sendmail_with_tls_and_auth_answers_its_auth_probes_as_when_captured(sendmail_tls_auth, group):
    """tests/reference/sendmail-tls-auth/guessing.json: AUTH after AUTH under TLS, slowed down
    from the twelfth; auth.json: AUTH's order, mechanism names and responses as Sendmail and
    Cyrus SASL read them (its mechanisms in the capture machine's order: same_mechanisms above;
    auth.json was taken on a machine listing PLAIN LOGIN and stored in that order)."""
    stored, fresh = probes_rerun("sendmail-tls-auth", group, sendmail_tls_auth.port, sendmail_tls_auth.source)

    def same_order(said: bytes) -> bytes:
        return said.replace(b"CRAM-MD5 PLAIN LOGIN", b"CRAM-MD5 LOGIN PLAIN")

    assert rerun_differences(stored, fresh, same_order) == {}


def test_the_real_sendmails_handshakes_are_what_the_persona_is_held_to(sendmail_tls_auth):
    """tests/reference/sendmail-tls-auth/handshakes.toml (tests/transport/test_real_clients.py
    holds the persona to it), taken again: two TLS 1.3 tickets, a HelloRetryRequest for a client
    without a P-256 share, decode_error to a client that leaves after STARTTLS."""
    stored = tomllib.loads((REFERENCE / "sendmail-tls-auth" / "handshakes.toml").read_text())
    assert handshakes(sendmail_tls_auth.port, "mail.example.com", sendmail_tls_auth.source) == stored


def test_an_ipv6_client_is_named_as_the_real_sendmail_names_it():
    """Debian's sendmail.mc with its inet6 line turned on: a client on ::1 (no PTR name the daemon
    finds) is "[IPv6:0:0:0:0:0:0:0:1]" in the banner and the Hello, as the persona names it."""
    import socket
    import time

    from support import Driver, make_session

    with SendmailServer(ipv6=True) as server, socket.create_connection(("::1", server.port), timeout=20) as sock:
        real = []
        for line in (b"", b"EHLO client.example.org\r\n", b"HELO client.example.org\r\n"):
            sock.sendall(line)
            time.sleep(0.5 if line else 1.5)  # the greet pause first
            real.append(sock.recv(65536))
    driver = Driver(make_session("sendmail", client_ip="::1", relay="closed"))
    driver.feed(b"EHLO client.example.org\r\n").feed(b"HELO client.example.org\r\n")
    assert [normalize(reply.data) for reply in driver.replies] == [normalize(data) for data in real]
    assert b"Hello [IPv6:0:0:0:0:0:0:0:1], pleased" in real[2]


def test_the_real_sendmails_sslscan_is_what_the_persona_is_held_to():
    """tests/reference/sendmail-tls-auth/sslscan.txt (tests/transport/test_real_clients.py holds
    the persona to it), taken again, its lookups answered on loopback as when it was made."""
    with naming() as nameserver, SendmailServer("tls-auth", nameserver=nameserver) as real:
        seen = sslscan(real.port)
    assert sslscan_sections(seen) == sslscan_sections((REFERENCE / "sendmail-tls-auth" / "sslscan.txt").read_text())


def test_the_real_sendmail_issues_session_ids_and_resumes_by_none(sendmail_tls_auth):
    """What sendmail-tls-auth is held to (tests/transport/test_real_clients.py): a session id to
    a TLS 1.2 client without tickets, a full handshake when it is offered again."""
    assert resumption_by_id(sendmail_tls_auth.port) == "64 New"
