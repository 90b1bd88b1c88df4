"""MAIL FROM and RCPT TO as the transport of Exchange 2013 and later reads them ([addresses]
grammar = "exchange"), from its code (docs/exchange2019-sources.md E5): CommandContext
.ParseTokenAndVerifyCommand (the keyword, blanks, one colon), Parse821 (the address up to the
first blank outside quotes and brackets, <> and a source route taken off), and RoutingAddress
.IsValidAddress (MimeAddressParser's local part and domain; an address literal is no valid
domain). Pure: the argument in, the refusal key and the address out.
"""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass, field

ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~")  # MimeScan's atom
LABEL = frozenset(string.ascii_letters + string.digits + "-_")  # IsValidDomain's sub-domain characters
DELIMITERS = {"[": "]", "<": ">", "(": ")"}  # SmtpToken's open and closing delimiters
NULL_PATH = "<>"
MAX_ADDRESS, MAX_LOCAL, MAX_DOMAIN, MAX_LABEL = 571, 315, 255, 63
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOMAIN = r"[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*"
# A dot-atom address and a domain of labels, in <> or bare, then a blank and parameters or nothing
_PLAIN = re.compile(rf"(<)?({_ATOM}(?:\.{_ATOM})*@{_DOMAIN})(?(1)>)(?: (.*))?", re.S)
_PLAIN_DOMAIN = re.compile(_DOMAIN)


@dataclass(frozen=True, slots=True)
class Read:
    refusal: str = ""  # a reply key, or ""
    address: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    tokens: tuple[str, ...] = ()


def keyword_rest(argument: str, keyword: str) -> str | None:
    """The argument after `keyword` (any case), the blanks around it and one colon; None where
    they are not there (UnrecognizedParameter)."""
    text = argument.lstrip(" \t")
    if text[:len(keyword)].upper() != keyword:
        return None
    at, colon = len(keyword), False
    while at < len(text) and text[at] in " \t:":
        if text[at] == ":":
            if colon:
                break
            colon = True
        at += 1
    return text[at:] if colon else None


def split_address(text: str) -> tuple[str, str]:
    """SmtpToken.SplitString(text, ' '): (the address, what follows the blank that ends it); a
    blank inside quotes or <>, [] and () does not end it. ValueError where the delimiters do not
    nest or an escape ends the text (Parse821: no address at all)."""
    opened: list[str] = []
    quoted = False
    at = 0
    while at < len(text):
        char = text[at]
        if ord(char) >= 0x80:
            at += 1
            continue
        if not quoted and not opened and char == " ":
            return text[:at], text[at + 1:]
        if char == "\\":
            at += 2
            if at > len(text):
                raise ValueError("a trailing escape")
            continue
        if quoted:
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char in DELIMITERS:
            opened.append(DELIMITERS[char])
        elif char in DELIMITERS.values():
            if not opened:
                return text, ""
            if opened.pop() != char:
                raise ValueError("delimiters that do not nest")
        at += 1
    return text, ""


def trim_route(address: str) -> str:
    """Parse821.TrimRouteAddresses: <> taken off (a "<" not closed: nothing), "<>" the null path,
    a source route's "@a,@b:" dropped, a trailing dot of the domain too."""
    if not address:
        return ""
    if address[0] == "<":
        if address[-1] != ">":
            return ""
        address = address[1:-1].strip()
    if address == NULL_PATH:
        return ""
    if not address:
        return NULL_PATH
    while address.startswith("@"):
        ends = [at for at in (address.find(","), address.find(":")) if at >= 0]
        if not ends:
            return ""
        end = min(ends)
        last = address[end] == ":"
        address = address[end + 1:].lstrip()
        if last:
            break
    if len(address) > 1 and address.endswith(".") and "@" in address:
        address = address[:-1]
    return address


def valid_address(address: str) -> bool:
    """RoutingAddress.IsValidAddress with SMTPUTF8 on: the null path, or local@domain whose local
    part is dot-atoms, escapes or one quoted string, and whose domain is labels (an address
    literal, however well formed, is refused)."""
    if address == NULL_PATH:
        return True
    if not address or len(address) > MAX_ADDRESS:
        return False
    at = _local_end(address)
    if at < 0 or at > MAX_LOCAL:
        return False
    return _valid_domain(address[at + 1:])


