"""A small async client for p0f 3's API socket (`p0f -s PATH`): what operating system a source runs."""

from __future__ import annotations

import asyncio
import ipaddress
import struct
from dataclasses import dataclass

QUERY_MAGIC = 0x50304601
RESPONSE_MAGIC = 0x50304602
STATUS_BADQUERY, STATUS_OK, STATUS_NOMATCH = 0x00, 0x10, 0x20
# struct p0f_api_response (p0f 3 docs/README, "API"): host byte order; strings are NUL-padded.
RESPONSE = struct.Struct("=IIIIIIIIIhBB32s32s32s32s32s32s")


class P0fError(Exception):
    """p0f could not be asked or gave an answer that is not p0f's."""


@dataclass(frozen=True, slots=True)
class P0fAnswer:
    os_name: str
    os_flavor: str
    match_quality: int  # 0 normal; 1 fuzzy; 2 generic signature
    distance: int  # hops, or -1
    link_type: str
    uptime_minutes: int
    last_nat: int
    http_name: str
    language: str
    first_seen: int
    last_seen: int
    total_connections: int


def query(address: str) -> bytes:
    ip = ipaddress.ip_address(address)
    packed = ip.packed.ljust(16, b"\x00")
    return struct.pack("=IB", QUERY_MAGIC, ip.version) + packed


def parse(data: bytes) -> P0fAnswer | None:
    """The answer, None when p0f has no fingerprint for the host (it has not seen its SYN)."""
    if len(data) != RESPONSE.size:
        raise P0fError(f"p0f answered {len(data)} bytes, not {RESPONSE.size}")
    (magic, status, first_seen, last_seen, total, uptime_min, _up_mod, last_nat, _last_chg, distance, _bad_sw,
     quality, os_name, os_flavor, http_name, _http_flavor, link_type, language) = RESPONSE.unpack(data)
    if magic != RESPONSE_MAGIC:
        raise P0fError(f"not a p0f answer (magic {magic:#x})")
    if status == STATUS_BADQUERY:
        raise P0fError("p0f refused the query")
    if status == STATUS_NOMATCH:
        return None

    def text(raw: bytes) -> str:
        return raw.split(b"\x00", 1)[0].decode("ascii", "replace")

    return P0fAnswer(text(os_name), text(os_flavor), quality, distance, text(link_type), uptime_min, last_nat,
                     text(http_name), text(language), first_seen, last_seen, total)


async def ask(socket_path: str, address: str, timeout: float = 2.0) -> P0fAnswer | None:
    """One query on a fresh connection (p0f serves a bounded number of API clients at once)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(socket_path), timeout)
    except (TimeoutError, OSError) as exc:
        raise P0fError(f"cannot reach p0f at {socket_path}: {exc}") from None
    try:
        writer.write(query(address))
        await writer.drain()
        data = await asyncio.wait_for(reader.readexactly(RESPONSE.size), timeout)
    except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
        raise P0fError(f"p0f did not answer: {exc.__class__.__name__}") from None
    finally:
        writer.close()
    return parse(data)
