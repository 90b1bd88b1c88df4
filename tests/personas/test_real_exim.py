"""The harness for the new faces (issue 26 item 2, issue 27): the real Exim 4.96 unpacked from
Debian's packages into a private root (tests/exim_server.py) answers the shared 67-probe battery
as it answered when the reference was captured (tests/reference/exim/battery.json, a copy of
../shared/reference-transcripts/exim4-4.96.json): dates and message ids aside, byte for byte."""

from __future__ import annotations

import re

import pytest

from exim_server import EximServer
from support import battery_rerun, unesc

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
