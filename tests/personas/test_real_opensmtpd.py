"""The harness for the opensmtpd face (issue 27): the real OpenSMTPD 6.8.0p2 unpacked from Debian's
package into a private root (tests/opensmtpd_server.py) answers the shared 67-probe battery as it
answered when the reference was captured (tests/reference/opensmtpd/battery.json, a copy of
../shared/reference-transcripts/opensmtpd-6.8.0p2.json): message ids aside, byte for byte."""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest

from opensmtpd_server import OpenSmtpdServer
from support import RECAPTURED_GROUPS, REFERENCE, battery_rerun, probes_rerun, require, rerun_differences, unesc
from tls_observations import handshakes, sslscan, sslscan_sections, tls_sections

pytestmark = pytest.mark.slow  # a real OpenSMTPD is unpacked, started and stopped


@pytest.fixture(scope="module")
def opensmtpd():
    with OpenSmtpdServer() as server:
        yield server


def replies(conversation: dict) -> bytes:
    """What the server said, its message ids masked."""
    data = b"".join(unesc(text) for direction, text in conversation["exchange"] if direction == "S")
    return re.sub(rb"250 2\.0\.0 [0-9a-f]{8} Message accepted", b"250 2.0.0 MSGID Message accepted", data)


def test_the_real_opensmtpd_answers_the_battery_as_when_it_was_captured(opensmtpd):
    stored, fresh = battery_rerun("opensmtpd", opensmtpd.port)
    assert [c["name"] for c in fresh] == [c["name"] for c in stored]
    differing = [old["name"] for old, new in zip(stored, fresh) if replies(new) != replies(old)]
    assert differing == [], (differing, opensmtpd.log())


@pytest.mark.parametrize("group", RECAPTURED_GROUPS)
def test_the_real_opensmtpd_answers_the_limit_probes_as_when_they_were_captured(opensmtpd, group):
    """tests/reference/opensmtpd/<group>.json (support.RECAPTURED_GROUPS says what each holds): the
    captures the persona is held to, taken again, four conversations at a time. A banner may wait
    for the machine's resolver (5 s, and one lookup behind another with four clients at once: a
    CI run saw one come after the reader's ten seconds, so the EHLO went first and OpenSMTPD said
    "Pipelining not supported"); the reader waits thirty."""
    assert rerun_differences(*probes_rerun("opensmtpd", group, opensmtpd.port, workers=4, reply_timeout=30.0)) == {}


def test_the_real_opensmtpd_answers_the_battery_on_its_tls_listener_as_when_it_was_captured(opensmtpd):
    """tests/reference/opensmtpd-tls-auth/battery.json (../shared/reference-transcripts/
    opensmtpd-6.8.0p2-tls-auth.json): the listener with `tls pki ... auth-optional`, whose
    STARTTLS is taken and whose handshake fails."""
    stored, fresh = battery_rerun("opensmtpd-tls-auth", opensmtpd.tls_port)
    assert [c["name"] for c in fresh] == [c["name"] for c in stored]
    differing = [old["name"] for old, new in zip(stored, fresh) if replies(new) != replies(old)]
    assert differing == [], (differing, opensmtpd.log())
    starttls = next(c for c in fresh if c["name"] == "starttls")
    assert "TLSV1_ALERT_INTERNAL_ERROR" in " ".join(starttls["notes"])


def test_the_real_opensmtpds_failing_handshakes_are_what_the_persona_is_held_to(opensmtpd):
    """tests/reference/opensmtpd-tls-auth/handshakes.toml (each handshake's records and ending, as
    Python's ssl saw them) and nmap-tls.txt (ssl-enum-ciphers lists the suites whose ServerHello
    came; ssl-cert gets nothing), taken again from the real server."""
    stored = tomllib.loads((REFERENCE / "opensmtpd-tls-auth" / "handshakes.toml").read_text())
    assert handshakes(opensmtpd.tls_port, "mail.example.com") == stored
    nmap = require("nmap")
    result = subprocess.run([nmap, "-n", "-Pn", "-sV", "-p", str(opensmtpd.tls_port), "--script",
                             "ssl-cert,ssl-enum-ciphers", "127.0.0.1"], capture_output=True, text=True, timeout=300)
    real = tls_sections((REFERENCE / "opensmtpd-tls-auth" / "nmap-tls.txt").read_text())
    assert set(real) == {"TLSv1.2", "TLSv1.3"}
    assert tls_sections(result.stdout) == real, result.stdout


def test_the_real_opensmtpds_sslscan_is_what_the_persona_is_held_to(opensmtpd):
    """tests/reference/opensmtpd-tls-auth/sslscan.txt (tests/transport/test_real_clients.py holds
    the persona to it), taken again from the TLS listener: no suite, groups and signature
    algorithms named before the key is needed, no certificate."""
    seen = sslscan_sections(sslscan(opensmtpd.tls_port))
    assert seen == sslscan_sections((REFERENCE / "opensmtpd-tls-auth" / "sslscan.txt").read_text())
