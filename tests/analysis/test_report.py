"""`relaypot report` end to end: scripted attackers over real sockets, then the real command."""

from __future__ import annotations

import csv
import io
import json
import re
from functools import partial
from html.parser import HTMLParser
from pathlib import Path

import pytest

import support
from analysis import attackers
from relaypot.judgements.classify import HELO_CLASSES
from support import fetch

DOCS = Path(__file__).resolve().parents[2] / "docs" / "report.md"


# The report's own bytes: its escaping is checked byte by byte.
relaypot = partial(support.relaypot, text=False)


@pytest.fixture(scope="module")
def report(recorded):
    result = relaypot("report", "--format", "json", "--data-dir", str(recorded.data_dir))
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def test_sessions_and_sources(report):
    """Every session and every source is counted."""
    assert report["sessions"] == 13
    assert report["sources_count"] == 6
    assert report["messages"] == 7
    assert report["sensors"] == [{"sensor": "test-sensor", "sessions": 13}]
    assert report["activity"]["bucket"] == "hour"
    assert sum(p["sessions"] for p in report["activity"]["series"]) == 13


def test_helo_identities_and_the_field_reports_policy(report):
    """Each session gets its class; the FQDN-or-literal policy refuses the rest."""
    helo = report["helo"]
    assert helo["classes"] == {"missing": 2, "fqdn": 1, "address_literal": 3, "bare_ip": 0, "non_fqdn": 3,
                               "invalid": 1, "impersonation": 3}
    assert [t["name"] for t in helo["top"]["non_fqdn"]] == ["user-3i39rqqo1r"]
    assert helo["top"]["impersonation"][0] == {"name": "127.0.0.1", "sessions": 3, "sources": 1,
                                                "why": "our own address"}
    assert helo["literal_or_ip_naming_peer"] == 3  # the guesser's [127.0.0.13] from 127.0.0.13
    assert helo["literal_or_ip_naming_other"] == 3  # the scanner's 127.0.0.1 from 127.0.0.12
    policy = helo["policies"][0]
    assert policy["name"] == "fqdn_or_address_literal"
    # refused: 2 missing + 3 non-FQDN + 1 invalid + 3 bare IPs (the scanner's impersonation, by syntax)
    assert (policy["refused_sessions"], policy["share"]) == (9, round(9 / 13, 4))


def test_preferred_commands(report):
    assert report["commands"]["RCPT"] == 3 * 2 + 3 + 1
    assert report["commands"]["VRFY"] == 4
    assert report["command_sessions"]["VRFY"] == 1
    assert report["commands"]["AUTH"] == 3
    assert {"shape": "EHLO MAIL RCPT+ DATA QUIT", "sessions": 3} in report["session_shapes"]


def test_relay_probes(report):
    """The scanner's three probes are found, with their family, source and drop box."""
    relay = report["relay_probes"]
    assert relay["sessions"] == 3 and relay["messages"] == 3
    assert relay["attempts"] == 3 + 3 + 1  # the spam bot and the hostile client relay too, without probing
    [signature] = [dict(s) for s in relay["signatures"]]  # copies: the report is shared by the module's tests
    probe_sessions = signature.pop("example_sessions")
    assert signature == {"family": "Super webscan", "signature": "super-webscan", "sessions": 3, "sources": 1,
                         "example": "Super webscan open relay check succeded, hostname = 127.0.0.1"}
    [source] = relay["sources"]
    assert (source["src_ip"], source["probes"], source["repeats"]) == (attackers.SCANNER, 3, 2)
    [box] = [dict(b) for b in relay["drop_boxes"]]
    assert box.pop("example_sessions") == probe_sessions == source["example_sessions"]
    assert box == {"address": "dropbox@collector.example", "sessions": 3, "sources": [attackers.SCANNER]}


