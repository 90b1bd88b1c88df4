"""The `relaypot` command: one function per subcommand, each with examples in its help."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relaypot import __version__, config
from relaypot.errors import ConfigError, RelaypotError
from relaypot.escape import terminal

if TYPE_CHECKING:
    from relaypot.analysis.queries import Scope

EPILOG_RUN = """examples:
  relaypot run                                   # 0.0.0.0:2525, persona exchange2000, ./relaypot-data
  relaypot run --listen 0.0.0.0:25 --listen [::]:25 --user relaypot
  relaypot run --persona postfix --hostname mx1.example.com --sensor lisbon-1
  relaypot run --persona postfix --listen 0.0.0.0:25 --listen 0.0.0.0:2525,relay=closed
  relaypot run --persona postfix --listen 0.0.0.0:25 --listen 0.0.0.0:587,service=submission
  relaypot run --config /etc/relaypot.toml --quiet
"""

EPILOG_PERSONAS = """examples:
  relaypot personas                              # list the bundled personas
  relaypot personas show exchange2000            # the transcript a scripted client sees
  relaypot personas show ./my-persona.toml --hostname mx.example.org
"""

EPILOG_CHECK = """examples:
  relaypot check-config --config relaypot.toml
  RELAYPOT_LIMITS_IDLE_TIMEOUT=60 relaypot check-config
"""

EPILOG_REPORT = """examples:
  relaypot report                                # the findings, on the terminal
  relaypot report --format json > report.json    # every analysis as one JSON document
  relaypot report --html report.html --png charts/
  relaypot report --since 2026-11-01 --until 2026-12-01 --sensor lisbon-1
  relaypot report --store postgresql://relaypot@db/relaypot --top 50
"""

EPILOG_EXPORT = """examples:
  relaypot export sessions --format csv > sessions.csv
  relaypot export messages --format jsonl --since 2026-11-01 > messages.jsonl
  relaypot export credentials --format csv --sensor lisbon-1
  relaypot export blocklist --kind relay --min-sessions 3 > relay-scanners.txt
  relaypot export indicators --format stix > indicators.json   # exploits' URLs, hosts, commands (STIX 2.1)
  relaypot export blocklist --include-private    # private and reserved addresses too (a lab)
"""

EPILOG_PRUNE = """examples:
  relaypot prune --older-than 90d --dry-run       # what would go
  relaypot prune --older-than 90d                 # safe while the sensor runs
  relaypot prune --older-than 30d --store postgresql://relaypot@db.example.org/relaypot
"""

EPILOG_TOP = """examples:
  relaypot top                                    # DATA_DIR/relaypot.sqlite, every 5 s
  relaypot top --store postgresql://relaypot@db.example.org/relaypot --sensor lisbon-1
  relaypot top --once > snapshot.txt              # one plain-text snapshot (also when not a terminal)

keys: o overview, s sources, r relay probes, c credentials, h HELO classes, q quit
"""

EPILOG_STACK = """examples:
  relaypot stack --dry-run                        # what it would change, for [smtp] persona
  relaypot stack --persona exchange2000 --ports 25,587 --interface eth0
  relaypot stack --undo                           # put back what a killed run left

Runs as root, in the foreground, beside `relaypot run` (which drops root): it sets the persona's
sysctls in this network namespace, queues the sensor's packets to its rewriter with iptables
(--queue-bypass: if it dies, traffic flows unchanged), and puts everything back on exit.
"""

EPILOG_REPLAY = """examples:
  relaypot replay 18ec3f9a1c2b7d4e5f60a1b2              # a session id from events.jsonl or the store
  relaypot replay 18ec3f9a1c2b7d4e5f60a1b2 --data-dir /var/lib/relaypot
  relaypot replay 18ec3f9a1c2b7d4e5f60a1b2 --store postgresql://relaypot@db/relaypot