def _local_end(address: str) -> int:
    """The index of the "@" that ends a valid local part, or -1."""
    stage, at = "begin", 0
    while at < len(address):
        char = address[at]
        utf8 = ord(char) >= 0x80
        if stage == "quoted":
            if char == '"':
                stage = "quoted_end"
            elif char == "\\":
                stage = "quoted_escape"
            elif char in "\r\n":
                return -1
        elif stage in ("escape", "quoted_escape"):
            stage = "local" if stage == "escape" else "quoted"
        elif stage == "quoted_end":
            return at if char == "@" else -1
        elif stage == "local" and char == "@":
            return at
        elif stage == "local" and char == ".":
            stage = "dot"
        elif char in ATEXT or utf8:
            stage = "local"
        elif char == "\\":
            stage = "escape"
        elif char == '"' and stage == "begin":
            stage = "quoted"
        else:
            return -1
        at += 1
    return -1


def _valid_domain(domain: str) -> bool:
    return not domain.startswith("[") and mime_domain(domain, utf8=True)


def mime_domain(domain: str, utf8: bool) -> bool:
    """MimeAddressParser.IsValidDomain with its length checks: labels of letters, digits, "-" and
    "_" (any may start or end one; UTF-8 where `utf8`), at most 63 each and 255 in all, no
    trailing dot; or an address literal as its state machine reads one."""
    if not domain or len(domain) > MAX_DOMAIN:
        return False
    if domain[0] == "[":
        return _literal(domain[1:])
    labels = domain.split(".")
    return all(label and len(label) <= MAX_LABEL and all(c in LABEL or (utf8 and ord(c) >= 0x80) for c in label)
               for label in labels)


def _literal(text: str) -> bool:
    """The DOMAIN_LITERAL states after "[": four dotted decimal groups (1-3 digits, at most 255),
    or "IPv6:" and groups as its IPV6 states count them, then "]" and nothing after it. Ported
    with its quirks: after a colon in a compressed address, any character opens a group."""
    if text[:5].lower() == "ipv6:":
        return _ipv6_literal(text[5:])
    return _dotted(text, 4)


def _dotted(text: str, count: int) -> bool:
    """DOMAIN_LITERAL_IPV4: `count` dotted decimal groups, then "]" ending the text."""
    inner, bracket, after = text.partition("]")
    parts = inner.split(".")
    return (bool(bracket) and not after and len(parts) == count
            and all(p.isascii() and p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts))


def _ipv6_literal(text: str) -> bool:
    stage, groups, digits, value, compressed = "start", 0, 0, 0, False
    for at, char in enumerate(text):
        is_hex = char in string.hexdigits
        is_digit = char in string.digits
        if stage == "start":
            if is_hex:
                stage, groups, digits = "group", 1, 1
            elif char == ":":
                stage, groups = "start_colon", 0
            else:
                return False
        elif stage == "start_colon":
            if char != ":":
                return False
            stage, compressed = "compressed", True
        elif stage == "compressed":
            if is_hex and groups < 6:
                stage, groups, digits = "group", groups + 1, 1
            elif char == "]":
                return at == len(text) - 1
            else:
                return False
        elif stage == "group":
            if is_hex and digits < 4:
                digits += 1
            elif char == ":":
                stage = "colon"
            elif char == "]" and ((not compressed and groups == 8) or (compressed and groups <= 6)):
                return at == len(text) - 1
            else:
                return False
        elif stage == "v4group":
            if is_digit and digits < 3:
                digits, value = digits + 1, value * 10 + int(char)
                stage = "v4group" if value <= 255 else "group"
            elif is_hex and digits < 4:
                stage, digits = "group", digits + 1
            elif char == ":":
                stage = "colon"
            elif char == ".":
                return _dotted(text[at + 1:], 3)  # the group before the dot was the first
            elif char == "]" and compressed and groups <= 6:
                return at == len(text) - 1
            else:
                return False
        elif stage == "colon":
            if (is_digit and not compressed and groups == 6) or (compressed and groups <= 4):
                stage, groups, digits, value = "v4group", groups + 1, 1, ord(char) - 48
            elif (is_hex and not compressed and groups < 8) or (compressed and groups < 6):
                stage, groups, digits = "group", groups + 1, 1
            elif char == ":" and not compressed and groups <= 6:
                stage, compressed = "compressed", True
            else:
                return False
    return False


def read_mail(argument: str) -> Read:
    rest = keyword_rest(argument, "FROM")
    if rest is None:
        return Read("mail.syntax")
    return _read(rest, "mail")


