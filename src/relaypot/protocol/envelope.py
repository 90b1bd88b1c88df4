"""MAIL FROM and RCPT TO read as the persona's server reads them ([addresses], [parameters], the
SIZE a [message] size_limit refuses).

Pure: the command's argument in; out the reply key refusing it (if any), the address as the
server names it, and the parsed path. The session turns that into a reply and a record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from relaypot.personas.model import Persona
from relaypot.protocol import exchange_envelope, exim_envelope, opensmtpd_envelope, postfix_envelope, sendmail_envelope
from relaypot.protocol.commands import BAD_ADDRESS, QUOTED, Path, ascii_number, parse_parameters, parse_path
from relaypot.protocol.parameters import refusal as parameter_refusal
from relaypot.protocol.postfix_syntax import valid_mailhost_literal


@dataclass(slots=True)  # not frozen: made for every MAIL and RCPT
class ReadPath:
    refusal: str = ""  # a reply key refusing the command ("" when it is taken so far)
    address: str = ""  # as the server names it (a bare local part qualified, where it does that)
    path: Path | None = None  # None: refused before an address could be read (nothing to record)
    token: str = ""  # the parameter a refusal is about, for its {argument}
    reason: str = ""  # why the address is refused, in the server's words ({reason}: Exim's parse errors)


def read_path(argument: str, command: str, persona: Persona, default_domain: str,
              where: Where | None = None) -> ReadPath:
    """`command` is "mail" or "rcpt"; `where` what Postfix's reading needs ([addresses] grammar)."""
    rules = persona.addresses
    if rules.grammar == "postfix":
        assert where is not None
        return _postfix_path(argument, command, persona, where)
    if rules.grammar == "exim":
        assert where is not None
        return _exim_path(argument, command, persona, where)
    if rules.grammar == "opensmtpd":
        assert where is not None
        return _opensmtpd_path(argument, command, where)
    if rules.grammar == "sendmail":
        return _sendmail_path(argument, command, persona.message.size_limit, where)
    if rules.grammar == "exchange":
        assert where is not None
        return _exchange_path(argument, command, persona.message.size_limit, where.hostname)
    path = parse_path(argument, "FROM" if command == "mail" else "TO", rules.bracketless_paths)
    if command == "mail" and not isinstance(path, Path):
        return ReadPath("mail.bad_address" if path == BAD_ADDRESS else "mail.syntax")
    if command == "rcpt" and (not isinstance(path, Path) or not path.address):
        return ReadPath("rcpt.syntax" if path == "syntax" else "rcpt.bad_address")
    assert isinstance(path, Path)
    if rules.check_address_literals and not literal_ok(path.address):
        return ReadPath(f"{command}.bad_address")
    address = qualify(path.address, persona, default_domain)
    taken = persona.parameters.get(command)
    if taken is not None and path.tokens:
        found = parameter_refusal(command, taken, path.tokens)
        if found is not None:
            return ReadPath(found[0], address, path, found[1])
    if command == "mail" and persona.message.size_limit:
        size = ascii_number(path.parameters.get("SIZE", ""))  # RFC 1870: refused at MAIL, before DATA
        if size is not None and size > persona.message.size_limit:
            return ReadPath("mail.too_big", address, path)
    return ReadPath("", address, path)


def read_vrfy(argument: str, persona: Persona, default_domain: str,
              where: Where | None = None) -> tuple[str, str, str]:
    """VRFY's argument: (the reply key refusing it or "", the address it names, the text a 252
    repeats)."""
    if persona.addresses.grammar == "postfix":
        assert where is not None
        return postfix_envelope.read_vrfy(argument, where.is_local, where.hostname)
    if persona.addresses.grammar == "exim":
        assert where is not None
        read = exim_envelope.read_vrfy(argument, where.hostname)
        return read.refusal, read.address, read.reason if read.refusal == "vrfy.bad_address" else argument
    if not argument:
        return "vrfy.missing_argument", "", ""
    if len(argument.split()) > 1 and persona.addresses.vrfy_one_address:
        return "vrfy.bad_address", "", ""  # "VRFY John Smith": no one address
    return "", qualify(argument.strip("<>"), persona, default_domain), argument


