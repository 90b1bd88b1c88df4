"""Persona: every byte an attacker sees, loaded from a TOML data file and validated once."""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from relaypot.errors import PersonaError
from relaypot.vocabulary import KNOWN_VERBS, VERBS, frame_text, wire

DATA_DIR = Path(__file__).parent / "data"

# Placeholders a reply template may use; values are supplied by the session.
# Attacker-controlled values (argument, address, helo, mechanism) are data, never a format string:
# only the persona's own template is parsed for fields.
PLACEHOLDERS = frozenset(
    {"hostname", "domain", "date", "client_ip", "argument", "address", "mechanism", "queue_id",
     "size", "helo", "verb", "challenge", "netbios_name", "unquoted"}
)

AUTH_MECHANISMS = frozenset({"PLAIN", "LOGIN", "CRAM-MD5", "NTLM", "GSSAPI"})

# Reply keys every persona needs whatever verbs it implements.
CORE_KEYS = frozenset(
    {"greeting", "command.unknown", "command.bad_syntax", "command.bad_bytes",
     "session.too_many_errors", "session.too_many_commands", "session.busy", "session.timeout",
     "session.shutdown"}
)

@dataclass(frozen=True, slots=True)
class ReplyTemplate:
    """One SMTP reply: a code and one or more text lines, rendered CRLF-framed (RFC 5321 §4.2.1).

    A template without placeholders carries its `text` (lines joined by CRLF, no final CRLF) and
    its `wire` bytes ready made; an empty reply (a silent close) has both empty.
    """

    key: str
    code: int
    lines: tuple[str, ...]
    fields: frozenset[str]
    text: str = ""  # with `wire`: the ready-made text
    wire: bytes | None = None

    def render(self, values: Mapping[str, str]) -> tuple[str, bytes]:
        """(text, wire bytes); `values` fill the placeholders as data, never as a template."""
        if self.wire is not None:
            return self.text, self.wire
        text = frame_text(self.code, [line.format_map(values) for line in self.lines])
        return text, wire(text)


def static_template(key: str, code: int, lines: tuple[str, ...]) -> ReplyTemplate:
    text = frame_text(code, list(lines))
    return ReplyTemplate(key, code, lines, frozenset(), text, wire(text))


@dataclass(frozen=True, slots=True)
class EhloKeyword:
    keyword: str
    when: str = "always"  # always | tls_offered | tls_active | not_tls


@dataclass(frozen=True)
class Behaviour:
    """How the server parses and sequences commands, where real servers differ."""

    mail_before_helo: bool = False
    ehlo_requires_argument: bool = True
    helo_requires_argument: bool = True
    auth_before_helo: bool = True
    bracketless_paths: bool = True
    append_default_domain: bool = False
    line_ending: str = "lf"  # lf: LF ends a command line; crlf: only CRLF does
    data_end: str = "crlf"  # lf: a "." line ended by a bare LF also ends DATA
    max_line_length: int = 2048
    long_line: str = "truncate"  # truncate: act on the first bytes, drop the rest; reject: reply too_long
    forbidden_verbs: tuple[str, ...] = ()
    forbid_nonalpha_first: bool = False
    reject_invalid_utf8: bool = False
    reject_empty_line: bool = False
    auth_username_chars: str = ""  # characters allowed in a username; "" allows any
    starttls_offered: bool = False
    size_limit: int = 0  # the SIZE this server enforces at MAIL; 0 means no limit
    auth_failure_delay: float = 0.0
    queue_id: str = "postfix"  # postfix | exchange
    # Error accounting (Postfix's smtpd_soft/hard_error_limit, smtpd_error_sleep_time,
    # smtpd_junk_command_limit). An error is a command answered 4xx/5xx; a junk verb past
    # junk_limit uses counts as one too. From error_delay_from errors on, every reply waits
    # error_delay seconds; at error_limit errors the server sends session.too_many_errors and
    # closes. 0 turns each off (IIS has none of them).
    error_delay_from: int = 0
    error_delay: float = 0.0
    error_limit: int = 0
    junk_limit: int = 0
    junk_verbs: tuple[str, ...] = ()
    errors_forgiven_by_message: bool = False  # a message accepted clears the error and junk counts
    # How a command line is read before its verb (Postfix's smtp_get and smtpd_token): every CR
    # before the LF dropped, the line cut at a NUL (after its UTF-8 is checked whole), blanks
    # before the verb skipped.
    strip_trailing_cr: bool = False
    nul_ends_command: bool = False
    skip_leading_blanks: bool = False
    check_address_literals: bool = False  # [300.1.1.1] is no address: the persona's bad_address reply
    max_connections_per_client: int = 0  # concurrent connections from one address (0: none of its own)


