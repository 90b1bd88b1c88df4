"""The reference battery (tests/reference/battery.py, raw sockets) against the running personas.

The battery is the same script that recorded real Postfix 3.7.11 + Dovecot and Exim 4.96; its
conversations with relaypot must match the recording byte for byte, except queue ids, dates and
challenges; a listener with relay policy "open" also accepts the relay recipient the real server
refuses (support.as_open_relay), one with "closed" refuses it in the same words.
"""

from __future__ import annotations

import importlib.util
import json
import tomllib
from concurrent.futures import ThreadPoolExecutor

import pytest

from support import REFERENCE, expected_from_reference, normalize, unesc

pytestmark = pytest.mark.slow  # the 67-probe battery over sockets


def load_battery():
    spec = importlib.util.spec_from_file_location("battery", REFERENCE / "battery.py")
    battery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(battery)
    return battery


@pytest.mark.parametrize(("persona", "relay"), [("postfix", "open"), ("postfix", "closed"), ("exim", "open"),
                                                  ("exim", "closed"), ("opensmtpd", "open"),
                                                  ("opensmtpd", "closed"), ("opensmtpd-tls-auth", "open"),
                                                  ("opensmtpd-tls-auth", "closed"), ("sendmail", "open"),
                                                  ("sendmail", "closed")])
def test_battery_over_sockets_matches_the_real_server(sensor_factory, persona, relay):
    """All 67 probes, each on a fresh TCP connection with TLS where asked, get what the real server sent."""
    sensor = sensor_factory(smtp__persona=persona, smtp__hostname="mail.example.com",
                            limits__max_connections_per_ip=100, smtp__relay=relay)
    results = play_beside(sensor, persona, load_battery().probes("mail.example.com", "root"), "battery", relay)
    assert len(results) == 67


def play_beside(sensor, persona: str, probes: list, capture: str, relay: str) -> list[dict]:
    """`probes` played over TCP against `sensor`, each on a connection of its own, beside
    tests/reference/<persona>/<capture>.json: the same bytes (as support.expected_from_reference
    derives them for `relay`) and the same side closing. Returns the conversations."""
    battery = load_battery()
    # the captures' client address (Sendmail's came from 127.0.0.2, which its replies name)
    source = tomllib.loads((REFERENCE / persona / "aspects.toml").read_text()).get("client")
    # Sendmail's greet pause: every probe waits a second for its banner; more of them at once
    with ThreadPoolExecutor(max_workers=34) as pool:
        results = list(pool.map(lambda p: battery.run_probe(sensor.host, sensor.port, *p, source), probes))
    reference = {c["name"]: c for c in json.loads((REFERENCE / persona / f"{capture}.json").read_text())}
    mismatched = {}
    for conversation in results:
        got = normalize(b"".join(unesc(t) for d, t in conversation["exchange"] if d == "S"))
        expected = expected_from_reference(reference[conversation["name"]], relay)
        if got != expected:
            mismatched[conversation["name"]] = (expected, got)
        # Who closed: after the server's close, the client's next read sees EOF or, if its own QUIT
        # already drew a reset, ECONNRESET; either way the server closed.
        assert conversation["closed_by_server"] == reference[conversation["name"]]["closed_by_server"], (
            conversation["name"])
    assert not mismatched, mismatched
    return results


# Probe groups where what the persona does depends on how the input arrives: in one write or
# several, a line ended or not yet (tests/reference/probes.py; the conformance test plays them
# in memory, these over TCP, each write arriving as it did at the real server).
SOCKET_GROUPS = ("pipelining", "bodies", "line_lengths", "chunks")


@pytest.mark.parametrize("group", SOCKET_GROUPS)
@pytest.mark.parametrize("persona", ["postfix", "exim", "opensmtpd", "sendmail"])
def test_probe_groups_over_sockets_get_what_the_real_server_sent(sensor_factory, persona, group):
    """tests/reference/<persona>/<group>.json over TCP: commands sent in one write (what the persona
    holds pending is what the socket holds: Exim's synchronization errors, OpenSMTPD's refusal of
    pipelining), message bodies no client sends, lines at each server's read bounds (OpenSMTPD
    ends a session on the read that brings a line's 65535th byte, its end not yet sent), and BDAT
    chunks with their command in one write."""
    from reference.probes import GROUPS

    sensor = sensor_factory(smtp__persona=persona, smtp__hostname="mail.example.com",
                            limits__max_connections_per_ip=100, smtp__relay="closed")
    stored = json.loads((REFERENCE / persona / f"{group}.json").read_text())
    results = play_beside(sensor, persona, GROUPS[group](), group, "closed")
    assert [c["name"] for c in results] == [c["name"] for c in stored]
