"""Settings from defaults, a TOML file, RELAYPOT_* environment variables and the command line.

Later sources win: defaults < file < environment < command line. Every option is declared once
in OPTIONS (which also feeds `check-config` and docs/cli.md); an error names its source, table
and key, e.g. `relaypot.toml: [limits] idle_timeout: expected a number of seconds, got "soon"`.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import textwrap
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relaypot.errors import ConfigError
from relaypot.judgements.destinations import lab_network_problem
from relaypot.protocol.logins import parse_rule
from relaypot.sinks.hpfeeds import parse_target as parse_hpfeeds_target
from relaypot.sinks.syslog import parse_target as parse_syslog_target

KIB, MIB, GIB = 1024, 1024**2, 1024**3


@dataclass(frozen=True)
class Option:
    table: str
    key: str
    kind: str  # str | int | float | bool | list | bytes | choice
    default: Any
    help: str
    choices: tuple[str, ...] = ()

    @property
    def env(self) -> str:
        return f"RELAYPOT_{self.table.upper()}_{self.key.upper()}"


OPTIONS: tuple[Option, ...] = (
    Option("sensor", "name", "str", "", "name stamped on every record (default: the machine's host name)"),
    Option("sensor", "data_dir", "str", "./relaypot-data", "where events, the SQLite store and messages go"),
    Option("sensor", "public_names", "list", [],
           "the sensor's public addresses and DNS names, when clients reach it through NAT or a port forward"),
    Option("smtp", "listen", "list", ["0.0.0.0:2525"],
           "HOST:PORT to listen on; [::]:PORT for IPv6; after it ,relay=POLICY sets that listener's relay policy "
           "and ,service=submission (587) or ,service=submissions (465) makes it a mail submission service"),
    Option("smtp", "persona", "str", "exchange2000", "a bundled persona name or a persona file path"),
    Option("smtp", "hostname", "str", "",
           "the name the persona announces (default: the machine's FQDN, or its host name where that is "
           "localhost; never localhost unless set here; a warning when no public server has such a name)"),
    Option("smtp", "domains", "list", [],
           "mail domains that count as ours, beside the host name and its parent domain (the persona delivers "
           "for them: their unknown users are refused, and mail to them is no relay)"),
    Option("smtp", "default_domain", "str", "",
           "the domain a persona whose server qualifies a bare local part adds to it (exchange2000's \"default "
           "domain\": the organisation's, as in KB Q304897 and on microsoft.com's own server; default: the host "
           "name, as on the Windows 2000 servers captured in public)"),
    Option("smtp", "timezone", "str", "",
           "the time zone of dates in replies (exchange2000's banner), as an IANA name such as Europe/Berlin "
           "(default: the host's)"),
    Option("smtp", "relay", "choice", "open",
           "what a listener does with mail it would relay: open (accept it, as the relay scanners hope; nothing "
           "is sent), closed (refuse it in the persona's words), auth (accept it after a login only)",
           ("open", "closed", "auth")),
    Option("smtp", "local_users", "list", [],
           "local users that exist beside the persona's own (Postfix: root, postmaster, the system accounts)"),
    Option("tls", "starttls", "choice", "persona", "offer STARTTLS: yes, no, or as the persona does",
           ("persona", "yes", "no")),
    Option("tls", "certificate", "str", "", "PEM certificate (default: self-signed, made on first run)"),
    Option("tls", "key", "str", "", "PEM private key for the certificate"),
    Option("limits", "max_line_length", "int", 32768, "bytes in a command line (RFC 5321 §4.5.3.1.4)"),
    Option("limits", "max_message_size", "bytes", 25 * MIB,
           "bytes kept of one message; a larger one is taken and stored cut at this size where the persona's "
           "server would take it (no limit, as exchange2000's, or a larger one), else it gets the persona's 552"),
    Option("limits", "max_message_memory", "bytes", 128 * MIB,
           "memory all unfinished messages together may hold; past it, the persona's 452"),
    Option("limits", "max_fragment", "bytes", 64 * 1024,
           "bytes kept of an over-long line, of a message refused for its size, of an XEXCH50 blob, of input left "
           "unread at a close or a STARTTLS (their full length is recorded beside them)"),
    Option("limits", "max_recipients", "int", 1000,
           "recipients a message's record keeps (more are answered as the persona's server would, and recorded "
           "with their RCPT)"),
    Option("limits", "max_commands", "int", 10_000,
           "commands per session (at least max_recipients + 10, so a whole message fits)"),
    Option("limits", "max_unknown_commands", "int", 1000,
           "unknown or malformed commands per session (the persona's own error limit usually comes first)"),
    Option("limits", "idle_timeout", "float", 300.0,
           "seconds a client may take to complete a line (silent or dripping bytes) before it is cut off"),
    Option("limits", "max_session_time", "float", 14400.0,
           "seconds a session may last in all (neither real server has such a cap: large, and ended with the "
           "persona's own timeout reply)"),
    Option("limits", "max_connections", "int", 1024, "concurrent connections overall"),
    Option("limits", "max_connections_per_ip", "int", 0,
           "concurrent connections from one address (0: the persona's own limit, or 256 where it has none)"),
    Option("limits", "max_store_bytes", "bytes", 10 * GIB, "disk for stored messages; past it, 452"),
    Option("limits", "shutdown_grace", "float", 5.0, "seconds open sessions get to finish on SIGTERM"),
    Option("store", "url", "str", "", "sqlite:///PATH or postgresql://... (default: DATA_DIR/relaypot.sqlite)"),
    Option("store", "jsonl", "bool", True, "write DATA_DIR/events.jsonl"),
    Option("store", "jsonl_rotate", "choice", "day",
           "rotate events.jsonl by day, by size, or both (day+size: each day, and whenever it reaches jsonl_max_bytes)",
           ("day", "size", "day+size")),
    Option("store", "jsonl_max_bytes", "bytes", 100 * MIB,
           "size at which events.jsonl rotates (rotate = size or day+size)"),
    Option("store", "jsonl_gzip", "bool", True,
           "gzip rotated journal files (all but the newest) into events-DAY.jsonl.gz, which relaypot import reads"),
    Option("store", "flush_interval", "float", 1.0,
           "seconds between writes of events.jsonl and the store (a message's record is written before its 250)"),
    Option("store", "fsync", "bool", False, "fsync messages and event files (survives power loss; slower)"),
    Option("store", "queue_limit", "int", 100_000, "records queued per sink before clients are paused"),
    Option("store", "queue_max_bytes", "bytes", 8 * MIB,
           "JSON bytes of records queued per sink before clients are paused (memory is about three times this)"),
    Option("store", "retry_for", "float", 30.0,
           "seconds a failing store is retried before its records are spooled to DATA_DIR/spool"),
    Option("store", "start_unreachable", "bool", False,
           "start even when the store cannot be reached, spooling its records until it can (by default the "
           "sensor refuses to start)"),
    Option("store", "spool_max_bytes", "bytes", 1 * GIB,
           "disk for spooled records; past it, a failing store's batches are dropped (events.jsonl keeps them)"),
    Option("enrich", "enabled", "bool", True, "look up every new source: geography, reverse DNS, DNSBLs, OS"),
    Option("enrich", "resolver", "str", "", "DNS server as IP or IP:PORT (default: the system's, /etc/resolv.conf)"),
    Option("enrich", "dns_timeout", "float", 2.0, "seconds before a DNS question counts as unanswered"),
    Option("enrich", "dnsbl_zones", "list", ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"],
           "DNS blocklists to ask about every source"),
    Option("enrich", "cache_ttl", "float", 3600.0, "seconds a source's results are reused before asking again"),
    Option("enrich", "concurrency", "int", 50, "lookups in flight at once"),
    Option("enrich", "helo_lookups_per_session", "int", 0,
           "HELO/EHLO names of one session looked up in DNS while it runs (0: none; relaypot enrich does, later)"),
    Option("enrich", "helo_lookups_per_source", "int", 10,
           "HELO/EHLO names of one source looked up in DNS per cache_ttl"),
    Option("enrich", "city_db", "str", "", "a MaxMind-format city database (default: DATA_DIR/geo/*city*.mmdb)"),
    Option("enrich", "asn_db", "str", "", "a MaxMind-format ASN database (default: DATA_DIR/geo/*asn*.mmdb)"),
    Option("enrich", "p0f_socket", "str", "", "p0f's API socket (p0f -s PATH), for passive OS fingerprints"),
    Option("enrich", "p0f_delay", "float", 0.5, "seconds after a connection before p0f is asked about it"),
    Option("deception", "accept_logins", "list", [],
           "logins that succeed, USER:PASSWORD with * and ? globs, first match wins, ! in front refuses "
           "(e.g. !root:*, admin:*, info:123456); none by default"),
    Option("deception", "accept_attempt", "int", 0,
           "accept a source's Nth failed login, whatever it was, and that account from then on (0: never)"),
    Option("deception", "client_lookups", "bool", True,
           "ask DNS for a client's name before the greeting where the persona's server does (sendmail names "
           "the client in its banner, Hello and relay refusal, exim in its Hello), with [enrich] resolver and "
           "dns_timeout; off: every client is unnamed, as if it had no PTR record"),
    Option("deception", "deliver_probes", "bool", False,
           "deliver recognised open-relay probes (and nothing else) to their recipients, within the limits below, "
           "so that the scanner's check succeeds; off: nothing ever leaves"),
    Option("deception", "deliver_per_source_per_day", "int", 1, "probes delivered for one source in one UTC day"),
    Option("deception", "deliver_per_day", "int", 20, "probes delivered in all in one UTC day"),
    Option("deception", "deliver_max_bytes", "bytes", 4 * KIB,
           "a larger message is no probe and is not delivered (at most 64K: probes are a few lines)"),
    Option("deception", "deliver_max_recipients", "int", 3,
           "a probe with more relay recipients than this is not delivered (a probe names a drop box or two)"),
    Option("deception", "deliver_protected_domains", "list", [],
           "never deliver to these domains or any under them"),
    Option("deception", "deliver_smarthost", "str", "",
           "HOST:PORT to hand deliveries to (default: each recipient domain's MX, on deliver_port)"),
    Option("deception", "deliver_port", "int", 25, "the port of the MX a delivery goes to"),
    Option("deception", "deliver_timeout", "float", 30.0,
           "seconds one delivery may take in all, connection to goodbye (at most 300); past it, it is cut"),
    Option("deception", "deliver_lab_networks", "list", [],
           "networks a delivery may reach although they are not on the Internet (a lab's own test MX, e.g. "
           "198.18.0.0/15); never loopback, link-local or the sensor's own addresses; none by default"),
    Option("outputs", "syslog", "str", "",
           "send every record to a syslog collector as RFC 5424: udp://HOST:PORT or tcp://HOST:PORT (TCP framed by "
           "octet counting); none by default"),
    Option("outputs", "syslog_facility", "choice", "local0", "the facility of those messages",
           ("kern", "user", "mail", "daemon", "auth", "syslog", "local0", "local1", "local2", "local3", "local4",
            "local5", "local6", "local7")),
    Option("outputs", "hpfeeds", "str", "",
           "publish to an hpfeeds broker at HOST:PORT (needs the hpfeeds package: pip install '.[hpfeeds]' in the "
           "checkout); none by default"),
    Option("outputs", "hpfeeds_ident", "str", "", "the identity the broker knows this sensor by"),
    Option("outputs", "hpfeeds_secret", "str", "",
           "that identity's secret (keep it out of the file: RELAYPOT_OUTPUTS_HPFEEDS_SECRET)"),
    Option("outputs", "hpfeeds_channel", "str", "relaypot.sessions",
           "the channel each finished session's summary goes to"),
    Option("outputs", "hpfeeds_events_channel", "str", "",
           "also publish every record, as its JSON line, to this channel (none by default)"),
    Option("outputs", "hpfeeds_queue", "int", 10000,
           "payloads waiting for the broker at most; past it new ones are dropped and counted, "
           "never a session delayed"),
    Option("run", "user", "str", "", "after binding, drop root privileges to this user"),
    Option("run", "quiet", "bool", False, "no line per finished session on the terminal"),
    Option("run", "log_level", "choice", "info", "diagnostics on stderr", ("debug", "info", "warning", "error")),
)

BY_NAME = {(o.table, o.key): o for o in OPTIONS}
TABLES = tuple(dict.fromkeys(o.table for o in OPTIONS))

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1000, "kib": KIB, "mb": 1000**2, "mib": MIB, "gb": 1000**3, "gib": GIB,
          "tb": 1000**4, "tib": 1024**4}


@dataclass(frozen=True)
class SensorSettings:
    name: str
    data_dir: str
    public_names: list[str]


@dataclass(frozen=True)
class SmtpSettings:
    listen: list[str]
    persona: str
    hostname: str
    domains: list[str]
    default_domain: str
    timezone: str
    relay: str
    local_users: list[str]


@dataclass(frozen=True)
class TlsSettings:
    starttls: str
    certificate: str
    key: str


@dataclass(frozen=True)
class LimitsSettings:
    max_line_length: int
    max_message_size: int
    max_message_memory: int
    max_fragment: int
    max_recipients: int
    max_commands: int
    max_unknown_commands: int
    idle_timeout: float
    max_session_time: float
    max_connections: int
    max_connections_per_ip: int
    max_store_bytes: int
    shutdown_grace: float


@dataclass(frozen=True)
class StoreSettings:
    url: str
    jsonl: bool
    jsonl_rotate: str
    jsonl_max_bytes: int
    jsonl_gzip: bool
    flush_interval: float
    fsync: bool
    queue_limit: int
    queue_max_bytes: int
    retry_for: float
    start_unreachable: bool
    spool_max_bytes: int


@dataclass(frozen=True)
class EnrichSettings:
    enabled: bool
    resolver: str
    dns_timeout: float
    dnsbl_zones: list[str]
    cache_ttl: float
    concurrency: int
    helo_lookups_per_session: int
    helo_lookups_per_source: int
    city_db: str
    asn_db: str
    p0f_socket: str
    p0f_delay: float


@dataclass(frozen=True)
class DeceptionSettings:
    accept_logins: list[str]
    accept_attempt: int
    client_lookups: bool
    deliver_probes: bool
    deliver_per_source_per_day: int
    deliver_per_day: int
    deliver_max_bytes: int
    deliver_max_recipients: int
    deliver_protected_domains: list[str]
    deliver_smarthost: str
    deliver_port: int
    deliver_timeout: float
    deliver_lab_networks: list[str]


@dataclass(frozen=True)
class OutputsSettings:
    syslog: str
    syslog_facility: str
    hpfeeds: str
    hpfeeds_ident: str
    hpfeeds_secret: str
    hpfeeds_channel: str
    hpfeeds_events_channel: str
    hpfeeds_queue: int


@dataclass(frozen=True)
class RunSettings:
    user: str
    quiet: bool
    log_level: str


# One dataclass per table of OPTIONS; tests/test_config.py checks that fields and options agree.
SECTIONS: dict[str, type] = {
    "sensor": SensorSettings, "smtp": SmtpSettings, "tls": TlsSettings, "limits": LimitsSettings,
    "store": StoreSettings, "enrich": EnrichSettings, "deception": DeceptionSettings, "outputs": OutputsSettings,
    "run": RunSettings,
}


@dataclass(frozen=True)
class Settings:
    """The merged configuration, typed: `settings.limits.idle_timeout`, and where each value came from."""

    sensor: SensorSettings
    smtp: SmtpSettings
    tls: TlsSettings
    limits: LimitsSettings
    store: StoreSettings
    enrich: EnrichSettings
    deception: DeceptionSettings
    outputs: OutputsSettings
    run: RunSettings
    sources: dict[tuple[str, str], str]
    warnings: list[str]  # what the configuration's reader should be told

    @classmethod
    def from_values(cls, values: Mapping[tuple[str, str], Any], sources: dict[tuple[str, str], str],
                    warnings: list[str] | None = None) -> Settings:
        sections = {table: section(**{key: value for (t, key), value in values.items() if t == table})
                    for table, section in SECTIONS.items()}
        return cls(**sections, sources=sources, warnings=list(warnings or ()))

    def value(self, table: str, key: str) -> Any:
        return getattr(getattr(self, table), key)

    @property
    def store_url(self) -> str:
        """Where the records go: [store] url, or DATA_DIR/relaypot.sqlite."""
        return self.store.url or f"sqlite:///{Path(self.sensor.data_dir).resolve() / 'relaypot.sqlite'}"

    def as_toml(self) -> str:
        lines = []
        for table in TABLES:
            lines.append(f"[{table}]")
            for option in OPTIONS:
                if option.table != table:
                    continue
                value = self.value(table, option.key)
                lines.append(f"{option.key} = {_toml_value(value)}  # {self.sources[(table, option.key)]}")
            lines.append("")
        return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def default_text(option: Option) -> str:
    """An option's default as TOML, sizes in the largest whole binary unit ("25MiB")."""
    value = option.default
    if option.kind == "bytes":
        for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
            if value and value % size == 0:
                return f'"{value // size}{unit}"'
    return _toml_value(value)


