"""MAIL FROM and RCPT TO as the transport of Exchange 2013 and later reads them ([addresses]
grammar = "exchange"), from its code (docs/exchange2019-sources.md E5): CommandContext
.ParseTokenAndVerifyCommand (the keyword, blanks, one colon), Parse821 (the address up to the
first blank outside quotes and brackets, <> and a source route taken off), and RoutingAddress
.IsValidAddress (MimeAddressParser's local part and domain; an address literal is no valid
domain). Pure: the argument in, the refusal key and the address out.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~")  # MimeScan's atom
LABEL = frozenset(string.ascii_letters + string.digits + "-_")  # IsValidDomain's sub-domain characters
DELIMITERS = {"[": "]", "<": ">", "(": ")"}  # SmtpToken's open and closing delimiters
NULL_PATH = "<>"
MAX_ADDRESS, MAX_LOCAL, MAX_DOMAIN, MAX_LABEL = 571, 315, 255, 63


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
    if not domain or len(domain) > MAX_DOMAIN or domain.startswith("["):
        return False
    labels = domain.split(".")
    return all(label and len(label) <= MAX_LABEL and all(c in LABEL or ord(c) >= 0x80 for c in label)
               for label in labels)


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
