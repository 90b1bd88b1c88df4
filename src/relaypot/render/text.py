"""The report as terminal text that fits 100 columns; every string an attacker chose is escaped."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

from relaypot.escape import terminal
from relaypot.render import words

WIDTH = 100


def _cell(value: Any, width: int) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, float):
        text = f"{value:.1%}" if value <= 1 else f"{value:.1f}"
    else:
        text = terminal(str(value), width)
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], widths: Sequence[int]) -> list[str]:
    """Columns of fixed widths; numbers right-aligned; the whole under WIDTH characters."""
    assert sum(widths) + 2 * (len(widths) - 1) <= WIDTH
    rows = list(rows)
    lines = ["  ".join(h.ljust(w)[:w] for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        cells = []
        for value, w in zip(row, widths):
            text = _cell(value, w)
            cells.append(text.rjust(w) if isinstance(value, (int, float)) else text.ljust(w))
        lines.append("  ".join(cells).rstrip())
    if not rows:
        lines.append("(none)")
    return lines


def para(text: str) -> list[str]:
    """Prose wrapped to WIDTH columns (tables are cut; sentences are not)."""
    return textwrap.wrap(text, WIDTH, break_long_words=True, break_on_hyphens=False) or [""]


def bar(value: int, largest: int, width: int = 30) -> str:
    return "#" * (round(width * value / largest) if largest else 0)


def _listed(source: dict[str, Any]) -> str:
    """A source's DNSBL status in a narrow column: `listed 2`, `clean` or `unknown`."""
    if source["dnsbl_status"] == "listed":
        return f"listed {len(source['dnsbl'])}"
    return source["dnsbl_status"]


