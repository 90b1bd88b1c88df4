"""The Received: line the persona's real server puts on a message it relays, by style.

A probe that arrives at the scanner's drop box without the relay's Received: line tells the
scanner that the "relay" never relayed. Each style is its server's own text:

- postfix: smtpd.c, the block that writes "Received: from %s (%s [%s])" (Postfix 3.7), with
  mail_date.c's date ("%a, %e %b %Y %H:%M:%S +0000 (UTC)"): the client's name is "unknown" unless
  its reverse name was confirmed, the protocol SMTP, ESMTP, ESMTPS, ESMTPA or ESMTPSA (RFC 3848),
  and "for <rcpt>" only for a single recipient.
- smtpsvc: the Windows 2000 SMTP service (IIS 5, under Exchange 2000), as public message headers
  of the time show it, e.g. "Received: from web60003.mail.yahoo.com ([216.109.116.226]) by
  exas1.lse.ac.uk with Microsoft SMTPSVC(5.0.2195.5329); Tue, 15 Jul 2003 12:14:24 +0100"
  (University of Georgia, "Reading an E-mail Header", infosec.uga.edu); the date is folded onto
  a line of its own, after a tab and a space.
- exchange2013: the transport of Exchange 2013 and later, as on-premises and Exchange Online
  headers show it, e.g. "Received: from [127.0.0.1] (10.174.177.71) by kwepemg500008.china.huawei.com
  (7.202.181.45) with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384)
  id 15.2.1544.11; Thu, 13 Feb 2025 21:20:21 +0800" (a linux-kernel list message, folded at 78
  columns with one space), and "... id 15.20.4500.14 via Frontend Transport; Tue, 14 Sep 2021
  03:44:12 +0000" where a front end took it; `product` is the build after "id".
- rfc5321: the plain form of RFC 5321 §4.4, for a persona file that names no style.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from email.utils import format_datetime

from relaypot.personas.model import ReceivedStyle as Style

_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@dataclass(frozen=True)
class Hop:
    """What the persona's server knew of the session when it took the message."""

    helo: str  # the HELO/EHLO argument ("" when the client sent none)
    verb: str  # HELO, EHLO or ""
    client_ip: str
    hostname: str  # the sensor's announced name
    tls: bool = False
    authenticated: bool = False
    smtputf8: bool = False  # MAIL FROM carried SMTPUTF8
    queue_id: str = ""
    recipients: tuple[str, ...] = ()
    client_name: str = "unknown"  # a confirmed reverse name, else Postfix's "unknown"
    server_ip: str = ""  # the address the client reached (Exchange names it after its own name)


def printable(text: str, limit: int = 255) -> str:
    """Attacker text made safe for a header, as Postfix's printable() does: '?' for anything but
    printable ASCII, so no CR, LF or other byte can start a header of its own."""
    return "".join(c if " " <= c <= "~" else "?" for c in text[:limit])


def _rfc_address(ip: str) -> str:
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return printable(ip)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(parsed.ipv4_mapped) if parsed.ipv4_mapped else f"IPv6:{parsed}"
    return str(parsed)


def _quote_local(address: str) -> str:
    """Postfix's quote_822_local: a local part that is no dot-atom is quoted."""
    local, at, domain = address.rpartition("@")
    if not at:
        local, domain = address, ""
    quoted = len(local) > 1 and local[0] == local[-1] == '"'
    if local and not quoted and not _ATEXT.fullmatch(local):
        local = '"' + local.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return printable(local + (f"@{domain}" if at else ""), 998)


def postfix_date(when: float, zone: tzinfo | None) -> str:
    moment = datetime.fromtimestamp(when, zone) if zone is not None else datetime.fromtimestamp(when).astimezone()
    return moment.strftime("%a, ") + f"{moment.day:2d}" + moment.strftime(" %b %Y %H:%M:%S %z (%Z)")


def smtpsvc_date(when: float, zone: tzinfo | None) -> str:
    moment = datetime.fromtimestamp(when, zone) if zone is not None else datetime.fromtimestamp(when).astimezone()
    text = format_datetime(moment)  # "Tue, 05 Jul 2003 12:14:24 +0100"
    return text[:5] + text[6:] if text[5] == "0" else text


def _folded(text: str, width: int = 78) -> str:
    """`text` folded at spaces into lines of at most `width` characters where the words allow,
    each continuation line starting with one space (Exchange's header writer)."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if not word:  # runs of spaces (a client's HELO) fold as one: no line is blank
            continue
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = " " + word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\r\n".join(lines)


def received(style: Style, hop: Hop, when: float, zone: tzinfo | None, product: str = "") -> str:
    """The Received: header, its lines joined by CRLF (no final CRLF)."""
    helo = printable(hop.helo)
    address = _rfc_address(hop.client_ip)
    hostname = printable(hop.hostname)
    if style == "postfix":
        protocol = "ESMTP" if hop.verb == "EHLO" else "SMTP"
        with_protocol = "UTF8" + protocol if hop.smtputf8 else protocol
        if protocol == "ESMTP" and not hop.smtputf8:
            with_protocol += ("S" if hop.tls else "") + ("A" if hop.authenticated else "")
        name = printable(hop.client_name)
        by = f"\tby {hostname} ({product or 'Postfix'}) with {with_protocol}" + (
            f" id {printable(hop.queue_id)}" if hop.queue_id else "")
        head = f"Received: from {helo or name} ({name} [{address}])"
        date = postfix_date(when, zone)
        if len(hop.recipients) == 1:
            return f"{head}\r\n{by}\r\n\tfor <{_quote_local(hop.recipients[0])}>; {date}"
        return f"{head}\r\n{by};\r\n\t{date}"
    if style == "smtpsvc":
        return (f"Received: from {helo or address} ([{address}]) by {hostname} with "
                f"{product or 'Microsoft SMTPSVC'};\r\n\t {smtpsvc_date(when, zone)}")
    if style == "exchange2013":
        client, server = printable(hop.client_ip), printable(hop.server_ip) or hostname
        tls = " (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384)" if hop.tls else ""
        return _folded(f"Received: from {helo or f'[{client}]'} ({client}) by {hostname} ({server}) with Microsoft "
                       f"SMTP Server{tls} id {product or '15.2.1544.4'} via Frontend Transport; "
                       f"{smtpsvc_date(when, zone)}")
    protocol = "ESMTP" if hop.verb == "EHLO" else "SMTP"
    return (f"Received: from {helo or address} ([{address}])\r\n"
            f"\tby {hostname} with {protocol}; {smtpsvc_date(when, zone)}")
