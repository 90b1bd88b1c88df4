"""Build the report: run the queries, classify, and return one document of plain data.

The document's schema is docs/report.md (a test keeps them equal). Attacker text is kept raw:
renderers escape it where it lands.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from relaypot.analysis.classify import (
    HELO_CLASSES, classify_helo, probe_signature, signatures, subject_template,
)
from relaypot.analysis.policies import POLICIES
from relaypot.analysis.queries import Queries, Scope
from relaypot.personas.model import KNOWN_VERBS
from relaypot.storage.database import Database

SCHEMA = 1
SIZE_BUCKETS = ("< 1 KiB", "1–10 KiB", "10–100 KiB", "100 KiB–1 MiB", ">= 1 MiB")
# The columns the enrichment issue fills (geography, network, DNSBL, operating system).
ENRICHMENT = ("country", "city", "asn", "organisation", "dnsbl", "os")


@dataclass(frozen=True)
class Options:
    scope: Scope = field(default_factory=Scope)
    bucket: str | None = None  # "hour" | "day"; chosen from the range when None
    top: int = 20
    our_domains: tuple[str, ...] = ()  # default: the domains of the host names the sensors announced


def build(db: Database, options: Options) -> dict[str, Any]:
    q = Queries(db, options.scope)
    sessions, first, last, sources, messages = q.overview()
    bucket = options.bucket or _bucket_for(first, last)
    width = 13 if bucket == "hour" else 10
    hostnames = q.hostnames()
    ours = our_domains(options.our_domains, hostnames)
    report: dict[str, Any] = {
        "relaypot_report": SCHEMA,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "filters": {"since": options.scope.since, "until": options.scope.until, "sensor": options.scope.sensor,
                    "listener": options.scope.listener},
        "sessions": sessions,
        "sources_count": sources,
        "messages": messages,
        "first_seen": first,
        "last_seen": last,
        "sensors": [{"sensor": name, "sessions": n} for name, n in q.sensors()],
        "our_domains": list(ours),
    }
    report["activity"] = _activity(q, bucket, width)
    report["helo"] = _helo(q, options, hostnames, width)
    report.update(_commands(q, options.top))
    report["relay_probes"] = _relay_probes(q, options, ours, hostnames, width)
    report["spam"] = _spam(q, options.top)
    report["credentials"] = _credentials(q, options.top)
    report["sources"] = _sources(q, options.top, report["relay_probes"])
    return report


def _bucket_for(first: str | None, last: str | None) -> str:
    """Hours for up to three days of data, days beyond."""
    if not first or not last:
        return "hour"
    span = _parse(last) - _parse(first)
    return "hour" if span <= timedelta(days=3) else "day"


def _parse(ts: str) -> datetime:
    return datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")


def our_domains(configured: tuple[str, ...], hostnames: list[str]) -> tuple[str, ...]:
    """Configured domains, or each announced host name and its parent domain (mail.example.com, example.com)."""
    if configured:
        return tuple(sorted({d.lower().rstrip(".") for d in configured}))
    found = set()
    for host in hostnames:
        host = host.lower().rstrip(".")
        found.add(host)
        if host.count(".") >= 2:
            found.add(host.split(".", 1)[1])
    return tuple(sorted(found))


def _activity(q: Queries, bucket: str, width: int) -> dict[str, Any]:
    return {
        "bucket": bucket,
        "series": [{"t": t, "sessions": n, "sources": src, "messages": m} for t, n, src, m in q.activity(width)],
        "listeners": [{"listener": name, "sessions": n, "sources": src} for name, n, src in q.listeners()],
    }


def _helo(q: Queries, options: Options, hostnames: list[str], width: int) -> dict[str, Any]:
    our_names = frozenset(h.lower().rstrip(".") for h in hostnames)
    our_addresses = frozenset(q.destinations())
    distinct = q.distinct_helos()
    rows, per_class = [], defaultdict(list)
    for helo, n, src in distinct:
        identity = classify_helo(helo, our_names, our_addresses)
        if helo is not None:
            rows.append((helo, identity.cls, identity.syntax, identity.address))
        per_class[identity.cls].append({"name": helo, "sessions": n, "sources": src, "why": identity.reason})
    q.load_helo_classes(rows)
    classes = dict.fromkeys(HELO_CLASSES, 0)
    syntax = dict.fromkeys(HELO_CLASSES, 0)
    verbs: Counter[str] = Counter()
    peer_equal = peer_other = 0
    for cls, syn, verb, n, equal in q.helo_classes():
        classes[cls] += n
        syntax[syn] += n
        verbs[verb or "none"] += n
        if syn in ("address_literal", "bare_ip"):
            peer_equal += equal or 0
            peer_other += n - (equal or 0)
    total = sum(classes.values())
    over_time: dict[str, dict[str, int]] = {}
    for t, cls, n in q.helo_over_time(width):
        over_time.setdefault(t, dict.fromkeys(HELO_CLASSES, 0))[cls] = n
    top_sources = [ip for ip, *_ in q.top_sources(options.top)]
    by_source: dict[str, dict[str, int]] = {}
    for ip, cls, n in q.helo_by_source(top_sources):
        by_source.setdefault(ip, dict.fromkeys(HELO_CLASSES, 0))[cls] = n
    return {
        "classes": classes,
        "syntax_classes": syntax,
        "verbs": dict(sorted(verbs.items())),
        "literal_or_ip_naming_peer": peer_equal,
        "literal_or_ip_naming_other": peer_other,
        "top": {cls: sorted(items, key=lambda i: (-i["sessions"], i["name"] or ""))[: options.top]
                for cls, items in sorted(per_class.items())},
        "over_time": [{"t": t, "classes": counts} for t, counts in sorted(over_time.items())],
        "by_source": [{"src_ip": ip, "classes": by_source.get(ip, dict.fromkeys(HELO_CLASSES, 0))}
                      for ip in top_sources],
        "policies": [policy.evaluate(syntax, total) for policy in POLICIES],
    }


def _commands(q: Queries, top: int) -> dict[str, Any]:
    rows = q.verbs()
    return {
        "commands": {verb: uses for verb, uses, _ in rows if verb in KNOWN_VERBS},
        "command_sessions": {verb: n for verb, _, n in rows if verb in KNOWN_VERBS},
        "unknown_verbs": [{"verb": verb, "uses": uses, "sessions": n}
                          for verb, uses, n in rows if verb not in KNOWN_VERBS][:top],
        "session_shapes": [{"shape": shape, "sessions": n, "sources": src} for shape, n, src in q.shapes(top)],
    }


def _relay_probes(q: Queries, options: Options, ours: tuple[str, ...], hostnames: list[str],
                  width: int) -> dict[str, Any]:
    attempts, attempt_sources = q.relay_attempts(ours)
    destinations = q.destinations()
    targets = tuple(sorted(set(destinations) | set(hostnames)))
    words = sorted({k for s in signatures() for k in s.keywords} | {t.lower() for t in targets})
    probes = []
    for session_id, seq, ts, src_ip, dst_ip, subject, excerpt, rcpt_json, mail_from in q.probe_candidates(ours, words):
        text = f"{subject or ''}\n{excerpt or ''}"
        found = probe_signature(text, tuple(sorted({dst_ip or "", *hostnames} - {""})))
        if found:
            probes.append((session_id, ts, src_ip, found, json.loads(rcpt_json), subject))
    sessions = {p[0] for p in probes}
    per_source: dict[str, dict[str, Any]] = {}
    per_signature: dict[tuple[str, str], dict[str, Any]] = {}
    drop_boxes: dict[str, dict[str, Any]] = {}
    over_time: Counter[str] = Counter()
    for session_id, ts, src_ip, (family, name), rcpts, subject in probes:
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
        for address in rcpts:
            box = drop_boxes.setdefault(address, {"address": address, "sessions": set(), "sources": set()})
            box["sessions"].add(session_id)
            box["sources"].add(src_ip)
        over_time[ts[:width]] += 1
    return {
        "attempts": attempts,
        "attempt_sources": attempt_sources,
        "sessions": len(sessions),
        "messages": len(probes),
        "sources": sorted(({**s, "sessions": len(s["sessions"]), "families": sorted(s["families"]),
                            "repeats": s["probes"] - 1} for s in per_source.values()),
                          key=lambda s: (-s["probes"], s["src_ip"]))[: options.top],
        "source_count": len(per_source),
        "signatures": sorted(({**s, "sessions": len(s["sessions"]), "sources": len(s["sources"])}
                              for s in per_signature.values()),
                             key=lambda s: (-s["sessions"], s["family"], s["signature"])),
        "drop_boxes": sorted(({"address": b["address"], "sessions": len(b["sessions"]), "sources": sorted(b["sources"])}
                              for b in drop_boxes.values()),
                             key=lambda b: (-b["sessions"], b["address"]))[: options.top],
        "over_time": [{"t": t, "probes": n} for t, n in sorted(over_time.items())],
        "our_domains": list(ours),
    }


def _spam(q: Queries, top: int) -> dict[str, Any]:
    subjects = q.subjects()
    templates: dict[str, list[int]] = {}
    for subject, n, src in subjects:
        entry = templates.setdefault(subject_template(subject), [0, 0, 0])
        entry[0] += n
        entry[1] += 1
        entry[2] = max(entry[2], src)
    sizes = {label: 0 for label in SIZE_BUCKETS}
    smallest = largest = None
    for b, n, lo, hi in q.sizes():
        sizes[SIZE_BUCKETS[b]] = n
        smallest = lo if smallest is None else min(smallest, lo)
        largest = hi if largest is None else max(largest, hi)
    return {
        "mail_from_domains": [{"domain": d, "uses": n, "sessions": s, "sources": src}
                              for d, n, s, src in q.envelope_domains("mail", top)],
        "rcpt_domains": [{"domain": d, "uses": n, "sessions": s, "sources": src}
                         for d, n, s, src in q.envelope_domains("rcpt", top)],
        "subjects": [{"subject": subject, "messages": n, "sources": src} for subject, n, src in subjects[:top]],
        "sizes": {"buckets": sizes, "smallest": smallest, "largest": largest},
        "campaigns_by_body": [{"sha256": sha, "messages": n, "sources": src, "first_seen": first, "last_seen": last,
                               "subject": subject} for sha, n, src, first, last, subject in q.campaigns_by_body(top)],
        "campaigns_by_subject": [
            {"template": t, "messages": v[0], "subjects": v[1], "most_sources": v[2]}
            for t, v in sorted(templates.items(), key=lambda kv: (-kv[1][0], kv[0]))[:top] if v[1] > 1 or v[0] > 1
        ],
        "url_hosts": [{"host": h, "urls": n, "messages": m, "example": url} for h, n, m, url in q.url_hosts(top)],
        "attachments": [{"sha256": sha, "count": n, "filename": name, "content_type": ctype, "size": size}
                        for sha, n, name, ctype, size in q.attachments(top)],
    }


def _credentials(q: Queries, top: int) -> dict[str, Any]:
    attempts, sources, sessions = q.credential_totals()
    return {
        "attempts": attempts,
        "sources": sources,
        "sessions": sessions,
        "mechanisms": {m: n for m, n, _ in q.credentials_by("k.mechanism", 50)},
        "usernames": [{"username": u, "attempts": n, "sources": s} for u, n, s in q.credentials_by("k.username", top)],
        "passwords": [{"password": p, "attempts": n, "sources": s} for p, n, s in q.credentials_by("k.password", top)],
        "pairs": [{"username": u, "password": p, "attempts": n, "sources": s}
                  for u, p, n, s in q.credentials_by("k.username, k.password", top)],
    }


def _sources(q: Queries, top: int, relay: dict[str, Any]) -> list[dict[str, Any]]:
    rows = q.top_sources(top)
    ips = [r[0] for r in rows]
    auth = q.per_source("credentials", "k", ips)
    harvest = q.per_source("commands", "c", ips, "AND c.verb IN ('VRFY', 'EXPN')")
    probes = {s["src_ip"]: s["probes"] for s in relay["sources"]}
    out = []
    for ip, sessions, first, last, messages in rows:
        n_probes = probes.get(ip, 0)
        if n_probes:
            activity = "probe"
        elif auth.get(ip):
            activity = "auth"
        elif messages:
            activity = "spam"
        elif harvest.get(ip):
            activity = "harvest"
        else:
            activity = "scan"
        out.append({"src_ip": ip, "sessions": sessions, "first_seen": first, "last_seen": last,
                    "messages": messages, "probes": n_probes, "auth_attempts": auth.get(ip, 0),
                    "harvest_commands": harvest.get(ip, 0), "activity": activity,
                    **dict.fromkeys(ENRICHMENT)})
    return out
