"""What happened and what to do: the report's counts turned into sentences a reader acts on.

Pure: everything here reads the assembled report (and a few rows the report asks for on its
behalf), so each sentence is computed from the store and can be tested from a dict. A highlight
says what was seen, with the sessions to replay; an action says what to run or change.
"""

from __future__ import annotations

from typing import Any

from relaypot.numbers import count

BURST_MESSAGES = 20  # messages from one source within one clock hour that make a burst
LARGE_CAMPAIGN = 3  # copies of one body that make a campaign worth naming
SHOWN = 3  # bursts, campaigns or accounts named in one sentence list
SHOWN_ATTACKS = 5  # exploits and smuggling named among the highlights

# Violations that are attacks, with what to call them where the attack catalogue named nothing in
# their session (a store written before it): they still have their place among the attacks.
ATTACK_VIOLATIONS = {
    "smuggling": "SMTP smuggling (an end of data with a bare LF)",
    "starttls_injection": "commands injected after STARTTLS (the CVE-2011-0411 class)",
    "xexch50": "XEXCH50 commands (MS03-046 exploit attempts)",
    "line_too_long": "command lines over the length limit (overflow probes)",
}


def _span(first: str, last: str) -> str:
    seconds = _seconds(last) - _seconds(first)
    if seconds < 60:
        return "under a minute"
    return count(round(seconds / 60), "minute")


def _seconds(ts: str) -> int:
    hours, minutes, seconds = ts[11:13], ts[14:16], ts[17:19]
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)


def _at(ts: str | None) -> str:
    return f"{ts[:10]} {ts[11:16]} UTC" if ts and len(ts) >= 16 else (ts or "-")


def _between(first: str | None, last: str | None) -> str:
    """`at 2026-11-30 05:43 UTC`, `2026-11-30 05:43–07:10 UTC`, or `2026-11-30 05:43 UTC to 2026-12-01 …`."""
    if not first or not last or first[:16] == last[:16]:
        return f"at {_at(first or last)}"
    if first[:10] == last[:10]:
        return f"{first[:10]} {first[11:16]}–{last[11:16]} UTC"
    return f"{_at(first)} to {_at(last)}"


def _ids(*ids: str | None) -> list[str]:
    return sorted({i for i in ids if i})


def highlights(report: dict[str, Any], bursts: list[tuple]) -> list[dict[str, Any]]:
    """What happened, most telling first: bursts, attacks, accounts taken over, campaigns, relay
    probes, password guessing, address harvesting. Each: kind, text, example_sessions."""
    found: list[dict[str, Any]] = []

    def add(kind: str, text: str, sessions: list[str]) -> None:
        found.append({"kind": kind, "text": text, "example_sessions": sessions})

    for ip, _hour, n, first, last, a, b in bursts[:SHOWN]:
        add("burst", f"{ip} sent {count(n, 'message')} in {_span(first, last)} ({_between(first, last)}).",
            _ids(a, b))
    severe = [a for a in report["attacks"]["attacks"] if a["class"] in ("exploit", "smuggling")]
    for attack in severe[:SHOWN_ATTACKS]:
        cves = f" ({', '.join(attack['cves'])})" if attack["cves"] else ""
        add("attack", f"{attack['name']}{cves}: {count(attack['sessions'], 'session')} from "
                      f"{count(attack['sources'], 'source')}, {_between(attack['first_seen'], attack['last_seen'])}.",
            attack["example_sessions"])
    taken = report["credentials"]["taken_over"]
    if taken["accounts"]:
        accounts = taken["accounts"]
        names = sorted({a["username"] for a in accounts})
        messages = sum(a["messages"] for a in accounts)
        add("accounts_taken_over",
            f"{count(len(names), 'account')} taken over ({_names(names)}): {count(messages, 'message')} sent "
            f"through them from {count(len({a['src_ip'] for a in accounts}), 'source')}.",
            _ids(*(s for a in accounts[:SHOWN] for s in a["example_sessions"])))
    campaigns = [c for c in report["spam"]["campaigns_by_body"]
                 if c["messages"] >= LARGE_CAMPAIGN and not c["probe_family"]]  # probes have a sentence of their own
    for campaign in campaigns[:SHOWN]:
        when = _between(campaign["first_seen"], campaign["last_seen"])
        add("campaign", f"A campaign of {count(campaign['messages'], 'message')} with one body from "
                        f"{count(campaign['sources'], 'source')}, {when}: “{campaign['subject'] or '(no subject)'}”.",
            campaign["example_sessions"])
    relay = report["relay_probes"]
    if relay["sessions"]:
        families = sorted({s["family"] for s in relay["signatures"]})
        add("relay_probes", f"{count(relay['messages'], 'open-relay probe')} from "
                            f"{count(relay['source_count'], 'source')} ({', '.join(families)}).",
            _ids(*(s for sig in relay["signatures"][:1] for s in sig["example_sessions"])))
    creds = report["credentials"]
    if creds["attempts"]:
        top = creds["usernames"][0] if creds["usernames"] else None
        add("password_guessing", f"{count(creds['attempts'], 'password guess', 'password guesses')} from "
                                 f"{count(creds['sources'], 'source')}"
                                 + (f", most for “{top['username']}”." if top else "."),
            top["example_sessions"] if top else [])
    harvest = sum(report["command_sessions"].get(verb, 0) for verb in ("VRFY", "EXPN"))
    if harvest:
        add("harvesting", f"Addresses probed with VRFY or EXPN in {count(harvest, 'session')}.", [])
    dnsbl = report["origins"]["dnsbl"]
    clean = dnsbl["sources"]["clean"]
    if clean and dnsbl["zones"]:
        add("unlisted_sources", f"{count(clean, 'source')} on no DNSBL asked (every one of "
                                f"{count(len(dnsbl['zones']), 'zone')} answered): not yet known to the lists.", [])
    return found


def actions(report: dict[str, Any], public_sources: int) -> list[dict[str, Any]]:
    """What to do: block, disable, look up. Each: kind, text, command (or null)."""
    found: list[dict[str, Any]] = []
    sources = report["sources_count"]
    if public_sources:
        found.append({"kind": "block", "command": "relaypot export blocklist > blocklist.txt",
                      "text": f"Block {count(public_sources, 'public source address', 'public source addresses')}"
                              " (busiest first; --kind relay, auth or spam for one activity)."})
    elif sources:
        found.append({"kind": "block", "command": "relaypot export blocklist --include-private",
                      "text": f"No public address to block: all {count(sources, 'source')} are private, loopback "
                              "or reserved."})
    names = sorted({a["username"] for a in report["credentials"]["taken_over"]["accounts"]})
    if names:
        found.append({"kind": "disable_accounts", "command": None,
                      "text": f"Disable or change the password of {_names(names, limit=20)} wherever "
                              f"{'it is a real account' if len(names) == 1 else 'they are real accounts'}: "
                              "attackers hold working passwords for them."})
    missing = sources - report["origins"]["enriched_sources"]
    unjudged = sum(p.get("unjudged_sessions", 0) for p in report["helo"]["policies"] if p.get("needs") == "dns")
    if missing > 0 or unjudged:
        parts = [f"{count(missing, 'source')} never looked up (where, network, DNSBL)"] if missing > 0 else []
        if unjudged:
            parts.append(f"HELO names of {count(unjudged, 'session')} never resolved")
        found.append({"kind": "enrich", "command": "relaypot enrich", "text": "Look up what is missing: "
                      + "; ".join(parts) + "."})
    return found


def _names(names: list[str], limit: int = SHOWN) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