def test_spam_campaigns_and_credentials(report):
    spam = report["spam"]
    campaign = dict(spam["campaigns_by_subject"][0])
    assert len(campaign.pop("example_sessions")) == 2  # the first and the last
    assert campaign == {"template": "Cheap meds order <n>", "messages": 3, "subjects": 3}
    assert spam["url_hosts"][0]["host"] == "pills.example"
    assert {"domain": "example.net", "uses": 3, "sources": 1} in spam["rcpt_domains"]
    creds = report["credentials"]
    assert creds["attempts"] == 3 and creds["mechanisms"] == {"LOGIN": 3}
    assert [{k: v for k, v in u.items() if k != "example_sessions"} for u in creds["usernames"]] == [
        {"username": "administrator", "attempts": 3, "sources": 1}]
    assert {(p["username"], p["password"]) for p in creds["pairs"]} == {
        ("administrator", "123456"), ("administrator", "password"), ("administrator", "admin")}
    assert {p["password"] for p in creds["passwords"]} == {"123456", "password", "admin"}


def test_sources_and_what_they_did(report):
    activity = {s["src_ip"]: s["activity"] for s in report["sources"]}
    assert activity == {attackers.SPAMMER: "spam", attackers.SCANNER: "probe", attackers.GUESSER: "auth",
                        attackers.HARVESTER: "enumeration", attackers.KNOCKER: "scan", attackers.HOSTILE: "spam"}
    where = {s["src_ip"]: (s["country"], s["city"], s["asn"]) for s in report["sources"]}
    assert where[attackers.SCANNER] == ("TW", "Kaohsiung", 3462)
    assert where[attackers.HOSTILE] == ("US", "Ashburn", 14618)
    listed = {s["src_ip"]: s["dnsbl"] for s in report["sources"]}
    assert listed[attackers.SCANNER] == ["bl.spamcop.net", "zen.spamhaus.org"] and listed[attackers.GUESSER] == []
    scanner = next(s for s in report["sources"] if s["src_ip"] == attackers.SCANNER)
    assert scanner["ptr"] == "127-0-0-12.dynamic-ip.hinet.example" and scanner["ptr_confirmed"] is True


def test_origins_geography_networks_and_dnsbl(report):
    origins = report["origins"]
    assert origins["enriched_sources"] == 6
    assert origins["countries"] == [{"country": "TW", "sources": 3, "sessions": 9},
                                    {"country": "BR", "sources": 2, "sessions": 3},
                                    {"country": "US", "sources": 1, "sessions": 1}]
    # Most sessions first, then most sources: São Paulo's two sources (the harvester, the knocker) first.
    assert origins["cities"][:4] == [{"city": "São Paulo", "country": "BR", "sources": 2, "sessions": 3},
                                     {"city": "Kaohsiung", "country": "TW", "sources": 1, "sessions": 3},
                                     {"city": "Taichung", "country": "TW", "sources": 1, "sessions": 3},
                                     {"city": "Taipei", "country": "TW", "sources": 1, "sessions": 3}]
    assert origins["networks"][0] == {"asn": 3462, "organisation": "Data Communication Business Group",
                                      "sources": 2, "sessions": 6}
    assert origins["reverse_dns"] == {"with_ptr": 1, "confirmed": 1, "generic": 1}
    zones = {z["zone"]: z for z in origins["dnsbl"]["zones"]}
    assert zones["zen.spamhaus.org"] == {"zone": "zen.spamhaus.org", "asked": 6, "listed": 2, "errors": 0,
                                         "listed_share": round(2 / 6, 4)}
    assert (zones["bl.spamcop.net"]["listed"], zones["b.barracudacentral.org"]["listed"]) == (1, 0)
    assert origins["dnsbl"]["listed_sources"] == [
        {"src_ip": attackers.SPAMMER, "sessions": 3, "zones": ["zen.spamhaus.org"]},
        {"src_ip": attackers.SCANNER, "sessions": 3, "zones": ["bl.spamcop.net", "zen.spamhaus.org"]}]