"""

EPILOG_IMPORT = """examples:
  relaypot import relaypot-data/events-2026-11-26.jsonl     # into DATA_DIR/relaypot.sqlite
  relaypot import lisbon-1/events*.jsonl --store postgresql://relaypot@db/relaypot
  relaypot import old/events-2026-10-01.jsonl.gz --data-dir /var/lib/relaypot
"""

EPILOG_ENRICH = """examples:
  relaypot enrich                                 # sources and HELO names with no answer yet
  relaypot enrich --all                           # everything again (fresh DNSBL verdicts)
  RELAYPOT_ENRICH_RESOLVER=127.0.0.1:53 relaypot enrich --data-dir /var/lib/relaypot
"""

EPILOG_GEO = """examples:
  relaypot geo update                             # DB-IP Lite City and ASN into DATA_DIR/geo/
  relaypot geo update --data-dir /var/lib/relaypot
  relaypot geo update --mirror https://mirror.example/dbip
"""


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="a relaypot.toml (also RELAYPOT_CONFIG)")
    parser.add_argument("--listen", metavar="HOST:PORT[,relay=POLICY][,service=SERVICE]", action="append",
                        help="listen here (repeatable); [::]:25 for IPv6; ,relay=closed gives this listener its "
                             "own relay policy; ,service=submission (587) or ,service=submissions (465) makes it "
                             "a mail submission service. Default 0.0.0.0:2525")
    parser.add_argument("--relay", choices=("open", "closed", "auth"),
                        help="what listeners do with mail they would relay: open (accept, send nothing; the "
                             "default), closed (refuse as the real server), auth (accept after a login only)")
    parser.add_argument("--persona", metavar="NAME|PATH", help="a bundled persona or a persona file")
    parser.add_argument("--hostname", help="the host name the persona announces")
    parser.add_argument("--sensor", metavar="NAME", help="the sensor name stamped on every record")
    parser.add_argument("--data-dir", metavar="DIR", help="where records and messages go (./relaypot-data)")
    parser.add_argument("--user", metavar="NAME", help="drop root privileges to NAME after binding")
    parser.add_argument("--quiet", action="store_true", default=None, help="no line per finished session")
    parser.add_argument("--p0f-socket", metavar="PATH", help="p0f's API socket, for passive OS fingerprints")


def _overrides(args: argparse.Namespace) -> dict[tuple[str, str], Any]:
    mapping = {
        "listen": ("smtp", "listen"), "persona": ("smtp", "persona"), "hostname": ("smtp", "hostname"),
        "data_dir": ("sensor", "data_dir"), "user": ("run", "user"), "p0f_socket": ("enrich", "p0f_socket"),
        "quiet": ("run", "quiet"), "relay": ("smtp", "relay"),
    }
    overrides = {key: getattr(args, name) for name, key in mapping.items() if getattr(args, name, None) is not None}
    if args.command in ("run", "check-config") and getattr(args, "sensor", None) is not None:
        overrides[("sensor", "name")] = args.sensor  # for report and export, --sensor is a filter
    return overrides


def _settings(args: argparse.Namespace) -> config.Settings:
    settings = config.load(getattr(args, "config", None), overrides=_overrides(args))
    for warning in settings.warnings:
        print(f"relaypot: warning: {terminal(warning)}", file=sys.stderr)
    return settings


def cmd_run(args: argparse.Namespace) -> int:
    """Start the sensor: listen, converse, record, until SIGINT or SIGTERM."""
    from relaypot import app, datadir  # noqa: PLC0415 (keeps `relaypot personas` fast)

    os.umask(datadir.UMASK)  # what the sensor writes holds captured secrets: nothing for others
    settings = _settings(args)
    _logging(settings.run.log_level)
    sensor = app.make_sensor(settings)

    def ready(bound: list[tuple[str, int]]) -> None:
        print(start_line(sensor, bound), file=sys.stderr, flush=True)

    loop = app.new_event_loop()
    # What startup made (modules, the persona, the loop) lives as long as the process: frozen, the
    # collector's full passes stop walking it (1-15% less CPU per session, in interleaved runs).
    gc.freeze()
    try:
        loop.run_until_complete(app.serve(sensor, on_ready=ready))
    finally:
        loop.close()
    print(f"relaypot: stopped; {app.what_was_written(sensor.bus.stats())}", file=sys.stderr)
    return 0


def cmd_personas(args: argparse.Namespace) -> int:
    """List the bundled personas, or show one's transcript for a scripted client."""
    from relaypot.personas import model  # noqa: PLC0415
    from relaypot.protocol import transcript  # noqa: PLC0415

    if args.action is None:
        names = model.bundled()
        width = max(map(len, names))
        for name in names:
            print(f"{name:{width}} {model.load(name).summary}")
        return 0
    if args.action != "show" or not args.name:
        raise RelaypotError("usage: relaypot personas [show NAME|PATH]")
    persona = model.load(args.name)
    hostname = args.hostname or persona.default_hostname
    print(f"# persona {persona.name}: {persona.summary}")
    print(f"# source: {persona.source}")
    if persona.versions:
        print(f"# versions: {persona.versions}")
    for tell in persona.known_tells:
        print(f"# known tell: {tell}")
    print(transcript.render(transcript.scripted(persona, hostname)))
    return 0


