"""The attack catalogue: every entry's examples played through a real session and its watch must
name it, its counter-examples must not, and ordinary mail must name nothing."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaypot.events import Attack, Tls
from relaypot.judgements.attacks import (
    MAX_PER_SESSION,
    PLACES,
    CatalogueError,
    Watch,
    catalogue,
    read_catalogue,
)
from support import Driver, make_session

CATALOGUE = catalogue()
ENTRIES = {entry.id: entry for entry in CATALOGUE.entries}
_REPEAT = re.compile(r"\{(.)\*(\d+)\}")


def play(conversation: tuple[str, ...] | list[str], persona: str = "postfix") -> list[Attack]:
    """The attacks a watch names in `conversation` (client lines, sent in one read), as the
    connection feeds it: every record the session makes, and every message it delivers."""
    watch = Watch(CATALOGUE)
    found: list[Attack] = []
    data = b""
    for line in conversation:
        if line.startswith("@sni "):
            found += watch.see(Tls(outcome="established", server_name=line[5:]))
        else:
            data += _REPEAT.sub(lambda m: m.group(1) * int(m.group(2)), line).encode("utf-8") + b"\r\n"
    driver = Driver(make_session(persona, tls=True))
    driver.feed(data).finish()
    for delivered in driver.delivered:
        found += watch.message(delivered.body)
    for event in driver.events:
        found += watch.see(event)
    return found


EXAMPLES = [(entry.id, n, example) for entry in CATALOGUE.entries for n, example in enumerate(entry.examples)]
COUNTERS = [(entry.id, n, example) for entry in CATALOGUE.entries for n, example in enumerate(entry.counter_examples)]


@pytest.mark.parametrize("entry_id,n,conversation", EXAMPLES, ids=[f"{e}-{n}" for e, n, _ in EXAMPLES])
def test_each_entry_names_its_public_example(entry_id, n, conversation):
    named = [a for a in play(conversation) if a.attack == entry_id]
    assert named, f"{entry_id} not named in its example {n}"
    entry = ENTRIES[entry_id]
    assert all(a.attack_class == entry.attack_class and a.cves == entry.cves for a in named)
    assert all(0 < len(a.excerpt) <= 200 for a in named)


@pytest.mark.parametrize("entry_id,n,conversation", COUNTERS, ids=[f"{e}-{n}" for e, n, _ in COUNTERS])
def test_no_entry_names_its_counter_example(entry_id, n, conversation):
    assert entry_id not in {a.attack for a in play(conversation)}


def test_every_entry_has_an_example_and_a_counter_example():
    for entry in CATALOGUE.entries:
        assert entry.examples and entry.counter_examples, entry.id


ORDINARY = [
    ["EHLO mail.example.org", "MAIL FROM:<alice@example.org> SIZE=1200 BODY=8BITMIME", "RCPT TO:<bob@example.com>",
     "DATA", "From: Alice <alice@example.org>", "To: bob@example.com", "Subject: Lunch on Friday?",
     "Date: Sat, 05 Dec 2026 09:00:00 +0000", "Message-ID: <1234@example.org>", "MIME-Version: 1.0",
     "Content-Type: text/plain; charset=utf-8", "", "Hi Bob, shall we meet at 12:30?", "", "-- ", "Alice", ".",
     "QUIT"],
    ["HELO client.example.net", "MAIL FROM:<>", "RCPT TO:<postmaster@example.com>", "RSET", "NOOP", "QUIT"],
    ["EHLO [192.0.2.7]", "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "QUIT"],
    ["EHLO mx.example.net", "STARTTLS"],
    ["EHLO mail.example.org", "MAIL FROM:<news@example.org>", "RCPT TO:<a@example.com>", "DATA",
     "Subject: Weekly prices: $5 off, 100% sure!", "X-Mailer: Microsoft Outlook 16.0", "", "Only $5 (or ${price}).",
     "Reply to sales@example.org", ".", "QUIT"],
]


@pytest.mark.parametrize("persona", ["postfix", "exchange2000"])
@pytest.mark.parametrize("conversation", ORDINARY, ids=range(len(ORDINARY)))
def test_ordinary_mail_is_no_attack(persona, conversation):
    assert play(conversation, persona) == []


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(PLACES), min_size=1, max_size=5), st.text(max_size=300))
def test_any_text_anywhere_is_matched_without_raising_and_records_stay_bounded(places, text):
    watch = Watch(CATALOGUE)
    found: list[Attack] = []
    for place in places * 20:
        watch.observe(place, text, found, "RCPT")
    assert len(found) <= MAX_PER_SESSION
    assert all(len(a.excerpt) <= 200 for a in found)


def test_a_session_of_payloads_makes_at_most_its_share_of_records():
    lines = ["EHLO x", "MAIL FROM:<>"] + [f"RCPT TO:<${{run{{/bin/sh -c id{n}}}}}@localhost>" for n in range(100)]
    found = play(lines, "exchange2000")  # IIS keeps no error count: all 100 are answered
    assert len(found) == MAX_PER_SESSION and len({a.excerpt for a in found}) == MAX_PER_SESSION


def test_a_counted_entry_is_recorded_once():
    found = play(["HELO mail.example.org"] + [f"VRFY user{n}" for n in range(20)])
    assert [a.attack for a in found] == ["vrfy-expn-enumeration"]


@pytest.mark.parametrize("text,message", [
    ('[[attack]]\nid = "a"\nname = "n"\nclass = "spam"\nsource = "s"\n[[attack.match]]\nplace = "helo"\n'
     'pattern = "x"\n', "class 'spam' is not one of"),
    ('[[attack]]\nid = "a"\nname = "n"\nclass = "exploit"\nsource = "s"\n[[attack.match]]\nplace = "nowhere"\n'
     'pattern = "x"\n', "place 'nowhere' is not one of"),
    ('[[attack]]\nid = "a"\nname = "n"\nclass = "exploit"\nsource = "s"\ncves = ["CVE-19"]\n[[attack.match]]\n'
     'place = "helo"\npattern = "x"\n', "'CVE-19' is no CVE id"),
    ('[[attack]]\nid = "a"\nname = "n"\nclass = "exploit"\nsource = "s"\n[[attack.match]]\nplace = "helo"\n'
     'pattern = "("\n', "does not compile"),
    ('[[attack]]\nid = "a"\nname = "n"\nclass = "exploit"\nsource = "s"\n[[attack.match]]\nplace = "helo"\n',
     "needs a pattern or a min_length"),
    ('[[attack]]\nid = "a"\nname = "n"\nclass = "exploit"\nsource = "s"\nexample = []\n[[attack.match]]\n'
     'place = "helo"\npattern = "x"\n', "unknown key 'example'"),
    ('[[attack]]\nid = "a"\nname = "n"\nclass = "exploit"\nsource = "s"\n[[attack.match]]\nplace = "verb"\n',
     "names its verbs"),
])
def test_a_catalogue_mistake_is_named(text, message):
    with pytest.raises(CatalogueError, match=re.escape(message)):
        read_catalogue(text, "local.toml")


def test_every_smuggling_variant_captured_from_the_real_postfix_is_named():
    """tests/reference/postfix/smuggling.json: the public scanners' end-of-data variants, as sent to
    the real Postfix 3.7.11 (whose answers the persona matches, test_conformance); played through a
    session, each is named smuggling, and the pipelined second transaction as such."""
    import json

    from support import REFERENCE, unesc

    captured = json.loads((REFERENCE / "postfix" / "smuggling.json").read_text())
    assert len(captured) == 11
    for conversation in captured:
        sent = b"".join(unesc(text) for direction, text in conversation["exchange"] if direction == "C")
        watch = Watch(CATALOGUE)
        driver = Driver(make_session("postfix")).feed(sent).finish()
        named = {a.attack for e in driver.events for a in watch.see(e)}
        named |= {a.attack for d in driver.delivered for a in watch.message(d.body)}
        wanted = "pipelined-transaction" if conversation["name"].startswith("pipelined") else "smtp-smuggling"
        assert wanted in named, (conversation["name"], named)