def test_the_must_resolve_policy_next_to_the_syntax_one(report):
    syntax, resolve, to_client = report["helo"]["policies"]
    assert (resolve["name"], resolve["needs"]) == ("name_must_resolve", "dns")
    # The harvester's harvester.example.org does not exist: one session more than by syntax alone.
    assert resolve["refused_sessions"] == syntax["refused_sessions"] + 1 and resolve["unjudged_sessions"] == 0
    assert to_client["refused_sessions"] == syntax["refused_sessions"] + 1


def test_the_field_reports_scanner_table_with_operating_systems(recorded, report):
    """Source, city, country, DNSBL status and OS of each open-relay scanner, as the seed tabulates them."""
    [scanner] = report["relay_probes"]["sources"]
    assert (scanner["src_ip"], scanner["country"], scanner["city"], scanner["dnsbl"]) == (
        attackers.SCANNER, "TW", "Kaohsiung", ["bl.spamcop.net", "zen.spamhaus.org"])
    if not recorded.with_os:
        from enrich.p0f_support import p0f_available

        p0f_available()  # skips locally (fails in CI) when p0f or root is missing
    assert scanner["os"] == "Windows XP"
    systems = {o["os"]: (o["sources"], o["sessions"]) for o in report["origins"]["operating_systems"]}
    assert systems["Windows XP"] == (1, 3)
    assert sum(n for n, _ in systems.values()) == 6 and any(name.startswith("Linux") for name in systems)


def test_filters(recorded, report):
    """--sensor and --since narrow the report; filters that match nothing give an empty report and
    say so on stderr; filters that cannot match (a sensor the store never saw, an empty range, no
    rows) are refused in one line with exit 2; times may be relative (24h, 7d)."""
    data = ["--data-dir", str(recorded.data_dir)]
    later = json.loads(relaypot("report", "--format", "json", *data, "--since", report["last_seen"]).stdout)
    assert later["sessions"] == 1
    empty = relaypot("report", "--format", "json", *data, "--since", "2099-01-01")
    none = json.loads(empty.stdout)
    assert none["sessions"] == 0 and none["helo"]["classes"] == dict.fromkeys(HELO_CLASSES, 0)
    assert empty.returncode == 0 and empty.stderr == b"relaypot: no session matches these filters\n"
    recent = json.loads(relaypot("report", "--format", "json", *data, "--since", "24h").stdout)
    assert recent["sessions"] == report["sessions"]
    assert json.loads(relaypot("report", "--format", "json", *data, "--until", "7d").stdout)["sessions"] == 0
    for args, message in (
        (["--since", "yesterday"], b"--since: yesterday is not a date, a time or a time ago"),
        (["--sensor", "elsewhere"], b"--sensor: the store has no session of elsewhere; it has: test-sensor"),
        (["--listener", "0.0.0.0:25"], b"--listener: the store has no session of 0.0.0.0:25; it has: 127.0.0.1:"),
        (["--since", "2026-11-02", "--until", "2026-11-01"], b"--since 2026-11-02 is not before --until 2026-11-01"),
        (["--top", "0"], b"--top: 0 rows is not a list"),
    ):
        bad = relaypot("report", *data, *args)
        assert bad.returncode == 2 and bad.stdout == b"" and bad.stderr.count(b"\n") == 1, (args, bad.stderr)
        assert bad.stderr.startswith(b"relaypot: error: " + message), bad.stderr
    bad = relaypot("export", "sessions", *data, "--sensor", "elsewhere")
    assert bad.returncode == 2 and b"--sensor: the store has no session of elsewhere" in bad.stderr


def documented_keys() -> dict[str, set[str]]:
    text = DOCS.read_text()
    sections = re.split(r"^## (.+)$", text, flags=re.M)
    found = {}
    for title, body in zip(sections[1::2], sections[2::2]):
        name = re.sub(r"[`()]", "", title).replace(" each item", "").strip()
        found[name] = set(re.findall(r"^\| `([a-z_0-9]+)` \|", body, flags=re.M))
    return found


