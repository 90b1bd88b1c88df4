"""The harness for the new faces (issue 26 item 2, issue 27): the real Exim 4.96 unpacked from
Debian's packages into a private root (tests/exim_server.py) answers the shared 67-probe battery
as it answered when the reference was captured (tests/reference/exim/battery.json, a copy of
../shared/reference-transcripts/exim4-4.96.json): dates and message ids aside, byte for byte."""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest

from client_names import naming
from exim_server import EximServer
from support import RECAPTURED_GROUPS, REFERENCE, battery_rerun, probes_rerun, require, rerun_differences, unesc
from tls_observations import handshakes, resumption_by_id, sslscan, sslscan_sections, tls_sections

pytestmark = pytest.mark.slow  # a real Exim is unpacked, started and stopped


@pytest.fixture(scope="module")
def exim():
    with EximServer() as server:
        yield server


def replies(conversation: dict) -> bytes:
    """What the server said, its clock and message ids masked."""
    data = b"".join(unesc(text) for direction, text in conversation["exchange"] if direction == "S")
    data = re.sub(rb"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}", b"DATE", data)
    return re.sub(rb"id=[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}", b"id=MESSAGEID", data)


def test_the_real_exim_answers_the_battery_as_when_it_was_captured(exim):
    stored, fresh = battery_rerun("exim", exim.port)
    assert [c["name"] for c in fresh] == [c["name"] for c in stored]
    differing = [old["name"] for old, new in zip(stored, fresh) if replies(new) != replies(old)]
    assert differing == [], (differing, exim.log())


@pytest.fixture(scope="module")
def exim_tls_auth():
    """The references' TLS-and-AUTH configuration (MAIN_TLS_ENABLE, Debian's authenticators)."""
    with EximServer("tls-auth") as server:
        yield server


def test_the_real_exim_with_tls_and_auth_answers_its_battery_as_when_it_was_captured(exim_tls_auth):
    """tests/reference/exim-tls-auth/battery.json (../shared/reference-transcripts/
    exim4-4.96-tls-auth.json), CRAM-MD5's challenge masked as the conformance test masks it."""
    stored, fresh = battery_rerun("exim-tls-auth", exim_tls_auth.port)

    def masked(conversation: dict) -> bytes:
        return re.sub(rb"\n334 PD[A-Za-z0-9+/=]+\r", b"\n334 CHALLENGE\r", replies(conversation))

    differing = [old["name"] for old, new in zip(stored, fresh) if masked(new) != masked(old)]
    assert differing == [], (differing, exim_tls_auth.log())


def test_the_real_exims_certificate_is_what_the_persona_is_held_to(exim_tls_auth):
    """nmap's ssl-cert of the real Exim with exim-gencert's certificate (tests/reference/
    exim-tls-auth/nmap-cert.txt; the persona: tests/transport/test_real_clients.py)."""
    result = subprocess.run([require("nmap"), "-n", "-Pn", "-sV", "-p", str(exim_tls_auth.port), "--script",
                             "ssl-cert", "127.0.0.1"], capture_output=True, text=True, timeout=180)
    stored = tls_sections((REFERENCE / "exim-tls-auth" / "nmap-cert.txt").read_text())
    assert tls_sections(result.stdout) == stored and set(stored) == {"cert"}


@pytest.mark.parametrize("group", RECAPTURED_GROUPS)
def test_the_real_exim_answers_the_limit_probes_as_when_they_were_captured(exim, group):
    """tests/reference/exim/<group>.json (support.RECAPTURED_GROUPS says what each holds): the
    captures the persona is held to, taken again, four conversations at a time."""
    assert rerun_differences(*probes_rerun("exim", group, exim.port, workers=4)) == {}


@pytest.mark.parametrize("group", ["guessing", "auth", "auth_tls"])
def test_the_real_exim_with_tls_and_auth_answers_its_auth_probes_as_when_captured(exim_tls_auth, group):
    """tests/reference/exim-tls-auth/guessing.json: AUTH after AUTH under TLS until the nonmail
    limit ends the session (its 554 written in clear, after TLS is dropped); auth.json and
    auth_tls.json: AUTH's order, mechanism names and responses, in clear and under TLS, with the
    harness's one account (exim_server.ACCOUNT)."""
    assert rerun_differences(*probes_rerun("exim-tls-auth", group, exim_tls_auth.port, workers=4)) == {}


def test_the_real_exims_handshakes_are_what_the_persona_is_held_to(exim):
    """tests/reference/exim/handshakes.toml (tests/transport/test_real_clients.py holds the persona
    to it, GnuTLS's extension order aside), taken again: no session tickets, a session id."""
    stored = tomllib.loads((REFERENCE / "exim" / "handshakes.toml").read_text())
    assert handshakes(exim.port, "mail.example.com") == stored


def test_the_real_exims_sslscan_is_what_the_persona_is_held_to():
    """tests/reference/exim-tls-auth/sslscan.txt (tests/transport/test_real_clients.py holds the
    persona to it), taken again: its lookups answered on loopback (client_names.naming), as when
    it was made, so that none waits out the machine's resolver past sslscan's 3 s."""
    with naming() as nameserver, EximServer("tls-auth", nameserver=nameserver) as real:
        seen = sslscan(real.port)
    assert sslscan_sections(seen) == sslscan_sections((REFERENCE / "exim-tls-auth" / "sslscan.txt").read_text())


def test_the_real_exim_issues_session_ids_and_resumes_by_none(exim_tls_auth):
    """What the exim personas are held to (tests/transport/test_real_clients.py): a session id to
    a TLS 1.2 client without tickets, a full handshake when it is offered again."""
    assert resumption_by_id(exim_tls_auth.port) == "64 New"
