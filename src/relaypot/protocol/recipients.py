"""Who a recipient is to the server: a local user that exists, a local user that does not, or a
relay (mail the server would have to send on). Pure: the persona's recipient table, the address.

The rules are Postfix's resolve and smtpd_check (captured from the real server in
tests/reference/postfix/recipients.json): the domain after the last "@" decides, with
quotes taken off first; a local address whose local part still routes somewhere ("%", "!" or
"@" in it) is a relay; user names are matched without case and without an address extension.
A persona without a user list (Exchange 2000) has every local user.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

LOCAL = "local"
UNKNOWN_USER = "unknown_user"
RELAY = "relay"

# What a listener does with a recipient the server would relay: "open" accepts it (the open
# relay scanners look for; nothing is ever sent), "closed" refuses it as the real server does,
# "auth" accepts it only in a session that authenticated.
RELAY_POLICIES = ("open", "closed", "auth")

ROUTING = frozenset("%!@")


@dataclass(frozen=True)
class RecipientTable:
    """The persona's recipient rules, bound to the host name and the operator's additions."""

    local_domains: frozenset[str]
    users: frozenset[str] | None  # lower case; None: every local user exists
    extension: str = ""  # Postfix's recipient_delimiter: root+tag is root
    routed_is_relay: bool = False
    own_address_literals: bool = False  # user@[the address the client connected to] is local
    empty_local_part: bool = False  # "@domain" at a local domain is taken (Postfix)

    def judge(self, address: str, server_ip: str = "") -> str:
        """LOCAL, UNKNOWN_USER or RELAY for a recipient as the client wrote it (no brackets).
        Where `routed_is_relay`, a local part that still routes is resolved again once this
        host's domain is taken off, as Postfix's trivial-rewrite and Sendmail's ParseRecipient
        do: "root%localhost@mail.example.com" is root here, "a%far.example@mail.example.com"
        a relay (captured: tests/reference/*/address_forms.json, recipients.json)."""
        plain = unquoted(address)
        for _ in range(MAX_HOPS):
            local_part, at, domain = plain.rpartition("@")
            if not at:
                local_part, domain = plain, ""
            if domain and not self.local_domain(domain, server_ip):
                return RELAY
            if not (self.routed_is_relay and ROUTING.intersection(local_part)):
                return LOCAL if self.exists(local_part) else UNKNOWN_USER
            plain = unrouted(local_part)
        return RELAY

    def exists(self, local_part: str) -> bool:
        if self.users is None:
            return True
        name = local_part.lower()
        if not name:
            return self.empty_local_part
        if name in self.users:
            return True
        if self.extension and self.extension in name:
            return name.split(self.extension, 1)[0] in self.users
        return False

    def local_domain(self, domain: str, server_ip: str = "") -> bool:
        domain = domain.lower().rstrip(".")
        if domain in self.local_domains:
            return True
        return self.own_address_literals and bool(server_ip) and literal_address(domain) == server_ip


MAX_HOPS = 8  # a local part routed through this host so many times is taken for a relay


def unrouted(local_part: str) -> str:
    """A routing local part as an address: "user@host" as it is, the last "%" of "user%host" an
    "@", a bang path "host!user" as "user@host"."""
    if "@" in local_part:
        return local_part
    if "%" in local_part:
        user, _, host = local_part.rpartition("%")
        return f"{user}@{host}"
    host, _, user = local_part.partition("!")
    return f"{user}@{host}"


def refusal(command: str, verdict: str, relay: str, authenticated: bool, login_required: bool = False) -> str:
    """The reply key refusing a recipient as the real server would, or "" where it is taken: a
    relay where the listener's policy says so, an unknown local user always. `verdict` is the
    table's judgement (`RecipientTable.judge`); `login_required` a submission service's rule."""
    if login_required:
        # permit_sasl_authenticated, reject: no recipient without a login, any after one (VRFY
        # runs the same recipient restrictions).
        return "" if authenticated else f"{command}.login_required"
    if verdict == RELAY:
        return "" if relay == "open" or (relay == "auth" and authenticated) else f"{command}.relay_denied"
    return f"{command}.unknown_user" if verdict == UNKNOWN_USER else ""


def unquoted(address: str) -> str:
    """The address as Postfix keeps it inside: quotes and the backslashes in them taken off
    (`"relaytest@far"@[127.0.0.1]` → `relaytest@far@[127.0.0.1]`). Replies name it so."""
    if '"' not in address:
        return address
    out, quoted, escaped = [], False, False
    for ch in address:
        if escaped:
            out.append(ch)
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        else:
            out.append(ch)
    return "".join(out)


def literal_address(domain: str) -> str:
    """`[192.0.2.1]` or `[ipv6:2001:db8::1]` → the address, normalised; "" for anything else."""
    if not (domain.startswith("[") and domain.endswith("]")):
        return ""
    inner = domain[1:-1]
    if inner.lower().startswith("ipv6:"):
        inner = inner[5:]
    try:
        return str(ipaddress.ip_address(inner))
    except ValueError:
        return ""


def parent_domain(hostname: str) -> str:
    """mail.example.com → example.com; a name of two labels or fewer is its own parent."""
    host = hostname.lower().rstrip(".")
    return host.split(".", 1)[1] if host.count(".") >= 2 else host


def local_domains(patterns: tuple[str, ...], hostname: str, configured: tuple[str, ...] = ()) -> frozenset[str]:
    """The persona's local domain patterns ({hostname}, {parent}) filled in, plus the operator's."""
    host = hostname.lower().rstrip(".")
    parent = parent_domain(host)
    found = {p.replace("{hostname}", host).replace("{parent}", parent).lower() for p in patterns}
    found.update(d.lower().rstrip(".") for d in configured if d)
    return frozenset(found)
