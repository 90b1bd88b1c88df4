"""What every session of a listener shares: the persona bound to a host name, limits, clock, randomness."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from email.utils import format_datetime
from string import Formatter

from relaypot.personas.model import Persona, ReplyTemplate, static_template
from relaypot.protocol.auth import BASE64_READERS, AuthContext
from relaypot.protocol.logins import LoginPolicy
from relaypot.protocol.recipients import RecipientTable, local_domains
from relaypot.protocol.states import refusal_table
from relaypot.vocabulary import frame_text, wire


@dataclass(frozen=True)
class SessionLimits:
    """Bounds on what one client may make the session hold or do (documented in docs/cli.md)."""

    max_line_length: int = 32768  # RFC 5321 §4.5.3.1.4 asks for 512; Exim reads 16384, Exchange 32768
    max_message_size: int = 25 * 1024 * 1024
    max_recipients: int = 1000
    max_commands: int = 10_000  # at least max_recipients + 10: a whole message fits
    max_unknown_commands: int = 1000
    max_chunk_discard: int = 1 << 31  # XEXCH50 bytes we will read and drop
    max_message_memory: int = 128 * 1024 * 1024  # bytes all sessions' unfinished messages may hold
    # Bytes kept of an over-long line, of a message refused for its size, of an XEXCH50 blob, of
    # input left unread at a close or a STARTTLS (the full length is recorded beside them).
    max_fragment: int = 64 * 1024


class MessageMemory:
    """The bytes every session's unfinished message holds, against one bound: ten clients sending
    25 MiB at once must not take the sensor's memory. Shared by a listener's sessions, in one
    thread (the event loop), so a plain counter suffices."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        return True

    def give(self, size: int) -> None:
        self.used -= size


_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(_BASE62[digit])
    return "".join(reversed(digits))


_SENDMAIL_QUEUE_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx"


DISCREDIT_MEMORY = 65536  # client addresses a listener remembers as discredited at once


class QueueIds:
    """Queue ids in the persona's style, from the random source the context carries."""

    _ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._sequence = 0
        # Postfix names a queue file after its inode, and a busy queue directory hands out inodes
        # nearly in order (the captures: ...214007, ...214074): one starting point per listener,
        # then small steps, never a random tail a client could tell from two messages.
        self._inode = rng.randrange(0x100000, 0x400000)
        self._record_base = 0  # drawn at the first Exchange 2013 id: other styles' draws stay as they were

    def next(self, style: str, hostname: str, now: float) -> str:
        self._sequence += 1
        if style == "exchange":
            # <NetBIOS name, lower case><10 random alphanumerics><8-digit sequence> (S4, S20).
            netbios = hostname.split(".")[0].lower().replace("-", "")[:15]
            noise = "".join(self._rng.choices(self._ALPHABET, k=10))
            return f"{netbios}{noise}{self._sequence:08d}"
        if style == "exchange2013":
            # the mail item's InternalId, its record in the queue database: a counter in the
            # trillions (Microsoft's transcript: "[InternalId=5111011082268, ...]"), one step or a
            # few (other items, shadow copies) per message
            if not self._record_base:
                self._record_base = self._rng.randrange(10**12, 9 * 10**12)
            self._inode += self._rng.randint(1, 4)
            return str(self._record_base + self._inode)
        if style == "opensmtpd":
            return f"{self._rng.getrandbits(32):08x}"  # smtp_session.c: the message id, arc4random()'s
        if style == "sendmail":
            # queuename(): year, month, day, hour, minute and second, one character each, two of
            # a counter, then the receiving process's id in six digits ("6AR8Nk86002632")
            moment = datetime.fromtimestamp(now, UTC)
            self._inode += self._rng.randint(1, 3)
            chars = _SENDMAIL_QUEUE_CHARS
            stamp = ((moment.year - 1900) % 60, moment.month - 1, moment.day, moment.hour, moment.minute,
                     moment.second)
            counter = self._rng.randrange(60 * 60)  # seeded at random in each process
            return (f"{''.join(chars[v] for v in stamp)}{chars[counter // 60]}{chars[counter % 60]}"
                    f"{self._inode % 1_000_000:06d}")
        if style == "exim":
            # Exim 4.96's message id: the time, the receiving process's pid and the microseconds
            # over 500, in base 62: 6-6-2 ("1xWr5f-0008Ou-34").
            self._inode += self._rng.randint(1, 3)  # a new process's pid, as a fork's grows
            return (f"{_base62(int(now), 6)}-{_base62(self._inode % 62**6, 6)}-"
                    f"{_base62(int(now * 1_000_000) % 1_000_000 // 500, 2)}")
        # Postfix short ids: microseconds in 5 hex digits, then the queue file's inode in hex.
        micros = int(now * 1_000_000) % 1_000_000
        self._inode += self._rng.randint(1, 4)
        return f"{micros:05X}{self._inode:X}"


