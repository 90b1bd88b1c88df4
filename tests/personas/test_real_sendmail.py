"""The harness for the sendmail face (issue 27): the real Sendmail 8.17.1.9 unpacked from Debian's
packages into a private root (tests/sendmail_server.py) answers the shared 67-probe battery, from
127.0.0.2 as when the reference was captured (tests/reference/sendmail/battery.json, a copy of
../shared/reference-transcripts/sendmail-8.17.1.9.json): dates and queue ids aside, byte for byte."""

from __future__ import annotations

import pytest

from sendmail_server import SendmailServer
from support import battery_rerun, normalize, unesc

pytestmark = pytest.mark.slow  # a real Sendmail is unpacked, configured, started and stopped


@pytest.fixture(scope="module")
def sendmail():
    with SendmailServer() as server:
        yield server


def replies(conversation: dict) -> bytes:
    return normalize(b"".join(unesc(text) for direction, text in conversation["exchange"] if direction == "S"))


def test_the_real_sendmail_answers_the_battery_as_when_it_was_captured(sendmail):
    stored, fresh = battery_rerun("sendmail", sendmail.port, sendmail.source)
    assert [c["name"] for c in fresh] == [c["name"] for c in stored]
    differing = {old["name"]: (replies(old), replies(new)) for old, new in zip(stored, fresh)
                 if replies(new) != replies(old)}
    assert differing == {}