def test_json_matches_docs_report_md(report):
    """Every documented key is in the report, and the report has no undocumented key."""
    docs = documented_keys()
    assert set(report) == docs["Top level"]
    for section in ("activity", "helo", "relay_probes", "spam", "credentials", "attacks", "origins"):
        assert set(report[section]) == docs[section], section
    for source in report["sources"]:
        assert set(source) == docs["sources"]


def test_terminal_report_fits_and_escapes(recorded):
    """100 columns, and the hostile HELO's escape sequences arrive as text, not as escapes."""
    result = relaypot("report", "--data-dir", str(recorded.data_dir))
    out = result.stdout.decode()
    assert result.returncode == 0
    assert max(len(line) for line in out.splitlines()) <= 100
    assert not {"\x1b", "\x07", "\u202e"} & set(out)
    assert "evil\\x1b]0;owned\\x07" in out
    assert "salary_\\u202efdp.exe" in out and "\\u202eEVIL" in out


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_html_page_is_self_contained_with_every_chart_and_escaped(recorded, tmp_path):
    """Six inline SVG charts, no script, nothing fetched, hostile text shown as text, and the field
    report's table of scanners: city, country, DNSBL status, OS."""
    page_path = tmp_path / "report.html"
    result = relaypot("report", "--html", str(page_path), "--png", str(tmp_path / "png"),
                      "--data-dir", str(recorded.data_dir))
    assert result.returncode == 0, result.stderr.decode()
    raw = page_path.read_text()
    page = Page()
    page.feed(raw)
    figures = {a["id"] for tag, a in page.tags if tag == "figure"}
    assert figures == {"chart-activity", "chart-helo-classes", "chart-commands", "chart-relay-probes",
                       "chart-top-sources", "chart-countries"}
    assert sum(1 for tag, _ in page.tags if tag == "svg") == 6
    assert not any(tag in ("script", "img", "iframe", "link", "object", "embed") for tag, _ in page.tags)
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("src", "href") and value and not value.startswith("#"):
                raise AssertionError(f"{tag} {name}={value}")
    text = "".join(page.text)
    assert "<script>alert(1)</script>" in text and "<img src=x onerror=alert(2)>" in text
    # Bidi overrides, ESC and BEL are shown as marked escapes in every cell, never obeyed or boxed.
    assert not {"\u202e", "\x1b", "\x07"} & set(raw)
    override = '<mark class="esc" title="U+202E RIGHT-TO-LEFT OVERRIDE">\\u202e</mark>'
    attachments = raw.split("<h3>Attachments</h3>")[1].split("</table>")[0]
    assert f"salary_{override}fdp.exe" in attachments
    unknown = raw.split("<h3>Unknown verbs</h3>")[1].split("</table>")[0]
    assert f"{override}EVIL" in unknown
    assert 'title="U+001B ESCAPE">\\x1b</mark>]0;owned<mark class="esc" title="U+0007 BELL">\\x07</mark>' in raw
    assert "Content-Security-Policy" in raw and "default-src 'none'" in raw
    probing = raw.split("<h3>Probing sources</h3>")[1].split("</table>")[0]
    cells = set(re.findall(r'<td(?: class="\w+")?>([^<]*)</td>', probing))
    assert all(cell in cells for cell in (
        attackers.SCANNER, "Kaohsiung", "TW", "bl.spamcop.net, zen.spamhaus.org"))
    if recorded.with_os:
        assert "Windows XP" in cells
    assert '<section id="origins">' in raw and "<td>Data Communication Business Group</td>" in raw
    from PIL import Image

    for name in ("activity", "helo-classes", "commands", "relay-probes", "top-sources", "countries"):
        with Image.open(tmp_path / "png" / f"{name}.png") as image:
            image.verify()
            assert image.size[0] > 600 and image.size[1] > 200