def listener_role(listener: Any, persona: Any) -> str:
    """What a listener does with a relay, in a word or three: a submission service that wants a
    login is not "open", whatever the relay policy (permit_sasl_authenticated, reject)."""
    if listener.service and persona.services[listener.service].login_required:
        return f"{listener.service}, login first"
    relay = {"open": "relay open", "closed": "relay closed", "auth": "relay after login"}[listener.relay]
    return f"{listener.service}, {relay}" if listener.service else relay


def start_line(sensor: Any, bound: list[tuple[str, int]]) -> str:
    """One line, short enough for one terminal row in the usual case: who it is, where it
    listens and what each listener relays, where the data goes, whether anything leaves."""
    where = ", ".join(f"{f'[{host}]' if ':' in host else host}:{port} ({listener_role(listener, sensor.persona)})"
                      for (host, port), listener in zip(bound, sensor.server.bound_listeners, strict=False))
    leaves = "sends relay probes only, capped" if sensor.deliverer is not None else "relays nothing"
    return (f"relaypot {__version__}: {sensor.persona.name} as {sensor.hostname} listening on {where}; "
            f"data in {sensor.data_dir}; {leaves}. Ctrl-C stops.")


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate the configuration and print it merged, with where each value came from, and what
    `relaypot run` would start with: the same checks it makes before it binds."""
    from relaypot import app  # noqa: PLC0415
    from relaypot.top import shown_store  # noqa: PLC0415

    settings = _settings(args)
    _logging(settings.run.log_level)  # a warning of the checks reads as run would log it
    checked = app.preflight(settings)
    print(settings.as_toml(), end="")
    listeners = ", ".join(f"{listener.name} ({listener.service or 'smtp'}, relay {listener.relay})"
                          for listener in checked.listeners)
    certificate = (settings.tls.certificate or f"{checked.data_dir / 'tls' / 'cert.pem'} (self-signed, made at the "
                   "first start)") if checked.needs_certificate else "none (no STARTTLS, no submissions listener)"
    print(f"# relaypot run would start: persona {checked.persona.name} as {checked.hostname}; listening on "
          f"{listeners}; data in {checked.data_dir}; store {shown_store(settings.store_url)}; TLS certificate "
          f"{certificate}"
          + (f"; as user {settings.run.user}" if settings.run.user else "") + ".")
    return 0



def cmd_report(args: argparse.Namespace) -> int:
    """Turn what the sensors recorded into findings: activity, HELO identities, commands, relay probes, spam,
    sources."""
    from relaypot.analysis.report import Options, make_report  # noqa: PLC0415
    from relaypot.storage.database import Database  # noqa: PLC0415

    settings = _settings(args)
    if args.top < 1:
        raise RelaypotError(f"--top: {args.top} rows is not a list; use 1 or more")
    url = args.store or settings.store_url
    db = Database(url, must_exist=True)
    try:
        scope = _scope(args, db)
    finally:
        db.close()
    options = Options(scope=scope, bucket=args.bucket, top=args.top, our_domains=tuple(settings.smtp.domains))
    report = make_report(lambda: Database(url, must_exist=True), options)
    # The files first: a path that cannot be written is one line and exit 2, before any report.
    if args.html:
        from relaypot.render import html  # noqa: PLC0415

        _write_out("--html", Path(args.html), lambda path: path.write_text(html.render(report), encoding="utf-8"))
    if args.png:
        from relaypot.render import charts  # noqa: PLC0415

        def write_pngs(directory: Path) -> None:
            for path in charts.write_pngs(report, directory):
                _wrote(path)

        _write_out("--png", Path(args.png), write_pngs, say=False)
    if args.format == "json":
        from relaypot.escape import escape_invisible_text  # noqa: PLC0415

        print(escape_invisible_text(json.dumps(report, indent=1, ensure_ascii=False)))
    else:
        from relaypot.render import text  # noqa: PLC0415

        sys.stdout.write(text.render(report))
    _say_if_nothing(report["sessions"], args)
    return 0


def _write_out(flag: str, path: Path, write: Callable[[Path], object], say: bool = True) -> None:
    """Write a report file; a path that cannot be written is a RelaypotError naming the flag."""
    try:
        write(path)
    except OSError as exc:
        raise RelaypotError(f"{flag} {path}: cannot write: {exc.strerror or exc}") from None
    if say:
        _wrote(path)


def _wrote(path: Path) -> None:
    print(f"relaypot: wrote {path}", file=sys.stderr)


def _scope(args: argparse.Namespace, db: Any) -> Scope:
    """The filters as a Scope, refused in one line when they cannot match: an empty time range,
    a sensor or listener the store has never seen (a typo would give an empty report)."""
    from relaypot.analysis.queries import Scope  # noqa: PLC0415

    now = datetime.now(UTC)
    scope = Scope(since=_when(args.since, "--since", now), until=_when(args.until, "--until", now),
                  sensor=args.sensor, listener=args.listener)
    if scope.since and scope.until and scope.since >= scope.until:
        raise RelaypotError(f"--since {args.since} is not before --until {args.until}: no session can match")
    for flag, column, value in (("--sensor", "sensor", scope.sensor), ("--listener", "listener", scope.listener)):
        _must_know(db, flag, column, value)
    return scope


def _must_know(db: Any, flag: str, column: str, value: str | None) -> None:
    """Refuse, in one line naming what the store has, a sensor or listener it has never seen: a
    typo would otherwise show an empty report or an empty live view."""
    if value is not None and not db.query(f"SELECT 1 FROM sessions WHERE {column} = ? LIMIT 1", (value,)):
        known = [row[0] for row in db.query(f"SELECT DISTINCT {column} FROM sessions ORDER BY 1 LIMIT 11")]
        shown = ", ".join(terminal(name, 60) for name in known[:10]) + (", ..." if len(known) > 10 else "")
        raise RelaypotError(f"{flag}: the store has no session of {terminal(value, 60)!s}"
                            + (f"; it has: {shown}" if known else "; it has no session at all"))


_RELATIVE = re.compile(r"^(\d{1,6})\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _when(value: str | None, flag: str, now: datetime) -> str | None:
    """`2026-11-27`, `2026-11-27T08`, `2026-11-27 08:45`, a full timestamp, or a time ago (`24h`,
    `7d`, `30m`, `2w`) → the store's UTC text form."""
    if value is None:
        return None
    relative = _RELATIVE.match(value.strip().lower())
    if relative:
        ago = timedelta(seconds=int(relative.group(1)) * _UNIT_SECONDS[relative.group(2)])
        return (now - ago).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    text = value.strip().replace(" ", "T").rstrip("Z")
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H", "%Y-%m-%d"):
        try:
            moment = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    raise RelaypotError(f"{flag}: {terminal(value, 60)} is not a date, a time or a time ago "
                        "(use 2026-11-27, 2026-11-27T08:45, 24h or 7d)")


