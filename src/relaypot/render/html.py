"""The report as one self-contained HTML page: inline CSS, inline SVG charts, no script, no network.

Every value is HTML-escaped where it is written, and a Content-Security-Policy forbids scripts
and any fetch, so even a missed escape could not run or call home.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from relaypot import escape
from relaypot.numbers import count
from relaypot.render import charts, words

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1em; margin-top: 1.4em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: .6em 0; font-size: 13px; }
th, td { padding: .2em .35em; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
th { white-space: normal; }  /* a header wraps between words: its values set the column's width */
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td { max-width: 36em; overflow-wrap: break-word; }
td .i { white-space: nowrap; }  /* a list wraps between its items, never inside one */
abbr { text-decoration: none; border-bottom: 1px dotted #999; }
td.tok, td.t { white-space: nowrap; max-width: none; overflow-wrap: normal; }
td.t time { font-variant-numeric: tabular-nums; }
code { font-size: 12px; white-space: nowrap; }
code.sent { white-space: pre-wrap; overflow-wrap: anywhere; }  /* what an attacker sent: long, unbroken */
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
.note { color: #555; }
mark.esc { background: #fde2c4; color: #8a3b00; }
.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(13em, 1fr)); gap: .6em 1.5em;
           margin: 1em 0; padding: .8em 1em; background: #f5f7fa; border-radius: 4px; }
.summary div { font-size: 13px; color: #555; } .summary strong { display: block; font-size: 1.35em; color: #222; }
nav ol { columns: 4 12em; margin: .5em 0; padding-left: 1.4em; }
@media (max-width: 900px) { body { margin: 1em .6em; } table { font-size: 12px; } code { font-size: 11px; } }
@media print {
  body { margin: 0; font-size: 11px; } table { font-size: 9.5px; } code { font-size: 9px; }
  th, td { padding: .15em .25em; }
  .scroll { overflow: visible; } nav { display: none; } tr, figure { break-inside: avoid; }
  h2, h3 { break-after: avoid; } mark.esc { border: 1px solid #8a3b00; }
  /* paper cannot scroll: there a long address or id may break, rather than be cut off */
  td.tok, td.t, td code, td .i { white-space: normal; overflow-wrap: anywhere; }
}
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


class Markup(str):
    """HTML made here from escaped parts: a table writes it as it is."""


REPLAY = "relaypot replay ID"  # the header of a column of example sessions: the command to see them


def replay(session_ids: Sequence[str]) -> Markup:
    """Example sessions, one per line, under a REPLAY header: each the ID of that command."""
    return Markup("<br>".join(f'<code title="relaypot replay {a(sid)}">{e(sid)}</code>' for sid in session_ids)
                  or "-")


def e(value: Any) -> str:
    """Escape anything for HTML text; None becomes a dash. Invisible and control characters are
    shown as \\x.. or \\u.... escapes, marked so they differ from the same text typed by hand,
    their Unicode name on hover."""
    if value is None:
        return "-"
    text = str(value)
    if text.isascii() and text.isprintable():
        return html.escape(text, quote=True)
    shown = escape.visible(text)
    if shown == text:
        return html.escape(text, quote=True)
    # escape.visible leaves backslashes alone, so walk the original: each character that changed
    # is one marked escape.
    out = []
    for ch in text:
        seen = escape.visible(ch)
        if seen == ch:
            out.append(html.escape(ch, quote=True))
        else:
            out.append(f'<mark class="esc" title="{_name(ch)}">{seen}</mark>')
    return "".join(out)


def _name(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        return f"undecodable byte 0x{code - 0xDC00:02x}"
    return f"U+{code:04X} {unicodedata.name(ch, '') or _CONTROLS.get(code, 'CONTROL CHARACTER')}"


_CONTROLS = {0x00: "NULL", 0x07: "BELL", 0x08: "BACKSPACE", 0x09: "TAB", 0x0A: "LINE FEED",
             0x0D: "CARRIAGE RETURN", 0x1B: "ESCAPE", 0x7F: "DELETE", 0x9B: "CONTROL SEQUENCE INTRODUCER"}


def a(value: Any) -> str:
    """Escape anything for an attribute (a hover title, a datetime): no markup there, so invisible
    characters are written as plain escapes."""
    return "-" if value is None else html.escape(escape.visible(str(value)), quote=True)


# Columns whose values are single tokens (addresses, names, hashes, ids): never broken across
# lines; a table too wide for the page scrolls in its own box instead. Times: a human form, the
# exact value on hover.
TOKEN_COLUMNS = frozenset({"source", "address", "name", "domain", "host", "zone",
                           "sha256", "body sha256", "listener", "sensor", "signature", "family", "ASN", "country",
                           "verb", "class", "username", "password", "mechanism", "filename", "type"})
TIME_COLUMNS = frozenset({"first seen", "last seen", "time", "first login", "last login"})
HASH_SHOWN = 12  # hex digits of a SHA-256 a reader compares by eye; the whole value on hover


def digest(value: str | None) -> Markup:
    """A hash abbreviated to its first HASH_SHOWN digits, the full value on hover (and in the JSON)."""
    if not value:
        return Markup("-")
    return Markup(f'<abbr title="{a(value)}">{e(value[:HASH_SHOWN])}…</abbr>')


def item_list(values: Iterable[Any]) -> Markup:
    """A list that wraps between its items, never inside one (addresses, zones, families)."""
    return Markup(", ".join(f'<span class="i">{e(v)}</span>' for v in values) or "-")


def seen(first: str | None, last: str | None) -> Markup:
    """First and last time in one cell: `2026-11-30 05:43–07:10 UTC` within a day, both dates
    otherwise, wrapping between the two when the table is short of room; the exact times on hover."""
    if not first or not last or len(first) < 16 or len(last) < 16:
        return when(first or last)
    tail = f"{last[11:16]} UTC" if first[:10] == last[:10] else f"{last[:10]} {last[11:16]} UTC"
    return Markup(f'<time datetime="{a(first)}" title="{a(first)} to {a(last)}"><span class="i">'
                  f'{e(first[:10])} {e(first[11:16])}</span>–<span class="i">{e(tail)}</span></time>')


def dns_name(name: str | None) -> Markup:
    """A host name that may break after a dot, never inside a label."""
    return Markup("-" if not name else "<wbr>".join(e(part) + "." for part in name.split(".")[:-1])
                  + "<wbr>" * (name.count(".") > 0) + e(name.split(".")[-1]))


def when(value: str | None) -> Markup:
    """`2026-11-30T05:43:21.123456Z` as `2026-11-30 05:43 UTC`, the exact time on hover."""
    if not value:
        return Markup("-")
    shown = f"{value[:10]} {value[11:16]} UTC" if len(value) >= 16 else value
    return Markup(f'<time datetime="{a(value)}" title="{a(value)}">{e(shown)}</time>')


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in ("", "-"))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Rows as a table; a column with no value in any row (no OS without p0f, no city without
    GeoIP) is left out, so the columns a reader needs stay on the page."""
    rows = list(rows)
    if not rows:
        return '<p class="note">(none)</p>'
    kept = [i for i in range(len(headers)) if len(headers) == 1 or not all(_blank(row[i]) for row in rows)]
    if len(kept) < len(headers):
        headers = [headers[i] for i in kept]
        rows = [[row[i] for i in kept] for row in rows]
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    kinds = ["t" if h in TIME_COLUMNS else "tok" if h in TOKEN_COLUMNS else "" for h in headers]
    body = []
    for row in rows:
        cells = "".join(_cell(v, kind) for v, kind in zip(row, kinds))
        body.append(f"<tr>{cells}</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
            "</div>")


