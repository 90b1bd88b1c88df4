"""What a persona says to a client that falls silent, in each phase, against what its real server
said (tests/reference/timeouts.py → tests/reference/SERVER/timeouts.json, each server's timeout
made 3 s, OpenSMTPD's five minutes waited out): Postfix's one 421, Exim's command and data
timeouts in their two wordings, Sendmail's silent close between commands and collect()'s 421
inside a message, OpenSMTPD's silent close in every phase."""

from __future__ import annotations

import json
import random

import pytest

from relaypot.personas import model
from relaypot.protocol.listener import ListenerContext
from relaypot.protocol.session import Session
from support import REFERENCE, Driver, RunningSensor, normalize, unesc

PERSONAS = {"postfix": ("postfix", "127.0.0.1"), "exim": ("exim", "127.0.0.1"), "sendmail": ("sendmail", "127.0.0.2"),
            "opensmtpd": ("opensmtpd", "127.0.0.1")}
# Sendmail reads a line cut short by its timeout as a whole command (sfgets() returns what it
# has): "NOOP" gets its 250 and the session goes on. The persona times out. (docs/personas.md)
NOT_PLAYED = {("sendmail", "timeout_partial")}


def captures() -> list:
    found = []
    for directory, (persona, client) in PERSONAS.items():
        for conversation in json.loads((REFERENCE / directory / "timeouts.json").read_text()):
            if (directory, conversation["name"]) not in NOT_PLAYED:
                found.append(pytest.param(persona, client, conversation, id=f"{directory}-{conversation['name']}"))
    return found


def last_reply(conversation: dict) -> bytes:
    return normalize(unesc(conversation["exchange"][-1][1]))


@pytest.mark.parametrize(("persona", "client", "conversation"), captures())
def test_a_silent_client_gets_the_real_servers_timeout(persona, client, conversation):
    context = ListenerContext(model.load(persona), "mail.example.com", "mail.example.com", clock=lambda: 1.0,
                              rng=random.Random(0))
    driver = Driver(Session(context, client, 40000, "127.0.0.1", 25, "127.0.0.1:25", relay="closed"))
    for direction, text in conversation["exchange"]:
        if direction == "C":
            driver.feed(unesc(text))
    said = len(driver.replies)
    driver.take(driver.session.timed_out("timeout"))
    assert normalize(b"".join(r.data for r in driver.replies[said:])) == last_reply(conversation)
    assert driver.closed == "timeout" and conversation["close"] == "eof"


@pytest.mark.slow
@pytest.mark.parametrize(("persona", "client", "conversation"), captures())
def test_over_sockets_the_idle_timeout_is_the_real_servers(persona, client, conversation, tmp_path):
    from reference.battery import run_probe
    from reference.timeouts import SHORT, probes

    sensor = RunningSensor(tmp_path, smtp__persona=persona, smtp__relay="closed", limits__idle_timeout=float(SHORT))
    try:
        steps = {name: steps for name, _, steps in probes(chunking=True)}[conversation["name"]]
        played = run_probe(sensor.host, sensor.port, conversation["name"], "", steps, client)
    finally:
        sensor.stop()
    assert last_reply(played) == last_reply(conversation)
    assert played["close"] == conversation["close"]