@dataclass(frozen=True)
class RecipientRules:
    """Who is local and who exists ([recipients]): the persona's real defaults, before the
    operator's [smtp] domains and local_users are added (protocol/recipients.py applies them)."""

    local_domains: tuple[str, ...] = ("{hostname}", "{parent}")  # {hostname}, {parent} filled in
    users: tuple[str, ...] | None = None  # None: every local user exists
    extension: str = ""  # an address extension separator: root+tag is root
    routed_is_relay: bool = False  # "%", "!" or "@" left in a local part make it a relay
    own_address_literals: bool = False  # user@[the address connected to] is local
    vrfy_judged: bool = False  # VRFY answers as RCPT would (relay, unknown user)


TLS_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")


@dataclass(frozen=True)
class TlsProfile:
    """How the server's TLS looks from outside ([tls]): what transport/tls.py sets on OpenSSL.
    The defaults are a modern OpenSSL server's; a persona gives its real server's."""

    min_version: str = "TLSv1.2"
    max_version: str = "TLSv1.3"
    ciphers: str = "DEFAULT"  # an OpenSSL cipher list (TLS 1.2 and older; TLS 1.3 keeps OpenSSL's three)
    security_level: int = 2  # OpenSSL's @SECLEVEL: 0 lets TLS 1.0, SHA-1 and anonymous suites through
    server_preference: bool = True  # the server's cipher order wins, else the client's
    dh_auto: bool = False  # OpenSSL picks the DH group by key and cipher strength (SSL_CTX_set_dh_auto)
    groups: str = ""  # the key-exchange groups, OpenSSL's list syntax ("" keeps OpenSSL's)
    # Offered, with a warning on every start, when this OpenSSL has none of `ciphers` and the
    # operator turned STARTTLS on anyway ("": refuse to start instead).
    substitute_ciphers: str = ""


@dataclass(frozen=True)
class StackProfile:
    """How the server's TCP/IP stack looks on the wire ([stack]): what `relaypot stack` sets on
    the kernel (sysctls) and what its packet rewriter changes. The defaults change nothing: the
    host's own stack, as a persona of a Linux server wants."""

    imitates: str = ""  # the nmap-os-db and p0f entries this imitates, for the operator
    sysctls: dict[str, str] = field(default_factory=dict)  # per network namespace, set while it runs
    window_clamp: int = 0  # TCP_WINDOW_CLAMP on the sensor's listening sockets (0: the kernel's)
    rewrite: bool = False  # send the sensor's packets through the rewriter (the keys below)
    ttl: int = 64  # the TTL of packets the rewriter makes itself
    mss: int = 1460  # the MSS of SYN+ACKs the rewriter makes itself
    ip_id: str = "kernel"  # kernel | incremental (one counter for every packet, as Windows)
    syn_ack_window: int = 0  # the window of a SYN+ACK (0: the kernel's)
    syn_ack_timestamp_zero: bool = False  # a SYN+ACK's TSval and TSecr are 0 (Windows), later ones the kernel's
    option_layout: tuple[tuple[str, ...], ...] = ()  # groups such as ("nop", "ws"), p0f's names
    rst_df: str = "kernel"  # kernel | set | clear: DF on a RST
    rst_ack: str = "kernel"  # kernel | other: the acknowledgment number of a RST without ACK
    icmp_error_quote: int = 0  # bytes of the offending datagram past its IP header (0: the kernel's)
    echo_reply_code: str = "kernel"  # kernel | zero
    echo_reply_df: str = "kernel"  # kernel | request: DF as the echo request had it
    answer_no_flags: str = "none"  # none | rst-ack: a segment with none of SYN, ACK, RST to a sensor port
    answer_syn_fin: str = "none"  # none | syn-ack: SYN+FIN to a sensor port


