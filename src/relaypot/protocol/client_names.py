"""How a server names its client once it has asked DNS: the PTR name, and whether that name's
own addresses lead back to the client (Sendmail's getauthinfo(): ${client_name},
${client_resolve} and $_; Exim's sender_host_name, the session's {host_name}). Pure: the
lookup itself is the transport's (transport/naming.py)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

OK, FAIL, FORGED, TEMP = "OK", "FAIL", "FORGED", "TEMP"

# A PTR name is the client's to choose (it owns its reverse zone): only a host name goes into a
# reply, as glibc's resolver takes only those (res_hnok); anything else counts as no name.
_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?)*")
MAX_NAME = 253


@dataclass(frozen=True, slots=True)
class ClientName:
    ptr: str | None  # the PTR name as DNS spelled it (case kept), without the final dot
    resolve: str  # OK, FAIL (no PTR name), FORGED (its addresses miss the client's), TEMP (DNS failed)


UNNAMED = ClientName(None, FAIL)


def host_name(name: str) -> str | None:
    """`name` without its final dot where it is a host name a reply may carry, else None."""
    name = name[:-1] if name.endswith(".") else name
    return name if len(name) <= MAX_NAME and _HOST_NAME.fullmatch(name) else None


def placeholders(name: ClientName, client_ip: str) -> dict[str, str]:
    """{client_name}: the name where it was confirmed, else the address in brackets;
    {client_resolve}: how the lookup went; {client_host}: Sendmail's $_, "name [address]", with
    "(may be forged)" where the name's addresses do not include the client's."""
    literal = address_literal(client_ip)
    if name.resolve == OK and name.ptr:
        return {"client_name": name.ptr, "client_resolve": OK, "client_host": f"{name.ptr} {literal}"}
    host = f"{name.ptr} {literal} (may be forged)" if name.resolve == FORGED and name.ptr else literal
    return {"client_name": literal, "client_resolve": name.resolve, "client_host": host}


def address_literal(client_ip: str) -> str:
    """Sendmail's address in brackets (anynet_ntoa()): "[192.0.2.1]"; an IPv6 address after
    "IPv6:", its eight groups in hex, none left out ("[IPv6:0:0:0:0:0:0:0:1]": captured from the
    real Sendmail with Debian's sendmail.mc inet6 line turned on, tests/personas/test_real_sendmail.py)."""
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return f"[{client_ip}]"
    if address.version == 4:
        return f"[{client_ip}]"
    return "[IPv6:" + ":".join(f"{int(group, 16):x}" for group in address.exploded.split(":")) + "]"
