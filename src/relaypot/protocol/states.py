"""The session's input modes, and the command sequence as one persona applies it.

Which verb is refused in which state, and with what reply, is each verb's row in
vocabulary.VERBS (a state absent from a row is allowed); personas relax rows (`mail_before_helo`,
`auth_before_helo`). The session reads the table and never re-encodes it.
"""

from __future__ import annotations

import ipaddress

from relaypot.personas.model import LineRules, SequenceRules, Service
from relaypot.protocol.exchange_envelope import valid_helo
from relaypot.protocol.exim_envelope import bdat_argument as exim_bdat_argument
from relaypot.protocol.opensmtpd_envelope import valid_domainpart
from relaypot.protocol.postfix_syntax import valid_hostname, valid_mailhost_literal, words
from relaypot.vocabulary import CONNECTED, MAIL, RCPT, VERBS

# Input modes: what the next bytes are.
COMMAND = "command"  # a command line
AUTH = "auth"  # an AUTH continuation line
DATA = "data"  # message body up to <CRLF>.<CRLF>
CHUNK = "chunk"  # a counted BDAT or XEXCH50 chunk
PAUSED = "paused"  # waiting for the transport: message storage or TLS handshake
CLOSED = "closed"


def refusal_table(mail_before_helo: bool, auth_before_helo: bool, greeting_first: tuple[str, ...] = (),
                  outside_transaction: tuple[str, ...] = ()) -> dict[tuple[str, str], str]:
    """{(verb, state): reply key} for one persona: the verbs' sequence (vocabulary.VERBS) with the
    persona's relaxations applied, and its own refusals before HELO and inside a transaction."""
    table = {(name, state): key for name, verb in VERBS.items() for state, key in verb.refused.items()}
    if mail_before_helo:
        del table[("MAIL", CONNECTED)]
    if auth_before_helo:
        del table[("AUTH", CONNECTED)]
        del table[("X-EXPS", CONNECTED)]
    for verb in greeting_first:
        table[(verb, CONNECTED)] = f"{verb.lower()}.need_helo"
    for verb in outside_transaction:
        table[(verb, MAIL)] = table[(verb, RCPT)] = f"{verb.lower()}.in_transaction"
    return table


def gate(verb: str, state: str, refusals: dict[tuple[str, str], str], service: Service | None,
         tls_active: bool) -> tuple[str, bool]:
    """The reply key refusing `verb` before it runs, or ""; and whether it was refused for coming
    out of sequence (a `bad_sequence` violation) rather than before TLS on a submission service.
    BDAT's refusal waits for its chunk (RFC 3030 §2): the chunk is read, then refused."""
    if service is not None and service.tls == "required" and not tls_active and verb not in service.pre_tls_verbs:
        return "session.tls_required", False
    refusal = refusals.get((verb, state))
    if refusal is not None and verb != "BDAT":
        return refusal, True
    return "", False


def rset_refusal(argument: str, rules: SequenceRules) -> str:
    """The reply key refusing RSET for its argument ([sequence]), or "". Postfix's RSET takes no
    argument (and then resets nothing)."""
    return "rset.syntax" if argument and rules.refuse_rset_argument else ""


def etrn_reading(argument: str, state: str, rules: SequenceRules) -> tuple[str, str]:
    """ETRN as the persona's server reads it: (the reply key refusing it or "", the domain its
    reply names)."""
    in_transaction = state in (MAIL, RCPT) and rules.refuse_etrn_in_transaction
    if not rules.etrn_domain_checked:
        if in_transaction:  # Exim and Postfix refuse the transaction before the argument
            return "etrn.in_transaction", ""
        return ("" if argument else "etrn.missing_argument"), argument
    if in_transaction:
        return "etrn.in_transaction", ""
    found = words(argument)
    if len(found) != 1:
        return "etrn.missing_argument", ""
    domain = found[0][1:] if found[0][:1] in ("@", "#") else found[0]
    if not (valid_hostname(domain) or valid_mailhost_literal(domain)):
        return "etrn.bad_domain", ""
    return "", domain


def trusted_verb_refusal(verb: str, argument: str, state: str, rules: SequenceRules) -> str:
    """XCLIENT or XFORWARD from a client the server does not trust: `verb.refused`, unless the
    persona's server checks the sequence and the syntax first ([sequence] trusted_verbs_checked)."""
    name = verb.lower()
    if rules.trusted_verbs_checked:
        if state in (MAIL, RCPT):
            return f"{name}.in_transaction"
        if not argument.strip():
            return f"{name}.syntax"
    return f"{name}.refused"


def helo_refusal(verb: str, argument: str, rules: SequenceRules, smtputf8: bool = False) -> str:
    """The persona's server's check of a HELO or EHLO name: the reply key refusing it, or "".
    `smtputf8`: the persona offers SMTPUTF8 (Exchange then takes a UTF-8 name in an EHLO)."""
    if rules.helo_syntax == "exchange" and not valid_helo(argument, verb == "EHLO", smtputf8):
        return f"{verb.lower()}.bad_domain"
    if rules.helo_syntax == "exim" and not exim_helo_ok(argument):
        return f"{verb.lower()}.missing_argument"  # Exim says the same of a missing name
    if rules.helo_syntax == "opensmtpd" and not valid_domainpart(argument):
        return f"{verb.lower()}.bad_domain"
    if rules.helo_syntax == "sendmail" and not sendmail_helo_ok(argument):
        return f"{verb.lower()}.bad_domain"
    return ""


