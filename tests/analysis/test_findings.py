"""What happened and what to do, from the report's numbers: each sentence and when it appears."""

from __future__ import annotations

import copy

from relaypot.analysis import findings

T0, T1 = "2026-11-30T05:40:00Z", "2026-12-01T01:00:00Z"
QUIET: dict = {
    "sources_count": 0,
    "credentials": {"attempts": 0, "sources": 0, "usernames": [], "taken_over": {"accounts": [], "campaigns": []}},
    "spam": {"campaigns_by_body": []},
    "relay_probes": {"sessions": 0, "messages": 0, "source_count": 0, "signatures": []},
    "command_sessions": {},
    "origins": {"enriched_sources": 0, "dnsbl": {"zones": [], "sources": {"listed": 0, "clean": 0, "unknown": 0}}},
    "helo": {"policies": []},
    "attacks": {"attacks": [], "sessions_by_class": {}},
}


def report(**changes) -> dict:
    found = copy.deepcopy(QUIET)
    for path, value in changes.items():
        node = found
        *parents, leaf = path.split("__")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return found


def test_a_quiet_store_says_nothing():
    assert findings.highlights(report(), []) == []
    assert findings.actions(report(), 0) == []


def test_a_burst_says_who_how_many_and_how_fast():
    bursts = [("203.0.113.5", "2026-11-30T05", 800, "2026-11-30T05:40:00.1Z", "2026-11-30T05:59:10.2Z", "s1", "s2"),
              ("203.0.113.6", "2026-11-30T06", 20, "2026-11-30T06:00:00.1Z", "2026-11-30T06:00:30.2Z", "s3", "s3")]
    first, second = findings.highlights(report(), bursts)
    assert first == {"kind": "burst", "example_sessions": ["s1", "s2"],
                     "text": "203.0.113.5 sent 800 messages in 19 minutes (2026-11-30 05:40–05:59 UTC)."}
    assert second["text"] == "203.0.113.6 sent 20 messages in under a minute (at 2026-11-30 06:00 UTC)."


def test_accounts_taken_over_are_named_and_their_disabling_is_the_action():
    accounts = [{"username": name, "src_ip": ip, "messages": n, "example_sessions": [f"s-{name}"]}
                for name, ip, n in (("alice", "198.51.100.1", 500), ("bob", "198.51.100.1", 300),
                                    ("carol", "198.51.100.2", 0), ("dave", "198.51.100.2", 0))]
    quiet = report(credentials__taken_over__accounts=accounts, sources_count=2, origins__enriched_sources=2)
    [said] = findings.highlights(quiet, [])
    assert said["text"] == ("4 accounts taken over (alice, bob, carol and 1 more): 800 messages sent through them "
                            "from 2 sources.")
    assert said["example_sessions"] == ["s-alice", "s-bob", "s-carol"]
    block, disable = findings.actions(quiet, 2)
    assert block == {"kind": "block", "command": "relaypot export blocklist > blocklist.txt",
                     "text": "Block 2 public source addresses (busiest first; --kind relay, auth or spam for one "
                             "activity)."}
    assert disable["kind"] == "disable_accounts" and "alice, bob, carol, dave wherever they are real" in disable["text"]


def test_campaigns_skip_probes_and_small_ones_and_attacks_are_named():
    campaigns = [{"messages": 9, "sources": 1, "first_seen": T0, "last_seen": T1,
                  "subject": "Invoice", "probe_family": None, "example_sessions": ["a"]},
                 {"messages": 5, "sources": 1, "first_seen": T0, "last_seen": T0,
                  "subject": "relay test", "probe_family": "Super webscan", "example_sessions": ["b"]},
                 {"messages": 2, "sources": 1, "first_seen": "x", "last_seen": "x", "subject": "small",
                  "probe_family": None, "example_sessions": ["c"]}]
    attacks = [{"attack": "exim-cve-2019-10149", "name": "Exim 'Return of the WIZard'", "class": "exploit",
                "cves": ["CVE-2019-10149"], "sessions": 4, "sources": 1, "first_seen": T0, "last_seen": T1,
                "example_sessions": ["s1", "s9"]},
               {"attack": "smtp-smuggling", "name": "SMTP smuggling", "class": "smuggling", "cves": [], "sessions": 1,
                "sources": 1, "first_seen": T0, "last_seen": T0, "example_sessions": ["s5"]},
               {"attack": "tool-nmap", "name": "nmap", "class": "tool fingerprint", "cves": [], "sessions": 9,
                "sources": 1, "first_seen": T0, "last_seen": T0, "example_sessions": ["s7"]}]
    said = findings.highlights(report(spam__campaigns_by_body=campaigns, attacks__attacks=attacks), [])
    assert [s["kind"] for s in said] == ["attack", "attack", "campaign"]  # a tool's fingerprint is no highlight
    assert said[0]["text"] == ("Exim 'Return of the WIZard' (CVE-2019-10149): 4 sessions from 1 source, "
                               "2026-11-30 05:40 UTC to 2026-12-01 01:00 UTC.")
    assert said[1]["example_sessions"] == ["s5"]
    assert said[2]["text"] == ("A campaign of 9 messages with one body from 1 source, 2026-11-30 05:40 UTC to "
                               "2026-12-01 01:00 UTC: “Invoice”.")


def test_nothing_public_to_block_and_what_was_never_looked_up():
    policies = [{"needs": "syntax"}, {"needs": "dns", "unjudged_sessions": 7}]
    block, enrich = findings.actions(report(sources_count=6, origins__enriched_sources=5, helo__policies=policies), 0)
    assert block["text"] == "No public address to block: all 6 sources are private, loopback or reserved."
    assert enrich == {"kind": "enrich", "command": "relaypot enrich",
                      "text": "Look up what is missing: 1 source never looked up (where, network, DNSBL); HELO names "
                              "of 7 sessions never resolved."}


def test_every_kind_is_documented():
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "report.md").read_text()
    section = doc.split("## Highlights and actions", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M))
    source = Path(findings.__file__).read_text()
    emitted = set(re.findall(r'add\("([a-z_]+)"', source))
    assert emitted == documented
    actions = set(re.findall(r'"kind": "([a-z_]+)"', source))
    assert actions == set(re.findall(r"`([a-z_]+)` \(", section.split("Actions:", 1)[1]))