def _cell(value: Any, kind: str) -> str:
    if isinstance(value, float):
        return f'<td class="n">{value:.1%}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="n">{value:,}</td>'
    if kind == "t":
        return f'<td class="t">{value if isinstance(value, Markup) else when(value)}</td>'
    shown = value if isinstance(value, Markup) else e(value)
    return f'<td class="{kind}">{shown}</td>' if kind else f"<td>{shown}</td>"


def figure(name: str, report: dict[str, Any]) -> str:
    title = charts.CHARTS[name][0]
    return f'<figure id="chart-{name}" aria-label="{a(title)}">{charts.svg(name, report)}</figure>'


def _zones(source: dict[str, Any]) -> str:
    """listed (the zones), clean (every zone answered: not listed), or unknown."""
    if source["dnsbl_status"] == "listed":
        return ", ".join(source["dnsbl"])
    return "clean" if source["dnsbl_status"] == "clean" else "unknown"


SECTIONS = (("findings", "What happened, what to do"), ("attacks", "Attacks"), ("activity", "Activity"),
            ("helo", "HELO/EHLO identity"),
            ("commands", "Preferred commands"), ("relay-probes", "Open-relay probes"), ("spam", "Spam and campaigns"),
            ("credentials", "Credentials tried"),
            ("sources", "Sources"), ("origins", "Who they are"))