def _say_if_nothing(count: int, args: argparse.Namespace) -> None:
    """An empty answer is said on stderr, so it is never mistaken for a quiet store."""
    if count == 0:
        filtered = any(getattr(args, name, None) for name in ("since", "until", "sensor", "listener"))
        print("relaypot: no session matches these filters" if filtered else "relaypot: the store holds no session yet",
              file=sys.stderr)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", metavar="TIME",
                        help="sessions from this UTC time on (2026-11-27, 2026-11-27T08:45, or a time ago: 24h, 7d)")
    parser.add_argument("--until", metavar="TIME", help="sessions before this UTC time")
    parser.add_argument("--sensor", help="one sensor's sessions")
    parser.add_argument("--listener", metavar="HOST:PORT", help="one listener's sessions")
    _add_store_options(parser)


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="URL", help="the store (default: DATA_DIR/relaypot.sqlite)")
    parser.add_argument("--config", metavar="FILE", help="a relaypot.toml (also RELAYPOT_CONFIG)")
    parser.add_argument("--data-dir", metavar="DIR", help="where the sensor wrote (./relaypot-data)")


def cmd_export(args: argparse.Namespace) -> int:
    """Export sessions, messages, credentials or exploits' indicators (CSV, JSON lines; indicators also as
    STIX 2.1), or source addresses as a blocklist."""
    from relaypot import export  # noqa: PLC0415
    from relaypot.storage.database import Database  # noqa: PLC0415

    settings = _settings(args)
    db = Database(args.store or settings.store_url, must_exist=True)
    try:
        scope = _scope(args, db)
        if args.format == "stix" and args.what != "indicators":
            raise ConfigError("--format stix is for indicators only")
        if args.what == "indicators":
            from relaypot import indicators_export  # noqa: PLC0415

            if not indicators_export.write(db, scope, args.format, sys.stdout):
                print("relaypot: no exploit carried an indicator in these sessions", file=sys.stderr)
            return 0
        if args.what == "blocklist":
            addresses = export.blocklist(db, scope, args.kind, args.min_sessions, args.include_private)
            for ip in addresses:
                print(ip)
            if not addresses:
                print("relaypot: no address for this blocklist" + (
                    "" if args.include_private else " (private and reserved addresses are left out: "
                                                    "--include-private keeps them)"), file=sys.stderr)
            return 0
        count = export.write(db, args.what, scope, args.format, sys.stdout)
    finally:
        db.close()
    _say_if_nothing(count, args)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    """Remove what is older than --older-than from the store and the message directory."""
    from relaypot.prune import parse_age, prune  # noqa: PLC0415
    from relaypot.storage.database import Database  # noqa: PLC0415

    try:
        age = parse_age(args.older_than)
    except ValueError as exc:
        raise RelaypotError(f"--older-than {exc}") from None
    settings = _settings(args)
    db = Database(args.store or settings.store_url, must_exist=True)
    try:
        db.create_schema()
        cutoff = datetime.now(UTC) - timedelta(seconds=age)
        messages = Path(settings.sensor.data_dir) / "messages"
        summary = prune(db, cutoff, messages, dry_run=args.dry_run)
    finally:
        db.close()
    print(f"relaypot prune: {summary.line(args.dry_run)}")
    return 0


