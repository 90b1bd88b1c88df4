"""The SMTP vocabulary: the verbs relaypot can answer and how a reply is framed (RFC 5321 §4.2).

Below everything else in protocol/ and below personas/: a persona names verbs from this list and
its replies are framed by these functions. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Transaction states (RFC 5321 §4.1.4, §3.3).
CONNECTED = "connected"  # banner sent, no HELO/EHLO yet
GREETED = "greeted"  # HELO/EHLO accepted, no transaction
MAIL = "mail"  # MAIL accepted
RCPT = "rcpt"  # at least one RCPT accepted


@dataclass(frozen=True)
class Verb:
    """Everything relaypot knows of one verb, in one row: the Session method that answers it, the
    reply keys a persona implementing it must have, and the states it is refused in (RFC 5321
    §4.1.4) with the reply key of each refusal. Personas relax the sequence (`mail_before_helo`,
    `auth_before_helo`); protocol/states.py applies that."""

    name: str
    handler: str
    reply_keys: frozenset[str]
    refused: dict[str, str] = field(default_factory=dict)
    # A verb whose answer is this one reply key, whatever its argument ("": its handler decides).
    reply: str = ""
    # Keys a persona may leave out: each is needed only where a key of the persona's tables turns
    # it on (the real server's finer refusals, such as Postfix's "501 5.5.4 Syntax: RSET" under
    # [sequence] refuse_rset_argument; personas/model.py Persona.required_keys).
    optional_keys: frozenset[str] = frozenset()


def _verb(name: str, handler: str, keys: str, refused: dict[str, str] | None = None, optional: str = "") -> Verb:
    return Verb(name, handler, frozenset(keys.split()), refused or {}, optional_keys=frozenset(optional.split()))


def _answered(name: str, key: str) -> Verb:
    """A verb the server answers with one reply whatever follows it (NOOP; the verbs a server
    refuses to an untrusted client, as Postfix XCLIENT)."""
    return Verb(name, "", frozenset({key}), reply=key)


_AUTH_KEYS = ("auth.ok auth.failed auth.aborted auth.bad_base64 auth.unknown_mechanism auth.missing_mechanism "
              "auth.not_available auth.username_prompt auth.password_prompt auth.plain_prompt")
_AUTH_OPTIONAL = ("auth.bad_base64_continued auth.already_authenticated auth.in_transaction auth.not_offered "
                  "auth.not_advertised")

VERBS: dict[str, Verb] = {verb.name: verb for verb in (
    _verb("HELO", "_helo", "helo.ok helo.missing_argument", optional="helo.again helo.bad_domain"),
    _verb("EHLO", "_ehlo", "ehlo.missing_argument", optional="helo.again ehlo.bad_domain"),
    _verb("MAIL", "_mail", "mail.ok mail.need_helo mail.nested mail.syntax mail.bad_address mail.too_big",
          {CONNECTED: "mail.need_helo", MAIL: "mail.nested", RCPT: "mail.nested"},
          optional="mail.unsupported_option mail.bad_size mail.bad_ret mail.size_overflow mail.bad_envid "
                   "mail.auth_twice mail.after_bdat mail.missing_address mail.unqualified mail.bad_body "
                   "mail.bad_auth mail.smtputf8_unadvertised mail.too_many_messages"),
    _verb("RCPT", "_rcpt", "rcpt.ok rcpt.need_mail rcpt.syntax rcpt.bad_address rcpt.too_many rcpt.relay_denied",
          {CONNECTED: "rcpt.need_mail", GREETED: "rcpt.need_mail"},
          optional="rcpt.unsupported_option rcpt.bad_notify rcpt.unknown_user rcpt.bad_orcpt rcpt.after_bdat "
                   "rcpt.ok_quoted rcpt.missing_address rcpt.unqualified rcpt.restricted"),
    _verb("DATA", "_data_command",
          "data.start data.need_mail data.need_rcpt data.ok data.too_big data.disk_full",
          {CONNECTED: "data.need_mail", GREETED: "data.need_mail", MAIL: "data.need_rcpt"},
          optional="data.syntax data.after_bdat data.rcpts_refused_intro data.need_rcpt_after_rcpt"),
    _verb("BDAT", "_bdat", "bdat.chunk bdat.ok bdat.syntax bdat.need_mail bdat.need_rcpt",
          {CONNECTED: "bdat.need_mail", GREETED: "bdat.need_mail", MAIL: "bdat.need_rcpt"},
          optional="bdat.null bdat.discarded bdat.not_advertised bdat.only_bdat bdat.only_rset bdat.zero_size "
                   "bdat.need_rcpt_after_rcpt"),
    _verb("RSET", "_rset", "rset.ok", optional="rset.syntax rset.need_helo"),
    _answered("NOOP", "noop.ok"),
    _verb("QUIT", "_quit", "quit.ok"),
    _verb("VRFY", "_vrfy", "vrfy.ok vrfy.missing_argument",
          optional="vrfy.bad_address vrfy.relay_denied vrfy.unknown_user vrfy.unqualified"),
    _verb("EXPN", "_expn", "expn.ok expn.missing_argument"),
    _verb("HELP", "_help", "help.ok"),
    _verb("ETRN", "_etrn", "etrn.ok etrn.missing_argument", optional="etrn.in_transaction etrn.bad_domain"),
    _answered("TURN", "turn.refused"),
    # RFC 821's SEND, SOML and SAML, which Sendmail knows and does not implement; its VERB
    _answered("SEND", "command.unimplemented"),
    _answered("SOML", "command.unimplemented"),
    _answered("SAML", "command.unimplemented"),
    _verb("VERB", "_verb", "verb.ok"),
    _answered("ATRN", "atrn.refused"),
    _verb("STARTTLS", "_starttls", "starttls.ready starttls.unavailable starttls.already_active starttls.syntax",
          optional="starttls.not_advertised starttls.need_helo starttls.in_transaction"),
    _verb("AUTH", "_auth_command", _AUTH_KEYS, {CONNECTED: "auth.not_available"}, optional=_AUTH_OPTIONAL),
    # Exchange's own AUTH, between its servers: "similar to AUTH ... the syntax depends on the AUTH
    # package" (Microsoft KB 812455); answered as AUTH is, where a persona has the verb.
    _verb("X-EXPS", "_auth_command", _AUTH_KEYS, {CONNECTED: "auth.not_available"}, optional=_AUTH_OPTIONAL),
    # Exchange 2007 and later: TLS between its own servers, started as STARTTLS is (SmtpInSession
    # CreateSmtpCommand: a StarttlsSmtpCommand for either verb); answered so where a persona has it.
    _verb("X-ANONYMOUSTLS", "_starttls", "starttls.ready starttls.unavailable starttls.already_active starttls.syntax"),
    _verb("XEXCH50", "_xexch50", "xexch50.ready xexch50.ok xexch50.syntax", optional="xexch50.not_authorized"),
    _answered("X-LINK2STATE", "x-link2state.refused"),
    # only for the server's own trusted clients
    _verb("XCLIENT", "_xclient", "xclient.refused", optional="xclient.syntax xclient.in_transaction"),
    _verb("XFORWARD", "_xforward", "xforward.refused", optional="xforward.syntax xforward.in_transaction"),
)}

# Verbs the session knows how to answer. A persona lists the subset its server implements;
# the rest get the persona's `command.unknown` reply.
KNOWN_VERBS = frozenset(VERBS)


def frame_text(code: int, lines: list[str], bare_cr: bool = False) -> str:
    """`250-first`, `250-…`, `250 last` joined by CRLF; attacker text cannot add a line. A CR or
    LF inside echoed text is a space, unless `bare_cr`: a CR is then kept as the client sent it
    (Sendmail prints its replies as they are; no client line holds a LF)."""
    if len(lines) == 1:  # most replies: no list to build
        return f"{code:03d} {_unbroken(lines[0], bare_cr)}"  # 050: Sendmail's verbose lines
    last = len(lines) - 1
    return "\r\n".join(f"{code:03d}{' ' if i == last else '-'}{_unbroken(line, bare_cr)}"
                       for i, line in enumerate(lines))


def _unbroken(line: str, bare_cr: bool) -> str:
    """A reply line's text with no line break a client chose: a LF (and, unless `bare_cr`, a CR)
    made a space."""
    if "\n" in line or ("\r" in line and not bare_cr):
        return line.replace("\n", " ") if bare_cr else line.replace("\r", " ").replace("\n", " ")
    return line


_SEVEN_BITS = bytes(byte & 0x7F for byte in range(256))


def seven_bit_bytes(data: bytes) -> bytes:
    """A reply as Sendmail's fmtmsg() makes it ([server] seven_bit_replies): each line a C string
    with every byte's high bit dropped (an echoed "ä", C3 A4, is "C$"; 0x8D a CR and 0x8A a LF,
    written as they are), ending at its first NUL (0x80 so made, or one a client sent). Captured:
    tests/reference/sendmail/bytes.json."""
    return b"\r\n".join(line.translate(_SEVEN_BITS).split(b"\0", 1)[0] for line in data.split(b"\r\n"))


_CONTROLS = bytes(range(0x20)) + b"\x7f"
_CONTROLS_AS_SPACES = bytes.maketrans(_CONTROLS, b" " * len(_CONTROLS))


def printable_bytes(data: bytes) -> bytes:
    """A reply as Postfix's smtpd_check_reject() writes it ([server] printable_replies): every
    ASCII control character a space (UTF-8 is kept: the line it came in was valid UTF-8)."""
    return data.translate(_CONTROLS_AS_SPACES)


def wire(text: str) -> bytes:
    """A reply's bytes: its text and the final CRLF; echoed undecodable bytes go back as they came."""
    return (text + "\r\n").encode("utf-8", "surrogateescape") if text else b""