def read_rcpt(argument: str, hostname: str) -> Read:
    rest = keyword_rest(argument, "TO")
    if rest is None:
        return Read("rcpt.syntax")
    read = _read(rest, "rcpt")
    if _postmaster(read.address):  # IsAddressPostMaster: the connector's own (advertised) domain
        return Read("", f"postmaster@{hostname}", read.parameters, read.tokens)
    if not read.refusal and read.address == NULL_PATH:
        return Read("rcpt.bad_address")
    return read


def _postmaster(address: str) -> bool:
    """postmaster, or postmaster@ an address literal (any case)."""
    local_part, at, domain = address.rpartition("@")
    if not at:
        return address.lower() == "postmaster"
    return local_part.lower() == "postmaster" and domain.startswith("[") and domain.endswith("]")


def _read(rest: str, command: str) -> Read:
    """The common case (a plain address, bracketed or not, then parameters) by one expression;
    anything else by the transport's steps (`_read_parsed`, the same answer: a test compares)."""
    plain = _PLAIN.fullmatch(rest)
    if plain is None:
        return _read_parsed(rest, command)
    address, tail = plain[2], plain[3] or ""
    local_part, _, domain = address.partition("@")
    if len(address) > MAX_ADDRESS or len(local_part) > MAX_LOCAL or len(domain) > MAX_DOMAIN:
        return _read_parsed(rest, command)
    tokens = tuple(tail.split())
    return Read("", address, _parameters(tokens), tokens)


def _parameters(tokens: tuple[str, ...]) -> dict[str, str]:
    parameters = {}
    for token in tokens:
        name, _, value = token.partition("=")
        parameters[name.upper()] = value
    return parameters


def _read_parsed(rest: str, command: str) -> Read:
    if not rest:
        return Read(f"{command}.bad_address")
    try:
        text, tail = split_address(rest)
    except ValueError:
        return Read(f"{command}.bad_address")
    address = trim_route(text)
    tokens = tuple(tail.split())
    parameters = {}
    for token in tokens:
        name, _, value = token.partition("=")
        parameters[name.upper()] = value
    if not valid_address(address):
        return Read(f"{command}.bad_address", address)
    return Read("", "" if address == NULL_PATH and command == "mail" else address, parameters, tokens)


def valid_helo(name: str, ehlo: bool, smtputf8: bool) -> bool:
    """HeloSmtpCommandParser.IsValidHeloDomain: the argument as sent (trailing blanks included),
    UTF-8 only in an EHLO where SMTPUTF8 is on; then a domain (RoutingAddress.IsValidDomain), an
    address literal (IsDomainIPLiteral) or what .NET's IPAddress.TryParse takes, bare or in
    [IPv6:...] (HeloCommandEventArgs.IsValidIpv6WindowsAddress)."""
    if len(name) <= MAX_DOMAIN and _PLAIN_DOMAIN.fullmatch(name):
        return True  # the common case: ASCII labels
    if not name.isascii() and not (smtputf8 and ehlo):
        return False
    if name.startswith("["):
        if name.endswith("]") and mime_domain(name, utf8=False):
            return True
        return name[:6].lower() == "[ipv6:" and name.endswith("]") and _dotnet_address(name[6:-1])
    return mime_domain(name, utf8=smtputf8) or _dotnet_address(name)


def _dotnet_address(text: str) -> bool:
    """IPAddress.TryParse: IPv6 with an optional numeric scope, or IPv4 as inet_aton writes it
    (one to four parts, decimal, 0x hex or 0 octal, the last part filling what is left)."""
    if ":" in text:
        address, _, scope = text.partition("%")
        if "%" in text and not (scope.isascii() and scope.isdigit()):
            return False
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            return False
        return True
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return False
    values = [_c_number(part) for part in parts]
    if any(value is None for value in values):
        return False
    last_bits = 8 * (5 - len(parts))
    return all(v is not None and v <= 255 for v in values[:-1]) and (values[-1] or 0) < 1 << last_bits


def _c_number(part: str) -> int | None:
    if not part.isascii():
        return None
    base, digits = 10, part
    if part[:2].lower() == "0x":
        base, digits = 16, part[2:]
    elif len(part) > 1 and part[0] == "0":
        base, digits = 8, part[1:]
    try:
        return int(digits, base) if digits and digits.isalnum() else None
    except ValueError:
        return None
