"""Build the report: run the queries (in parallel, one connection each), and return plain data.

The document's schema is docs/report.md (a test keeps them equal). Attacker text is kept raw:
renderers escape it where it lands.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from relaypot.analysis import findings, origins
from relaypot.analysis.policies import DNS_POLICIES, POLICIES
from relaypot.analysis.queries import Queries, Scope
from relaypot.judgements.addresses import address_order, is_public, our_domains
from relaypot.judgements.attacks import CLASSES, catalogue
from relaypot.judgements.classify import HELO_CLASSES, classify_helo
from relaypot.judgements.derive import Deriver
from relaypot.storage.database import Database
from relaypot.vocabulary import KNOWN_VERBS

SCHEMA = 2
SIZE_BUCKETS = ("< 1 KiB", "1–10 KiB", "10–100 KiB", "100 KiB–1 MiB", ">= 1 MiB")


@dataclass(frozen=True)
class Options:
    scope: Scope = field(default_factory=Scope)
    bucket: str | None = None  # "hour" | "day"; chosen from the range when None
    top: int = 20
    our_domains: tuple[str, ...] = ()  # default: the domains of the host names the sensors announced
    workers: int = min(4, os.cpu_count() or 1)

# The mechanism of a login whose password was never sent (CRAM-MD5, NTLM): the password is NULL.
HIDDEN_BY = "CASE WHEN k.password IS NULL THEN k.mechanism END"


def make_report(open_db: Callable[[], Database], options: Options) -> dict[str, Any]:
    """`open_db` gives a fresh connection: each worker thread asks its own questions."""
    db = open_db()
    try:
        prepare(db)
        first, last = _range(Queries(db, options.scope))
    finally:
        db.close()
    bucket = options.bucket or _bucket_for(first, last)
    width = 13 if bucket == "hour" else 10
    top = options.top
    tasks: dict[str, Callable[[Queries], Any]] = {
        "overview": Queries.overview,
        "per_source": lambda q: _sources_with_examples(q, top),
        "activity": lambda q: q.activity(width),
        "helo_top": lambda q: _helo_top(q, top),
        "verbs": Queries.verb_uses,
        "probes": Queries.probes,
        "domains": lambda q: (q.envelope_domains("mail", top), q.envelope_domains("rcpt", top)),
        "messages": lambda q: _messages(q, top),
        "credentials": lambda q: _credentials(q, top),
        "accounts": lambda q: _accounts(q, top),
        "deliveries": lambda q: _deliveries(q, top),
        "enrichment": origins.load,
        "bursts": lambda q: q.bursts(findings.BURST_MESSAGES, top),
        "attacks": _attacks,
    }
    results = _run(open_db, options.scope, tasks, options.workers)
    return assemble(results, options, first, last, bucket, width)


def _attacks(q: Queries) -> dict[str, Any]:
    """The attack section's rows: what the catalogue named, each attack's commonest excerpts, the
    attack violations of sessions it named nothing in (stores from before it), RCPT-only relay
    tests, and which classes each source showed."""
    named = q.attacks()
    return {"named": named, "excerpts": {row[0]: q.attack_excerpts(row[0]) for row in named},
            "indicators": {row[0]: indicator_counts(q.attack_indicators(row[0], 1000)) for row in named
                           if row[1] == "exploit"},
            "violations": q.violation_kinds(sorted(findings.ATTACK_VIOLATIONS)),
            "envelope": q.envelope_relay_tests(), "by_source": q.attack_classes_by_source(),
            "fingerprints": [(row, q.fingerprint_sources(row[0])) for row in q.tls_fingerprints(20)]}


INDICATORS_SHOWN = 10  # indicators per attack in the report (all of them: relaypot export indicators)


def indicator_counts(rows: list[tuple]) -> list[dict[str, Any]]:
    """{kind, value, uses, sources} of the indicators in attack rows, the most used first."""
    uses: Counter[tuple[str, str]] = Counter()
    sources: dict[tuple[str, str], set[str]] = {}
    for indicators, src_ip, *_ in rows:
        for item in json.loads(indicators):
            key = (item["kind"], item["value"])
            uses[key] += 1
            sources.setdefault(key, set()).add(src_ip)
    return [{"kind": kind, "value": value, "uses": n, "sources": len(sources[(kind, value)])}
            for (kind, value), n in sorted(uses.items(), key=lambda kv: (-kv[1], kv[0]))]


def _attack_section(r: dict[str, Any]) -> dict[str, Any]:
    """Per attack: its name, class and CVEs (from the catalogue), sessions, sources, first and last
    seen, example sessions and what was sent; exploits first."""
    entries = catalogue().by_id
    found = []
    for attack, cls, cves, sessions, sources, first, last, a, b in r["named"]:
        entry = entries.get(attack)
        found.append({"attack": attack, "name": entry.name if entry else attack, "class": cls,
                      "cves": [c for c in cves.split(",") if c], "sessions": sessions, "sources": sources,
                      "first_seen": first, "last_seen": last, "example_sessions": examples({a, b}),
                      "excerpts": [{"text": text, "place": place, "uses": uses}
                                   for text, place, uses in r["excerpts"].get(attack, ())],
                      "indicators": r["indicators"].get(attack, [])[:INDICATORS_SHOWN]})
    for kind, sessions, sources, a, b in r["violations"]:
        found.append({"attack": f"violation:{kind}", "name": findings.ATTACK_VIOLATIONS[kind],
                      "class": "smuggling" if kind == "smuggling" else "exploit", "cves": [], "sessions": sessions,
                      "sources": sources, "first_seen": None, "last_seen": None,
                      "example_sessions": examples({a, b}), "excerpts": [], "indicators": []})
    sessions, sources, first, last, a, b = r["envelope"]
    if sessions:
        found.append({"attack": "relay-test-envelope", "name": "Relay test by envelope: a recipient outside our "
                      "domains, and no message", "class": "relay test", "cves": [], "sessions": sessions,
                      "sources": sources, "first_seen": first, "last_seen": last, "example_sessions": examples({a, b}),
                      "excerpts": [], "indicators": []})
    found.sort(key=lambda x: (CLASSES.index(x["class"]) if x["class"] in CLASSES else len(CLASSES), -x["sessions"],
                              x["attack"]))
    classes: Counter[str] = Counter()
    for row in found:
        classes[row["class"]] += row["sessions"]
    fingerprints = [{"ja4": ja4, "ja3": ja3, "sessions": n, "sources": sources, "first_seen": first,
                     "last_seen": last, "example_sessions": examples({a, b}),
                     "busiest_sources": [{"src_ip": ip, "sessions": m} for ip, m in busiest]}
                    for (ja4, ja3, n, sources, first, last, a, b), busiest in r["fingerprints"]]
    return {"attacks": found, "sessions_by_class": dict(classes), "tls_fingerprints": fingerprints}


def _messages(q: Queries, top: int) -> tuple:
    templates = q.subject_templates(top)
    examples = {t: q.template_examples(t) for t, n, _ in templates if n > 1}
    return (q.message_sizes(), q.subjects(top), templates, q.campaigns_by_body(top), q.url_hosts(top),
            q.attachments(top), examples)


def _sources_with_examples(q: Queries, top: int) -> tuple[list[tuple], dict[str, list[str]]]:
    """The per-(source, class) rows, and the first and last session of each top source: found by
    index from the (class, start) of its first and last session, not by reading every session of
    the busiest sources."""
    firsts: dict[str, tuple[str, str]] = {}  # ip -> (start, class) of its first session, and of its last
    lasts: dict[str, tuple[str, str]] = {}
    rows = q.per_source()
    for ip, cls, _, first, last, *_ in rows:
        firsts[ip] = min(firsts.get(ip, (first, cls)), (first, cls))
        lasts[ip] = max(lasts.get(ip, (last, cls)), (last, cls))
    found: dict[str, list[str]] = {}
    for ip in _busiest(rows, top):
        ends = {q.session_started(ip, cls, start) for start, cls in (firsts[ip], lasts[ip])}
        found[ip] = sorted(end for end in ends if end is not None)
    return rows, found


def examples(session_ids: Any) -> list[str]:
    """At most three example sessions, earliest first (session ids start with the time)."""
    ids = sorted(session_ids)
    return ids if len(ids) <= 3 else [ids[0], ids[len(ids) // 2], ids[-1]]


def _busiest(rows: list[tuple], top: int) -> list[str]:
    """The top sources by sessions (then address), from the per-(source, class) rows."""
    sessions: Counter[str] = Counter()
    for ip, _, n, *_ in rows:
        sessions[ip] += n
    return [ip for ip, _ in sorted(sessions.items(), key=lambda item: (-item[1], address_order(item[0])))[:top]]


def _run(open_db: Callable[[], Database], scope: Scope, tasks: dict[str, Callable[[Queries], Any]],
         workers: int) -> dict[str, Any]:
    def run(name: str) -> Any:
        db = open_db()
        try:
            return tasks[name](Queries(db, scope))
        finally:
            db.close()

    if workers <= 1:
        return {name: run(name) for name in tasks}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="report") as pool:
        futures = {name: pool.submit(run, name) for name in tasks}
        return {name: future.result() for name, future in futures.items()}


def prepare(db: Database) -> None:
    """Bring a store written by an older relaypot up to date, once: columns, indexes, derived facts."""
    db.create_schema()
    q = Queries(db, Scope())
    q.fill_hours()
    _classify_stragglers(q)


def _classify_stragglers(q: Queries) -> None:
    """Sessions stored before HELO classes were derived at write time get theirs now, once."""
    rows = q.unclassified()
    if rows:
        deriver = Deriver()
        found = []
        for session_id, helo, hostname, dst_ip, src_ip in rows:
            deriver.opened(session_id, hostname or "", dst_ip or "")
            found.append((*deriver.helo(session_id, helo, src_ip), session_id))
            deriver.closed(session_id)
        q.store_helo_classes(found)


def _range(q: Queries) -> tuple[str | None, str | None]:
    where, params = q.scope.sessions()
    return q.q(f"SELECT min(s.started), max(s.started) FROM sessions s WHERE {where}", params)[0]


def buckets(first: str | None, last: str | None, width: int) -> list[str]:
    """Every bucket key (`2026-11-27T08` for hours, `2026-11-27` for days) from first to last."""
    if not first or not last:
        return []
    step = timedelta(hours=1) if width == 13 else timedelta(days=1)
    fmt = "%Y-%m-%dT%H" if width == 13 else "%Y-%m-%d"
    moment = datetime.strptime(first[:width], fmt)
    end = datetime.strptime(last[:width], fmt)
    found = []
    while moment <= end:
        found.append(moment.strftime(fmt))
        moment += step
    return found


def _bucket_for(first: str | None, last: str | None) -> str:
    """Hours for up to three days of data, days beyond."""
    if not first or not last:
        return "hour"
    span = _parse(last) - _parse(first)
    return "hour" if span <= timedelta(days=3) else "day"


def _parse(ts: str) -> datetime:
    return datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")


def _helo_top(q: Queries, top: int) -> tuple[list[tuple], dict[tuple[str, str | None], int]]:
    rows = q.helo_top(top)
    return rows, q.helo_sources([name for _, name, *_ in rows if name is not None])


def _credentials(q: Queries, top: int) -> dict[str, Any]:
    attempts, sources, sessions = q.credential_totals()
    return {
        "attempts": attempts,
        "sources": sources,
        "sessions": sessions,
        "mechanisms": {m: n for m, n, *_ in q.credentials_by("k.mechanism", 50)},
        "usernames": [{"username": u, "attempts": n, "sources": s, "example_sessions": examples({a, b})}
                      for u, n, s, a, b in q.credentials_by("k.username", top)],
        "passwords": [{"password": p, "hidden_by": m, "attempts": n, "sources": s, "example_sessions": examples({a, b})}
                      for p, m, n, s, a, b in q.credentials_by(f"k.password, {HIDDEN_BY}", top)],
        "pairs": [{"username": u, "password": p, "hidden_by": m, "attempts": n, "sources": s,
                   "example_sessions": examples({a, b})}
                  for u, p, m, n, s, a, b in q.credentials_by(f"k.username, k.password, {HIDDEN_BY}", top)],
    }


def _deliveries(q: Queries, top: int) -> dict[str, Any]:
    """The payoff of probe delivery: did sources come back once their probe arrived, and with
    what, beside those whose probe was not delivered."""

    def group(outcome: str) -> dict[str, Any]:
        rows = q.came_back(outcome)
        waits = sorted((_parse(first) - _parse(at)).total_seconds() for _ip, at, _n, _m, _r, first, _s in rows
                       if first)
        recipients, bodies = q.came_back_mail(outcome)
        return {
            "sources": len(rows),
            "returned": sum(1 for row in rows if row[2]),
            "sessions_after": sum(row[2] for row in rows),
            "messages_after": sum(row[3] for row in rows),
            "relay_sessions_after": sum(row[4] for row in rows),
            "recipients_after": recipients,
            "campaigns_after": bodies,
            "median_return_seconds": waits[len(waits) // 2] if waits else None,
            "top": [{"src_ip": ip, "at": at, "sessions_after": n, "messages_after": m,
                     "return_seconds": (_parse(first) - _parse(at)).total_seconds() if first else None,
                     "example_sessions": [session] if session else []}
                    for ip, at, n, m, _r, first, session in rows[:top]],
        }

    return {"decisions": dict(q.delivery_outcomes()), "delivered": group("delivered"),
            "not_delivered": group("other")}


def _accounts(q: Queries, top: int) -> dict[str, Any]:
    """Accounts taken over: the logins [deception] let in, and what was sent through them."""
    rows = q.accounts_taken(top)
    return {
        "accounts": [{"username": u, "password": p, "src_ip": ip, "mechanism": mech, "first": first, "last": last,
                      "sessions": n, "messages": messages, "subject": subject, "example_sessions": examples({a, b})}
                     for u, p, ip, mech, first, last, n, messages, subject, a, b in rows],
        "campaigns": [{"body_sha256": sha, "messages": n, "sources": src, "accounts": accounts, "subject": subject,
                       "example_sessions": [session]}
                      for sha, n, src, accounts, subject, session in q.campaigns_through_accounts(top)],
    }


# ---------------------------------------------------------------------------- assembly


def assemble(r: dict[str, Any], options: Options, first: str | None, last: str | None, bucket: str,
             width: int) -> dict[str, Any]:
    o = _overview(r["overview"], width)
    enrichment = r["enrichment"]
    rows, example_sessions = r["per_source"]
    attack_classes: dict[str, set[str]] = {}
    for ip, cls in r["attacks"]["by_source"]:
        attack_classes.setdefault(ip, set()).add(cls)
    sources = _per_source(rows, example_sessions, options.top, enrichment, attack_classes)
    ours = tuple(sorted(our_domains(options.our_domains, o["hostnames"])))
    activity_sources = dict(r["activity"])
    times = buckets(first, last, width)
    report = {
        "relaypot_report": SCHEMA,
        "generated": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "filters": {"since": options.scope.since, "until": options.scope.until, "sensor": options.scope.sensor,
                    "listener": options.scope.listener},
        "sessions": o["sessions"],
        "sources_count": sources["count"],
        "messages": o["messages"],
        "first_seen": first,
        "last_seen": last,
        "sensors": [{"sensor": name, "sessions": n} for name, n in sorted(o["sensors"].items())],
        "our_domains": list(ours),
        "activity": {
            "bucket": bucket,
            # Every bucket from the first to the last, empty ones as zero: a time axis is linear.
            "series": [{"t": t, "sessions": o["buckets"].get(t, (0, 0))[0], "sources": activity_sources.get(t, 0),
                        "messages": o["buckets"].get(t, (0, 0))[1]} for t in times],
            "listeners": [{"listener": name, "sessions": n}
                          for name, n in sorted(o["listeners"].items(), key=lambda kv: (-kv[1], kv[0]))],
        },
        "helo": _helo(o, r["helo_top"], sources, enrichment["helo_dns"]),
        **_commands(r["verbs"], sorted(o["shapes"].items(), key=lambda kv: (-kv[1], kv[0])), options.top),
        "relay_probes": {**_relay_probes(r["probes"], options.top, ours, o["relaying"], sources["relaying"], width,
                                         enrichment, times), "delivery": r["deliveries"]},
        "spam": _spam(r["domains"], r["messages"]),
        "credentials": {**r["credentials"], "taken_over": r["accounts"]},
        "attacks": _attack_section(r["attacks"]),
        "sources": sources["top"],
        "origins": origins.fold(sources["sessions_by_source"], enrichment, options.top),
    }
    report["highlights"] = findings.highlights(report, r["bursts"])
    report["actions"] = findings.actions(report, sources["public"])
    return report


def _overview(rows: list[tuple], width: int) -> dict[str, Any]:
    """Fold the one-pass overview rows (per hour) into totals, facets, buckets, classes and shapes."""
    o: dict[str, Any] = {"sessions": 0, "messages": 0, "relaying": 0, "sensors": Counter(), "listeners": Counter(),
                         "hostnames": set(), "addresses": set(), "buckets": {},
                         "classes": dict.fromkeys(HELO_CLASSES, 0),
                         "syntax": dict.fromkeys(HELO_CLASSES, 0), "verbs": Counter(), "over_time": {},
                         "peer_equal": 0, "peer_other": 0, "shapes": Counter()}
    for hour, cls, syn, verb, shape, sensor, listener, hostname, dst_ip, n, messages, relay, equal, other in rows:
        t = hour[:width]
        cls, syn = cls or "missing", syn or "missing"
        o["shapes"][shape or ""] += n
        o["sessions"] += n
        o["messages"] += messages
        o["relaying"] += relay
        o["sensors"][sensor] += n
        o["listeners"][listener or "-"] += n
        if hostname:
            o["hostnames"].add(hostname)
        if dst_ip:
            o["addresses"].add(dst_ip)
        bucket = o["buckets"].setdefault(t, [0, 0])
        bucket[0] += n
        bucket[1] += messages
        o["classes"][cls] += n
        o["syntax"][syn] += n
        o["verbs"][verb or "none"] += n
        o["over_time"].setdefault(t, dict.fromkeys(HELO_CLASSES, 0))[cls] += n
        o["peer_equal"] += equal or 0
        o["peer_other"] += other or 0
    return o


# A source's activity: what it did that matters most. Exploits and smuggling come before all
# else; probes and logins, then the other attack classes, before spam, harvesting and scanning.
_FIRST_CLASSES = ("exploit", "smuggling")
_LATER_CLASSES = ("brute force", "enumeration", "relay test", "reconnaissance")


def _per_source(rows: list[tuple], example_sessions: dict[str, list[str]], top: int,
                enrichment: dict[str, Any], attack_classes: dict[str, set[str]]) -> dict[str, Any]:
    """Fold (source, class) rows: the count of sources, of relaying ones, and the busiest with all they did."""
    per: dict[str, dict[str, Any]] = {}
    for ip, cls, n, first, last, messages, probing, auth, harvest, relay in rows:
        source = per.get(ip)
        if source is None:
            source = per[ip] = {"src_ip": ip, "sessions": 0, "first_seen": first, "last_seen": last, "messages": 0,
                                "probe_sessions": 0, "auth_sessions": 0, "harvest_sessions": 0, "relay": 0,
                                "classes": dict.fromkeys(HELO_CLASSES, 0)}
        source["sessions"] += n
        source["first_seen"] = min(source["first_seen"], first)
        source["last_seen"] = max(source["last_seen"], last)
        source["messages"] += messages
        source["probe_sessions"] += probing
        source["auth_sessions"] += auth
        source["harvest_sessions"] += harvest
        source["relay"] = max(source["relay"], relay)
        source["classes"][cls] += n
    busiest = [per[ip] for ip in _busiest(rows, top)]
    listed = []
    for s in busiest:
        shown = attack_classes.get(s["src_ip"], set())
        first = [c for c in _FIRST_CLASSES if c in shown]
        later = [c for c in _LATER_CLASSES if c in shown]
        if first:
            activity = first[0]
        elif s["probe_sessions"]:
            activity = "probe"
        elif s["auth_sessions"]:
            activity = "auth"
        elif later:
            activity = later[0]
        elif s["messages"]:
            activity = "spam"
        elif s["harvest_sessions"]:
            activity = "harvest"
        else:
            activity = "scan"
        listed.append({k: s[k] for k in ("src_ip", "sessions", "first_seen", "last_seen", "messages", "probe_sessions",
                                         "auth_sessions", "harvest_sessions")}
                      | {"activity": activity, "attack_classes": sorted(shown),
                         **origins.describe(s["src_ip"], enrichment),
                         "example_sessions": example_sessions.get(s["src_ip"], [])})
    return {"count": len(per), "relaying": sum(s["relay"] for s in per.values()), "top": listed,
            "public": sum(1 for ip in per if is_public(ip)),
            "sessions_by_source": {ip: s["sessions"] for ip, s in per.items()},
            "by_source": [{"src_ip": s["src_ip"], "classes": s["classes"]} for s in busiest]}


def _helo(o: dict[str, Any], top_result: tuple[list[tuple], dict], sources: dict[str, Any],
          helo_dns: list[tuple]) -> dict[str, Any]:
    top_rows, source_counts = top_result
    our_names = frozenset(h.lower().rstrip(".") for h in o["hostnames"])
    top: dict[str, list[dict[str, Any]]] = {}
    for cls, name, n, own in top_rows:
        top.setdefault(cls, []).append({"name": name, "sessions": n, "sources": source_counts.get((cls, name), 0),
                                        "why": _why(name, cls, our_names, frozenset(o["addresses"]), n, own or 0)})
    total = sum(o["classes"].values())
    return {
        "classes": o["classes"],
        "syntax_classes": o["syntax"],
        "verbs": dict(sorted(o["verbs"].items())),
        "literal_or_ip_naming_peer": o["peer_equal"],
        "literal_or_ip_naming_other": o["peer_other"],
        "top": dict(sorted(top.items())),
        "over_time": [{"t": t, "classes": counts} for t, counts in sorted(o["over_time"].items())],
        "by_source": sources["by_source"],
        "policies": [policy.evaluate(o["syntax"], total) for policy in POLICIES]
                    + [policy.evaluate_dns(o["syntax"], total, helo_dns) for policy in DNS_POLICIES],
    }


def _why(name: str | None, cls: str, our_names: frozenset[str], our_addresses: frozenset[str], sessions: int = 0,
         naming_client: int = 0) -> str:
    """Why a top name has its stored class. The sensor that recorded it judged by its own names
    and the client's address (stored: `naming_client` of the `sessions`); a fleet's report knows
    every sensor's names, so a name one sensor calls its own is, at another, just a name: the
    reason must fit the class stored."""
    if naming_client and cls in ("address_literal", "bare_ip"):
        return ("the client's own address" if naming_client == sessions else
                f"the client's own address in {naming_client} of {sessions} sessions")
    identity = classify_helo(name, our_names, our_addresses)
    if identity.cls == cls:
        return identity.reason
    plain = classify_helo(name)  # by syntax alone, as a sensor that does not own the name saw it
    if plain.cls == cls and plain.reason:
        return plain.reason
    return "a name or address of the sensor that recorded it" if cls == "impersonation" else cls.replace("_", " ")


def _commands(verb_rows: list[tuple], shapes: list[tuple], top: int) -> dict[str, Any]:
    # Sessions per verb come from the shapes (each lists the verbs its sessions used), not from a
    # DISTINCT over every command; a shape cut after 16 tokens can miss a verb used later.
    sessions: Counter[str] = Counter()
    for shape, n in shapes:
        for verb in {token.rstrip("+") for token in shape.split()}:
            sessions[verb] += n
    return {
        "commands": {verb: uses for verb, uses in verb_rows if verb in KNOWN_VERBS},
        "command_sessions": {verb: sessions.get(verb, 0) for verb, _ in verb_rows if verb in KNOWN_VERBS},
        "unknown_verbs": [{"verb": verb, "uses": uses} for verb, uses in verb_rows if verb not in KNOWN_VERBS][:top],
        "session_shapes": [{"shape": shape, "sessions": n} for shape, n in shapes[:top]],
    }


def _relay_probes(rows: list[tuple], top: int, ours: tuple[str, ...], attempts: int, attempt_sources: int,
                  width: int, enrichment: dict[str, Any], times: list[str]) -> dict[str, Any]:
    per_source: dict[str, dict[str, Any]] = {}
    per_signature: dict[tuple[str, str], dict[str, Any]] = {}
    drop_boxes: dict[str, dict[str, Any]] = {}
    over_time: Counter[str] = Counter()
    sessions: set[str] = set()
    for session_id, ts, src_ip, family, name, rcpt_json, subject in rows:
        sessions.add(session_id)
        source = per_source.setdefault(src_ip, {"src_ip": src_ip, "probes": 0, "sessions": set(), "first_seen": ts,
                                                "last_seen": ts, "families": set()})
        source["probes"] += 1
        source["sessions"].add(session_id)
        source["first_seen"], source["last_seen"] = min(source["first_seen"], ts), max(source["last_seen"], ts)
        source["families"].add(family)
        sig = per_signature.setdefault((family, name), {"family": family, "signature": name, "sessions": set(),
                                                        "sources": set(), "example": subject})
        sig["sessions"].add(session_id)
        sig["sources"].add(src_ip)
        for address in json.loads(rcpt_json):
            box = drop_boxes.setdefault(address, {"address": address, "sessions": set(), "sources": set()})
            box["sessions"].add(session_id)
            box["sources"].add(src_ip)
        over_time[ts[:width]] += 1
    return {
        "attempts": attempts,
        "attempt_sources": attempt_sources,
        "sessions": len(sessions),
        "messages": len(rows),
        # With where each is, its DNSBL listings and its OS: the field report's table of scanners.
        "sources": [{**s, **{k: v for k, v in origins.describe(s["src_ip"], enrichment).items()
                             if k in ("country", "city", "dnsbl", "dnsbl_status", "os")}}
                    for s in sorted(({**s, "sessions": len(s["sessions"]), "families": sorted(s["families"]),
                                      "repeats": s["probes"] - 1, "example_sessions": examples(s["sessions"])}
                                     for s in per_source.values()),
                                    key=lambda s: (-s["probes"], address_order(s["src_ip"])))[:top]],
        "source_count": len(per_source),
        "signatures": sorted(({**s, "sessions": len(s["sessions"]), "sources": len(s["sources"]),
                               "example_sessions": examples(s["sessions"])} for s in per_signature.values()),
                             key=lambda s: (-s["sessions"], s["family"], s["signature"])),
        "drop_boxes": sorted(({"address": b["address"], "sessions": len(b["sessions"]),
                               "sources": sorted(b["sources"], key=address_order),
                               "example_sessions": examples(b["sessions"])} for b in drop_boxes.values()),
                             key=lambda b: (-b["sessions"], b["address"]))[:top],
        "over_time": [{"t": t, "probes": over_time.get(t, 0)} for t in times],
        "our_domains": list(ours),
    }


def _spam(domains: tuple[list[tuple], list[tuple]], messages: tuple) -> dict[str, Any]:
    mail, rcpt = domains
    sizes_rows, subjects, templates, bodies, hosts, attachments, template_examples = messages
    sizes = {label: 0 for label in SIZE_BUCKETS}
    smallest = largest = None
    for b, n, lo, hi in sizes_rows:
        sizes[SIZE_BUCKETS[b]] = n
        smallest = lo if smallest is None else min(smallest, lo)
        largest = hi if largest is None else max(largest, hi)
    return {
        "mail_from_domains": [{"domain": d, "uses": n, "sources": src} for d, n, src in mail],
        "rcpt_domains": [{"domain": d, "uses": n, "sources": src} for d, n, src in rcpt],
        "subjects": [{"subject": subject, "messages": n} for subject, n in subjects],
        "sizes": {"buckets": sizes, "smallest": smallest, "largest": largest},
        "campaigns_by_body": [{"body_sha256": sha, "messages": n, "sources": src, "distinct_messages": exact,
                               "first_seen": first, "last_seen": last, "subject": subject, "probe_family": family,
                               "example_sessions": examples({a, b})}
                              for sha, n, src, exact, first, last, subject, a, b, family in bodies],
        "campaigns_by_subject": [{"template": t, "messages": n, "subjects": distinct,
                                  "example_sessions": template_examples.get(t, [])}
                                 for t, n, distinct in templates if n > 1],
        "url_hosts": [{"host": h, "urls": n, "messages": m, "example": url} for h, n, m, url in hosts],
        "attachments": [{"sha256": sha, "count": n, "filename": name, "content_type": ctype, "size": size}
                        for sha, n, name, ctype, size in attachments],
    }
