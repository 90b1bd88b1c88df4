"""Persona: every byte an attacker sees, loaded from a TOML data file and validated once."""

from __future__ import annotations

import dataclasses
import re
import string
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args

from relaypot.errors import PersonaError
from relaypot.vocabulary import KNOWN_VERBS, VERBS, frame_text, wire

DATA_DIR = Path(__file__).parent / "data"

# Placeholders a reply template may use; values are supplied by the session.
# Attacker-controlled values (argument, address, helo, mechanism) are data, never a format string:
# only the persona's own template is parsed for fields.
PLACEHOLDERS = frozenset(
    {"hostname", "domain", "date", "client_ip", "argument", "address", "mechanism", "queue_id",
     "size", "helo", "verb", "challenge", "netbios_name", "unquoted", "reason", "total", "line", "message_id",
     "client_name", "client_resolve", "client_host", "host_name", "length", "target", "sender"}
)
# ...of which these need [server] names_client (protocol/client_names.py)
CLIENT_NAME_PLACEHOLDERS = frozenset({"client_name", "client_resolve", "client_host", "host_name"})

AUTH_MECHANISMS = frozenset({"PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "NTLM", "GSSAPI"})

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

    def render(self, values: Mapping[str, str], bare_cr: bool = False) -> tuple[str, bytes]:
        """(text, wire bytes); `values` fill the placeholders as data, never as a template; a CR
        in them is kept where `bare_cr` (vocabulary.frame_text)."""
        if self.wire is not None:
            return self.text, self.wire
        text = frame_text(self.code, [line.format_map(values) for line in self.lines], bare_cr)
        return text, wire(text)


def static_template(key: str, code: int, lines: tuple[str, ...]) -> ReplyTemplate:
    text = frame_text(code, list(lines))
    return ReplyTemplate(key, code, lines, frozenset(), text, wire(text))


@dataclass(frozen=True, slots=True)
class EhloKeyword:
    keyword: str
    # always | tls_offered | tls_active | not_tls | until_data | accepting (not while the session
    # rejects commands: Sendmail's greet_pause and stuffing checks)
    when: str = "always"


ServerFirstInitial = Literal["ignored", "failed", "refused"]  # [auth] server_first_initial
Base64Reader = Literal["strict", "exim"]  # [auth] base64
# [auth] response_too_long: what an AUTH response line past response_max_length is
ResponseTooLong = Literal["refuse", "bad_base64", "piece"]
UserNames = Literal["exact", "lowercase", "windows"]  # how the server compares login names (protocol/logins.py)
USER_NAMES: tuple[UserNames, ...] = get_args(UserNames)

# The persona's behaviour, one table per concern, each read by one module of protocol/ (the
# session turns what that module returns into replies). A quirk a new server needs is a key in
# one table and a branch in one small module. Choices are Literal types: the reader validates a
# value against the type itself (`_read_table`).
LineEnding = Literal["lf", "crlf"]  # lf: LF ends a command line; crlf: only CRLF does
# truncate: act on the first bytes, drop the rest; reject: too_long for the whole line; split: the
# first max_length bytes and the one that overflowed are too_long, the rest is read as the next
# line (Exim's smtp_read_command, which returns as its buffer fills)
LongLine = Literal["truncate", "reject", "split", "piece"]
# lf: a "." line ended by a bare LF (or CRs then LF) also ends DATA; lf-one-cr: by LF or CR LF only
DataEnd = Literal["crlf", "lf", "lf-one-cr"]
# protocol/listener.py QueueIds
QueueIdStyle = Literal["postfix", "exchange", "exchange2013", "exim", "opensmtpd", "sendmail"]
# generic: protocol/commands.py's path reader with [addresses]' switches; postfix: Postfix's own
# reading of MAIL, RCPT and VRFY (protocol/postfix_envelope.py); exim: Exim's (protocol/exim_envelope.py)
# opensmtpd: OpenSMTPD's (protocol/opensmtpd_envelope.py); sendmail: Sendmail's (protocol/sendmail_envelope.py)
AddressGrammar = Literal["generic", "postfix", "exim", "opensmtpd", "sendmail", "exchange"]
# word: the verb is the first word; exim: smtp_in.c's command table, matched by prefix ("mail from:",
# "rcpt to:", a verb followed by a space or the end), trailing blanks dropped (protocol/lines.py)
# opensmtpd: smtp_command(): "mail from:"/"rcpt to:" split at the colon, other verbs at a space
# sendmail: the first word up to any white space, the line read up to a NUL
VerbGrammar = Literal["word", "exim", "opensmtpd", "sendmail"]
# exim: check_helo(), a host name's characters or an IP literal; opensmtpd: valid_domainpart()
# (a refused name gets {verb}.bad_domain); sendmail: letters, digits and "[].-_#:", then only blanks
# exchange: HeloSmtpCommandParser.IsValidHeloDomain, the argument as sent (protocol/exchange_envelope.py)
HeloSyntax = Literal["any", "exim", "opensmtpd", "sendmail", "exchange"]


@dataclass(frozen=True)
class LineRules:
    """[lines]: how a command line is read before its verb (protocol/lines.py). Postfix's
    smtp_get and smtpd_token: every CR before the LF dropped, the line cut at a NUL (after its
    UTF-8 is checked whole), blanks before the verb skipped."""

    ending: LineEnding = "lf"
    max_length: int = 2048
    too_long: LongLine = "truncate"
    strip_trailing_cr: bool = False
    nul_ends_command: bool = False
    skip_leading_blanks: bool = False  # smtpd_token(): C white space before the verb skipped, any of it ends the verb
    reject_empty: bool = False  # an empty line is command.bad_syntax, not command.unknown
    reject_invalid_utf8: bool = False  # command.bad_bytes
    # command.forbidden, then the server hangs up
    forbidden_verbs: tuple[str, ...] = field(default=(), metadata={"case": "upper"})
    forbid_nonalpha_first: bool = False
    forbid_header_verb: bool = False  # a first word like a header label ("Subject:"): is_header()
    verb_grammar: VerbGrammar = "word"
    # OpenSMTPD: a line read while more input waits is answered command.pipelining, and the
    # session ends (no PIPELINING: "500 5.5.1 Invalid command: Pipelining not supported")
    refuse_pipelining: bool = False
    # refusals of a line after which the server hangs up (OpenSMTPD's command.too_long)
    closing_refusals: tuple[str, ...] = ()
    # A command line (or piece of one, too_long = "piece") of more than this many bytes, its line
    # end included, is command.too_long, unless it is an AUTH command (Sendmail: MAXLINE checked on
    # what sfgets() read into its MAXINPLINE buffer, AUTH spared for SASL's sake); 0: none
    max_command: int = 0
    eof_ends_line: bool = False  # the end of input ends an unterminated last line, which is answered (Sendmail)
    # Any line, a message's too, of max_length bytes or more before its LF (a CR counted), or that
    # many with no LF yet, is line.too_long as soon as they are in, and the server hangs up
    # (OpenSMTPD's SMTP_LINE_MAX in smtp_io(), checked on every read before the line is looked at)
    max_length_ends: bool = False
    # the session's first line starting with one of these and a blank is an open proxy probe:
    # command.open_proxy, and the server hangs up (Sendmail's GET, POST, CONNECT, USER)
    open_proxy_verbs: tuple[str, ...] = field(default=(), metadata={"case": "upper"})
    # The server reads its socket in blocks of at most this many bytes: a close that leaves input
    # past its last block unread in the kernel is a reset, not a FIN (protocol/reads.py); 0: not
    # modelled (every close a FIN)
    read_block: int = 0
    # bytes it reads and drops just before it closes, for a clean FIN (Exim's daemon.c)
    drain_at_close: int = 0


@dataclass(frozen=True)
class MessageRules:
    """[message]: how a message is taken in (DATA, BDAT; protocol/framing.py and the session)."""

    data_end: DataEnd = "crlf"
    size_limit: int = 0  # the SIZE this server enforces at MAIL; 0 means no limit
    # the size past which a message is refused at its end (data.too_big), where it is not the
    # SIZE checked at MAIL (OpenSMTPD checks only the message, Sendmail's SIZE check is its free
    # disk); None: size_limit; 0: none, a message of any size is taken
    data_limit: int | None = None
    # how the server counts a message against that limit: as sent ("wire"), or stored with LF
    # line ends ("lf": each line end one byte, OpenSMTPD) and without a stuffed line's leading dot
    # ("lf_unstuffed": Exim; its BDAT chunks, never stuffed, as "lf"), or as the queue file
    # Postfix's cleanup writes ("postfix_queue_file": protocol/postfix_queue_file.py)
    counted_size: Literal["wire", "lf", "lf_unstuffed", "postfix_queue_file"] = "wire"
    refuse_data_argument: bool = False  # "DATA x": data.syntax
    # MAIL commands a connection may give, each counted whatever its answer (Exim's
    # smtp_accept_max_per_connection); past it MAIL is mail.too_many_messages and the session goes
    # on (0: no limit)
    mail_limit: int = 0
    # messages a session may send (OpenSMTPD's session max-mails): a MAIL after that many taken is
    # mail.too_many_messages, before its address is read (0: no limit)
    messages_limit: int = 0
    refuse_data_after_bdat: bool = False  # DATA after BDAT chunks of the same message: data.after_bdat
    # Postfix's skip_bdat(): a refused chunk is read and answered; "BDAT 0" without LAST is
    # bdat.null; after a refused chunk that was not the last, every chunk is bdat.discarded until
    # a LAST one ends the transaction; MAIL, RCPT and DATA meanwhile get *.after_bdat.
    bdat_error_state: bool = False
    # exim: Exim's dialogue between BDAT chunks (only BDAT, NOOP, QUIT; otherwise bdat.only_bdat,
    # then bdat.only_rset; RSET there crashes Debian's 4.96, a silent close) and its sizes in
    # replies (protocol/data.py exim_message_size)
    bdat_dialogue: Literal["plain", "exim"] = "plain"
    # Sendmail with Debian's CVE-2023-51765 backport: a bare CR or LF in a message ends the
    # session at once (data.bare_cr, data.bare_lf); a message with a NUL is refused at its end
    # (data.nul), the session going on
    strict_line_ends: bool = False
    refuse_nul: bool = False
    # what the server judges in a whole message (protocol/content.py), 0 for no such check: the
    # Received headers it may bring (data.too_many_hops: Postfix's hopcount_limit, OpenSMTPD's
    # MAX_HOPS_COUNT, less one each), its header section as Sendmail counts it (MaxHeadersLength;
    # data.headers_too_large), its longest line without the line end (Debian's Exim data ACL:
    # data.line_too_long, {length}); header_grammar "opensmtpd": its RFC 5322 parser refuses a
    # header section that does not parse (data.malformed); verify_header_syntax: every address
    # of a From:, Sender:, Reply-To:, To:, Cc: or Bcc: must parse, with a domain (Debian's Exim
    # data ACL, verify = header_syntax: data.header_syntax)
    max_hops: int = 0
    max_header_bytes: int = 0
    max_line_length: int = 0
    header_grammar: Literal["any", "opensmtpd"] = "any"
    verify_header_syntax: bool = False
    # Exim under CHUNKING (receive.c): a message sent by BDAT whose first line ends with a bare LF
    # and is a header is refused at the chunk that completes that header (data.header_not_crlf)
    chunked_header_crlf: bool = False


@dataclass(frozen=True)
class ErrorRules:
    """[errors]: error accounting (protocol/accounting.py), as Postfix's smtpd_soft/hard_error_limit,
    smtpd_error_sleep_time and smtpd_junk_command_limit. An error is a command answered 4xx/5xx;
    a junk verb past junk_limit uses counts as one too. From delay_from errors on, every reply
    waits `delay` seconds; at `limit` errors the server sends session.too_many_errors and closes.
    0 turns each off (IIS has none of them)."""

    delay_from: int = 0
    delay: float = 0.0
    limit: int = 0
    junk_limit: int = 0
    junk_verbs: tuple[str, ...] = field(default=(), metadata={"case": "upper"})
    forgiven_by_message: bool = False  # a message accepted clears the error and junk counts
    # Postfix's smtpd_recipient_overshoot_limit: this many recipients past [recipients]
    # per_message in a transaction are refused (rcpt.too_many) without counting as errors
    rcpt_overshoot: int = 0
    # Exim's counters (smtp_in.c): syntax and protocol errors (the replies named in
    # protocol_replies) past protocol_limit end the session, the reply that passes it joined by a
    # last line of session.too_many_errors in its own code; those in protocol_replies_closing end
    # it after their own reply. The unknown_limit+1st unknown command is answered
    # session.too_many_unknown, the nonmail_limit+1st of nonmail_verbs session.too_many_nonmail
    # (a first HELO or EHLO, RSET and STARTTLS of each transaction free), and the session ends.
    protocol_limit: int = 0
    protocol_replies: tuple[str, ...] = ()
    protocol_replies_closing: tuple[str, ...] = ()
    unknown_limit: int = 0
    nonmail_limit: int = 0
    nonmail_verbs: tuple[str, ...] = field(default=(), metadata={"case": "upper"})
    # Sendmail's checksmtpattack(): "VERB VERB:N" groups sharing a counter; from the Nth command of
    # a group on, its reply waits count//N seconds and then 2^(count-N) less that (at most 240)
    slowdowns: tuple[str, ...] = ()
    # verbs whose checksmtpattack() does not wait at once (VRFY and EXPN): counted before the checks
    # that refuse them (needvrfyhelo's 503 too), which wait only count//N seconds; the rest is slept
    # once the lookup has found every address, so a refusal (QuickAbort) skips it
    slowdowns_deferred: tuple[str, ...] = field(default=(), metadata={"case": "upper"})
    # Sendmail's BadRcptThrottle: from this many refused recipients in a transaction on, every RCPT
    # waits bad_rcpt_delay seconds first (0: none)
    bad_rcpt_throttle: int = 0
    bad_rcpt_delay: float = 0.0
    # Exchange 2007 and later (SmtpInSession.DelayResponseIfNecessary, the receive connector's
    # TarpitInterval): an anonymous client's every 5xx reply, and the reply to each of
    # tarpit_verbs, waits `tarpit` seconds (0: none); while a refusal is held the client is
    # discredited, and the banner of a connection it opens meanwhile waits as long
    tarpit: float = 0.0
    tarpit_verbs: tuple[str, ...] = field(default=(), metadata={"case": "upper"})
    # Exchange's MaxProtocolErrors: counted with protocol_limit as protocol_replies are, but the
    # reply past the limit is replaced by session.too_many_errors, and the session ends
    protocol_replies_replaced: tuple[str, ...] = ()


@dataclass(frozen=True)
class SequenceRules:
    """[sequence]: which commands come when (protocol/states.py), and the arguments a verb refuses."""

    mail_before_helo: bool = False
    auth_before_helo: bool = True
    ehlo_requires_argument: bool = True
    helo_requires_argument: bool = True
    refuse_rset_argument: bool = False  # "RSET x": rset.syntax (and nothing is reset)
    refuse_etrn_in_transaction: bool = False  # etrn.in_transaction
    # Postfix's etrn_cmd: the transaction refused first, then one word only, a leading @ or #
    # dropped, a host name or address literal (etrn.bad_domain); the reply names what is left.
    etrn_domain_checked: bool = False
    # Postfix's XCLIENT and XFORWARD: in a transaction (*.in_transaction) or with no attribute
    # (*.syntax) they are refused before the client's authorization is checked.
    trusted_verbs_checked: bool = False
    helo_syntax: HeloSyntax = "any"  # exim: a refused argument gets {verb}.missing_argument
    helo_once: bool = False  # a second HELO or EHLO is helo.again (OpenSMTPD: "Already identified")
    # verbs refused before HELO ({verb}.need_helo) and inside a transaction ({verb}.in_transaction)
    greeting_first: tuple[str, ...] = field(default=(), metadata={"case": "upper"})
    outside_transaction: tuple[str, ...] = field(default=(), metadata={"case": "upper"})
    starttls_argument_last: bool = False  # STARTTLS's argument is checked after TLS is found offered
    # Sendmail: STARTTLS in a transaction is starttls.in_transaction only once its argument and
    # TLS's availability passed (a second STARTTLS in TLS is starttls.already_active first)
    starttls_transaction_last: bool = False
    # Verbs taken only after an EHLO that advertised them (STARTTLS: its keyword; BDAT: CHUNKING),
    # not after HELO, a refused EHLO or TLS: {verb}.not_advertised (Exim)
    when_advertised: tuple[str, ...] = field(default=(), metadata={"case": "upper"})
    # exim: Exim's SMTP synchronization. Once the session has sent DATA or BDAT
    # (pipe_connect_acceptable is then off), a command that must end a pipelined group (HELO EHLO
    # DATA VRFY EXPN NOOP ETRN STARTTLS, an unknown one; MAIL RCPT RSET too without PIPELINING
    # advertised) read on a plain connection while more input waits; and at any time, a MAIL or RCPT
    # taken while more input waits where PIPELINING was not advertised: session.sync_error, and the
    # session ends (smtp_read_command, the MAIL and RCPT ACLs' check_sync)
    synchronization: Literal["none", "exim"] = "none"
    # DATA after RCPTs that were all refused in the same words repeats them (Exim's
    # rcpt_smtp_response_same): data.rcpts_refused_intro, the refusal, then data.need_rcpt
    rcpt_refusals_repeated: bool = False
    # Sendmail's check against transaction stuffing (Debian's CVE-2023-51765 backport): input
    # waiting behind HELO or EHLO is helo.stuffing and the session rejects commands from then on
    # (session.rejecting); behind a DATA that would be taken, data.stuffing and the server hangs up
    stuffing_checked: bool = False
    # Exchange 2007 and later (Xexch50SmtpCommand): XEXCH50 after HELO, MAIL and RCPT (else their
    # refusals: mail.need_helo, rcpt.need_mail, data.need_rcpt), then xexch50.not_authorized to
    # any client that is not one of the organisation's Exchange servers; no blob is read
    xexch50_refused: bool = False


@dataclass(frozen=True)
class AddressRules:
    """[addresses]: how MAIL, RCPT and VRFY read an address (protocol/commands.py)."""

    grammar: AddressGrammar = "generic"
    bracketless_paths: bool = True  # MAIL FROM:a@b without <>
    append_default_domain: bool = False  # a bare local part gets the default domain (IIS)
    check_address_literals: bool = False  # [300.1.1.1] is no address: bad_address
    vrfy_one_address: bool = False  # "VRFY John Smith": vrfy.bad_address


@dataclass(frozen=True)
class AuthRules:
    """[auth]: the SASL mechanisms and how the server judges a login (protocol/auth.py, logins.py)."""

    mechanisms: tuple[str, ...] = field(default=(), metadata={"case": "upper"})
    ntlm_version: tuple[int, int, int] | None = None  # major, minor, build of an NTLM challenge
    # The challenge's target info also names the forest (MsvAvDnsTreeName) and the server's
    # clock (MsvAvTimestamp), as Windows Server 2008 and later send them ([MS-NLMP] 2.2.2.1)
    ntlm_forest: bool = False
    user_names: UserNames = "exact"
    username_chars: str = ""  # characters allowed in a username; "" allows any
    # LOGIN: a user name of more bytes fails at once, no password asked for (Cyrus SASL's login
    # plugin: "username too long (>1024 characters)"); 0: any length
    login_username_max: int = 0
    failure_delay: float = 0.0  # every failed login is answered this late (Dovecot's auth_failure_delay)
    refuse_in_transaction: bool = False  # auth.in_transaction
    refuse_after_login: bool = False  # auth.already_authenticated
    # Exchange (InboundParseMechanism): an AUTH or X-EXPS naming no mechanism is
    # auth.missing_mechanism before HELO, a transaction or a login is looked at; a login is then
    # looked at before the transaction
    mechanism_first: bool = False
    bad_base64_continued: bool = False  # a bad continuation line has its own reply: auth.bad_base64_continued
    # PLAIN naming someone else to log in as fails, whatever the password (Dovecot: that needs a
    # master passdb); the same name twice is one user
    authzid_must_match: bool = False
    # Sendmail with Cyrus SASL, Exim: everything after the mechanism is its initial response (no
    # words too many)
    rest_is_initial: bool = False
    # An initial response to CRAM-MD5 or DIGEST-MD5, where the server speaks first: "ignored"
    # (Dovecot sends its challenge anyway), "failed" (Cyrus SASL fails the exchange: 535, or 501
    # where it is no base64), "refused" (Exim's auth.initial_unexpected, never decoded)
    server_first_initial: ServerFirstInitial = "ignored"
    # A login after which AUTH comes again in a transaction is refused as a login
    # (auth.already_authenticated: Exim, Sendmail); Postfix looks at the transaction first
    login_before_transaction: bool = False
    # Exim's plaintext driver: PLAIN's and LOGIN's responses are split at NULs into numbered items
    # and a prompt is sent only for an item still missing (LOGIN's user name, then its password,
    # each a prompt: a user name with a NUL and a password in it needs no second); "=" as the
    # initial response is one empty item
    split_at_nul: bool = False
    # How a response's base64 is read (protocol/auth.py BASE64_READERS): "strict" (Dovecot's,
    # Cyrus SASL's: whole quanta, padding only at the end), "exim" (base64.c b64decode(): the same
    # once white space anywhere is skipped, to the first NUL)
    base64: Base64Reader = "strict"
    # Exim: a mechanism name of any character but letters, digits, "-" and "_" is
    # auth.bad_mechanism_name (smtp_in.c AUTH_CMD), once the order is checked
    mechanism_name_checked: bool = False
    # Sendmail: an unknown mechanism is named in at most this many bytes ("%.32s"); 0: whole
    mechanism_shown_bytes: int = 0
    # Mechanisms offered (and taken) only once TLS is up, and never by X-EXPS: Exchange's
    # BasicAuthRequireTLS turns "AUTH NTLM" into "AUTH NTLM LOGIN" after STARTTLS; before it, or
    # after X-EXPS (Exchange's own servers' AUTH), LOGIN is an unknown mechanism
    tls_mechanisms: tuple[str, ...] = field(default=(), metadata={"case": "upper"})
    # CRAM-MD5's challenge as the server's SASL makes it (protocol/auth.py cram_challenge)
    cram_challenge: Literal["dovecot", "cyrus", "exim"] = "dovecot"
    # The longest response line the server reads in an exchange (0: a command line's bound and
    # handling, [lines]), and what a longer one is: "refuse" (Postfix's smtpd_sasl_response_limit
    # as smtp_get() counts it, the LF counted, a CR LF as one byte: auth.response_too_long, the
    # rest of the line skipped), "bad_base64" (Exim's auth_get_data(): once this many bytes before the LF are read
    # and one more comes, which is lost, the exchange fails as bad base64 and the rest of the line
    # is read as the next command), "piece" (Sendmail's sfgets(): this many bytes, the line end
    # included, are the response, the rest of the line is the next one)
    response_max_length: int = 0
    response_too_long: ResponseTooLong = "refuse"


@dataclass(frozen=True)
class ServerFacts:
    """[server]: what the server is, beside its dialogue: queue ids, STARTTLS, connection limits."""

    queue_id: QueueIdStyle = "postfix"
    starttls_offered: bool = False
    max_connections_per_client: int = 0  # concurrent connections from one address (0: none of its own)
    # sessions one listener serves at once; the next clients wait, unanswered, for a free one
    # (Postfix's default_process_limit: a busy service's backlog); 0: no limit of its own
    process_limit: int = 0
    # Queue files opened (the first recipient of a transaction accepted) before a message must
    # arrive to let more open without in_flow_delay (Postfix's flow tokens: the queue manager
    # refills them when a message is queued); 0: no such control.
    flow_tokens: int = 0
    flow_delay: float = 0.0
    # Exim's QUIT on a plain connection: the 221 waits in a corked socket while the server polls
    # 200 ms for the client's FIN (smtp_quit_handler)
    quit_delay: float = 0.0
    # Seconds from the reply a server closes after to its close (Exim's daemon child drains the
    # socket and exits: 0.35 ms on loopback); what the client sends meanwhile is never read, and the
    # kernel answers the close with a reset. A corked reply (Exim's QUIT) leaves with the close.
    close_lag: float = 0.0
    # The same for a close inside a message (Sendmail's collect() gives up: its 421, then finis()
    # drops the envelope and its files first: 1 ms)
    close_lag_in_message: float = 0.0
    # Replies the server writes after it has dropped TLS without a close_notify (Exim's
    # smtp_notquit_exit): in clear on the bare connection as it closes, which a TLS client reads
    # as a broken record
    unsaid_in_tls: tuple[str, ...] = ()
    # A reply of more bytes than this, its CR LF included, is never written: session.reply_too_long
    # takes its place and the session ends (Exim's smtp_vprintf() into big_buffer, 16384 bytes
    # with the NUL: "421 Unexpected error"); 0: any length
    max_reply_bytes: int = 0
    # Sendmail's greet_pause: the greeting waits this long; a client that talks first gets
    # greeting.early at once, and the session rejects commands (session.rejecting)
    greet_pause: float = 0.0
    # Seconds between the accept and the banner while the server sets the session up (Exim's
    # daemon forks and looks the client up). Input that arrives meanwhile is no early talk but is
    # answered behind the banner, in the same write: Exim's check_sync() finds it waiting, and
    # with PIPECONNECT acceptable the banner stays unflushed until Exim next reads (measured: an
    # early "QUIT" gets banner and 221 together, 200 ms on, as QUIT's corked 221 goes)
    setup_time: float = 0.0
    # The client's PTR name asked of DNS (and that name's address asked back) before the greeting,
    # as Sendmail's getauthinfo() and Exim's host_lookup do: for {client_name}, {client_resolve},
    # {client_host} (Sendmail's words) and {host_name} (Exim's), and a relay refusal of each
    # outcome where the persona has one (rcpt.relay_denied.ok, .forged, .temp)
    names_client: bool = False
    # Sendmail's replies are C strings printed as fmtmsg() made them: every byte's high bit
    # dropped (an echoed "ä", C3 A4, is "C$"; 0x8D a CR, 0x8A a LF), a line ending at its first
    # NUL (0x80 so made), a CR the client sent written as sent (vocabulary.seven_bit_bytes)
    seven_bit_replies: bool = False
    # The server writes its replies only when no input waits (Sendmail flushes its output before a
    # read that would block): replies to a pipelined group, its sleeps slept (a slowed NOOP, a
    # throttled RCPT), all go out when the group is done (transport/connection.py)
    flush_when_idle: bool = False
    # What "no input waits" means to such a server: Sendmail's select() sees bytes still in the
    # kernel (true); Postfix's double-buffered VSTREAM flushes before any read() once its own read
    # buffer is empty, whatever the kernel holds (false)
    flush_sees_kernel: bool = True
    # ...and yet a reply made more than this many seconds after the stream's last read or write
    # goes out at once, with all it held (Postfix's smtpd_chat_reply(): 10; 0: never)
    flush_after_quiet: float = 0.0
    # Replies the server makes printable before it writes them, every ASCII control character a
    # space: Postfix's smtpd_check_reject() (captured: "<a\x1bb@...>" is refused as "<a b@...>")
    printable_replies: tuple[str, ...] = ()


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
    # Debian Exim's CHECK_RCPT_LOCAL_LOCALPARTS and CHECK_RCPT_REMOTE_LOCALPARTS: rcpt.restricted
    restricted_characters: bool = False
    empty_local_part: bool = False  # "@domain" at a local domain is a user that exists (Postfix)
    # Sendmail's VRFY and EXPN: a user's full name (GECOS), and the aliases file (lower case)
    full_names: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    # Sendmail's send queue (protocol/sendmail_queue.py): a duplicate recipient answered with the
    # address first written; VERB's verbose mode says each alias step at RCPT and EXPN
    # (rcpt.aliased) and each local delivery after the message (data.delivering)
    send_queue: bool = False
    # local parts whose recipients skip Sendmail's delayed sender checks (Debian's access map:
    # "Spam:postmaster@ FRIEND", FEATURE(delay_checks, friend))
    spam_friends: tuple[str, ...] = field(default=(), metadata={"case": "lower"})
    # the server's own recipients-per-message limit (rcpt.too_many past it: Postfix's
    # smtpd_recipient_limit, Exchange's MaxRecipientsPerMessage); 0: none. relaypot's [limits]
    # max_recipients bounds only what a transaction keeps: past it recipients are answered as the
    # server would, recorded with their RCPT, and not kept with the message
    per_message: int = 0
    # Debian Exim's acl_check_rcpt: past this many RCPT commands in a transaction, one with fewer
    # than half of them accepted is rcpt.too_many_bad (a local postmaster is accepted before it)
    bad_rcpt_limit: int = 0


TlsVersion = Literal["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
TLS_VERSIONS: tuple[TlsVersion, ...] = get_args(TlsVersion)


@dataclass(frozen=True)
class TlsProfile:
    """How the server's TLS looks from outside ([tls]): what transport/tls.py sets on OpenSSL.
    The defaults are a modern OpenSSL server's; a persona gives its real server's."""

    min_version: TlsVersion = "TLSv1.2"
    max_version: TlsVersion = "TLSv1.3"
    ciphers: str = "DEFAULT"  # an OpenSSL cipher list (TLS 1.2 and older; TLS 1.3: tls13_suites)
    security_level: int = 2  # OpenSSL's @SECLEVEL: 0 lets TLS 1.0, SHA-1 and anonymous suites through
    server_preference: bool = True  # the server's cipher order wins, else the client's
    dh_auto: bool = False  # OpenSSL picks the DH group by key and cipher strength (SSL_CTX_set_dh_auto)
    # a fixed DH group for DHE suites (GnuTLS: RFC 7919's ffdhe2048), or "own": 2048-bit parameters
    # made once for this sensor and kept, as Debian's update_tls makes Sendmail's (dhparam -dsaparam)
    dh_group: Literal["", "ffdhe2048", "own"] = ""
    groups: str = ""  # the key-exchange groups, OpenSSL's list syntax ("" keeps OpenSSL's)
    # Offered, with a warning on every start, when this OpenSSL has none of `ciphers` and the
    # operator turned STARTTLS on anyway ("": refuse to start instead).
    substitute_ciphers: str = ""
    # The client's first bytes after the STARTTLS reply are no TLS record: answer with a fatal
    # unexpected_message alert (GnuTLS does; OpenSSL closes without one)
    bad_record_alert: bool = False
    # A client that leaves without its close_notify gets a decode_error alert (OpenSSL 3's
    # "unexpected eof while reading", where the server does not set SSL_OP_IGNORE_UNEXPECTED_EOF)
    eof_alert: bool = False
    # The certificate made where the operator names none: "snakeoil" (Debian's make-ssl-cert, kept
    # in the data dir) or "exim" (Exim's own, made at each start: transport/tls.py exim_certificate)
    # or "exchange" (Exchange's own self-signed one, made once: CN the NetBIOS name, both names in
    # its subject alternative names, valid five years), or "sendmail" (Debian's update_tls: a
    # version 1 certificate, O=Sendmail, OU=Sendmail Server, CN the host name, its admin address)
    # or "exim-gencert" (exim4-base's exim-gencert with its defaults: version 1, C=US, CN the host name)
    certificate: Literal["snakeoil", "exim", "exchange", "sendmail", "exim-gencert"] = "snakeoil"
    # Ask the client for a certificate, naming the server's own as the authority it accepts, and
    # take any or none (Sendmail without TLSSrvOptions V)
    request_client_certificate: bool = False
    session_timeout: int = 0  # seconds: the session cache's, a TLS 1.2 ticket's lifetime hint (0: OpenSSL's)
    tls13_suites: str = ""  # the TLS 1.3 suites, OpenSSL's names ("": OpenSSL's three)
    tickets: bool = True  # session tickets (false: SSL_OP_NO_TICKET, as OpenSMTPD sets it)
    # TLS 1.3 tickets after a full handshake: Postfix's tls_server.c asks for one, OpenSSL's default is two
    tls13_tickets: int = 1
    session_cache: bool = True  # false: SSL_SESS_CACHE_OFF, so a TLS 1.2 ServerHello has no session id
    # false: session ids issued and none kept, so resuming by id is a full handshake (Postfix
    # without smtpd_tls_session_cache_database, as Debian ships it: SSL_SESS_CACHE_NO_INTERNAL_STORE;
    # Exim and Sendmail, whose child per connection takes its cache with it)
    session_ids_kept: bool = True
    # The client's SNI acknowledged (an empty server_name extension, as a server-name callback
    # answering SSL_TLSEXT_ERR_OK makes OpenSSL send): never, or when it names the host name
    # (OpenSMTPD: a pki of that name)
    sni_ack: Literal["never", "host_name"] = "never"
    # Whose rules judge the client's ClientHello before the handshake goes on: OpenSSL's own, or
    # GnuTLS 3.7's, which refuse a host name of any byte but a letter, a digit, "-" and "."
    # (illegal_parameter), an empty name or list (decode_error), and malformed hellos with alerts
    # of their own, each in a record of the version GnuTLS had reached: transport/gnutls.py
    hello_rules: Literal["openssl", "gnutls"] = "openssl"
    # ALPN protocols the server selects (Exim 4.96's tls_alpn "smtp : esmtp"): a client that offers
    # ALPN but none of these gets no_application_protocol; with alpn_one_only a client offering more
    # than one protocol gets it too (Exim's tls_server_clienthello_ext()). Empty: ALPN ignored.
    alpn: tuple[str, ...] = ()
    alpn_one_only: bool = False
    # The server's private key cannot be used, so every handshake stops where it must sign or
    # decrypt (OpenSMTPD 6.8.0p2 on OpenSSL 3: transport/failing_key.py)
    signing_fails: bool = False


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
    ip_id: Literal["kernel", "incremental"] = "kernel"  # incremental: one counter for every packet, as Windows
    syn_ack_window: int = 0  # the window of a SYN+ACK (0: the kernel's)
    syn_ack_timestamp_zero: bool = False  # a SYN+ACK's TSval and TSecr are 0 (Windows), later ones the kernel's
    option_layout: tuple[tuple[str, ...], ...] = ()  # groups such as ("nop", "ws"), p0f's names
    rst_df: Literal["kernel", "set", "clear"] = "kernel"  # DF on a RST
    rst_ack: Literal["kernel", "other"] = "kernel"  # the acknowledgment number of a RST without ACK
    icmp_error_quote: int = 0  # bytes of the offending datagram past its IP header (0: the kernel's)
    echo_reply_code: Literal["kernel", "zero"] = "kernel"
    echo_reply_df: Literal["kernel", "request"] = "kernel"  # request: DF as the echo request had it
    answer_no_flags: Literal["none", "rst-ack"] = "none"  # a segment with none of SYN, ACK, RST to a sensor port
    answer_syn_fin: Literal["none", "syn-ack", "rst-ack"] = "none"  # SYN+FIN to a sensor port
TCP_OPTION_NAMES = ("mss", "nop", "ws", "ts", "sok")
SYSCTL_NAME = re.compile(r"net\.[a-z0-9_]+(\.[a-z0-9_]+)*")  # what a persona may set: net.* only


ReceivedStyle = Literal["postfix", "smtpsvc", "exchange2013", "rfc5321"]  # deliver/received.py renders each
RECEIVED_STYLES: tuple[ReceivedStyle, ...] = get_args(ReceivedStyle)


@dataclass(frozen=True)
class RelayProfile:
    """What the server adds to a message it relays ([relay]): the Received: line of a delivered
    probe (deliver/received.py). `product` is the server's name in that line."""

    received: ReceivedStyle = "rfc5321"
    product: str = ""


SERVICES = ("submission", "submissions")
# Reply keys only a submission service uses, from its own [services.NAME.replies].
SERVICE_REPLY_KEYS = frozenset({"session.tls_required", "rcpt.login_required", "vrfy.login_required"})


@dataclass(frozen=True)
class Service:
    """A listener that is a mail submission service ([services.submission], port 587;
    [services.submissions], port 465): how it differs from the persona's port 25."""

    tls: Literal["required", "implicit"] = "required"  # required: STARTTLS before most commands; implicit: TLS
    # from the first byte
    pre_tls_verbs: tuple[str, ...] = field(default=(), metadata={"case": "upper"})  # taken before STARTTLS
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
    forest: bool = False  # the forest (the DNS domain) and the server's time follow in the target info


@dataclass(frozen=True)
class Persona:
    name: str
    summary: str
    source: str
    default_hostname: str
    verbs: frozenset[str]
    ehlo_greeting: str
    ehlo_keywords: tuple[EhloKeyword, ...]
    replies: dict[str, ReplyTemplate]
    date_format: str
    help_topics: dict[str, ReplyTemplate] = field(default_factory=dict)
    # Sendmail's helpfile ([help_file]): (line, text shown) pairs; HELP prints the text of each
    # line that begins with the topic asked for
    help_file: tuple[tuple[str, str], ...] = ()
    # Which versions of its server the persona can present, and why no other is offered as a lure
    versions: str = ""
    # What a client could still tell apart from the real server (`relaypot personas show`)
    known_tells: tuple[str, ...] = ()
    # The ESMTP parameters MAIL and RCPT take ({"mail": {...}, "rcpt": {...}}); empty: every
    # parameter is taken unchecked, as a server we know too little about.
    parameters: dict[str, frozenset[str]] = field(default_factory=dict)
    grades: dict[str, str] = field(default_factory=dict)
    lines: LineRules = field(default_factory=LineRules)
    message: MessageRules = field(default_factory=MessageRules)
    errors: ErrorRules = field(default_factory=ErrorRules)
    sequence: SequenceRules = field(default_factory=SequenceRules)
    addresses: AddressRules = field(default_factory=AddressRules)
    auth: AuthRules = field(default_factory=AuthRules)
    server: ServerFacts = field(default_factory=ServerFacts)
    recipients: RecipientRules = field(default_factory=RecipientRules)
    tls: TlsProfile = field(default_factory=TlsProfile)
    services: dict[str, Service] = field(default_factory=dict)
    stack: StackProfile = field(default_factory=StackProfile)
    relay: RelayProfile = field(default_factory=RelayProfile)
    path: Path | None = None

    def reply(self, key: str) -> ReplyTemplate:
        return self.replies[key]

    def required_keys(self) -> frozenset[str]:
        """Every reply key the persona's verbs and its tables' switches need."""
        keys = set(CORE_KEYS)
        for verb in self.verbs:
            if verb in ("AUTH", "X-EXPS") and not self.auth.mechanisms:
                keys.add("auth.not_available")  # never advertised: every AUTH is refused so
                continue
            keys |= VERBS[verb].reply_keys if verb in VERBS else frozenset()
        if self.lines.too_long in ("reject", "split") or self.lines.max_command:
            keys.add("command.too_long")
        if self.lines.max_length_ends:
            keys.add("line.too_long")
        if self.server.max_reply_bytes:
            keys.add("session.reply_too_long")
        if self.lines.forbidden_verbs or self.lines.forbid_nonalpha_first or self.lines.forbid_header_verb:
            keys.add("command.forbidden")
        switches = ((self.message.refuse_data_argument, "DATA", "data.syntax"),
                    (self.message.refuse_data_after_bdat, "DATA", "data.after_bdat"),
                    (self.sequence.refuse_rset_argument, "RSET", "rset.syntax"),
                    (self.sequence.refuse_etrn_in_transaction, "ETRN", "etrn.in_transaction"),
                    (self.sequence.etrn_domain_checked, "ETRN", "etrn.bad_domain"),
                    (self.message.bdat_error_state, "BDAT", "bdat.null"),
                    (self.message.bdat_error_state, "BDAT", "bdat.discarded"),
                    (self.message.bdat_error_state, "BDAT", "bdat.too_big"),
                    (bool(self.message.max_hops), "DATA", "data.too_many_hops"),
                    (bool(self.message.max_header_bytes), "DATA", "data.headers_too_large"),
                    (bool(self.message.max_line_length), "DATA", "data.line_too_long"),
                    (self.message.header_grammar == "opensmtpd", "DATA", "data.malformed"),
                    (self.message.verify_header_syntax, "DATA", "data.header_syntax"),
                    (self.message.chunked_header_crlf, "BDAT", "data.header_not_crlf"),
                    (self.recipients.send_queue, "RCPT", "rcpt.aliased"),
                    (self.recipients.send_queue, "DATA", "data.delivering"),
                    (bool(self.recipients.bad_rcpt_limit), "RCPT", "rcpt.too_many_bad"),
                    (self.message.bdat_error_state, "MAIL", "mail.after_bdat"),
                    (bool(self.message.mail_limit or self.message.messages_limit), "MAIL",
                     "mail.too_many_messages"),
                    (self.message.bdat_error_state, "RCPT", "rcpt.after_bdat"),
                    (self.addresses.grammar == "postfix", "MAIL", "mail.size_overflow"),
                    (self.addresses.grammar == "postfix", "MAIL", "mail.bad_envid"),
                    (self.addresses.grammar == "postfix", "MAIL", "mail.auth_twice"),
                    (self.addresses.grammar == "postfix", "RCPT", "rcpt.bad_orcpt"),
                    (self.sequence.trusted_verbs_checked, "XCLIENT", "xclient.syntax"),
                    (self.sequence.trusted_verbs_checked, "XCLIENT", "xclient.in_transaction"),
                    (self.sequence.trusted_verbs_checked, "XFORWARD", "xforward.syntax"),
                    (self.sequence.trusted_verbs_checked, "XFORWARD", "xforward.in_transaction"),
                    (self.addresses.vrfy_one_address, "VRFY", "vrfy.bad_address"),
                    (self.auth.refuse_in_transaction, "AUTH", "auth.in_transaction"),
                    (self.auth.refuse_after_login, "AUTH", "auth.already_authenticated"),
                    (self.auth.bad_base64_continued, "AUTH", "auth.bad_base64_continued"),
                    (self.auth.mechanism_name_checked, "AUTH", "auth.bad_mechanism_name"),
                    (self.auth.server_first_initial == "refused", "AUTH", "auth.initial_unexpected"),
                    (bool(self.auth.response_max_length) and self.auth.response_too_long == "refuse", "AUTH",
                     "auth.response_too_long"),
                    *((True, verb, f"{verb.lower()}.not_advertised") for verb in self.sequence.when_advertised),
                    (self.sequence.rcpt_refusals_repeated, "DATA", "data.rcpts_refused_intro"),
                    (self.sequence.rcpt_refusals_repeated, "DATA", "data.need_rcpt_after_rcpt"),
                    (self.sequence.rcpt_refusals_repeated, "BDAT", "bdat.need_rcpt_after_rcpt"),
                    (self.recipients.restricted_characters, "RCPT", "rcpt.restricted"),
                    *((self.addresses.grammar == "exim", key.split(".")[0].upper(), key) for key in (
                        "mail.missing_address", "mail.unqualified", "mail.bad_body", "mail.bad_auth",
                        "mail.smtputf8_unadvertised", "rcpt.missing_address", "rcpt.unqualified",
                        "vrfy.bad_address", "vrfy.unqualified")))
        if self.lines.verb_grammar == "exim":
            keys |= {"command.nul", "command.unexpected_argument"}
        if self.lines.verb_grammar == "opensmtpd":
            keys |= {"command.unexpected_argument", "command.wiz", "command.too_long"}
        if self.lines.refuse_pipelining:
            keys.add("command.pipelining")
        if self.lines.open_proxy_verbs:
            keys.add("command.open_proxy")
        if self.server.greet_pause or self.sequence.stuffing_checked:
            keys |= {"greeting.early", "session.rejecting"}
        if self.sequence.stuffing_checked:
            keys |= {"helo.stuffing", "data.stuffing"}
        if self.sequence.xexch50_refused and "XEXCH50" in self.verbs:
            keys.add("xexch50.not_authorized")
        if self.message.strict_line_ends:
            keys |= {"data.bare_cr", "data.bare_lf"}
        if self.message.refuse_nul:
            keys.add("data.nul")
        if self.help_file:
            keys.add("help.unknown")
        if self.addresses.grammar == "sendmail":
            keys |= {f"mail.{key}" for key in ("unsupported_option", "missing_value", "bad_body", "size_overflow",
                                                "size_invalid", "bad_ret", "duplicate", "bad_xtext", "no_host",
                                                "bad_host", "bad_route", "token_too_long", "no_user",
                                                "invalid_sender", "too_many_parameters", "non_printable",
                                                "eight_bit", "too_long", "prescan_too_long")}
            keys |= {f"rcpt.{key}" for key in (
                "unsupported_option", "too_many_parameters", "non_printable", "missing_value", "unknown_user",
                "sender_unqualified", "sender_unresolved", "sender_local", "bad_notify", "duplicate", "bad_orcpt",
                "no_host", "bad_host", "no_user", "bad_route", "token_too_long", "to_programs", "to_files",
                "to_includes", "eight_bit", "too_long", "prescan_too_long")}
            keys |= {f"{verb}.{key}" for verb in ("vrfy", "expn") if verb.upper() in self.verbs
                     for key in ("unknown_user", "remote", "bad_address")}
            if "ETRN" in self.verbs:
                keys |= {"etrn.queue_group", "etrn.unknown_queue"}
        if self.sequence.helo_once:
            keys.add("helo.again")
        if self.sequence.helo_syntax in ("opensmtpd", "sendmail", "exchange"):
            keys |= {f"{verb.lower()}.bad_domain" for verb in ("HELO", "EHLO") if verb in self.verbs}
        keys |= {f"{verb.lower()}.need_helo" for verb in self.sequence.greeting_first}
        keys |= {f"{verb.lower()}.in_transaction" for verb in self.sequence.outside_transaction}
        if self.sequence.starttls_transaction_last:
            keys.add("starttls.in_transaction")
        if self.addresses.grammar == "opensmtpd":
            keys |= {"mail.unsupported_option", "mail.envid_too_long", "rcpt.unsupported_option", "rcpt.bad_notify",
                     "rcpt.bad_orcpt"}
        if self.sequence.synchronization == "exim":
            keys.add("session.sync_error")
        if self.message.bdat_dialogue == "exim" and "BDAT" in self.verbs:
            keys |= {"bdat.only_bdat", "bdat.only_rset", "bdat.zero_size", "data.lost_input"}
        if self.errors.unknown_limit:
            keys.add("session.too_many_unknown")
        if self.errors.nonmail_limit:
            keys.add("session.too_many_nonmail")
        keys |= {key for on, verb, key in switches if on and verb in self.verbs}
        # [parameters]: a command whose parameters are checked needs the refusal of each check.
        for command, names in self.parameters.items():
            if command.upper() in self.verbs:
                keys.add(f"{command}.unsupported_option")
                keys |= {key for name, key in (("SIZE", "mail.bad_size"), ("RET", "mail.bad_ret"),
                                              ("NOTIFY", "rcpt.bad_notify")) if name in names}
        if "RCPT" in self.verbs and self.recipients.users is not None:
            keys.add("rcpt.unknown_user")
        if "VRFY" in self.verbs and self.recipients.vrfy_judged:
            keys |= {"vrfy.relay_denied"} | ({"vrfy.unknown_user"} if self.recipients.users is not None else set())
        mechanisms = set(self.auth.mechanisms)
        if "GSSAPI" in mechanisms:
            keys.add("auth.empty_prompt")
        if "NTLM" in mechanisms:
            keys.add("auth.ntlm_prompt")
        if {"NTLM", "CRAM-MD5"} & mechanisms:
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
            version=self.auth.ntlm_version,
            forest=self.auth.ntlm_forest,
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
    return parse(_read_extended(path, ()), path)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PersonaError(f"{path}: persona file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PersonaError(f"{path}: cannot read persona: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PersonaError(f"{path}: not valid TOML: {exc}") from None


def _read_extended(path: Path, seen: tuple[str, ...]) -> dict[str, Any]:
    """The persona file's tables, over those of the bundled persona its `[persona] extends` names
    (the same server in another configuration: a table merged key by key, any other value the
    variant's own); the base's own `extends` is followed the same way."""
    raw = _read(path)
    top = raw.get("persona")
    base = top.pop("extends", None) if isinstance(top, dict) else None
    if base is None:
        return raw
    if not isinstance(base, str) or base not in bundled():
        raise PersonaError(f"{path}: [persona] extends must name a bundled persona ({', '.join(bundled())}), "
                           f"not {base!r}")
    if base in seen:
        raise PersonaError(f"{path}: [persona] extends {base!r} again: {' → '.join((*seen, base))}")
    return _merged(_read_extended(DATA_DIR / f"{base}.toml", (*seen, base)), raw)


def _merged(base: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in variant.items():
        below = merged.get(key)
        merged[key] = _merged(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return merged


def parse(raw: dict[str, Any], path: Path) -> Persona:
    where = str(path)

    def need(table: dict[str, Any], key: str, kind: type, ctx: str) -> Any:
        if key not in table:
            raise PersonaError(f"{where}: [{ctx}] is missing key {key!r}")
        value = table[key]
        if not isinstance(value, kind):
            raise PersonaError(f"{where}: [{ctx}] {key} must be {kind.__name__}")
        return value

    unknown_tables = set(raw) - TABLES
    if unknown_tables:
        raise PersonaError(f"{where}: unknown table [{sorted(unknown_tables)[0]}]; known: {', '.join(sorted(TABLES))}")
    top = need(raw, "persona", dict, "persona")
    unknown_keys = set(top) - PERSONA_KEYS
    if unknown_keys:
        raise PersonaError(f"{where}: [persona] has unknown key {sorted(unknown_keys)[0]!r}; "
                           f"known: {', '.join(sorted(PERSONA_KEYS))}")
    name = need(top, "name", str, "persona")
    verbs = frozenset(v.upper() for v in need(top, "verbs", list, "persona"))
    unknown = verbs - KNOWN_VERBS
    if unknown:
        raise PersonaError(f"{where}: [persona] verbs has unknown verbs {sorted(unknown)}")

    ehlo = need(raw, "ehlo", dict, "ehlo")
    keywords: list[EhloKeyword] = []
    for item in need(ehlo, "keywords", list, "ehlo"):
        if isinstance(item, str):
            keywords.append(EhloKeyword(item))
        elif isinstance(item, dict) and isinstance(item.get("keyword"), str):
            when = item.get("when", "always")
            if when not in ("always", "tls_offered", "tls_active", "not_tls", "until_data", "accepting"):
                raise PersonaError(f"{where}: [ehlo] keyword {item['keyword']!r} has unknown when={when!r}")
            keywords.append(EhloKeyword(item["keyword"], when))
        else:
            raise PersonaError(f"{where}: [ehlo] keywords must be strings or {{keyword=..., when=...}}")

    replies = {
        key: compile_reply(key, value, where) for key, value in need(raw, "replies", dict, "replies").items()
    }
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
        replies=replies,
        date_format=top.get("date_format", "rfc2822"),
        help_topics=help_topics,
        help_file=_parse_help_file(raw.get("help_file", {}), where),
        versions=top.get("versions", ""),
        known_tells=_strings(top.get("known_tells", []), "[persona] known_tells", where),
        grades=dict(raw.get("grades", {})),
        parameters=_parse_parameters(raw.get("parameters", {}), where),
        lines=_parse_lines(raw.get("lines", {}), where),
        message=read_table(raw.get("message", {}), MessageRules, "message", where),
        errors=_parse_errors(raw.get("errors", {}), where),
        sequence=read_table(raw.get("sequence", {}), SequenceRules, "sequence", where),
        addresses=read_table(raw.get("addresses", {}), AddressRules, "addresses", where),
        auth=_parse_auth(raw.get("auth", {}), where),
        server=read_table(raw.get("server", {}), ServerFacts, "server", where),
        recipients=_parse_recipients(raw.get("recipients", {}), where),
        tls=_parse_tls(raw.get("tls", {}), where),
        services=_parse_services(raw.get("services", {}), where),
        stack=_parse_stack(raw.get("stack", {}), where),
        relay=_parse_relay(raw.get("relay", {}), where),
        path=path,
    )
    if persona.date_format not in DATE_FORMATS:
        raise PersonaError(f"{where}: [persona] date_format must be one of {sorted(DATE_FORMATS)}")
    ehlo_fields = _validate_placeholder(persona.ehlo_greeting, "ehlo.greeting", where)
    missing = persona.required_keys() - replies.keys()
    if missing:
        raise PersonaError(f"{where}: [replies] is missing {', '.join(sorted(missing))}")
    if not persona.server.names_client:
        for key, fields in [("ehlo.greeting", ehlo_fields), *((key, t.fields) for key, t in replies.items())]:
            if named := fields & CLIENT_NAME_PLACEHOLDERS:
                raise PersonaError(f"{where}: [replies] {key}: {{{min(named)}}} needs [server] names_client = true")
    for key in persona.server.printable_replies:  # a service's own reply (submission's) may be named too
        if key not in SERVICE_REPLY_KEYS and (key not in replies or "\r\n" in replies[key].text):
            raise PersonaError(f"{where}: [server] printable_replies: {key} is no one-line reply of [replies]")
    return persona


# The tables read into one dataclass each (docs/personas.md documents every field: a test checks).
TABLE_CLASSES: dict[str, type] = {
    "lines": LineRules, "message": MessageRules, "errors": ErrorRules, "sequence": SequenceRules,
    "addresses": AddressRules, "server": ServerFacts, "auth": AuthRules, "recipients": RecipientRules,
    "tls": TlsProfile, "stack": StackProfile, "relay": RelayProfile,
}
# Every table a persona file may have; each has one reader here and one reader in protocol/.
TABLES = frozenset({"persona", "ehlo", "replies", "help_topics", "help_file", "grades", "parameters", "lines",
                    "message", "errors", "sequence", "addresses", "auth", "server", "recipients", "tls", "services",
                    "stack", "relay"})
DATE_FORMATS = frozenset({"rfc2822", "rfc2822-nopad", "sendmail"})
PERSONA_KEYS = frozenset({"name", "summary", "source", "default_hostname", "date_format", "verbs", "versions",
                          "known_tells", "extends"})
T = TypeVar("T")


def _strings(value: Any, ctx: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PersonaError(f"{where}: {ctx} must be a list of strings")
    return tuple(value)


def read_table(table: Any, cls: type[T], ctx: str, where: str,
               convert: Mapping[str, Callable[[Any], Any]] | None = None) -> T:
    """A persona table as the dataclass `cls`: every key one of its fields, every value of the
    field's type (a Literal's value one of its choices; a list of strings a tuple, upper- or
    lower-cased where the field's metadata says `case`). `convert` reads the odd field itself."""
    if not isinstance(table, dict):
        raise PersonaError(f"{where}: [{ctx}] must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields or not fields[key].init:
            raise PersonaError(f"{where}: [{ctx}] has unknown key {key!r}")
        if convert and key in convert:
            values[key] = convert[key](value)
        else:
            values[key] = _typed(value, hints[key], f"[{ctx}] {key}", where, fields[key].metadata.get("case"))
    return cls(**values)


def _typed(value: Any, hint: Any, label: str, where: str, case: str | None) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        if value not in args:
            raise PersonaError(f"{where}: {label} must be one of {', '.join(map(str, args))}")
        return value
    if origin in (Union, types.UnionType):  # X | None: TOML has no null, so the value is an X
        return _typed(value, next(a for a in args if a is not type(None)), label, where, case)
    if hint is bool or hint is str:
        if not isinstance(value, hint):
            raise PersonaError(f"{where}: {label} must be {hint.__name__}")
        return value
    if hint is int or hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float) if hint is float else int):
            raise PersonaError(f"{where}: {label} must be {hint.__name__}")
        return hint(value)
    if origin is tuple and args[1:] == (Ellipsis,) and args[0] is str:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PersonaError(f"{where}: {label} must be a list of strings")
        return tuple(v.upper() if case == "upper" else v.lower() if case == "lower" else v for v in value)
    if origin is tuple and args == (int, int, int):
        if not (isinstance(value, list) and len(value) == 3 and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value)):
            raise PersonaError(f"{where}: {label} must be [major, minor, build]")
        return tuple(value)
    raise AssertionError(f"{label}: no reader for {hint!r}")  # a field type this reader does not know


def _parse_lines(table: Any, where: str) -> LineRules:
    rules = read_table(table, LineRules, "lines", where)
    if rules.max_length < 64:
        raise PersonaError(f"{where}: [lines] max_length must be at least 64")
    if rules.max_command and not 64 <= rules.max_command < rules.max_length:
        raise PersonaError(f"{where}: [lines] max_command must be 0 (none) or at least 64 and under max_length")
    return rules


def _parse_errors(table: Any, where: str) -> ErrorRules:
    rules = read_table(table, ErrorRules, "errors", where)
    for key in ("delay_from", "limit", "junk_limit"):
        if getattr(rules, key) < 0:
            raise PersonaError(f"{where}: [errors] {key} must be 0 (none) or more")
    if not 0 <= rules.delay <= 60:
        raise PersonaError(f"{where}: [errors] delay must be between 0 and 60 seconds")
    for group in rules.slowdowns:  # read by every session (protocol/accounting.py Slowdowns): checked once here
        verbs, colon, limit = group.partition(":")
        if not (colon and verbs.split() and limit.isdigit() and int(limit) > 0):
            raise PersonaError(f"{where}: [errors] slowdowns entries are \"VERB VERB:N\", N at least 1, not {group!r}")
    slowed = {verb.upper() for group in rules.slowdowns for verb in group.partition(":")[0].split()}
    for verb in rules.slowdowns_deferred:
        if verb not in slowed:
            raise PersonaError(f"{where}: [errors] slowdowns_deferred names {verb!r}, which no slowdowns group has")
    return rules


def _parse_auth(table: Any, where: str) -> AuthRules:
    rules = read_table(table, AuthRules, "auth", where)
    bad = set(rules.mechanisms) - AUTH_MECHANISMS
    if bad:
        raise PersonaError(f"{where}: [auth] mechanisms has unsupported {sorted(bad)}")
    if not set(rules.tls_mechanisms) <= set(rules.mechanisms):
        raise PersonaError(f"{where}: [auth] tls_mechanisms must be among its mechanisms")
    if rules.response_max_length and rules.response_max_length < 64:
        raise PersonaError(f"{where}: [auth] response_max_length must be 0 (a command line's) or at least 64")
    return rules


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


def _names(ctx: str, key: str, where: str) -> Callable[[Any], tuple[str, ...]]:
    def read(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise PersonaError(f"{where}: [{ctx}] {key} must be a list of names")
        return tuple(v.lower() for v in value)
    return read


def _parse_recipients(table: Any, where: str) -> RecipientRules:
    convert: dict[str, Callable[[Any], Any]] = {key: _names("recipients", key, where)
                                                for key in ("local_domains", "users")}
    convert.update({key: _name_table(key, where) for key in ("full_names", "aliases")})
    rules = read_table(table, RecipientRules, "recipients", where, convert)
    if len(rules.extension) > 1:
        raise PersonaError(f"{where}: [recipients] extension must be one character or empty")
    return rules


def _name_table(key: str, where: str) -> Callable[[Any], dict[str, str]]:
    """[recipients] full_names and aliases: a user name (compared in lower case) to a text."""
    def read(value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise PersonaError(f"{where}: [recipients] {key} must be a table of names to strings")
        return {k.lower(): v for k, v in value.items()}
    return read


def _parse_help_file(table: Any, where: str) -> tuple[tuple[str, str], ...]:
    """[help_file]: `text`, Sendmail's helpfile (a topic, a tab or blank, a text per line), and the
    `version` its $v stands for ($$ is one dollar sign)."""
    if not isinstance(table, dict) or set(table) - {"text", "version"}:
        raise PersonaError(f"{where}: [help_file] has only text and version")
    text, version = table.get("text", ""), table.get("version", "")
    if not isinstance(text, str) or not isinstance(version, str):
        raise PersonaError(f"{where}: [help_file] text and version must be strings")
    lines = []
    for line in text.splitlines():
        blank = re.search(r"[ \t]", line)  # the text starts after the first blank (strpbrk)
        shown = line[blank.end():] if blank else ""
        lines.append((line, shown.replace("$$", "\0").replace("$v", version).replace("\0", "$")))
    return tuple(lines)


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
        service = dataclasses.replace(read_table(body, Service, ctx, where), replies=replies)
        needed = {"rcpt.login_required", "vrfy.login_required"} if service.login_required else set()
        if service.tls == "required":
            needed.add("session.tls_required")
        if needed - replies.keys():
            raise PersonaError(f"{where}: [{ctx}.replies] is missing {', '.join(sorted(needed - replies.keys()))}")
        found[name] = service
    return found


def _parse_tls(table: Any, where: str) -> TlsProfile:
    profile = read_table(table, TlsProfile, "tls", where)
    if TLS_VERSIONS.index(profile.min_version) > TLS_VERSIONS.index(profile.max_version):
        raise PersonaError(f"{where}: [tls] min_version is above max_version")
    if not 0 <= profile.security_level <= 5:
        raise PersonaError(f"{where}: [tls] security_level must be 0 to 5")
    if not 0 <= profile.tls13_tickets <= 10:
        raise PersonaError(f"{where}: [tls] tls13_tickets must be 0 to 10")
    return profile


def _parse_relay(table: Any, where: str) -> RelayProfile:
    profile = read_table(table, RelayProfile, "relay", where)
    if any(c in profile.product for c in "\r\n"):
        raise PersonaError(f"{where}: [relay] product must be a string of one line")
    return profile


def _sysctls(where: str) -> Callable[[Any], dict[str, str]]:
    def read(value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not all(
                isinstance(v, str) and SYSCTL_NAME.fullmatch(k) for k, v in value.items()):
            raise PersonaError(f"{where}: [stack.sysctls] maps net.* names to strings")
        return dict(value)
    return read


def _option_layout(where: str) -> Callable[[Any], tuple[tuple[str, ...], ...]]:
    def read(value: Any) -> tuple[tuple[str, ...], ...]:
        if not isinstance(value, list) or not all(
                isinstance(group, list) and group and all(name in TCP_OPTION_NAMES for name in group)
                for group in value):
            raise PersonaError(f"{where}: [stack] option_layout is a list of lists of {', '.join(TCP_OPTION_NAMES)}")
        return tuple(tuple(group) for group in value)
    return read


def _parse_stack(table: Any, where: str) -> StackProfile:
    profile = read_table(table, StackProfile, "stack", where,
                         {"sysctls": _sysctls(where), "option_layout": _option_layout(where)})
    for key, top in (("ttl", 255), ("window_clamp", 65535), ("syn_ack_window", 65535), ("mss", 65535),
                     ("icmp_error_quote", 576)):
        if not 0 <= getattr(profile, key) <= top:
            raise PersonaError(f"{where}: [stack] {key} must be 0 to {top}")
    return profile


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
    if not (code_text.isdigit() and code_text[0] in "02345"):  # 0xy: Sendmail's verbose mode (RFC 821 never had it)
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