SENDMAIL_HELO_PUNCTUATION = frozenset("[].-_#:")
SENDMAIL_MAXNAME = 256


def sendmail_helo_ok(name: str) -> bool:
    """Sendmail's check (srvrsmtp.c, AllowBogusHELO off): at most MAXNAME characters, letters,
    digits and "[].-_#:" only, blanks only at the end."""
    if len(name) > SENDMAIL_MAXNAME:
        return False
    text = name.rstrip(" \t\n\v\f\r")
    return all(c.isascii() and (c.isalnum() or c in SENDMAIL_HELO_PUNCTUATION) for c in text)


# Sendmail's nullserver takes these as ever; it refuses every other command it knows
REJECTING_TAKES = frozenset({"QUIT", "HELO", "EHLO", "NOOP", "RSET"})
BLANK_BYTES = b" \t\n\v\f\r"


def open_proxy(line: bytes, rules: LineRules) -> bool:
    """Sendmail's check of a session's first line (with its ending): a verb of `open_proxy_verbs`
    followed by a blank, the line end included ("GET / HTTP/1.0", "CONNECT host:25 ...")."""
    for verb in rules.open_proxy_verbs:
        size = len(verb)
        if size < len(line) and line[:size].decode("latin-1").upper() == verb and line[size:size + 1] in BLANK_BYTES:
            return True
    return False


def exim_helo_ok(name: str) -> bool:
    """Exim's check_helo(): an address literal ([IPv6:...], [IPv4:...] or [a.b.c.d]) or a name of
    letters, digits, dots and hyphens only (helo_allow_chars empty)."""
    if name.startswith("["):
        if not name.endswith("]"):
            return False
        inner = name[1:-1]
        version = 0
        if inner[:5].lower() in ("ipv6:", "ipv4:"):
            version, inner = int(inner[3]), inner[5:]
        try:
            address = ipaddress.ip_address(inner)
        except ValueError:
            return False
        return version in (0, address.version)
    return all(c.isascii() and (c.isalnum() or c in ".-") for c in name)


# smtp_in.c's commands "required to be synchronized" (below NON_SYNC_CMD_PIPELINING), and those
# that are too where PIPELINING was not advertised (below NON_SYNC_CMD_NON_PIPELINING)
_SYNC_VERBS = frozenset({"HELO", "EHLO", "DATA", "VRFY", "EXPN", "NOOP", "ETRN", "STARTTLS"})
_SYNC_UNLESS_PIPELINING = frozenset({"MAIL", "RCPT", "RSET"})


def must_sync(verb: str, pipelining: bool) -> bool:
    """Must this command (verb "": an unrecognised one) be the last of what the client sent?"""
    return not verb or verb in _SYNC_VERBS or (not pipelining and verb in _SYNC_UNLESS_PIPELINING)


def between_chunks(chunking: str, verb: str, refusal: str, argument: str) -> str | None:
    """Exim's bdat_getc() between the chunks of a message ([message] bdat_dialogue = "exim"):
    `chunking` is "open" after a non-LAST chunk, "rset" once a command was refused there. The
    reply key for the line; "" where Debian's Exim 4.96 crashes (SIGSEGV: the connection just
    closes); None for a BDAT with a size, which goes on as any BDAT."""
    if verb == "BDAT" and chunking == "open":
        size, last = exim_bdat_argument(argument)
        if size is None:
            return ""
        return "bdat.zero_size" if size == 0 and not last else None
    if verb == "NOOP" and not refusal and chunking == "open":
        return "noop.ok"
    if verb in ("QUIT", "RSET") and not refusal:
        return "quit.ok" if verb == "QUIT" else ""  # RSET: the same crash
    return "bdat.only_bdat" if chunking == "open" else "bdat.only_rset"


def starttls_refusal(argument: str, tls_active: bool, offered: bool, argument_last: bool = False,
                     in_transaction: bool = False) -> str:
    """The reply key refusing STARTTLS (RFC 3207 §4), or "" when the handshake may start;
    `argument_last`: the argument is checked after the rest (OpenSMTPD); `in_transaction`: a
    transaction is open and the server refuses STARTTLS in one last (Sendmail's sm_gotmail)."""
    if argument_last:  # smtp_check_starttls: offered, not yet secured, then no argument
        if not offered:
            return "starttls.unavailable"
        if tls_active:
            return "starttls.already_active"
        return "starttls.syntax" if argument else ""
    if argument:
        return "starttls.syntax"
    if tls_active:
        return "starttls.already_active"
    if not offered:
        return "starttls.unavailable"
    return "starttls.in_transaction" if in_transaction else ""