CONTENTS = ('<nav aria-label="contents"><ol>'
            + "".join(f'<li><a href="#{anchor}">{e(title)}</a></li>' for anchor, title in SECTIONS) + "</ol></nav>")


def summary(report: dict[str, Any]) -> str:
    """The headline findings, first: how much, who, what they tried, where from, how known."""
    relay, creds, origins = report["relay_probes"], report["credentials"], report["origins"]
    countries = [c for c in origins["countries"] if c["country"] != "unknown"]
    top = countries[0] if countries else None
    statuses = origins["dnsbl"]["sources"]
    judged = statuses["listed"] + statuses["clean"]  # sources whose status is known
    items = [
        ("sessions", f"{report['sessions']:,}", count(report["messages"], "message")),
        ("sources", f"{report['sources_count']:,}", f"{origins['enriched_sources']:,} looked up"),
        ("open-relay probes", f"{relay['sessions']:,}", f"from {count(relay['source_count'], 'source')}"),
        ("credentials tried", f"{creds['attempts']:,}", f"from {count(creds['sources'], 'source')}"),
        ("top country", top["country"] if top else "-",
         f"{top['sessions'] / report['sessions']:.0%} of sessions" if top and report["sessions"] else ""),
        ("DNSBL-listed sources", f"{statuses['listed'] / judged:.0%}" if judged else "-",  # of those known
         f"{statuses['listed']:,} listed, {statuses['clean']:,} clean, {statuses['unknown']:,} unknown"),
    ]
    return ('<section class="summary" aria-label="summary">'
            + "".join(f"<div><strong>{e(value)}</strong>{e(label)}<br>{e(detail)}</div>"
                      for label, value, detail in items) + "</section>")


def findings(report: dict[str, Any]) -> str:
    """What happened (each with the sessions to replay) and what to do (each with its command)."""
    happened = "".join(
        f"<li>{e(h['text'])}"
        + (f' <span class="note">({replay_inline(h["example_sessions"])})</span>' if h["example_sessions"] else "")
        + "</li>" for h in report["highlights"])
    todo = "".join(f"<li>{e(a['text'])}" + (f"<br><code>{e(a['command'])}</code>" if a["command"] else "") + "</li>"
                   for a in report["actions"])
    return ('<section id="findings"><h2>What happened</h2>'
            + (f"<ul>{happened}</ul>" if happened else
               '<p class="note">Nothing stood out: no burst, attack, campaign, relay probe, password guess or '
               "harvest.</p>")
            + "<h2>What to do</h2>" + (f"<ul>{todo}</ul>" if todo else '<p class="note">Nothing to do.</p>')
            + "</section>")


def attacks(section: dict[str, Any]) -> str:
    """The Attacks section: every catalogue entry named, exploits first, with what was sent."""
    rows = [(Markup(f'{e(x["name"])}<br><code>{e(x["attack"])}</code>'
                    + (f'<br>{item_list(x["cves"])}' if x["cves"] else "")), x["class"],
             x["sessions"], x["sources"], replay(x["example_sessions"]), seen(x["first_seen"], x["last_seen"]),
             Markup("<br>".join(f'<code class="sent" title="{a(p["place"])}">{e(p["text"])}</code>'
                                for p in x["excerpts"]) or "-"),
             Markup("<br>".join(f'{e(i["kind"])} <code class="sent">{e(i["value"])}</code>'
                                for i in x["indicators"]) or "-"))
            for x in section["attacks"]]
    by_class = ", ".join(f"{e(cls)} {n:,}" for cls, n in section["sessions_by_class"].items())
    return ('<section id="attacks"><h2>Attacks</h2>'
            + (f"<p>Sessions per class: {by_class}.</p>" if by_class else "")
            + table(["attack", "class", "sessions", "sources", REPLAY, "seen", "what was sent", "indicators"], rows)
            + "<h3>TLS client fingerprints</h3>"
            + table(["JA4", "JA3", "sessions", "sources", "busiest sources", REPLAY, "seen"],
                    [(Markup(f"<code>{e(f['ja4'])}</code>"), digest(f["ja3"]), f["sessions"], f["sources"],
                      item_list(f"{s['src_ip']} ({s['sessions']})" for s in f["busiest_sources"]),
                      replay(f["example_sessions"]), seen(f["first_seen"], f["last_seen"]))
                     for f in section["tls_fingerprints"]])
            + "</section>")


