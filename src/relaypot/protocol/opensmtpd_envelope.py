"""MAIL and RCPT read as OpenSMTPD 6.8.0p2 reads them ([addresses] grammar = "opensmtpd"): pure.

A port of smtp_session.c's smtp_mailaddr() (the path in <>, the route before a colon dropped, an
address without a domain given the server's name), util.c's valid_localpart() and
valid_domainpart() (res_hnok), and the option loops of smtp_tx_mail_from() and smtp_tx_rcpt_to().
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

MAILADDR_ALLOWED = frozenset("!#$%&'*/?^`{|}~+-=_")
_HOST_LABEL = re.compile(rb"[A-Za-z0-9_-]+")  # glibc's binary_hnok(): what a label may hold


def valid_localpart(text: str) -> bool:
    """Dot-separated atoms of letters, digits and MAILADDR_ALLOWED; no empty atom."""
    return bool(text) and all(atom and all((c.isascii() and c.isalnum()) or c in MAILADDR_ALLOWED for c in atom)
                              for atom in text.split("."))


def valid_domainpart(text: str) -> bool:
    """An address literal ([IPv6:...] or [a.b.c.d]) or a host name as res_hnok() takes it."""
    if text.startswith("["):
        inner = text[6:] if text[:6].lower() == "[ipv6:" else text[1:]
        if not inner.endswith("]") or "]" in inner[:-1] or len(inner) >= 256:
            return False
        try:
            ipaddress.ip_address(inner[:-1])
        except ValueError:
            return False
        return True
    if not text or len(text) >= 256 or text.endswith("."):
        return False
    return res_hnok(text)


def res_hnok(text: str) -> bool:
    """glibc 2.36's res_hnok() (Debian 12's, which OpenSMTPD there calls): printable ASCII, DNS
    labels as ns_name_pton() reads them (backslash escapes; none empty but the root; at most 63
    bytes each, 255 in all), each of letters, digits, "-" and "_", the name not starting with
    "-". A label may end with "-" or start with "_" (captured: OpenSMTPD greets "EHLO
    bad-.example.org", tests/reference/opensmtpd/helo_names.json)."""
    if not text or any(not "!" <= char <= "~" for char in text):
        return False
    labels = _wire_labels(text)
    if labels is None:
        return False
    if labels and labels[0][:1] == b"-":
        return False
    return all(_HOST_LABEL.fullmatch(label) for label in labels)


def _wire_labels(text: str) -> list[bytes] | None:
    """ns_name_pton(): the name's labels (the root's empty one left out), None where it fails."""
    labels: list[bytes] = []
    label = bytearray()
    at = 0
    while at < len(text):
        char = text[at]
        if char == "\\":
            digits = text[at + 1:at + 4]
            if len(digits) == 3 and digits.isdigit():
                if int(digits) > 255:
                    return None
                label.append(int(digits))
                at += 4
                continue
            if at + 1 >= len(text):
                return None
            label.append(ord(text[at + 1]))
            at += 2
            continue
        if char == ".":
            if not label:  # an empty label: only the root's, the name "." alone
                return [] if text == "." else None
            labels.append(bytes(label))
            label = bytearray()
        else:
            label.append(ord(char))
        at += 1
    if label:
        labels.append(bytes(label))
    if any(len(one) > 63 for one in labels) or sum(len(one) + 1 for one in labels) + 1 > 255:
        return None
    return labels


@dataclass(frozen=True, slots=True)
class SmtpdPath:
    refusal: str  # a reply key, "" when taken
    address: str = ""  # user@domain as the server names it
    option: str = ""  # the option a refusal names
    parameters: dict[str, str] | None = None


MAILADDR_PART_SIZE = 256  # smtpd-defines.h SMTPD_MAXLOCALPARTSIZE and SMTPD_MAXDOMAINPARTSIZE (255 + 1)
DSN_ENVID_LEN = 100  # smtpd.h: tx->evp.dsn_envid holds this many bytes


def split_mailaddr(text: str) -> tuple[str | None, str]:
    """text_to_mailaddr(): (user, domain) split at the last "@", or (None, "") where a part does
    not fit its buffer (255 bytes)."""
    user, at, domain = text.rpartition("@")
    if not at:
        user, domain = text, ""
    if len(user.encode("utf-8", "surrogateescape")) >= MAILADDR_PART_SIZE or len(
            domain.encode("utf-8", "surrogateescape")) >= MAILADDR_PART_SIZE:
        return None, ""
    return user, domain


def mailaddr(argument: str, mail_from: bool, hostname: str) -> tuple[str, str] | None:
    """smtp_mailaddr(): (the address, what follows its ">") or None where it is no path."""
    if not argument.startswith("<") or ">" not in argument:
        return None
    inside, _, rest = argument[1:].partition(">")
    rest = rest.lstrip(" ")
    if len(inside) >= 2048:  # text_to_mailaddr's LINE_MAX buffer
        return None
    user, domain = split_mailaddr(inside)
    if user is None:
        return None
    if ":" in user:
        user = user.split(":", 1)[1]  # a source route before the address
    if mail_from and not user and not domain:
        return "", rest
    if not user or not valid_localpart(user):
        return None
    domain = domain or hostname
    if not valid_domainpart(domain):
        return None
    return f"{user}@{domain}", rest


def read_mail(argument: str, dsn: bool, hostname: str) -> SmtpdPath:
    found = mailaddr(argument, True, hostname)
    if found is None:
        return SmtpdPath("mail.bad_address")
    address, rest = found
    parameters: dict[str, str] = {}
    for option in rest.split(" "):
        if not option:
            continue
        upper = option.upper()
        name, _, value = option.partition("=")
        if dsn and upper.startswith("ENVID=") and len(value.encode("utf-8", "surrogateescape")) > DSN_ENVID_LEN:
            return SmtpdPath("mail.envid_too_long", address, value)  # strlcpy() would truncate it
        if upper.startswith(("AUTH=", "SIZE=")) or upper in ("BODY=7BIT", "BODY=8BITMIME") or (
                dsn and upper.startswith(("RET=", "ENVID="))):
            parameters[name.upper()] = value
            continue
        return SmtpdPath("mail.unsupported_option", address, option)
    return SmtpdPath("", address, parameters=parameters)


_NOTIFY = frozenset({"SUCCESS", "FAILURE", "DELAY", "NEVER"})


def read_rcpt(argument: str, dsn: bool, hostname: str) -> SmtpdPath:
    found = mailaddr(argument, False, hostname)
    if found is None:
        return SmtpdPath("rcpt.bad_address")
    address, rest = found
    parameters: dict[str, str] = {}
    flags: set[str] = set()  # tx->evp.dsn_notify: every NOTIFY adds to it
    for option in rest.split(" "):
        if not option:
            continue
        upper = option.upper()
        if dsn and upper.startswith("NOTIFY="):
            flags |= {flag.upper() for flag in option[7:].split(",")} & _NOTIFY
            if "NEVER" in flags and len(flags) > 1:
                return SmtpdPath("rcpt.bad_notify", address)
            parameters["NOTIFY"] = option[7:]
        elif dsn and upper.startswith("ORCPT="):
            value = option[6:]
            value = value[7:] if value[:7].lower() == "rfc822;" else value
            user, domain = split_mailaddr(value)
            if user is None or not valid_localpart(user) or (domain and not valid_domainpart(domain)):
                return SmtpdPath("rcpt.bad_orcpt", address)
            parameters["ORCPT"] = option[6:]
        else:
            return SmtpdPath("rcpt.unsupported_option", address, option)
    return SmtpdPath("", address, parameters=parameters)