def cmd_top(args: argparse.Namespace) -> int:
    """A live view of the running sensor(s), from the store: activity, sources, probes, credentials."""
    from relaypot.top import run_top  # noqa: PLC0415

    if not 0.5 <= args.interval <= 3600:
        raise RelaypotError("--interval wants 0.5 to 3600 seconds")
    from relaypot.storage.database import Database  # noqa: PLC0415

    settings = _settings(args)
    url = args.store or settings.store_url
    if args.sensor is not None:
        db = Database(url, must_exist=True)
        try:
            _must_know(db, "--sensor", "sensor", args.sensor)
        finally:
            db.close()
    run_top(url, args.interval, args.sensor, args.once)
    return 0


def cmd_stack(args: argparse.Namespace) -> int:
    """Give the host's TCP/IP stack the persona's operating system, as nmap -O and p0f see it."""
    from relaypot.personas import model  # noqa: PLC0415
    from relaypot.stack import host  # noqa: PLC0415
    from relaypot.stack.runner import describe, run_stack  # noqa: PLC0415

    state_file = Path(args.state)
    if args.undo:
        for line in host.undo(state_file):
            print(f"relaypot stack: {line}")
        return 0
    settings = _settings(args)
    persona = model.load(args.persona or settings.smtp.persona)
    try:
        ports = sorted({int(port) for port in args.ports.split(",")})
    except ValueError:
        raise RelaypotError(f"--ports wants port numbers separated by commas, not {args.ports!r}") from None
    if not ports or not all(0 < port < 65536 for port in ports):
        raise RelaypotError("--ports wants port numbers from 1 to 65535")
    if not persona.stack.sysctls and not persona.stack.rewrite:
        raise RelaypotError(f"the persona {persona.name} has no [stack] table: relaypot stack has nothing to change")
    if args.dry_run:
        for line in describe(persona, ports, args.queue, args.interface):
            print(line)
        return 0
    if os.geteuid() != 0:
        raise RelaypotError("relaypot stack changes the kernel's settings and packet rules: run it as root "
                            "(relaypot run drops root itself; this one stays apart)")
    try:
        run_stack(persona, ports, args.queue, args.interface, state_file)
    except OSError as exc:
        raise RelaypotError(f"relaypot stack: {exc.strerror or exc} (does this kernel have NFQUEUE?)") from None
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Print a recorded session as a transcript: what the client sent and what it was told."""
    from relaypot.replay import transcript_lines  # noqa: PLC0415

    settings = _settings(args)
    found = False
    for line in transcript_lines(args.store or settings.store_url, args.session):
        found = True
        print(line)
    if not found:
        raise RelaypotError(f"no session {args.session!r} in the store")
    return 0


def cmd_enrich(args: argparse.Namespace) -> int:
    """Look up recorded sources and HELO names that have no answer yet: geography, reverse DNS, DNSBLs."""
    from relaypot.app import jsonl_sink  # noqa: PLC0415
    from relaypot.enrich.backfill import backfill  # noqa: PLC0415
    from relaypot.sinks.base import Sink  # noqa: PLC0415
    from relaypot.sinks.sql import SqlSink  # noqa: PLC0415
    from relaypot.storage.database import Database  # noqa: PLC0415

    settings = _settings(args)
    _logging(settings.run.log_level)
    data_dir = Path(settings.sensor.data_dir).resolve()
    url = args.store or settings.store_url
    db = Database(url, must_exist=True)
    try:
        db.create_schema()  # a store from before enrichment gets its tables
        sinks: list[Sink] = [SqlSink(url)]
        if settings.store.jsonl and not args.store:
            sinks.insert(0, jsonl_sink(settings, data_dir))
        summary = backfill(settings, data_dir, db, sinks, args.all)
    finally:
        db.close()
    print(f"relaypot: {summary.line()}", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Load records from JSON lines (events.jsonl, rotated or .gz) into a store; repeats are skipped."""
    from relaypot.import_jsonl import import_files  # noqa: PLC0415
    from relaypot.sinks.sql import SqlSink  # noqa: PLC0415

    settings = _settings(args)
    _logging(settings.run.log_level)
    paths = [Path(name) for name in args.files]
    for path in paths:
        if not path.is_file():
            raise RelaypotError(f"no such file: {path}")
    url = args.store or settings.store_url
    sink = SqlSink(url, tuple(settings.smtp.domains), settings.smtp.hostname, tuple(settings.sensor.public_names))
    sink.open()
    try:
        summary = import_files(paths, sink)
    finally:
        sink.close()
    print(f"relaypot: {summary.line()}", file=sys.stderr)
    return 1 if summary.skipped else 0