def replay_inline(session_ids: Sequence[str]) -> Markup:
    """Example sessions in a sentence: `relaypot replay` and the IDs, each its command on hover."""
    return Markup("relaypot replay " + " ".join(f'<code title="relaypot replay {a(sid)}">{e(sid)}</code>'
                                                for sid in session_ids))


def render(report: dict[str, Any]) -> str:
    parts: list[str] = []
    add = parts.append
    filters = ", ".join(f"{k} {v}" for k, v in report["filters"].items() if v)
    add(f"<h1>relaypot report</h1><p>{count(report['sessions'], 'session')} from "
        f"{count(report['sources_count'], 'source')}, {count(report['messages'], 'message')}, "
        f"{when(report['first_seen'])} to {when(report['last_seen'])}"
        f"{' (' + e(filters) + ')' if filters else ''}. Sensors: "
        + (", ".join(f"{e(s['sensor'])} ({s['sessions']})" for s in report["sensors"]) or "-")
        + f". Generated {when(report['generated'])}.</p>")
    add(summary(report))
    add(CONTENTS)
    add(findings(report))
    add(attacks(report["attacks"]))

    activity = report["activity"]
    add(f'<section id="activity"><h2>Activity per {e(activity["bucket"])}</h2>{figure("activity", report)}')
    add(table(["listener", "sessions"], [(l["listener"], l["sessions"]) for l in activity["listeners"]]))
    add("</section>")

    helo = report["helo"]
    total = sum(helo["classes"].values()) or 1
    add(f'<section id="helo"><h2>HELO/EHLO identity</h2>{figure("helo-classes", report)}')
    add(table(["class", "sessions", "share"], [(c, n, n / total) for c, n in helo["classes"].items()]))
    add(f"<p>Verbs: {e(', '.join(f'{v} {n}' for v, n in helo['verbs'].items()))}. Address literals or bare IPs "
        f"naming the client itself: {helo['literal_or_ip_naming_peer']}; another address: "
        f"{helo['literal_or_ip_naming_other']}.</p>")
    for policy in helo["policies"]:
        unjudged = (f' {policy["unjudged_sessions"]} sessions had a name never looked up or unanswered.'
                    if policy["needs"] == "dns" else "")
        add(f'<p class="policy">Policy “{e(policy["description"])}” ({e(policy["basis"])}) would have refused '
            f'<strong>{policy["refused_sessions"]}</strong> sessions ({policy["share"]:.1%}).{unjudged}</p>')
    for cls, items in helo["top"].items():
        if cls != "missing":
            add(f"<h3>Top {e(cls)}</h3>" + table(["name", "sessions", "sources", "why"],
                                                 [(i["name"], i["sessions"], i["sources"], i["why"]) for i in items]))
    add("</section>")

    add(f'<section id="commands"><h2>Preferred commands</h2>{figure("commands", report)}')
    add(table(["verb", "uses", "sessions"],
              [(v, n, report["command_sessions"].get(v, 0)) for v, n in report["commands"].items()]))
    add("<h3>Session shapes</h3>" + table(["shape", "sessions"],
                                           [(words.shape(s["shape"]), s["sessions"])
                                            for s in report["session_shapes"]])
        + f'<p class="note">{e(words.SHAPE_NOTE)}</p>')
    add("<h3>Unknown verbs</h3>" + table(["verb", "uses"], [(words.verb(u["verb"]), u["uses"])
                                                            for u in report["unknown_verbs"]]))
    add("</section>")

    relay = report["relay_probes"]
    add(f'<section id="relay-probes"><h2>Open-relay probes</h2><p>{count(relay["attempts"], "session")} from '
        f'{count(relay["attempt_sources"], "source")} tried to relay (a recipient outside '
        f'{e(", ".join(relay["our_domains"]))}); {relay["sessions"]:,} of them were probes from '
        f'{count(relay["source_count"], "source")}.</p>{figure("relay-probes", report)}')
    add(table(["family", "signature", "sessions", "sources", "example", REPLAY],
              [(s["family"], s["signature"], s["sessions"], s["sources"], s["example"], replay(s["example_sessions"]))
               for s in relay["signatures"]]))
    add("<h3>Probing sources</h3>" + table(
        ["source", "probes", "DNSBL", "OS", REPLAY, "country", "city", "families", "seen"],
        [(s["src_ip"], s["probes"], _zones(s), s["os"], replay(s["example_sessions"]), s["country"], s["city"],
          item_list(s["families"]), seen(s["first_seen"], s["last_seen"])) for s in relay["sources"]]))
    add("<h3>Drop boxes</h3>" + table(["address", "sessions", "used by", REPLAY],
                                       [(b["address"], b["sessions"], item_list(b["sources"]),
                                         replay(b["example_sessions"])) for b in relay["drop_boxes"]]))
    delivery = relay["delivery"]
    if delivery["decisions"]:
        add("<h3>Probe delivery</h3><p>" + e(", ".join(f"{n} {o}" for o, n in delivery["decisions"].items()))
            + ". Did the sources come back once their probe arrived?</p>" + table(
                ["", "sources", "came back", "sessions after", "messages after", "recipients after",
                 "campaigns after", "median return (s)"],
                [(label, g["sources"], g["returned"], g["sessions_after"], g["messages_after"],
                  g["recipients_after"], g["campaigns_after"], g["median_return_seconds"])
                 for label, g in (("probe delivered", delivery["delivered"]),
                                  ("probe not delivered", delivery["not_delivered"]))]))
        add(table(["source", "probe decided", "sessions after", "messages after", "return (s)", REPLAY],
                  [(t["src_ip"], t["at"], t["sessions_after"], t["messages_after"], t["return_seconds"],
                    replay(t["example_sessions"])) for t in delivery["delivered"]["top"]]))
    add("</section>")

    spam = report["spam"]
    add('<section id="spam"><h2>Spam and campaigns</h2>')
    add("<h3>MAIL FROM domains</h3>" + table(["domain", "uses", "sources"],
                                              [(d["domain"], d["uses"], d["sources"])
                                               for d in spam["mail_from_domains"]]))
    add("<h3>RCPT TO domains</h3>" + table(["domain", "uses", "sources"],
                                            [(d["domain"], d["uses"], d["sources"]) for d in spam["rcpt_domains"]]))
    add("<h3>Subjects</h3>" + table(["subject", "messages"], [(s["subject"], s["messages"]) for s in spam["subjects"]]))
    add("<h3>Campaigns by subject template</h3>" + table(
        ["template", "messages", "subjects", REPLAY],
        [(c["template"], c["messages"], c["subjects"], replay(c["example_sessions"]))
         for c in spam["campaigns_by_subject"]]))
    add("<h3>Campaigns by body</h3>" + table(
        ["subject", "messages", "distinct messages", "sources", "seen", "body sha256", REPLAY],
        [(c["subject"], c["messages"], c["distinct_messages"], c["sources"], seen(c["first_seen"], c["last_seen"]),
          digest(c["body_sha256"]), replay(c["example_sessions"])) for c in spam["campaigns_by_body"]]))
    add("<h3>URL hosts</h3>" + table(["host", "urls", "messages", "example"],
                                      [(u["host"], u["urls"], u["messages"], u["example"]) for u in spam["url_hosts"]]))
    add("<h3>Attachments</h3>" + table(["filename", "type", "size", "count", "sha256"],
                                        [(a["filename"], a["content_type"], a["size"], a["count"], digest(a["sha256"]))
                                         for a in spam["attachments"]]))
    sizes = spam["sizes"]
    add("<h3>Sizes</h3>" + table(list(sizes["buckets"]), [tuple(sizes["buckets"].values())]))
    add("</section>")

    creds = report["credentials"]
    add(f'<section id="credentials"><h2>Credentials tried</h2><p>{count(creds["attempts"], "attempt")} from '
        f'{count(creds["sources"], "source")}; mechanisms: '
        f'{e(", ".join(f"{m} {n}" for m, n in creds["mechanisms"].items()))}.</p>')
    add("<h3>By mechanism</h3>" + table(["mechanism", "attempts"], list(creds["mechanisms"].items())))
    add("<h3>Username and password pairs</h3>" + table(
        ["username", "password", "attempts", "sources", REPLAY],
        [(c["username"], words.password(c["password"], c["hidden_by"]), c["attempts"], c["sources"],
          replay(c["example_sessions"])) for c in creds["pairs"]]))
    add("<h3>Usernames</h3>" + table(["username", "attempts", "sources", REPLAY],
                                      [(u["username"], u["attempts"], u["sources"], replay(u["example_sessions"]))
                                       for u in creds["usernames"]]))
    add("<h3>Passwords</h3>" + table(["password", "attempts", "sources", REPLAY],
                                      [(words.password(p["password"], p["hidden_by"]), p["attempts"], p["sources"],
                                        replay(p["example_sessions"])) for p in creds["passwords"]]))
    taken = creds["taken_over"]
    if taken["accounts"]:
        add("<h3>Accounts taken over</h3><p>Logins <code>[deception]</code> let in, and what was sent through "
            "them (recorded, never sent on).</p>" + table(
                ["username", "password", "source", "first login", "last login", "sessions", "messages", "a subject",
                 REPLAY],
                [(a["username"], words.password(a["password"], a["mechanism"]), a["src_ip"], a["first"], a["last"],
                  a["sessions"], a["messages"],
                  a["subject"], replay(a["example_sessions"])) for a in taken["accounts"]]))
        if taken["campaigns"]:
            add("<h3>Campaigns through taken accounts</h3>" + table(
                ["body sha256", "messages", "sources", "accounts", "a subject", REPLAY],
                [(digest(c["body_sha256"]), c["messages"], c["sources"], c["accounts"], c["subject"],
                  replay(c["example_sessions"])) for c in taken["campaigns"]]))
    add("</section>")

    add(f'<section id="sources"><h2>Sources</h2>{figure("top-sources", report)}')
    # What a reader acts on first (who, what they did, how known, which sessions), then where from.
    add(table(["source", "activity", "sessions", "messages", "probes", "auth", "DNSBL", "OS", REPLAY, "where",
               "network", "reverse DNS", "seen"],
              [(s["src_ip"], s["activity"], s["sessions"], s["messages"], s["probe_sessions"], s["auth_sessions"],
                _zones(s), s["os"], replay(s["example_sessions"]),
                ", ".join(str(part) for part in (s["city"], s["country"]) if part) or None,
                None if s["asn"] is None else f'AS{s["asn"]} {s["organisation"] or ""}'.strip(), dns_name(s["ptr"]),
                seen(s["first_seen"], s["last_seen"])) for s in report["sources"]]))
    add("</section>")

    origins = report["origins"]
    rdns = origins["reverse_dns"]
    add(f'<section id="origins"><h2>Who they are</h2><p>{origins["enriched_sources"]:,} of '
        f'{count(report["sources_count"], "source")} looked up; {rdns["with_ptr"]} have a reverse DNS name, '
        f'{rdns["confirmed"]} forward-confirmed, '
        f'{rdns["generic"]} generic or dynamic.</p>{figure("countries", report)}')
    add("<h3>Countries</h3>" + table(["country", "sources", "sessions"],
                                      [(c["country"], c["sources"], c["sessions"]) for c in origins["countries"]]))
    add("<h3>Cities</h3>" + table(["city", "country", "sources", "sessions"],
                                   [(c["city"], c["country"], c["sources"], c["sessions"]) for c in origins["cities"]]))
    add("<h3>Networks</h3>" + table(["ASN", "organisation", "sources", "sessions"],
                                     [(f'AS{n["asn"]}', n["organisation"], n["sources"], n["sessions"])
                                      for n in origins["networks"]]))
    add("<h3>Operating systems (p0f)</h3>" + table(
        ["operating system", "sources", "sessions"],
        [(o["os"], o["sources"], o["sessions"]) for o in origins["operating_systems"]]))
    dnsbl = origins["dnsbl"]
    add("<h3>DNSBL listings</h3>" + table(
        ["zone", "asked", "listed", "errors", "listed share"],
        [(z["zone"], z["asked"], z["listed"], z["errors"], z["listed_share"]) for z in dnsbl["zones"]]))
    counts = dnsbl["sources"]
    add(f'<p>Sources: {counts["listed"]} listed, {counts["clean"]} clean (every zone answered), '
        f'{counts["unknown"]} unknown (a zone timed out, failed or was not asked).</p>')
    add(f'<h3>Listed sources ({dnsbl["listed_source_count"]})</h3>' + table(
        ["source", "sessions", "zones"], [(s["src_ip"], s["sessions"], item_list(s["zones"]))
                                          for s in dnsbl["listed_sources"]]))
    add("</section>")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>relaypot report</title>'
        f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n"
    )