@dataclass
class ListenerContext:
    """Everything a session needs that is the same for every connection of a listener."""

    persona: Persona
    hostname: str
    default_domain: str  # the {domain} of replies; IIS adds it to a bare local part
    limits: SessionLimits = field(default_factory=SessionLimits)
    tls_available: bool = False
    clock: Callable[[], float] = field(default=lambda: 0.0)
    rng: random.Random = field(default_factory=random.Random)
    zone: tzinfo | None = UTC  # dates in replies ([smtp] timezone; None: the host's)
    domains: tuple[str, ...] = ()  # [smtp] domains: local beside the persona's own
    users: tuple[str, ...] = ()  # [smtp] local_users: exist beside the persona's own
    logins: LoginPolicy = field(default_factory=LoginPolicy)  # which logins succeed ([deception])
    recipients: RecipientTable = field(init=False)
    queue_ids: QueueIds = field(init=False)  # drawn from rng
    memory: MessageMemory = field(init=False)  # what this listener's sessions' messages may hold
    flow_tokens: int = field(init=False)  # [server] flow_tokens left
    replies: dict[str, ReplyTemplate] = field(init=False)
    service_replies: dict[str, dict[str, ReplyTemplate]] = field(init=False)
    username_chars: frozenset[str] | None = field(init=False)
    refusals: dict[tuple[str, str], str] = field(init=False)
    max_line: int = field(init=False)
    message_limit: int = field(init=False)  # the persona's, as its server counts (0: none)
    max_message: int = field(init=False)  # bytes kept of a message
    _ehlo_tails: dict[tuple[bool, bool, bool], list[str]] = field(init=False)
    # EHLO replies made so far, by what they depend on; the greeting line's own values only
    # where it names the client (IIS's "Hello [{client_ip}]"): a handful of entries, or one per client.
    _ehlo_replies: dict[tuple, tuple[str, bytes]] = field(init=False)
    _ehlo_fields: tuple[str, ...] = field(init=False)
    _dates: tuple[int, str] = field(init=False)
    # Exchange's discredited clients: address → when the refusal that discredited it is let go
    _discredited: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        persona = self.persona
        self.replies = bind_replies(self.persona, self.hostname, self.default_domain)
        # A submission service's replies: the persona's, with the service's own on top.
        self.service_replies = {
            name: {**self.replies, **bind_replies(self.persona, self.hostname, self.default_domain, service.replies)}
            for name, service in self.persona.services.items()
        }
        chars = persona.auth.username_chars
        self.username_chars = frozenset(chars) if chars else None
        sequence = persona.sequence
        self.refusals = refusal_table(sequence.mail_before_helo, sequence.auth_before_helo, sequence.greeting_first,
                                      sequence.outside_transaction)
        self.max_line = min(persona.lines.max_length, self.limits.max_line_length)
        # The size a client can observe is the persona's (Postfix's message_size_limit, which it
        # advertises as SIZE): a message past it is refused. What is kept of one is within the
        # operator's max_message_size: a message under the persona's limit but past that is
        # taken, as the real server would take it, and kept cut.
        message = persona.message
        self.message_limit = message.size_limit if message.data_limit is None else message.data_limit
        self.max_message = min(self.limits.max_message_size, self.message_limit or self.limits.max_message_size)
        rules = self.persona.recipients
        self.recipients = RecipientTable(
            local_domains=local_domains(rules.local_domains, self.hostname, self.domains),
            users=None if rules.users is None else frozenset(rules.users) | {u.lower() for u in self.users},
            extension=rules.extension,
            routed_is_relay=rules.routed_is_relay,
            own_address_literals=rules.own_address_literals,
            empty_local_part=rules.empty_local_part,
        )
        self.queue_ids = QueueIds(self.rng)
        self.memory = MessageMemory(self.limits.max_message_memory)
        self.flow_tokens = persona.server.flow_tokens
        self._discredited = {}
        self._ehlo_tails = {}
        for offered in (False, True):
            for active in (False, True):
                for transferred in (False, True):
                    self._ehlo_tails[(offered, active, transferred)] = [
                        k.keyword for k in self.persona.ehlo_keywords
                        if k.when in ("always", "accepting")
                        or (k.when == "tls_offered" and offered and not active)
                        or (k.when == "tls_active" and active)
                        or (k.when == "not_tls" and not active)
                        or (k.when == "until_data" and not transferred)
                    ]
        self._ehlo_replies = {}
        # the values the greeting line names that differ between sessions (the client's address,
        # its HELO name, its name in DNS): each makes its own entry
        self._ehlo_fields = tuple(sorted({name for _, name, _, _ in Formatter().parse(persona.ehlo_greeting)
                                          if name and name not in ("hostname", "domain")}))
        self._always = frozenset(k.keyword for k in persona.ehlo_keywords if k.when == "always")
        self.smtputf8_offered = any(k.keyword == "SMTPUTF8" for k in persona.ehlo_keywords)
        self._dates = (-1, "")

    def ehlo_keywords(self, tls_offered: bool, tls_active: bool, transferred: bool = False) -> list[str]:
        """`transferred`: the session sent DATA or BDAT already (Exim's PIPECONNECT is gone then)."""
        return self._ehlo_tails[(tls_offered, tls_active, transferred)]

    def ehlo_reply(self, values: dict[str, str], tls_offered: bool, tls_active: bool,
                   hide_auth: bool, transferred: bool = False, rejecting: bool = False) -> tuple[str, bytes]:
        """The 250 reply (text, bytes): the greeting line, then the keywords for this TLS state (STARTTLS
        only where the persona has it and it is offered; AUTH hidden before TLS where a
        submission service wants it first: smtpd_tls_auth_only)."""
        key = (tls_offered, tls_active, hide_auth, transferred, rejecting,
               *(values.get(name) for name in self._ehlo_fields))
        reply = self._ehlo_replies.get(key)
        if reply is None:
            keywords = self.ehlo_keywords(tls_offered and "STARTTLS" in self.persona.verbs, tls_active, transferred)
            if hide_auth:
                keywords = [k for k in keywords if not k.upper().startswith("AUTH")]
            if rejecting:  # Sendmail's nullserver offers ENHANCEDSTATUSCODES only: its "always" keywords
                keywords = [k for k in keywords if k in self._always]
            text = frame_text(250, [self.persona.ehlo_greeting.format_map(values), *keywords])
            reply = (text, wire(text))
            if len(self._ehlo_replies) < 4096:  # bounded: one per client or name only where the greeting has it
                self._ehlo_replies[key] = reply
        return reply

    def discredit(self, client_ip: str, until: float) -> None:
        """Exchange's ClientData.MarkBad: a refusal to this client is held until `until`; a
        connection of the same client opened meanwhile waits for its banner (its MarkGood comes
        when the held reply goes). Bounded: past DISCREDIT_MEMORY addresses the oldest marks go."""
        marks = self._discredited
        marks.pop(client_ip, None)
        marks[client_ip] = until
        if len(marks) > DISCREDIT_MEMORY:
            now = self.clock()
            for address in [a for a, due in marks.items() if due <= now]:
                del marks[address]
            while len(marks) > DISCREDIT_MEMORY:
                del marks[next(iter(marks))]

    def discredited(self, client_ip: str) -> bool:
        """A refusal to this client is being held now (ClientData.Discredited)."""
        due = self._discredited.get(client_ip)
        if due is None:
            return False
        if due <= self.clock():
            del self._discredited[client_ip]
            return False
        return True

    def open_queue_file(self) -> float:
        """A transaction's first recipient is accepted, and its queue file opened: the delay that
        costs, once the flow tokens are spent ([server] flow_tokens and flow_delay)."""
        server = self.persona.server
        if not server.flow_tokens:
            return 0.0
        if self.flow_tokens > 0:
            self.flow_tokens -= 1
            return 0.0
        return server.flow_delay

    def message_queued(self) -> None:
        """A message was taken: the queue manager, woken, refills the flow tokens."""
        self.flow_tokens = self.persona.server.flow_tokens

    def queue_id(self, opened_at: float | None = None) -> str:
        """The next queue id, in the persona's server's style ([server] queue_id); `opened_at`, the
        moment its queue file was opened (Postfix: at the first accepted RCPT), if not now."""
        return self.queue_ids.next(self.persona.server.queue_id, self.hostname,
                                   self.clock() if opened_at is None else opened_at)

    def auth_context(self) -> AuthContext:
        """What an AUTH exchange of this listener's sessions needs to know."""
        return AuthContext(hostname=self.hostname, ntlm_identity=self.persona.ntlm_identity(self.hostname),
                           random_bytes=self.random_bytes, now=self.clock, username_chars=self.username_chars,
                           cram_style=self.persona.auth.cram_challenge, split_at_nul=self.persona.auth.split_at_nul,
                           base64_reader=BASE64_READERS[self.persona.auth.base64],
                           login_username_max=self.persona.auth.login_username_max)

    def random_bytes(self, n: int) -> bytes:
        return self.rng.getrandbits(8 * n).to_bytes(n, "big")

    def date(self, when: float) -> str:
        """The persona's date for `when`, formatted once per second."""
        second = int(when)
        if self._dates[0] != second:
            self._dates = (second, format_date(second, self.persona.date_format, self.zone))
        return self._dates[1]