STACK_CHOICES = {
    "ip_id": ("kernel", "incremental"), "rst_df": ("kernel", "set", "clear"), "rst_ack": ("kernel", "other"),
    "echo_reply_code": ("kernel", "zero"), "echo_reply_df": ("kernel", "request"),
    "answer_no_flags": ("none", "rst-ack"), "answer_syn_fin": ("none", "syn-ack"),
}
TCP_OPTION_NAMES = ("mss", "nop", "ws", "ts", "sok")
SYSCTL_NAME = re.compile(r"net\.[a-z0-9_]+(\.[a-z0-9_]+)*")  # what a persona may set: net.* only


UserNames = Literal["exact", "lowercase", "windows"]  # how the server compares login names (protocol/logins.py)
USER_NAMES: tuple[UserNames, ...] = get_args(UserNames)
ReceivedStyle = Literal["postfix", "smtpsvc", "rfc5321"]  # deliver/received.py renders each
RECEIVED_STYLES: tuple[ReceivedStyle, ...] = get_args(ReceivedStyle)


@dataclass(frozen=True)
class RelayProfile:
    """What the server adds to a message it relays ([relay]): the Received: line of a delivered
    probe (deliver/received.py). `product` is the server's name in that line."""

    received: ReceivedStyle = "rfc5321"
    product: str = ""


SERVICES = ("submission", "submissions")
# Reply keys only a submission service uses, from its own [services.NAME.replies].
SERVICE_REPLY_KEYS = frozenset({"session.tls_required", "rcpt.login_required"})


@dataclass(frozen=True)
class Service:
    """A listener that is a mail submission service ([services.submission], port 587;
    [services.submissions], port 465): how it differs from the persona's port 25."""

    tls: str = "required"  # required: STARTTLS before most commands; implicit: TLS from the first byte
    pre_tls_verbs: tuple[str, ...] = ()  # verbs taken before STARTTLS where tls is "required"
    auth_requires_tls: bool = True  # AUTH is offered (and taken) only once TLS is up
    login_required: bool = True  # every recipient needs a login, and after one every recipient is taken
    replies: dict[str, ReplyTemplate] = field(default_factory=dict)  # overrides of the persona's


@dataclass(frozen=True)
class NtlmIdentity:
    """What an NTLM type-2 challenge reveals (nmap smtp-ntlm-info harvests it)."""

    netbios_domain: str
    netbios_computer: str
    dns_domain: str
    dns_computer: str
    version: tuple[int, int, int] | None  # major, minor, build; None for servers that send none


@dataclass(frozen=True)
class Persona:
    name: str
    summary: str
    source: str
    default_hostname: str
    verbs: frozenset[str]
    ehlo_greeting: str
    ehlo_keywords: tuple[EhloKeyword, ...]
    auth_mechanisms: tuple[str, ...]
    behaviour: Behaviour
    replies: dict[str, ReplyTemplate]
    date_format: str
    help_topics: dict[str, ReplyTemplate] = field(default_factory=dict)
    # The ESMTP parameters MAIL and RCPT take ({"mail": {...}, "rcpt": {...}}); empty: every
    # parameter is taken unchecked, as a server we know too little about.
    parameters: dict[str, frozenset[str]] = field(default_factory=dict)
    grades: dict[str, str] = field(default_factory=dict)
    ntlm_version: tuple[int, int, int] | None = None
    recipients: RecipientRules = field(default_factory=RecipientRules)
    tls: TlsProfile = field(default_factory=TlsProfile)
    services: dict[str, Service] = field(default_factory=dict)
    stack: StackProfile = field(default_factory=StackProfile)
    relay: RelayProfile = field(default_factory=RelayProfile)
    user_names: UserNames = "exact"  # [auth] user_names
    path: Path | None = None

    def reply(self, key: str) -> ReplyTemplate:
        return self.replies[key]

    def required_keys(self) -> frozenset[str]:
        keys = set(CORE_KEYS)
        for verb in self.verbs:
            keys |= VERBS[verb].reply_keys if verb in VERBS else frozenset()
        if self.behaviour.long_line == "reject":
            keys.add("command.too_long")
        if self.behaviour.forbidden_verbs or self.behaviour.forbid_nonalpha_first:
            keys.add("command.forbidden")
        if "RCPT" in self.verbs and self.recipients.users is not None:
            keys.add("rcpt.unknown_user")
        if "VRFY" in self.verbs and self.recipients.vrfy_judged:
            keys |= {"vrfy.relay_denied"} | ({"vrfy.unknown_user"} if self.recipients.users is not None else set())
        if "GSSAPI" in self.auth_mechanisms:
            keys.add("auth.empty_prompt")
        if "NTLM" in self.auth_mechanisms:
            keys.add("auth.ntlm_prompt")
        if {"NTLM", "CRAM-MD5"} & set(self.auth_mechanisms):
            keys.add("auth.challenge")
        return frozenset(keys)

    def ntlm_identity(self, hostname: str) -> NtlmIdentity:
        labels = hostname.split(".")
        domain = ".".join(labels[1:]) or hostname
        netbios_domain = (labels[1] if len(labels) > 1 else labels[0]).upper()[:15]
        return NtlmIdentity(
            netbios_domain=netbios_domain,
            netbios_computer=labels[0].upper()[:15],
            dns_domain=domain,
            dns_computer=hostname,
            version=self.ntlm_version,
        )


