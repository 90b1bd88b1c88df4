"""The report as terminal text that fits 100 columns; every string an attacker chose is escaped."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

from relaypot.escape import terminal
from relaypot.numbers import count
from relaypot.render import words

WIDTH = 100


CELL_LINES = 3  # lines a long cell may take before it is cut (at a word, with …)


def _cell(value: Any, width: int) -> list[str]:
    """A cell's lines: wrapped between words, a word longer than the column broken, at most
    CELL_LINES lines, the last ending in … when text was left out."""
    if value is None:
        return ["-"]
    if isinstance(value, float):
        return [f"{value:.1%}" if value <= 1 else f"{value:.1f}"]
    text = terminal(str(value), 2 * width * CELL_LINES)  # bounded; more than the lines can show
    if len(text) <= width:
        return [text]
    lines = textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]
    if len(lines) > CELL_LINES:
        lines = lines[:CELL_LINES]
        words = lines[-1].split(" ")
        while len(words) > 1 and len(" ".join(words)) + 1 > width:
            words.pop()  # room for the … after a whole word
        kept = " ".join(words)
        lines[-1] = kept + "…" if len(kept) < width else "…"  # a word is never cut for the mark
    return lines


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], widths: Sequence[int]) -> list[str]:
    """Columns of fixed widths; numbers right-aligned; a long text cell wraps onto more lines
    between words; the whole under WIDTH characters."""
    assert sum(widths) + 2 * (len(widths) - 1) <= WIDTH
    rows = list(rows)
    lines = ["  ".join(h.ljust(w)[:w] for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        cells = [_cell(value, w) for value, w in zip(row, widths)]
        for n in range(max(len(c) for c in cells)):
            parts = []
            for value, w, cell in zip(row, widths, cells):
                text = cell[n] if n < len(cell) else ""
                parts.append(text.rjust(w) if isinstance(value, (int, float)) else text.ljust(w))
            lines.append("  ".join(parts).rstrip())
    if not rows:
        lines.append("(none)")
    return lines


def para(text: str) -> list[str]:
    """Prose wrapped to WIDTH columns (tables are cut; sentences are not)."""
    return textwrap.wrap(text, WIDTH, break_long_words=True, break_on_hyphens=False) or [""]


def bullet(text: str, indent: str = "") -> list[str]:
    """A list item wrapped at word boundaries, its continuation lines indented under its text."""
    return textwrap.wrap(text, WIDTH, initial_indent=indent + "- " if not indent else indent,
                         subsequent_indent=indent + "  ", break_long_words=False, break_on_hyphens=False) or [""]


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
    out += para(f"{count(report['sessions'], 'session')} from {count(report['sources_count'], 'source')}, "
                f"{count(report['messages'], 'message')}, {report['first_seen'] or '-'} to "
                f"{report['last_seen'] or '-'}")
    out += para("sensors: " + (", ".join(f"{terminal(s['sensor'], 30)} ({s['sessions']})" for s in report["sensors"])
                               or "-"))

    section("What happened")
    for item in report["highlights"]:
        out += bullet(terminal(item["text"], 1000))
        if item["example_sessions"]:
            out += bullet("sessions to replay: " + " ".join(item["example_sessions"]), indent="    ")
    if not report["highlights"]:
        out.append("Nothing stood out: no burst, attack, campaign, relay probe, password guess or harvest.")
    section("What to do")
    for item in report["actions"]:
        out += bullet(terminal(item["text"], 1000))  # account names are the attacker's
        if item["command"]:
            out.append("    " + item["command"])
    if not report["actions"]:
        out.append("Nothing to do.")

    section("Attacks")
    attacks = report["attacks"]
    out += table(["attack", "class", "CVE", "sessions", "sources", "example"],
                 [(x["attack"], x["class"], ", ".join(x["cves"]), x["sessions"], x["sources"],
                   x["example_sessions"][0] if x["example_sessions"] else None)
                  for x in attacks["attacks"]], [24, 11, 14, 8, 7, 24])
    for x in attacks["attacks"]:
        for sent in x["excerpts"][:1]:
            out += bullet(f"{x['attack']} sent in {sent['place']}: {terminal(sent['text'], 200)}")
        if x["indicators"]:
            out += bullet("indicators: " + ", ".join(f"{i['kind']} {terminal(i['value'], 120)}"
                                                     for i in x["indicators"][:5]), indent="    ")
    if not attacks["attacks"]:
        out.append("No attack named.")
    if attacks["tls_fingerprints"]:
        out += ["", "TLS client fingerprints"] + table(
            ["JA4", "sessions", "sources", "busiest sources"],
            [(f["ja4"], f["sessions"], f["sources"], ", ".join(s["src_ip"] for s in f["busiest_sources"]))
             for f in attacks["tls_fingerprints"]], [36, 8, 7, 43])

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
                    f"{count(policy['refused_sessions'], 'session')} ({policy['share']:.1%})"
                    + (f"; {count(policy['unjudged_sessions'], 'session')} with a name never looked up or unanswered."
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
                                          [(words.shape(s["shape"]), s["sessions"])
                                           for s in report["session_shapes"]], [80, 9]) + para(words.SHAPE_NOTE)
    if report["unknown_verbs"]:
        out += ["", "unknown verbs"] + table(["verb", "uses"],
                                             [(words.verb(u["verb"]), u["uses"]) for u in report["unknown_verbs"]],
                                             [40, 9])

    relay = report["relay_probes"]
    section("Open-relay probes")
    out += para(f"{count(relay['attempts'], 'session')} from {count(relay['attempt_sources'], 'source')} tried "
                f"to relay (a recipient outside {', '.join(terminal(d, 40) for d in relay['our_domains']) or '-'}); "
                f"{relay['sessions']:,} of them were probes from {count(relay['source_count'], 'source')}.")
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
            out += para(f"{label}: {count(g['sources'], 'source')}, {g['returned']:,} came back: "
                        f"{count(g['sessions_after'], 'session')}, {count(g['messages_after'], 'message')} to "
                        f"{count(g['recipients_after'], 'recipient')} in {count(g['campaigns_after'], 'campaign')} "
                        "after it"
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
    out += para(f"{count(creds['attempts'], 'attempt')} from {count(creds['sources'], 'source')}; mechanisms: "
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
    out += para(f"{origins['enriched_sources']:,} of {count(report['sources_count'], 'source')} looked up; "
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