@dataclass(frozen=True, slots=True)
class Where:
    """What Postfix's reading of an address asks of the listener: which domains are its own, and
    the host name a bare local part gets; whether the transaction asked for SMTPUTF8."""

    is_local: Callable[[str], bool]
    hostname: str
    smtputf8: bool = False
    esmtp: bool = True  # the client greeted with EHLO (Exim reads ESMTP options only then)
    # Sendmail: the MAIL parameters an earlier MAIL of this envelope set (sendmail_envelope.ENVELOPE_PARAMETERS)
    kept_parameters: frozenset[str] = frozenset()


def _postfix_path(argument: str, command: str, persona: Persona, where: Where) -> ReadPath:
    key, address, parameters, about = postfix_envelope.read_envelope(
        argument, command, persona.message.size_limit, where.is_local, where.hostname, where.smtputf8)
    if key in (f"{command}.syntax", f"{command}.bad_address"):
        return ReadPath(key)
    words = tuple(parameters)
    return ReadPath(key, address, Path(address, parse_parameters(" ".join(words)), True, words), about)


def _exim_path(argument: str, command: str, persona: Persona, where: Where) -> ReadPath:
    if command == "mail":
        read = exim_envelope.read_mail(argument, where.esmtp, persona.message.size_limit)
    else:
        read = exim_envelope.read_rcpt(argument, where.esmtp, where.hostname)
    if read.parameters is None:  # refused before an address was read
        return ReadPath(read.refusal, token=read.argument, reason=read.reason)
    path = Path(read.address, read.parameters, True, tuple(read.parameters))
    return ReadPath(read.refusal, read.address, path, read.argument, read.reason)


def _opensmtpd_path(argument: str, command: str, where: Where) -> ReadPath:
    """DSN's options are read where the listener has DSN (ADVERTISE_EXT_DSN is the listener's
    flag, not the greeting's: after HELO too; captured: after_helo.json)."""
    reader = opensmtpd_envelope.read_mail if command == "mail" else opensmtpd_envelope.read_rcpt
    read = reader(argument, True, where.hostname)
    if read.parameters is None:
        return ReadPath(read.refusal, read.address, None, read.option)
    return ReadPath(read.refusal, read.address, Path(read.address, read.parameters, True, tuple(read.parameters)))


def _sendmail_path(argument: str, command: str, size_limit: int, where: Where | None) -> ReadPath:
    """A taken path's {argument} is the address as the client wrote it ("<a@b>... Sender ok")."""
    if command == "mail":
        read = sendmail_envelope.read_mail(argument, size_limit, where.kept_parameters if where else frozenset())
    elif where is not None:
        read = sendmail_envelope.read_rcpt(argument, where.is_local)
    else:
        read = sendmail_envelope.read_rcpt(argument)
    if read.parameters is None:
        return ReadPath(read.refusal, token=read.shown, reason=read.reason)
    path = Path(read.address, read.parameters, True, tuple(read.parameters))
    return ReadPath(read.refusal, read.address, path, read.shown, read.reason)


def _exchange_path(argument: str, command: str, size_limit: int, hostname: str) -> ReadPath:
    if command == "mail":
        read = exchange_envelope.read_mail(argument)
    else:
        read = exchange_envelope.read_rcpt(argument, hostname)
    if read.refusal:
        return ReadPath(read.refusal)
    path = Path(read.address, read.parameters, True, read.tokens)
    size = ascii_number(read.parameters.get("SIZE", "")) if command == "mail" else None
    if size is not None and size_limit and size > size_limit:  # ValidateSizeRestrictions: MessageTooLarge
        return ReadPath("mail.too_big", read.address, path)
    return ReadPath("", read.address, path)


def qualify(address: str, persona: Persona, default_domain: str) -> str:
    """IIS adds its default domain to a bare local part, a quoted one too, whatever the quotes
    hold: "nobody@mail-contoso.org"@northwindtraders.com (KB Q304897)."""
    if address and persona.addresses.append_default_domain and "@" not in QUOTED.sub("", address):
        return f"{address}@{default_domain}"
    return address



def literal_ok(address: str) -> bool:
    """An address whose domain is an address literal names a real address: `[192.0.2.1]`,
    `[IPv6:2001:db8::1]` (RFC 5321 §4.1.3), not `[300.1.1.1]`. Other addresses pass."""
    domain = address.rpartition("@")[2]
    return not (domain.startswith("[") and domain.endswith("]")) or valid_mailhost_literal(domain)