def bundled() -> list[str]:
    return sorted(p.stem for p in DATA_DIR.glob("*.toml"))


def load(name_or_path: str) -> Persona:
    """A bundled persona by name, or a persona file by path."""
    path = Path(name_or_path)
    if not (path.suffix == ".toml" or "/" in name_or_path):
        path = DATA_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise PersonaError(
                f"unknown persona {name_or_path!r}; bundled personas: {', '.join(bundled())}"
            )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PersonaError(f"{path}: persona file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PersonaError(f"{path}: cannot read persona: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PersonaError(f"{path}: not valid TOML: {exc}") from None
    return parse(raw, path)


def parse(raw: dict[str, Any], path: Path) -> Persona:
    where = str(path)

    def need(table: dict[str, Any], key: str, kind: type, ctx: str) -> Any:
        if key not in table:
            raise PersonaError(f"{where}: [{ctx}] is missing key {key!r}")
        value = table[key]
        if not isinstance(value, kind):
            raise PersonaError(f"{where}: [{ctx}] {key} must be {kind.__name__}")
        return value

    top = need(raw, "persona", dict, "persona")
    name = need(top, "name", str, "persona")
    verbs = frozenset(v.upper() for v in need(top, "verbs", list, "persona"))
    unknown = verbs - KNOWN_VERBS
    if unknown:
        raise PersonaError(f"{where}: [persona] verbs has unknown verbs {sorted(unknown)}")

    behaviour = _parse_behaviour(raw.get("behaviour", {}), where)

    ehlo = need(raw, "ehlo", dict, "ehlo")
    keywords: list[EhloKeyword] = []
    for item in need(ehlo, "keywords", list, "ehlo"):
        if isinstance(item, str):
            keywords.append(EhloKeyword(item))
        elif isinstance(item, dict) and isinstance(item.get("keyword"), str):
            when = item.get("when", "always")
            if when not in ("always", "tls_offered", "tls_active", "not_tls"):
                raise PersonaError(f"{where}: [ehlo] keyword {item['keyword']!r} has unknown when={when!r}")
            keywords.append(EhloKeyword(item["keyword"], when))
        else:
            raise PersonaError(f"{where}: [ehlo] keywords must be strings or {{keyword=..., when=...}}")

    auth = raw.get("auth", {})
    mechanisms = tuple(m.upper() for m in auth.get("mechanisms", []))
    bad = set(mechanisms) - AUTH_MECHANISMS
    if bad:
        raise PersonaError(f"{where}: [auth] mechanisms has unsupported {sorted(bad)}")

    replies = {
        key: compile_reply(key, value, where) for key, value in need(raw, "replies", dict, "replies").items()
    }
    version = auth.get("ntlm_version")
    if version is not None and not (
        isinstance(version, list) and len(version) == 3 and all(isinstance(v, int) for v in version)
    ):
        raise PersonaError(f"{where}: [auth] ntlm_version must be [major, minor, build]")
    help_topics = {
        topic.upper(): compile_reply(f"help.{topic}", value, where)
        for topic, value in raw.get("help_topics", {}).items()
    }
    persona = Persona(
        name=name,
        summary=top.get("summary", ""),
        source=top.get("source", ""),
        default_hostname=top.get("default_hostname", "mail.example.com"),
        verbs=verbs,
        ehlo_greeting=need(ehlo, "greeting", str, "ehlo"),
        ehlo_keywords=tuple(keywords),
        auth_mechanisms=mechanisms,
        behaviour=behaviour,
        replies=replies,
        date_format=top.get("date_format", "rfc2822"),
        help_topics=help_topics,
        grades=dict(raw.get("grades", {})),
        parameters=_parse_parameters(raw.get("parameters", {}), where),
        ntlm_version=tuple(version) if version else None,
        recipients=_parse_recipients(raw.get("recipients", {}), where),
        tls=_parse_tls(raw.get("tls", {}), where),
        services=_parse_services(raw.get("services", {}), where),
        stack=_parse_stack(raw.get("stack", {}), where),
        relay=_parse_relay(raw.get("relay", {}), where),
        user_names=_choice(auth, "user_names", USER_NAMES, "exact", "auth", where),
        path=path,
    )
    if persona.date_format not in DATE_FORMATS:
        raise PersonaError(f"{where}: [persona] date_format must be one of {sorted(DATE_FORMATS)}")
    _validate_placeholder(persona.ehlo_greeting, "ehlo.greeting", where)
    missing = persona.required_keys() - replies.keys()
    if missing:
        raise PersonaError(f"{where}: [replies] is missing {', '.join(sorted(missing))}")
    return persona


DATE_FORMATS = frozenset({"rfc2822", "rfc2822-nopad"})


# The parameters relaypot knows how to check (protocol/parameters.py).
KNOWN_PARAMETERS = {"mail": frozenset({"SIZE", "BODY", "RET", "ENVID", "SMTPUTF8", "AUTH"}),
                    "rcpt": frozenset({"NOTIFY", "ORCPT"})}


def _parse_parameters(table: Any, where: str) -> dict[str, frozenset[str]]:
    if not isinstance(table, dict):
        raise PersonaError(f"{where}: [parameters] must be a table")
    found = {}
    for command, names in table.items():
        if command not in KNOWN_PARAMETERS:
            raise PersonaError(f"{where}: [parameters] has unknown key {command!r}; known: mail, rcpt")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise PersonaError(f"{where}: [parameters] {command} must be a list of parameter names")
        unknown = {n.upper() for n in names} - KNOWN_PARAMETERS[command]
        if unknown:
            raise PersonaError(f"{where}: [parameters] {command}: relaypot cannot check {sorted(unknown)}")
        found[command] = frozenset(n.upper() for n in names)
    return found


def _parse_recipients(table: Any, where: str) -> RecipientRules:
    if not isinstance(table, dict):
        raise PersonaError(f"{where}: [recipients] must be a table")
    defaults = RecipientRules()
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key in ("local_domains", "users"):
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise PersonaError(f"{where}: [recipients] {key} must be a list of names")
            value = tuple(v.lower() for v in value)
        elif not hasattr(defaults, key):
            raise PersonaError(f"{where}: [recipients] has unknown key {key!r}")
        elif not isinstance(value, type(getattr(defaults, key))):
            raise PersonaError(f"{where}: [recipients] {key} must be {type(getattr(defaults, key)).__name__}")
        kwargs[key] = value
    rules = RecipientRules(**kwargs)
    if len(rules.extension) > 1:
        raise PersonaError(f"{where}: [recipients] extension must be one character or empty")
    return rules


def _parse_services(table: Any, where: str) -> dict[str, Service]:
    if not isinstance(table, dict):
        raise PersonaError(f"{where}: [services] must be a table")
    found = {}
    for name, body in table.items():
        ctx = f"services.{name}"
        if name not in SERVICES or not isinstance(body, dict):
            raise PersonaError(f"{where}: [services] knows {', '.join(SERVICES)}, not {name!r}")
        body = dict(body)
        replies = {key: compile_reply(key, value, where) for key, value in body.pop("replies", {}).items()}
        for key, value in body.items():
            if key not in Service.__dataclass_fields__ or key == "replies":
                raise PersonaError(f"{where}: [{ctx}] has unknown key {key!r}")
            if key == "pre_tls_verbs":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise PersonaError(f"{where}: [{ctx}] pre_tls_verbs must be a list of verbs")
                body[key] = tuple(v.upper() for v in value)
            elif not isinstance(value, type(getattr(Service(), key))):
                raise PersonaError(f"{where}: [{ctx}] {key} has the wrong type")
        service = Service(**body, replies=replies)
        if service.tls not in ("required", "implicit"):
            raise PersonaError(f"{where}: [{ctx}] tls must be required or implicit")
        needed = {"rcpt.login_required"} if service.login_required else set()
        if service.tls == "required":
            needed.add("session.tls_required")
        if needed - replies.keys():
            raise PersonaError(f"{where}: [{ctx}.replies] is missing {', '.join(sorted(needed - replies.keys()))}")
        found[name] = service
    return found


def _parse_tls(table: Any, where: str) -> TlsProfile:
    if not isinstance(table, dict):
        raise PersonaError(f"{where}: [tls] must be a table")
    defaults = TlsProfile()
    for key, value in table.items():
        if not hasattr(defaults, key):
            raise PersonaError(f"{where}: [tls] has unknown key {key!r}")
        expected = type(getattr(defaults, key))
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise PersonaError(f"{where}: [tls] {key} must be {expected.__name__}")
    profile = TlsProfile(**table)
    for key in ("min_version", "max_version"):
        if getattr(profile, key) not in TLS_VERSIONS:
            raise PersonaError(f"{where}: [tls] {key} must be one of {', '.join(TLS_VERSIONS)}")
    if TLS_VERSIONS.index(profile.min_version) > TLS_VERSIONS.index(profile.max_version):
        raise PersonaError(f"{where}: [tls] min_version is above max_version")
    if not 0 <= profile.security_level <= 5:
        raise PersonaError(f"{where}: [tls] security_level must be 0 to 5")
    return profile


def _choice(table: dict[str, Any], key: str, choices: tuple[Any, ...], default: Any, ctx: str, where: str) -> Any:
    value = table.get(key, default)
    if value not in choices:
        raise PersonaError(f"{where}: [{ctx}] {key} must be one of {', '.join(choices)}")
    return value


def _parse_relay(table: Any, where: str) -> RelayProfile:
    if not isinstance(table, dict):
        raise PersonaError(f"{where}: [relay] must be a table")
    for key, value in table.items():
        if key not in RelayProfile.__dataclass_fields__:
            raise PersonaError(f"{where}: [relay] has unknown key {key!r}")
        if not isinstance(value, str) or any(c in value for c in "\r\n"):
            raise PersonaError(f"{where}: [relay] {key} must be a string of one line")
    profile = RelayProfile(**table)
    if profile.received not in RECEIVED_STYLES:
        raise PersonaError(f"{where}: [relay] received must be one of {', '.join(RECEIVED_STYLES)}")
    return profile


def _parse_stack(table: Any, where: str) -> StackProfile:
    if not isinstance(table, dict):
        raise PersonaError(f"{where}: [stack] must be a table")
    defaults = StackProfile()
    values = dict(table)
    for key, value in table.items():
        if not hasattr(defaults, key):
            raise PersonaError(f"{where}: [stack] has unknown key {key!r}")
        if key == "sysctls":
            if not isinstance(value, dict) or not all(
                    isinstance(v, str) and SYSCTL_NAME.fullmatch(k) for k, v in value.items()):
                raise PersonaError(f"{where}: [stack.sysctls] maps net.* names to strings")
            continue
        if key == "option_layout":
            if not isinstance(value, list) or not all(
                    isinstance(group, list) and group and all(name in TCP_OPTION_NAMES for name in group)
                    for group in value):
                raise PersonaError(f"{where}: [stack] option_layout is a list of lists of "
                                   f"{', '.join(TCP_OPTION_NAMES)}")
            values[key] = tuple(tuple(group) for group in value)
            continue
        expected = type(getattr(defaults, key))
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise PersonaError(f"{where}: [stack] {key} must be {expected.__name__}")
        if key in STACK_CHOICES and value not in STACK_CHOICES[key]:
            raise PersonaError(f"{where}: [stack] {key} must be one of {', '.join(STACK_CHOICES[key])}")
    profile = StackProfile(**values)
    for key, top in (("ttl", 255), ("window_clamp", 65535), ("syn_ack_window", 65535), ("mss", 65535),
                     ("icmp_error_quote", 576)):
        if not 0 <= getattr(profile, key) <= top:
            raise PersonaError(f"{where}: [stack] {key} must be 0 to {top}")
    return profile


def _parse_behaviour(table: dict[str, Any], where: str) -> Behaviour:
    defaults = Behaviour()
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if not hasattr(defaults, key):
            raise PersonaError(f"{where}: [behaviour] has unknown key {key!r}")
        expected = type(getattr(defaults, key))
        if expected is tuple:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise PersonaError(f"{where}: [behaviour] {key} must be a list of strings")
            value = tuple(v.upper() for v in value)
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise PersonaError(f"{where}: [behaviour] {key} must be {expected.__name__}")
        kwargs[key] = value
    behaviour = Behaviour(**kwargs)
    choices = {"line_ending": ("lf", "crlf"), "data_end": ("lf", "crlf"),
               "long_line": ("truncate", "reject"), "queue_id": ("postfix", "exchange")}
    for key, allowed in choices.items():
        if getattr(behaviour, key) not in allowed:
            raise PersonaError(f"{where}: [behaviour] {key} must be one of {', '.join(allowed)}")
    if behaviour.max_line_length < 64:
        raise PersonaError(f"{where}: [behaviour] max_line_length must be at least 64")
    for key in ("error_delay_from", "error_limit", "junk_limit"):
        if getattr(behaviour, key) < 0:
            raise PersonaError(f"{where}: [behaviour] {key} must be 0 (none) or more")
    if behaviour.error_delay < 0 or behaviour.error_delay > 60:
        raise PersonaError(f"{where}: [behaviour] error_delay must be between 0 and 60 seconds")
    return behaviour


def compile_reply(key: str, value: Any, where: str) -> ReplyTemplate:
    """`"250 2.1.0 Ok"` or `["214 first", "214 last"]` → a template; the code must agree across lines.

    An empty string means the server says nothing (a silent close).
    """
    if value == "":
        return ReplyTemplate(key, 0, (), frozenset(), "", b"")
    lines = [value] if isinstance(value, str) else value
    if not isinstance(lines, list) or not lines or not all(isinstance(v, str) for v in lines):
        raise PersonaError(f"{where}: [replies] {key} must be a string or a list of strings")
    code_text = lines[0][:3]
    if not (code_text.isdigit() and code_text[0] in "2345"):
        raise PersonaError(f"{where}: [replies] {key} must start with a reply code: {lines[0]!r}")
    texts = []
    for line in lines:
        if line[:3] != code_text or (len(line) > 3 and line[3] != " "):
            raise PersonaError(f"{where}: [replies] {key}: every line must start with '{code_text} '")
        texts.append(line[4:])
    fields: set[str] = set()
    for text in texts:
        fields |= _validate_placeholder(text, key, where)
    if not fields:
        return static_template(key, int(code_text), tuple(texts))
    return ReplyTemplate(key, int(code_text), tuple(texts), frozenset(fields))


def _validate_placeholder(text: str, key: str, where: str) -> set[str]:
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise PersonaError(f"{where}: [replies] {key}: bad template {text!r}: {exc}") from None
    for _, field_name, spec, conversion in parsed:
        if field_name is None:
            continue
        if field_name not in PLACEHOLDERS or spec or conversion:
            raise PersonaError(
                f"{where}: [replies] {key}: unknown placeholder {{{field_name}}}; "
                f"known: {', '.join(sorted(PLACEHOLDERS))}"
            )
        names.add(field_name)
    return names