def sample() -> str:
    """A relaypot.toml with every setting at its default, commented out, each under its meaning
    (deploy/relaypot.toml is this text; a test keeps it so)."""
    out = ["# relaypot.toml: every setting at its default, commented out. Uncomment what you change.",
           "# Each can also be given as RELAYPOT_<TABLE>_<KEY> in the environment; docs/cli.md explains them."]
    table = ""
    for option in OPTIONS:
        if option.table != table:
            table = option.table
            out += ["", f"[{table}]"]
        meaning = option.help + (f" ({', '.join(option.choices)})" if option.choices else "")
        out += [f"# {line}" for line in textwrap.wrap(meaning, 98)]
        out.append(f"#{option.key} = {default_text(option)}")
    return "\n".join(out) + "\n"


def load(config_file: str | None = None, environ: Mapping[str, str] | None = None,
         overrides: Mapping[tuple[str, str], Any] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values = {(o.table, o.key): o.default for o in OPTIONS}
    sources = {(o.table, o.key): "default" for o in OPTIONS}
    path = config_file or environ.get("RELAYPOT_CONFIG")
    if path:
        for key, value in _read_file(Path(path)).items():
            values[key] = value
            sources[key] = path
    warnings = _unknown_variables(environ)
    for option in OPTIONS:
        raw = environ.get(option.env)
        if raw is not None:
            values[(option.table, option.key)] = _convert(option, raw, f"environment {option.env}", from_text=True)
            sources[(option.table, option.key)] = f"environment {option.env}"
    for key, value in (overrides or {}).items():
        option = BY_NAME[key]
        values[key] = _convert(option, value, f"command line --{option.key.replace('_', '-')}",
                               from_text=isinstance(value, str) and option.kind != "str")
        sources[key] = "command line"
    _check(values, sources)
    return Settings.from_values(values, sources, warnings)


def _unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A RELAYPOT_* variable that names no setting is a typo, silently ignored otherwise."""
    known = {option.env for option in OPTIONS} | {"RELAYPOT_CONFIG"}
    found = []
    for name in sorted(environ):
        if name.startswith("RELAYPOT_") and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
            hint = f"; did you mean {close[0]}?" if close else "; see relaypot check-config for the settings"
            found.append(f"{name} is not a setting and is ignored{hint}")
    return found


def _read_file(path: Path) -> dict[tuple[str, str], Any]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    found: dict[tuple[str, str], Any] = {}
    for table, content in raw.items():
        if table not in TABLES:
            raise ConfigError(f"{path}: unknown table [{table}]; known: {', '.join(TABLES)}")
        if not isinstance(content, dict):
            raise ConfigError(f"{path}: {table} must be a table ([{table}])")
        for key, value in content.items():
            option = BY_NAME.get((table, key))
            if option is None:
                known = ", ".join(o.key for o in OPTIONS if o.table == table)
                raise ConfigError(f"{path}: [{table}] unknown key {key!r}; known: {known}")
            found[(table, key)] = _convert(option, value, f"{path}: [{table}] {key}", from_text=False)
    return found


def _convert(option: Option, value: Any, where: str, from_text: bool) -> Any:
    kind = option.kind

    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{where}: expected {expected}, got {value!r}")

    if kind in ("str", "choice"):
        if not isinstance(value, str):
            raise fail("a string")
        if kind == "choice" and value not in option.choices:
            raise fail("one of " + ", ".join(option.choices))
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if from_text and isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        raise fail("true or false")
    if kind == "list":
        if from_text and isinstance(value, str):
            items: list[str] = []
            for item in (item.strip() for item in value.split(",")):
                if "=" in item and items:  # a listener's option ("0.0.0.0:25,relay=closed") stays with it
                    items[-1] += "," + item
                elif item:
                    items.append(item)
            return items
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        raise fail("a list of strings")
    if kind in ("int", "bytes"):
        if isinstance(value, bool):
            raise fail("a whole number")
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and (kind == "bytes" or from_text):
            match = _SIZE.match(value)
            if not match or (kind == "int" and match.group(2)):
                raise fail("a size such as 25MiB" if kind == "bytes" else "a whole number")
            number = int(match.group(1)) * _UNITS[(match.group(2) or "b").lower()]
        else:
            raise fail("a size such as 25MiB" if kind == "bytes" else "a whole number")
        if number < 0:
            raise fail("a number of zero or more")
        return number
    if kind == "float":
        if isinstance(value, bool):
            raise fail("a number of seconds")
        if isinstance(value, (int, float)):
            seconds = float(value)
        elif from_text and isinstance(value, str):
            try:
                seconds = float(value)
            except ValueError:
                raise fail("a number of seconds") from None
        else:
            raise fail("a number of seconds")
        if seconds < 0:
            raise fail("a number of zero or more")
        return seconds
    raise AssertionError(kind)


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")


def _check(values: dict[tuple[str, str], Any], sources: dict[tuple[str, str], str]) -> None:
    def fail(table: str, key: str, message: str) -> ConfigError:
        return ConfigError(f"{sources[(table, key)]}: [{table}] {key}: {message}")

    def clash(table: str, low: str, high: str, message: str) -> ConfigError:
        """Two settings that disagree: blame the one the user set (a default is nobody's choice),
        and say what the other one is and where it came from."""
        blamed, other = (high, low) if sources[(table, low)] == "default" != sources[(table, high)] else (low, high)
        return ConfigError(f"{sources[(table, blamed)]}: [{table}] {blamed}: {message} ({other} is "
                           f"{_toml_value(values[(table, other)])}, from {sources[(table, other)]})")

    for spec in values[("smtp", "listen")]:
        try:
            parse_listener(spec)
        except ValueError as exc:
            raise fail("smtp", "listen", str(exc)) from None
    if not values[("smtp", "listen")]:
        raise fail("smtp", "listen", "at least one HOST:PORT is needed")
    hostname = values[("smtp", "hostname")]
    if hostname and not _HOSTNAME.match(hostname):
        raise fail("smtp", "hostname", f"{hostname!r} is not a host name")
    for name in values[("sensor", "public_names")]:
        try:
            ipaddress.ip_address(name)
        except ValueError:
            if not _HOSTNAME.match(name):
                raise fail("sensor", "public_names", f"{name!r} is neither an IP address nor a host name") from None
    default_domain = values[("smtp", "default_domain")]
    if default_domain and not _HOSTNAME.match(default_domain):
        raise fail("smtp", "default_domain", f"{default_domain!r} is not a domain name")
    for domain in values[("smtp", "domains")]:
        if not _HOSTNAME.match(domain):
            raise fail("smtp", "domains", f"{domain!r} is not a domain name")
    if values[("outputs", "syslog")]:
        try:
            parse_syslog_target(values[("outputs", "syslog")])
        except ValueError as exc:
            raise fail("outputs", "syslog", str(exc)) from None
    if values[("outputs", "hpfeeds")]:
        try:
            parse_hpfeeds_target(values[("outputs", "hpfeeds")])
        except ValueError as exc:
            raise fail("outputs", "hpfeeds", str(exc)) from None
        if not values[("outputs", "hpfeeds_ident")]:
            raise fail("outputs", "hpfeeds_ident", "the broker needs an identity to publish as")
        if not values[("outputs", "hpfeeds_channel")]:
            raise fail("outputs", "hpfeeds_channel", "a channel is needed")
    if values[("outputs", "hpfeeds_queue")] < 1:
        raise fail("outputs", "hpfeeds_queue", "must be at least 1")
    zone = values[("smtp", "timezone")]
    if zone:
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise fail("smtp", "timezone",
                       f"{zone!r} is no time zone this machine knows (e.g. Europe/Berlin)") from None
    for rule in values[("deception", "accept_logins")]:
        try:
            parse_rule(rule)
        except ValueError as exc:
            raise fail("deception", "accept_logins", str(exc)) from None
    if values[("deception", "accept_attempt")] < 0:
        raise fail("deception", "accept_attempt", "must be 0 (never) or more")
    for key in ("deliver_per_source_per_day", "deliver_per_day", "deliver_max_bytes", "deliver_max_recipients"):
        if values[("deception", key)] < 0:
            raise fail("deception", key, "must be 0 or more")
    if not 1 <= values[("deception", "deliver_port")] <= 65535:
        raise fail("deception", "deliver_port", "is no port")
    if not 0 < values[("deception", "deliver_timeout")] <= 300:
        raise fail("deception", "deliver_timeout", "must be more than 0 and at most 300 seconds")
    if values[("deception", "deliver_max_bytes")] > 64 * KIB:
        raise fail("deception", "deliver_max_bytes", "must be at most 64K: a probe is a few lines")
    for network in values[("deception", "deliver_lab_networks")]:
        problem = lab_network_problem(network)
        if problem:
            raise fail("deception", "deliver_lab_networks", problem)
    smarthost = values[("deception", "deliver_smarthost")]
    if smarthost:
        host, sep, port = smarthost.rpartition(":")
        if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise fail("deception", "deliver_smarthost", f"{smarthost!r}: write HOST:PORT")
    for domain in values[("deception", "deliver_protected_domains")]:
        if not _HOSTNAME.match(domain):
            raise fail("deception", "deliver_protected_domains", f"{domain!r} is not a domain name")
    for user in values[("smtp", "local_users")]:
        if not user or not user.isprintable() or any(ch in user for ch in ' @<>"'):
            raise fail("smtp", "local_users", f"{user!r} is not a local user name")
    for key, low in (("max_line_length", 64), ("max_message_size", 1024), ("max_connections", 1),
                     ("max_connections_per_ip", 0), ("max_commands", 1), ("max_recipients", 1)):
        if values[("limits", key)] < low:
            raise fail("limits", key, f"must be at least {low}")
    if values[("limits", "max_message_memory")] < values[("limits", "max_message_size")]:
        raise clash("limits", "max_message_memory", "max_message_size", "max_message_memory must be at least "
                    "max_message_size, or no message of that size could ever be accepted")
    # A session must be able to carry what its persona allows: one message to max_recipients
    # recipients takes EHLO, MAIL, the RCPTs, DATA and QUIT (1000 commands once cut RCPT #998).
    if values[("limits", "max_commands")] < values[("limits", "max_recipients")] + 10:
        raise clash("limits", "max_commands", "max_recipients",
                    f"max_commands must be at least max_recipients + 10 ({values[('limits', 'max_recipients')] + 10}),"
                    " so that one message to max_recipients recipients fits in a session")
    for key in ("idle_timeout", "max_session_time"):
        if values[("limits", key)] <= 0:
            raise fail("limits", key, "must be more than 0 seconds")
    if values[("store", "flush_interval")] <= 0:
        raise fail("store", "flush_interval", "must be more than 0 seconds")
    if values[("store", "retry_for")] < 0:
        raise fail("store", "retry_for", "must be 0 seconds or more")
    url = values[("store", "url")]
    if url and not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise fail("store", "url", "use sqlite:///PATH or postgresql://...")
    if bool(values[("tls", "certificate")]) != bool(values[("tls", "key")]):
        raise fail("tls", "certificate", "certificate and key go together")
    if values[("enrich", "resolver")]:
        try:
            parse_server(values[("enrich", "resolver")])
        except ValueError as exc:
            raise fail("enrich", "resolver", str(exc)) from None
    for zone in values[("enrich", "dnsbl_zones")]:
        if not _HOSTNAME.match(zone):
            raise fail("enrich", "dnsbl_zones", f"{zone!r} is not a DNS zone")
    if values[("enrich", "concurrency")] < 1:
        raise fail("enrich", "concurrency", "must be at least 1")


def parse_server(spec: str, default_port: int = 53) -> tuple[str, int]:
    """`192.0.2.53`, `127.0.0.1:5353`, `[::1]:53` → (address, port)."""
    if spec.startswith("[") or (spec.count(":") <= 1 and ":" in spec):
        return parse_listen(spec)
    try:
        ipaddress.ip_address(spec)
    except ValueError:
        raise ValueError(f"{spec!r} is not an IP address (optionally :PORT)") from None
    return spec, default_port


@dataclass(frozen=True)
class ListenSpec:
    """One `[smtp] listen` entry: `0.0.0.0:25`, `0.0.0.0:2525,relay=closed`, `0.0.0.0:587,service=submission`."""

    host: str
    port: int
    relay: str = ""  # "": the [smtp] relay policy
    service: str = ""  # "submission" (587, STARTTLS first) or "submissions" (465, implicit TLS)


LISTENER_OPTIONS = {"relay": ("open", "closed", "auth"), "service": ("submission", "submissions")}


def parse_listener(spec: str) -> ListenSpec:
    """`HOST:PORT` with optional `,KEY=VALUE` options (LISTENER_OPTIONS)."""
    address, *items = spec.split(",")
    host, port = parse_listen(address.strip())
    options: dict[str, str] = {}
    for item in items:
        key, sep, value = item.strip().partition("=")
        allowed = LISTENER_OPTIONS.get(key)
        if allowed is None or not sep:
            raise ValueError(f"{spec!r}: {item.strip()!r} is no listener option; write "
                             + ", ".join(f"{k}={'|'.join(v)}" for k, v in LISTENER_OPTIONS.items()))
        if value not in allowed:
            raise ValueError(f"{spec!r}: {key} must be one of {', '.join(allowed)}")
        if key in options:
            raise ValueError(f"{spec!r}: {key} is given twice")
        options[key] = value
    return ListenSpec(host, port, **options)


def parse_listen(spec: str) -> tuple[str, int]:
    """`0.0.0.0:25`, `[::]:25`, `:2525` (all IPv4) → (host, port)."""
    if spec.startswith("["):
        host, sep, port = spec[1:].partition("]:")
        if not sep:
            raise ValueError(f"{spec!r}: write IPv6 listeners as [ADDRESS]:PORT")
    else:
        host, sep, port = spec.rpartition(":")
        if not sep:
            raise ValueError(f"{spec!r}: expected HOST:PORT")
        host = host or "0.0.0.0"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{spec!r}: {host!r} is not an IP address") from None
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{spec!r}: {port!r} is not a port number")
    return host, int(port)