def test_csv_export_neutralises_formulas(recorded):
    """A subject starting with = is exported as text; the JSON lines keep it exact."""
    result = relaypot("export", "messages", "--format", "csv", "--data-dir", str(recorded.data_dir))
    rows = list(csv.DictReader(io.StringIO(result.stdout.decode())))
    hostile = next(r for r in rows if r["src_ip"] == attackers.HOSTILE)
    assert hostile["subject"] == "'" + attackers.HOSTILE_SUBJECT
    assert all(not r[k].startswith(("=", "+", "-", "@")) for r in rows for k in r if r[k])
    lines = relaypot("export", "messages", "--format", "jsonl", "--data-dir", str(recorded.data_dir)).stdout
    subjects = [json.loads(line)["subject"] for line in lines.decode().splitlines()]
    assert attackers.HOSTILE_SUBJECT in subjects


def test_blocklist(recorded):
    """Busiest first, then by address; the scripted attackers are on loopback, which a blocklist
    leaves out unless asked (a list that blocked 127.0.0.1 would break the host loading it)."""
    data = ["--data-dir", str(recorded.data_dir)]
    out = relaypot("export", "blocklist", "--kind", "relay", "--include-private", *data).stdout.decode()
    assert out.split() == [attackers.SPAMMER, attackers.SCANNER, attackers.HOSTILE]
    out = relaypot("export", "blocklist", "--kind", "auth", "--min-sessions", "3", "--include-private",
                   *data).stdout.decode()
    assert out.split() == [attackers.GUESSER]
    public = relaypot("export", "blocklist", *data)
    assert public.stdout == b"" and public.stderr == (b"relaypot: no address for this blocklist (private and reserved "
                                                      b"addresses are left out: --include-private keeps them)\n")


@pytest.mark.parametrize("address,public", [
    ("203.0.113.7", False), ("198.51.100.1", False), ("192.0.2.5", False), ("198.18.0.1", False),
    ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False), ("100.64.0.1", False),
    ("169.254.1.1", False), ("127.0.0.1", False), ("0.0.0.0", False), ("240.0.0.1", False), ("224.0.0.5", False),
    ("::1", False), ("fe80::1", False), ("fc00::1", False), ("2001:db8::1", False), ("::ffff:10.0.0.1", False),
    ("8.8.8.8", True), ("81.2.69.142", True), ("2a00:1450:4001::1", True), ("::ffff:8.8.8.8", True),
    ("not an address", False),
])
def test_what_a_blocklist_counts_as_public(address, public):
    from relaypot.judgements.addresses import is_public

    assert is_public(address) is public


def test_files_are_written_beside_the_terminal_report_and_bad_paths_are_one_line(recorded, tmp_path):
    """--html and --png write their files *and* the terminal report is printed, as documented,
    each file named on stderr; a path that cannot be written is one line, exit 2, no report."""
    data = ["--data-dir", str(recorded.data_dir)]
    page, charts = tmp_path / "report.html", tmp_path / "charts"
    done = relaypot("report", *data, "--html", str(page), "--png", str(charts))
    assert done.returncode == 0 and page.exists() and b"HELO" in done.stdout
    wrote = done.stderr.decode().splitlines()
    assert wrote[0] == f"relaypot: wrote {page}" and len(wrote) == 1 + len(list(charts.glob("*.png")))
    assert all(line.startswith(f"relaypot: wrote {charts}/") for line in wrote[1:])
    for flag, target in (("--html", "/nonexistent/dir/report.html"), ("--png", "/proc/charts")):
        bad = relaypot("report", *data, flag, target)
        assert bad.returncode == 2 and bad.stdout == b"", bad.stderr
        assert bad.stderr.startswith(f"relaypot: error: {flag} {target}: cannot write".encode())
        assert bad.stderr.count(b"\n") == 1