def cmd_geo(args: argparse.Namespace) -> int:
    """Download the free DB-IP Lite city and ASN databases (CC BY 4.0), check them, and install them."""
    from relaypot.enrich.geo_update import DBIP, update  # noqa: PLC0415

    settings = _settings(args)
    geo_dir = Path(settings.sensor.data_dir).resolve() / "geo"
    installed = update(geo_dir, args.mirror or DBIP, say=lambda line: print(f"relaypot: {line}", file=sys.stderr))
    print(f"relaypot: {len(installed)} databases in {geo_dir}; a running sensor reads them when restarted. "
          "IP geolocation by DB-IP (https://db-ip.com), CC BY 4.0.", file=sys.stderr)
    return 0


def _logging(level: str) -> None:
    from relaypot.escape import LogFormatter  # noqa: PLC0415

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])


Command = Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
    """The top-level parser; it also lists each command's function and examples (for docs/cli.md's test)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands: dict[str, tuple[Command, str]] = {}


def parser() -> argparse.ArgumentParser:
    top = Parser(
        prog="relaypot",
        description="An SMTP honeypot that poses as a real mail server, relays nothing and records everything.",
    )
    top.add_argument("--version", action="version", version=f"relaypot {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    commands = top.commands

    def add(name: str, func: Callable[[argparse.Namespace], int], epilog: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=func.__doc__, description=func.__doc__, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        commands[name] = (func, epilog)
        return p

    _add_run_options(add("run", cmd_run, EPILOG_RUN))
    p = add("personas", cmd_personas, EPILOG_PERSONAS)
    p.add_argument("action", nargs="?", choices=["show"], help="show one persona's transcript")
    p.add_argument("name", nargs="?", help="a bundled persona name or a persona file")
    p.add_argument("--hostname", help="the host name to announce in the transcript")
    _add_run_options(add("check-config", cmd_check_config, EPILOG_CHECK))
    p = add("report", cmd_report, EPILOG_REPORT)
    _add_filters(p)
    p.add_argument("--format", choices=["text", "json"], default=None,
                   help="terminal text (the default) or one JSON document on stdout")
    p.add_argument("--html", metavar="FILE", help="also write one self-contained HTML page with charts")
    p.add_argument("--png", metavar="DIR", help="also write each chart as a PNG file into DIR")
    p.add_argument("--bucket", choices=["hour", "day"], help="time bucket (default: hours up to 3 days, then days)")
    p.add_argument("--top", type=int, default=20, metavar="N", help="rows per top list (default 20)")
    p = add("export", cmd_export, EPILOG_EXPORT)
    p.add_argument("what", choices=["sessions", "messages", "credentials", "indicators", "blocklist"],
                   help="what to export")
    _add_filters(p)
    p.add_argument("--format", choices=["csv", "jsonl", "stix"], default="csv",
                   help="for records and indicators: csv (default) or jsonl; for indicators also stix (a STIX 2.1 "
                        "bundle)")
    p.add_argument("--kind", choices=["any", "spam", "auth", "relay", "harvest"], default="any",
                   help="for blocklist: sources that did this (default any)")
    p.add_argument("--min-sessions", type=int, default=1, metavar="N",
                   help="for blocklist: in at least N sessions (default 1)")
    p.add_argument("--include-private", action="store_true",
                   help="for blocklist: keep loopback, private, link-local, reserved and documentation addresses "
                        "(left out by default)")
    p = add("enrich", cmd_enrich, EPILOG_ENRICH)
    p.add_argument("--all", action="store_true", help="look up every source and HELO name again")
    _add_store_options(p)
    p = add("import", cmd_import, EPILOG_IMPORT)
    p.add_argument("files", nargs="+", metavar="FILE", help="JSON lines files written by the sensor (.gz too)")
    _add_store_options(p)
    p = add("geo", cmd_geo, EPILOG_GEO)
    p.add_argument("action", choices=["update"], help="update: download and install the databases")
    p.add_argument("--mirror", metavar="URL", help="fetch the files from here instead of download.db-ip.com/free")
    p.add_argument("--config", metavar="FILE", help="a relaypot.toml (also RELAYPOT_CONFIG)")
    p.add_argument("--data-dir", metavar="DIR", help="the data directory (./relaypot-data)")
    p = add("prune", cmd_prune, EPILOG_PRUNE)
    p.add_argument("--older-than", required=True, metavar="AGE",
                   help="remove sessions that started before now minus AGE (90d, 12h, 30m), and what only they used")
    p.add_argument("--dry-run", action="store_true", help="say what would go, and change nothing")
    p.add_argument("--store", metavar="URL", help="the store (default: [store] url, else DATA_DIR/relaypot.sqlite)")
    p.add_argument("--config", metavar="FILE", help="a relaypot.toml (also RELAYPOT_CONFIG)")
    p.add_argument("--data-dir", metavar="DIR", help="the data directory, whose messages/ it prunes too")
    p = add("top", cmd_top, EPILOG_TOP)
    p.add_argument("--interval", type=float, default=5.0, metavar="SECONDS", help="refresh every SECONDS (default 5)")
    p.add_argument("--sensor", metavar="NAME", help="one sensor of a fleet (default: all)")
    p.add_argument("--once", action="store_true", help="print one plain-text snapshot and exit")
    p.add_argument("--store", metavar="URL", help="the store (default: [store] url, else DATA_DIR/relaypot.sqlite)")
    p.add_argument("--config", metavar="FILE", help="a relaypot.toml (also RELAYPOT_CONFIG)")
    p.add_argument("--data-dir", metavar="DIR", help="the data directory (./relaypot-data)")
    p = add("stack", cmd_stack, EPILOG_STACK)
    p.add_argument("--persona", metavar="NAME|PATH", help="whose stack (default: [smtp] persona)")
    p.add_argument("--ports", default="25", metavar="PORTS",
                   help="the sensor's ports, separated by commas (default 25)")
    p.add_argument("--interface", metavar="IF", help="only packets through this interface (default: all)")
    p.add_argument("--queue", type=int, default=25, metavar="N", help="the netfilter queue number (default 25)")
    p.add_argument("--state", default="/run/relaypot-stack.json", metavar="FILE",
                   help="where what was changed is kept until it is put back (default /run/relaypot-stack.json)")
    p.add_argument("--dry-run", action="store_true", help="print what it would change, and change nothing")
    p.add_argument("--undo", action="store_true", help="put back what an earlier run left (it was killed)")
    p.add_argument("--config", metavar="FILE", help="a relaypot.toml (also RELAYPOT_CONFIG)")
    p = add("replay", cmd_replay, EPILOG_REPLAY)
    p.add_argument("session", help="a session id (the report's `relaypot replay ID` columns, events.jsonl's "
                                    "`session`)")
    _add_store_options(p)
    return top


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if not getattr(args, "func", None):
        p.print_help()
        return 2
    try:
        return args.func(args)
    except RelaypotError as exc:
        print(f"relaypot: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `relaypot export ... | head`: the reader left; say nothing more (Python's advice).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
