"""The captures are what the real Postfix answers today: the reference server, run on loopback from
the configuration the captures were made with (tests/postfix_server.py), replays probe groups; each
conversation's replies, queue ids aside, must be the stored ones. The harness the differential
tests of the stealth issue build on."""

from __future__ import annotations

import json
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor

import pytest

from postfix_server import PostfixServer
from support import REFERENCE, normalize, unesc
from tls_observations import handshakes, resumption_by_id, sslscan, sslscan_sections

pytestmark = pytest.mark.slow  # a real Postfix starts and stops


@pytest.fixture(scope="module")
def postfix():
    with PostfixServer() as server:
        yield server


@pytest.mark.parametrize(("group", "listener"), [("sequence", "plain"), ("smuggling", "plain"), ("params", "plain"),
                                                  ("empty_local", "plain"), ("limits", "plain"),
                                                  ("queue_file", "plain"), ("content", "plain"), ("routes", "plain"),
                                                  ("verbs", "sasl"), ("helo_names", "sasl"), ("address_forms", "sasl"),
                                                  ("pipelining", "sasl"), ("bodies", "sasl"),
                                                  ("line_lengths", "sasl"), ("transactions", "sasl"),
                                                  ("after_helo", "sasl"), ("exploits", "sasl"),
                                                  ("chunks", "sasl"), ("spellings", "sasl"), ("sizes", "sasl"),
                                                  ("after_errors", "sasl"), ("guessing", "sasl"),
                                                  ("enumeration", "sasl"), ("auth", "sasl"),
                                                  ("submission", "submission"),
                                                  ("submissions", "submissions")])
def test_the_stored_captures_are_what_the_real_postfix_answers(postfix, group, listener, monkeypatch):
    sys.path.insert(0, str(REFERENCE))
    try:
        import battery
        import probes
    finally:
        sys.path.remove(str(REFERENCE))
    if group == "submissions":  # TLS from the first byte, as probes.py records 465
        monkeypatch.setattr(battery, "Conn", probes.ImplicitTls(battery.Conn))
    stored = json.loads((REFERENCE / "postfix" / f"{group}.json").read_text())
    with ThreadPoolExecutor(max_workers=4) as pool:  # four conversations at a time, each on its own connection
        fresh = list(pool.map(lambda probe: probes.run_probe("127.0.0.1", postfix.ports[listener], *probe),
                              probes.GROUPS[group]()))
    assert [c["name"] for c in fresh] == [c["name"] for c in stored]
    for old, new in zip(stored, fresh):
        replies = [normalize(b"".join(unesc(t) for d, t in c["exchange"] if d == "S")) for c in (old, new)]
        assert replies[1] == replies[0], (old["name"], postfix.log())


def test_the_real_postfixs_handshakes_are_what_the_persona_is_held_to(postfix):
    """tests/reference/postfix/handshakes.toml (tests/transport/test_real_clients.py holds the
    persona to it), taken again: one TLS 1.3 ticket, five groups, OpenSSL at security level 0."""
    stored = tomllib.loads((REFERENCE / "postfix" / "handshakes.toml").read_text())
    assert handshakes(postfix.port, "mail.example.com") == stored


def test_the_real_postfixs_sslscan_is_what_the_persona_is_held_to(postfix):
    """tests/reference/postfix/sslscan.txt (tests/transport/test_real_clients.py holds the persona
    to it), taken again: the suites of TLS 1.0 to 1.3 in the client's order, the groups, the
    signature algorithms, a certificate made as Debian's snakeoil (tests/postfix_server.py)."""
    seen = sslscan_sections(sslscan(postfix.port))
    assert seen == sslscan_sections((REFERENCE / "postfix" / "sslscan.txt").read_text())


def test_the_real_postfix_issues_session_ids_and_resumes_by_none(postfix):
    """What the postfix persona is held to (tests/transport/test_real_clients.py): a session id
    to a TLS 1.2 client without tickets, and a full handshake when it is offered again."""
    assert resumption_by_id(postfix.port) == "64 New"