def bind_replies(persona: Persona, hostname: str, domain: str,
                 templates: dict[str, ReplyTemplate] | None = None) -> dict[str, ReplyTemplate]:
    """Fill in the per-server placeholders once, so most replies become ready-made bytes."""
    known = {"hostname": hostname, "domain": domain}
    bound = {}
    for key, template in (persona.replies if templates is None else templates).items():
        if template.wire is not None or not template.fields <= known.keys():
            bound[key] = template
            continue
        bound[key] = static_template(key, template.code, tuple(line.format_map(known) for line in template.lines))
    return bound


def format_date(when: float, style: str, zone: tzinfo | None = UTC) -> str:
    """`when` as the persona writes dates, in `zone` (None: the host's own time zone): a Windows
    server shows its local time, "+0100" in Berlin in winter, not always "+0000"."""
    moment = datetime.fromtimestamp(when, zone) if zone is not None else datetime.fromtimestamp(when).astimezone()
    text = format_datetime(moment)  # "Sun, 11 Jan 2009 19:32:00 +0000"
    if style == "sendmail":  # arpadate(): "Sat, 5 Dec 2026 17:12:31 GMT", or "+0100 (CET)"
        offset = moment.utcoffset()
        text = text[:5] + text[6:] if text[5] == "0" else text
        return text[:-6] + " GMT" if not offset else f"{text} ({moment.tzname()})"
    if style == "rfc2822-nopad" and text[5] == "0":
        text = text[:5] + text[6:]
    return text