def render(report: dict[str, Any]) -> str:
    out: list[str] = []

    def section(title: str) -> None:
        out.extend(["", title, "=" * len(title)])

    filters = {k: v for k, v in report["filters"].items() if v}
    out += para("relaypot report" + (" (" + ", ".join(f"{k} {terminal(str(v), 40)}" for k, v in filters.items())
                                     + ")" if filters else ""))
    out += para(f"{report['sessions']} sessions from {report['sources_count']} sources, {report['messages']} "
                f"messages, {report['first_seen'] or '-'} to {report['last_seen'] or '-'}")
    out += para("sensors: " + (", ".join(f"{terminal(s['sensor'], 30)} ({s['sessions']})" for s in report["sensors"])
                               or "-"))

    activity = report["activity"]
    section(f"Activity per {activity['bucket']}")
    series = activity["series"]
    peak = max((p["sessions"] for p in series), default=0)
    out += table(["time", "sessions", "sources", "messages", ""],
                 [(p["t"], p["sessions"], p["sources"], p["messages"], bar(p["sessions"], peak)) for p in series[-48:]],
                 [13, 9, 8, 9, 40])
    if len(series) > 48:
        out.append(f"(the last 48 of {len(series)} {activity['bucket']}s)")
    out += [""] + table(["listener", "sessions"], [(l["listener"], l["sessions"]) for l in activity["listeners"]],
                        [40, 9])

    helo = report["helo"]
    section("HELO/EHLO identity")
    total = sum(helo["classes"].values()) or 1
    out += table(["class", "sessions", "share", ""],
                 [(c, n, n / total, bar(n, total)) for c, n in helo["classes"].items()], [16, 9, 7, 40])
    out += para(f"HELO/EHLO verbs: {', '.join(f'{v} {n}' for v, n in helo['verbs'].items())}; address literals "
                f"or bare IPs naming the client itself: {helo['literal_or_ip_naming_peer']}, another address: "
                f"{helo['literal_or_ip_naming_other']}.")
    for policy in helo["policies"]:
        out += para(f"Policy \"{policy['description']}\" ({policy['basis']}): would have refused "
                    f"{policy['refused_sessions']} sessions ({policy['share']:.1%})"
                    + (f"; {policy['unjudged_sessions']} sessions with a name never looked up or unanswered."
                       if policy["needs"] == "dns" else "."))
    for cls, items in helo["top"].items():
        if cls == "missing":
            continue
        out += ["", f"top {cls}"] + table(["name", "sessions", "sources"],
                                          [(i["name"], i["sessions"], i["sources"]) for i in items[:10]], [60, 9, 8])

    section("Preferred commands")
    uses = report["commands"]
    sessions = report["command_sessions"]
    top = max(uses.values(), default=0)
    out += table(["verb", "uses", "sessions", ""],
                 [(v, n, sessions.get(v, 0), bar(n, top)) for v, n in uses.items()], [14, 9, 9, 40])
    out += ["", "session shapes"] + table(["shape", "sessions"],
                                          [(s["shape"], s["sessions"]) for s in report["session_shapes"]], [80, 9])
    if report["unknown_verbs"]:
        out += ["", "unknown verbs"] + table(["verb", "uses"],
                                             [(u["verb"], u["uses"]) for u in report["unknown_verbs"]], [40, 9])

    relay = report["relay_probes"]
    section("Open-relay probes")
    out += para(f"{relay['attempts']} sessions from {relay['attempt_sources']} sources tried to relay "
                f"(a recipient outside {', '.join(terminal(d, 40) for d in relay['our_domains']) or '-'}); "
                f"{relay['sessions']} of them were probes from {relay['source_count']} sources.")
    out += table(["family", "signature", "sessions", "sources", "example"],
                 [(s["family"], s["signature"], s["sessions"], s["sources"], s["example"])
                  for s in relay["signatures"]],
                 [18, 16, 9, 8, 39])
    out += ["", "probing sources"] + table(
        ["source", "probes", "first seen", "country", "city", "DNSBL", "OS", "families"],
        [(s["src_ip"], s["probes"], s["first_seen"][:10], s["country"], s["city"], _listed(s), s["os"],
          ", ".join(s["families"])) for s in relay["sources"]], [15, 6, 10, 7, 12, 8, 12, 14])
    out += ["", "drop boxes"] + table(["address", "sessions", "used by"],
                                      [(b["address"], b["sessions"], ", ".join(b["sources"][:4]))
                                       for b in relay["drop_boxes"]],
                                      [44, 9, 43])
    delivery = relay["delivery"]
    if delivery["decisions"]:
        out += [""] + para("probe delivery ([deception] deliver_probes): "
                           + ", ".join(f"{n} {outcome}" for outcome, n in delivery["decisions"].items()) + ".")
        for label, key in (("delivered", "delivered"), ("not delivered", "not_delivered")):
            g = delivery[key]
            wait = g["median_return_seconds"]
            out += para(f"{label}: {g['sources']} sources, {g['returned']} came back: {g['sessions_after']} sessions, "
                        f"{g['messages_after']} messages to {g['recipients_after']} recipients in "
                        f"{g['campaigns_after']} campaigns after it"
                        + (f" (median {wait:.0f} s later)" if wait else ""))

    spam = report["spam"]
    section("Spam and campaigns")
    out += table(["MAIL FROM domain", "uses", "sources"],
                 [(d["domain"], d["uses"], d["sources"]) for d in spam["mail_from_domains"][:10]], [60, 9, 8])
    out += [""] + table(["RCPT TO domain", "uses", "sources"],
                        [(d["domain"], d["uses"], d["sources"]) for d in spam["rcpt_domains"][:10]], [60, 9, 8])
    out += [""] + table(["subject", "messages"], [(m["subject"], m["messages"]) for m in spam["subjects"][:10]],
                        [80, 9])
    out += [""] + table(["subject template", "messages", "subjects"],
                        [(c["template"], c["messages"], c["subjects"]) for c in spam["campaigns_by_subject"][:10]],
                        [70, 9, 9])
    out += [""] + table(["same body (sha256)", "messages", "distinct", "sources", "subject"],
                        [(c["body_sha256"][:16], c["messages"], c["distinct_messages"], c["sources"], c["subject"])
                         for c in spam["campaigns_by_body"][:10]],
                        [18, 9, 9, 8, 48])
    out += [""] + table(["URL host", "urls", "messages"],
                        [(u["host"], u["urls"], u["messages"]) for u in spam["url_hosts"][:10]], [60, 9, 9])
    if spam["attachments"]:
        out += [""] + table(["attachment", "sha256", "count"],
                            [(a["filename"], a["sha256"][:16], a["count"]) for a in spam["attachments"][:10]],
                            [40, 18, 9])
    sizes = spam["sizes"]
    out += para("message sizes: " + ", ".join(f"{k} {v}" for k, v in sizes["buckets"].items())
                + f" (smallest {sizes['smallest']}, largest {sizes['largest']} bytes)")

    creds = report["credentials"]
    section("Credentials tried")
    out += para(f"{creds['attempts']} attempts from {creds['sources']} sources; mechanisms: "
                + (", ".join(f"{terminal(m, 20)} {n}" for m, n in creds["mechanisms"].items()) or "-"))
    out += table(["username", "password", "attempts", "sources"],
                 [(c["username"], words.password(c["password"], c["hidden_by"]), c["attempts"], c["sources"])
                  for c in creds["pairs"][:10]],
                 [36, 36, 9, 8])
    out += [""] + table(["username", "attempts", "sources"],
                        [(u["username"], u["attempts"], u["sources"]) for u in creds["usernames"][:10]], [60, 9, 8])
    out += [""] + table(["password", "attempts", "sources"],
                        [(words.password(p["password"], p["hidden_by"]), p["attempts"], p["sources"])
                         for p in creds["passwords"][:10]], [60, 9, 8])
    taken = creds["taken_over"]
    if taken["accounts"]:
        section("Accounts taken over")
        out += para("Logins [deception] let in, and what was sent through them (recorded, never sent on).")
        out += table(["username", "password", "source", "first login", "sessions", "messages", "a subject"],
                     [(a["username"], words.password(a["password"], a["mechanism"]), a["src_ip"], a["first"][:16],
                       a["sessions"], a["messages"],
                       a["subject"]) for a in taken["accounts"][:10]], [14, 14, 15, 16, 8, 8, 9])
        if taken["campaigns"]:
            out += [""] + table(["campaign through accounts", "messages", "sources", "accounts", "a subject"],
                                [(c["body_sha256"][:16], c["messages"], c["sources"], c["accounts"], c["subject"])
                                 for c in taken["campaigns"][:10]], [26, 9, 8, 8, 31])

    section("Sources")
    out += table(["source", "sessions", "messages", "activity", "first seen", "country", "network", "DNSBL", "OS"],
                 [(s["src_ip"], s["sessions"], s["messages"], s["activity"], s["first_seen"][:10], s["country"],
                   f"AS{s['asn']}" if s["asn"] is not None else None, _listed(s), s["os"])
                  for s in report["sources"]],
                 [15, 8, 8, 8, 10, 7, 8, 8, 12])

    origins = report["origins"]
    section("Who they are")
    rdns = origins["reverse_dns"]
    out += para(f"{origins['enriched_sources']} of {report['sources_count']} sources looked up; "
                f"{rdns['with_ptr']} have a reverse DNS name, {rdns['confirmed']} forward-confirmed, "
                f"{rdns['generic']} generic or dynamic.")
    out += table(["country", "sources", "sessions"],
                 [(c["country"], c["sources"], c["sessions"]) for c in origins["countries"][:10]], [20, 9, 9])
    out += [""] + table(["city", "country", "sources", "sessions"],
                        [(c["city"], c["country"], c["sources"], c["sessions"]) for c in origins["cities"][:10]],
                        [40, 8, 9, 9])
    out += [""] + table(["network", "organisation", "sources", "sessions"],
                        [(f"AS{n['asn']}", n["organisation"], n["sources"], n["sessions"])
                         for n in origins["networks"][:10]], [10, 50, 9, 9])
    out += [""] + table(["operating system (p0f)", "sources", "sessions"],
                        [(o["os"], o["sources"], o["sessions"]) for o in origins["operating_systems"][:10]],
                        [40, 9, 9])
    dnsbl = origins["dnsbl"]
    out += [""] + table(["DNSBL zone", "asked", "listed", "errors", "listed share"],
                        [(z["zone"], z["asked"], z["listed"], z["errors"], z["listed_share"]) for z in dnsbl["zones"]],
                        [40, 8, 8, 8, 12])
    counts = dnsbl["sources"]
    out += ["", f"sources: {counts['listed']} listed, {counts['clean']} clean (every zone answered), "
                f"{counts['unknown']} unknown (a zone timed out, failed or was not asked)"]
    out += ["", f"listed sources ({dnsbl['listed_source_count']})"] + table(
        ["source", "sessions", "zones"],
        [(s["src_ip"], s["sessions"], ", ".join(s["zones"])) for s in dnsbl["listed_sources"][:10]], [20, 9, 67])
    return "\n".join(line[:WIDTH] for line in out) + "\n"