def test_read_only_commands_never_create_a_store(tmp_path):
    """replay, report and export where no sensor ran: one line, exit 2, and nothing created; a
    file that is not a store is said to be one."""
    empty = tmp_path / "nowhere"
    for args in (["replay", "0123456789abcdef01234567"], ["report"], ["export", "sessions"]):
        result = relaypot(*args, "--data-dir", str(empty))
        assert result.returncode == 2 and result.stderr.count(b"\n") == 1, result.stderr
        assert result.stderr.startswith(b"relaypot: error: no store at ") and not empty.exists()
    (tmp_path / "other.sqlite").write_bytes(b"")
    result = relaypot("report", "--store", f"sqlite:///{tmp_path / 'other.sqlite'}")
    assert result.returncode == 2 and b"is not a relaypot store" in result.stderr
    assert (tmp_path / "other.sqlite").read_bytes() == b""


def test_findings_name_sessions_to_replay(recorded, report, tmp_path):
    """Each finding that stands for sessions names example sessions of its own, earliest first;
    each replays; the HTML page shows the command."""
    def stored(session_id: str) -> tuple:
        query = f"SELECT src_ip, probe, auth FROM sessions WHERE session_id = '{session_id}'"
        return fetch(recorded.store_url, query)[0]

    relay = report["relay_probes"]
    for finding in [*relay["signatures"], *relay["sources"], *relay["drop_boxes"]]:
        ids = finding["example_sessions"]
        assert ids == sorted(ids) and 1 <= len(ids) <= 3
        assert all(stored(i)[0] == attackers.SCANNER and stored(i)[1] == 1 for i in ids)
    for finding in [*report["credentials"]["pairs"], *report["credentials"]["usernames"]]:
        examples = finding["example_sessions"]
        assert examples and all(stored(i)[0] == attackers.GUESSER for i in examples)
    for source in report["sources"]:
        assert source["example_sessions"] and all(stored(i)[0] == source["src_ip"] for i in source["example_sessions"])
    for campaign in report["spam"]["campaigns_by_subject"]:
        assert campaign["example_sessions"]
    first = relay["signatures"][0]["example_sessions"][0]
    transcript = relaypot("replay", first, "--data-dir", str(recorded.data_dir))
    assert transcript.returncode == 0 and f"# session {first} from {attackers.SCANNER}:".encode() in transcript.stdout
    page = tmp_path / "report.html"
    relaypot("report", "--html", str(page), "--data-dir", str(recorded.data_dir))
    html = page.read_text()
    assert "<th>relaypot replay ID</th>" in html and f'<code title="relaypot replay {first}">{first}</code>' in html


def test_a_password_never_sent_and_an_empty_one_are_said_so(sensor_factory):
    """CRAM-MD5 sends a digest, never the password: the report says `(CRAM-MD5)`, not "-"; an
    empty PLAIN password says `(empty)`, not nothing. JSON keeps the values (null, "")."""
    import base64
    import smtplib

    from support import relaypot

    sensor = sensor_factory(smtp__persona="postfix")
    with smtplib.SMTP(*sensor.address, timeout=30) as client:
        client.ehlo("guess.example")
        client.docmd("AUTH", "CRAM-MD5")
        client.docmd(base64.b64encode(b"info 0123456789abcdef0123456789abcdef").decode())
        client.docmd("AUTH", "PLAIN " + base64.b64encode(b"\x00backup\x00").decode())
    sensor.wait_for("smtp.auth", 2, timeout=20)
    sensor.stop()
    data = ["--data-dir", str(sensor.data_dir)]
    report = json.loads(relaypot("report", "--format", "json", *data).stdout)["credentials"]
    assert {(p["username"], p["password"], p["hidden_by"]) for p in report["pairs"]} == {
        ("info", None, "CRAM-MD5"), ("backup", "", None)}
    text = relaypot("report", *data).stdout
    assert "(CRAM-MD5)" in text and "(empty)" in text
    relaypot("report", "--html", str(sensor.data_dir / "report.html"), *data)
    page = (sensor.data_dir / "report.html").read_text()
    assert "(CRAM-MD5)" in page and "(empty)" in page


