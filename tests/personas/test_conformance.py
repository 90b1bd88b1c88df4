"""Each persona against its real server, by aspect: `tests/reference/<persona>/<aspect>.json`,
played as `tests/reference/<persona>/aspects.toml` says. A new persona adds captures and a
manifest, not test functions. (exchange2000's real server cannot run here: its conformance is
its cited replies, tests/personas/test_personas.py.)"""

from __future__ import annotations

import json
import random
import re
import tomllib

import pytest

from relaypot.personas import model
from relaypot.protocol.listener import ListenerContext
from relaypot.protocol.logins import LoginPolicy
from relaypot.protocol.session import Session
from support import REFERENCE, Driver, expected_from_reference, normalize, unesc

KNOWN_KEYS = {"relays", "expect", "skip", "timing", "logins", "service", "bodies", "not_open", "bounded", "known"}


def manifests() -> list[tuple[str, dict]]:
    return [(path.parent.name, tomllib.loads(path.read_text())) for path in sorted(REFERENCE.glob("*/aspects.toml"))]


def cases() -> list:
    found = []
    for directory, manifest in manifests():
        for aspect, how in manifest.items():
            if not isinstance(how, dict):
                continue
            conversations = json.loads((REFERENCE / directory / f"{aspect}.json").read_text())
            for relay in how.get("relays", ["open"]):
                for conversation in conversations:
                    if relay == "open" and conversation["name"] in how.get("not_open", ()):
                        continue
                    if conversation["name"] in how.get("bounded", {}):  # relaypot's own bound answers first
                        continue
                    # a known difference must still differ: fixed, it is taken off the list
                    why = how.get("known", {}).get(conversation["name"])
                    marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
                    # the client's address as the captures had it (Sendmail's: 127.0.0.2)
                    found.append(pytest.param(manifest["persona"], how, conversation, relay,
                                              manifest.get("client", "127.0.0.1"), marks=marks,
                                              id=f"{directory}-{aspect}-{conversation['name']}-{relay}"))
    return found


def body(marker: str) -> bytes:
    """The message an elided entry stands for: `<body: Subject: S, N bytes in lines of L...>`
    (tests/reference/probes.py filler()) or, in older captures, `<body: ... N lines ...>`."""
    from reference.probes import filler

    subject = re.search(r"Subject: (\w+)", marker).group(1)
    sized = re.search(r"(\d+) bytes in lines of (\d+)", marker)
    if sized:
        end = b".\r\n" if "then the end marker" in marker else b""  # a BDAT chunk has none
        return filler(subject, int(sized.group(1)), stuffed="first body line stuffed" in marker,
                      line=int(sized.group(2)), every_line_stuffed="every line stuffed" in marker) + end
    lines = int(re.search(r"(\d+) lines", marker).group(1))
    return f"Subject: {subject}\r\n\r\n".encode() + (b"x" * 998 + b"\r\n") * lines + b".\r\n"


def waits(conversation: dict) -> list[float]:
    """For each reply of the real server: the seconds it came after what preceded it. (Replies
    read at once, as a reply to an over-long line and the next line's are, came together: only
    the first of them waited.)"""
    waited, previous = [], 0.0
    for (direction, text), at in zip(conversation["exchange"], conversation["t_ms"]):
        if direction == "S" and text:
            replies = sum(line[3:4] == b" " for line in unesc(text).split(b"\r\n"))
            waited += [(at - previous) / 1000] + [0.0] * (replies - 1)
        previous = at
    return waited


def late(conversation: dict) -> list[bool]:
    """For each reply of the real server: did it come a second or more after what preceded it?"""
    return [waited >= 0.9 for waited in waits(conversation)]


@pytest.mark.parametrize(("persona", "how", "conversation", "relay", "client"), cases())
def test_the_persona_answers_as_its_real_server(persona, how, conversation, relay, client):
    """The bytes the real server sent (queue ids and challenges aside; an open listener takes the
    relay recipient the real one refused), from the `skip`th reply on; where `timing`, the same
    replies late (`timing = "seconds"`: each as many whole seconds late)."""
    service = how.get("service", "")
    loaded = model.load(persona)
    context = ListenerContext(loaded, "mail.example.com", "mail.example.com",
                              tls_available=not service and loaded.server.starttls_offered, clock=lambda: 1.0,
                              rng=random.Random(0),
                              logins=LoginPolicy(tuple(how.get("logins", ()))))
    # a conversation that starts with the client talked before the greeting (a greet pause's early talker)
    driver = Driver(Session(context, client, 40000, "127.0.0.1", 2600, "127.0.0.1:2600", relay=relay,
                            service=service, tls_active=service == "submissions"),
                    early=conversation["exchange"][0][0] == "C")
    for direction, text in conversation["exchange"]:
        if direction == "C":
            driver.feed(body(text) if how.get("bodies") and text.startswith("<body:") else unesc(text))
    skip = how.get("skip", 0)
    got = normalize(b"".join(reply.data for reply in driver.replies[skip:]))
    assert got == expected_from_reference(conversation, how.get("expect", relay), skip=skip)
    if how.get("timing"):
        delays = [reply.delay for reply in driver.replies]
        if delays and not driver.early:
            delays[0] += loaded.server.greet_pause  # the banner comes after the greet pause the transport keeps
        if how["timing"] == "seconds":
            assert [round(delay) for delay in delays] == [round(waited) for waited in waits(conversation)]
        else:
            assert [delay >= 0.9 for delay in delays] == late(conversation)


def test_every_capture_has_its_manifest_entry_and_every_entry_its_capture():
    """No capture sits unplayed, no manifest names a missing one, and every key means something."""
    for directory, manifest in manifests():
        aspects = {name for name, how in manifest.items() if isinstance(how, dict)}
        captured = {p.stem for p in (REFERENCE / directory).glob("*.json")}
        # connections and tls are played over real sockets (tests/transport), client-names from
        # several addresses with a DNS server (tests/personas/test_client_names.py), timeouts
        # after a silence (tests/personas/test_timeouts.py), queue-files (Postfix's queue files, record by
        # record: tests/protocol/test_postfix_queue_file.py): not here
        assert aspects == captured - {"connections", "tls", "client-names", "timeouts", "queue-files"}, \
            (directory, aspects ^ captured)
        assert all(set(how) <= KNOWN_KEYS for how in manifest.values() if isinstance(how, dict))
        assert manifest["persona"] in model.bundled()
