"""The harness for the opensmtpd face (issue 27): the real OpenSMTPD 6.8.0p2 unpacked from Debian's
package into a private root (tests/opensmtpd_server.py) answers the shared 67-probe battery as it
answered when the reference was captured (tests/reference/opensmtpd/battery.json, a copy of
../shared/reference-transcripts/opensmtpd-6.8.0p2.json): message ids aside, byte for byte."""

from __future__ import annotations

import re

import pytest

from opensmtpd_server import OpenSmtpdServer
from support import battery_rerun, probes_rerun, rerun_differences, unesc

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


@pytest.mark.parametrize("group", ["limits", "content", "connections"])
def test_the_real_opensmtpd_answers_the_limit_probes_as_when_they_were_captured(opensmtpd, group):
    """tests/reference/opensmtpd/limits.json (messages at and past the size limit), content.json
    (messages judged by their hops, headers and lines) and
    connections.json (52 connections from one address): the captures the persona is held to."""
    assert rerun_differences(*probes_rerun("opensmtpd", group, opensmtpd.port)) == {}