def test_what_happened_and_what_to_do_open_the_report(recorded, report, tmp_path):
    """Computed from the store: the campaign (its probe twin has a sentence of its own), the
    probes, the guesses, the harvest, the sources no list knows; on loopback nothing is public to
    block. The text report and the page open with the same sentences."""
    said = {h["kind"]: h for h in report["highlights"]}
    assert list(said) == ["campaign", "relay_probes", "password_guessing", "harvesting", "unlisted_sources"]
    assert said["campaign"]["text"].startswith("A campaign of 3 messages with one body from 1 source, ")
    assert said["campaign"]["text"].endswith(": “Cheap meds order 4713”.")
    assert said["relay_probes"]["text"] == "3 open-relay probes from 1 source (Super webscan)."
    assert said["relay_probes"]["example_sessions"] == report["relay_probes"]["signatures"][0]["example_sessions"]
    assert said["password_guessing"]["text"] == "3 password guesses from 1 source, most for “administrator”."
    assert said["harvesting"]["text"] == "Addresses probed with VRFY or EXPN in 1 session."
    assert said["unlisted_sources"]["text"] == ("4 sources on no DNSBL asked (every one of 3 zones answered): "
                                                "not yet known to the lists.")
    assert report["actions"] == [{"kind": "block", "command": "relaypot export blocklist --include-private",
                                  "text": "No public address to block: all 6 sources are private, loopback or "
                                          "reserved."}]
    data = ["--data-dir", str(recorded.data_dir)]
    text = relaypot("report", *data).stdout.decode()
    opening = text.split("Activity per")[0]
    assert "What happened\n=============\n- A campaign of 3 messages" in opening
    assert "- 3 open-relay probes from 1 source (Super webscan).\n    sessions to replay: " in opening
    assert "What to do\n==========\n- No public address to block" in opening
    assert "13 sessions from 6 sources, 7 messages" in opening and "1 sources" not in text
    page = tmp_path / "r.html"
    relaypot("report", "--html", str(page), *data)
    raw = page.read_text()
    assert raw.index('<section id="findings"><h2>What happened</h2>') < raw.index('<section id="activity">')
    assert "<li>3 open-relay probes from 1 source (Super webscan)." in raw
    assert "<code>relaypot export blocklist --include-private</code>" in raw


def test_a_burst_is_the_first_thing_said(sensor_factory):
    """One source sending 20 messages within a minute: the first highlight, with its sessions."""
    import smtplib

    sensor = sensor_factory(smtp__persona="postfix")
    for _ in range(2):
        with smtplib.SMTP(*sensor.address, timeout=30, source_address=(attackers.SPAMMER, 0)) as client:
            client.ehlo("bulk.example")
            for n in range(10):
                client.sendmail("a@bulk.example", ["b@example.net"], f"Subject: offer {n}\r\n\r\nbuy {n}\r\n")
    sensor.wait_for("smtp.message", 20, timeout=30)
    sensor.stop()
    found = json.loads(relaypot("report", "--format", "json", "--data-dir", str(sensor.data_dir)).stdout)
    first = found["highlights"][0]
    assert first["kind"] == "burst" and len(first["example_sessions"]) == 2
    assert re.fullmatch(rf"{re.escape(attackers.SPAMMER)} sent 20 messages in under a minute \(.+ UTC\)\.",
                        first["text"]), first["text"]


def test_sources_with_as_many_sessions_are_in_numeric_order(sensor_factory):
    """127.0.0.3 before 127.0.0.27, in the report's tables and in a blocklist."""
    import socket

    sensor = sensor_factory(smtp__persona="postfix")
    for source in ("127.0.0.27", "127.0.0.3"):
        with socket.create_connection(sensor.address, timeout=10, source_address=(source, 0)) as sock:
            sock.recv(1024)
            sock.sendall(b"QUIT\r\n")
            sock.recv(1024)
    sensor.wait_for("session.closed", 2)
    sensor.stop()
    data = ["--data-dir", str(sensor.data_dir)]
    found = json.loads(relaypot("report", "--format", "json", *data).stdout)
    assert [s["src_ip"] for s in found["sources"]] == ["127.0.0.3", "127.0.0.27"]
    listed = relaypot("export", "blocklist", "--include-private", *data).stdout.decode().split()
    assert listed == ["127.0.0.3", "127.0.0.27"]


def test_helo_top_rows_count_within_their_class(sensor_factory):
    """[127.0.0.30] from 127.0.0.30 names the client (a literal); from 127.0.0.31 it names an
    address not its own (impersonation): each row counts its own sessions and sources, never
    more sources than sessions."""
    import smtplib

    sensor = sensor_factory(smtp__persona="postfix")
    for source in ("127.0.0.30", "127.0.0.31", "127.0.0.31"):
        with smtplib.SMTP(*sensor.address, timeout=15, source_address=(source, 0)) as client:
            client.ehlo("[127.0.0.30]")
    sensor.wait_for("session.closed", 3)
    sensor.stop()
    helo = json.loads(relaypot("report", "--format", "json", "--data-dir", str(sensor.data_dir)).stdout)["helo"]
    assert helo["top"]["address_literal"] == [{"name": "[127.0.0.30]", "sessions": 1, "sources": 1,
                                               "why": "the client's own address"}]
    assert helo["top"]["impersonation"] == [{"name": "[127.0.0.30]", "sessions": 2, "sources": 1,
                                             "why": "our own address"}]


def test_a_name_one_sensor_owns_is_explained_as_another_sensor_stored_it():
    """In a fleet the report knows every sensor's names; the reason must fit the stored class."""
    from relaypot.analysis.report import _why

    fleet = frozenset({"mx1.example.com", "mx2.example.net"})
    assert _why("mx1.example.com", "fqdn", fleet, frozenset()) == "a name under a public suffix"
    assert _why("mx1.example.com", "impersonation", fleet, frozenset()) == "our own name"
    assert _why("[192.0.2.7]", "address_literal", fleet, frozenset({"192.0.2.7"}), 4, 4) == "the client's own address"
    assert _why("[192.0.2.7]", "address_literal", fleet, frozenset(), 4, 1) == (
        "the client's own address in 1 of 4 sessions")
    assert _why("[192.0.2.7]", "address_literal", fleet, frozenset({"192.0.2.7"})) == "an address literal"


def test_the_opening_sentences_reach_the_terminal_and_the_page_escaped(report):
    """An account name or a subject is the attacker's, in "What happened" and "What to do" too."""
    import copy

    from relaypot.analysis import findings
    from relaypot.render import html, text

    evil = "admin\x1b]0;owned\x07\u202e"
    accounts = [{"username": evil, "password": "x", "src_ip": "198.51.100.1", "mechanism": "PLAIN",
                 "first": "2026-12-05T06:00:00Z", "last": "2026-12-05T06:01:00Z", "sessions": 1, "messages": 1,
                 "subject": "hi", "example_sessions": ["s"]}]
    said = copy.deepcopy(report)
    said["credentials"]["taken_over"]["accounts"] = accounts
    said["highlights"] = findings.highlights(said, [])
    said["actions"] = findings.actions(said, 1)
    assert evil in said["actions"][1]["text"]  # the JSON keeps the name as sent
    shown = text.render(said)
    assert not {"\x1b", "\x07", "\u202e"} & set(shown)
    assert "admin\\x1b]0;owned\\x07\\u202e" in shown.split("Activity per")[0]
    page = html.render(said)
    assert not {"\x1b", "\x07", "\u202e"} & set(page)
