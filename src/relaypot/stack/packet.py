"""IPv4, TCP and ICMP headers as the stack rewriter reads and writes them (pure, no sockets).

Only what a stack personality changes is modelled: the IP identification, DF and TTL, a TCP
segment's flags, numbers, window and options, an ICMP message's code and quoted datagram. Every
parser raises `Malformed` on bytes it cannot read, so the rewriter can let them pass untouched.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17

DF = 0x4000

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80

# TCP option kinds (RFC 9293, RFC 7323, RFC 2018), named as p0f names them.
EOL, NOP, MSS, WS, SOK, SACK, TS = 0, 1, 2, 3, 4, 5, 8
OPTION_NAMES = {"eol": EOL, "nop": NOP, "mss": MSS, "ws": WS, "sok": SOK, "sack": SACK, "ts": TS}

ICMP_ECHO_REPLY, ICMP_UNREACHABLE, ICMP_ECHO_REQUEST = 0, 3, 8


class Malformed(ValueError):
    """Bytes that are not a packet this module can read."""


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@dataclass
class Ipv4:
    """An IPv4 datagram: the header fields a personality touches, options kept as they came."""

    ident: int
    flags_fragment: int
    ttl: int
    protocol: int
    src: bytes
    dst: bytes
    tos: int = 0
    options: bytes = b""
    payload: bytes = b""

    @property
    def df(self) -> bool:
        return bool(self.flags_fragment & DF)

    @df.setter
    def df(self, value: bool) -> None:
        self.flags_fragment = (self.flags_fragment | DF) if value else (self.flags_fragment & ~DF)

    @classmethod
    def parse(cls, data: bytes) -> Ipv4:
        if len(data) < 20 or data[0] >> 4 != 4:
            raise Malformed("not an IPv4 datagram")
        ihl = (data[0] & 0x0F) * 4
        total = struct.unpack_from("!H", data, 2)[0]
        if ihl < 20 or total < ihl or total > len(data):
            raise Malformed("bad IPv4 lengths")
        tos, ident, flags_fragment, ttl, protocol = data[1], *struct.unpack_from("!HHBB", data, 4)
        return cls(ident=ident, flags_fragment=flags_fragment, ttl=ttl, protocol=protocol,
                   src=bytes(data[12:16]), dst=bytes(data[16:20]), tos=tos,
                   options=bytes(data[20:ihl]), payload=bytes(data[ihl:total]))

    def header(self) -> bytes:
        ihl = 20 + len(self.options)
        head = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl // 4, self.tos, ihl + len(self.payload),
                           self.ident, self.flags_fragment, self.ttl, self.protocol, 0, self.src,
                           self.dst) + self.options
        return head[:10] + struct.pack("!H", checksum(head)) + head[12:]

    def encode(self) -> bytes:
        return self.header() + self.payload

    def pseudo_header(self, length: int) -> bytes:
        return self.src + self.dst + struct.pack("!BBH", 0, self.protocol, length)


@dataclass
class Tcp:
    """A TCP segment; `options` are (kind, data) pairs in the order they came, padding left out."""

    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    urgent: int = 0
    options: list[tuple[int, bytes]] = field(default_factory=list)
    payload: bytes = b""
    reserved: int = 0  # the 4 bits between the data offset and the flags (nmap's T tests set them)

    @classmethod
    def parse(cls, data: bytes) -> Tcp:
        if len(data) < 20:
            raise Malformed("short TCP header")
        sport, dport, seq, ack, offset_byte, flags, window, _, urgent = struct.unpack_from("!HHIIBBHHH", data)
        offset = (offset_byte >> 4) * 4
        if offset < 20 or offset > len(data):
            raise Malformed("bad TCP data offset")
        return cls(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, window=window,
                   urgent=urgent, options=parse_options(data[20:offset]), payload=bytes(data[offset:]),
                   reserved=offset_byte & 0x0F)

    def option(self, kind: int) -> bytes | None:
        for found, data in self.options:
            if found == kind:
                return data
        return None

    def encode(self, ip: Ipv4, layout: tuple[tuple[int, ...], ...] | None = None) -> bytes:
        """The segment with its checksum for `ip`; options laid out by `layout` (see lay_out)
        or, without one, each option in order, padded with NOPs to a 4-byte boundary at the end."""
        options = lay_out(self.options, layout) if layout is not None else _in_order(self.options)
        offset = 20 + len(options)
        head = struct.pack("!HHIIBBHHH", self.sport, self.dport, self.seq, self.ack,
                           (offset // 4) << 4 | self.reserved, self.flags, self.window, 0, self.urgent)
        segment = head + options + self.payload
        total = checksum(ip.pseudo_header(len(segment)) + segment)
        return segment[:16] + struct.pack("!H", total) + segment[18:]


def parse_options(data: bytes) -> list[tuple[int, bytes]]:
    options: list[tuple[int, bytes]] = []
    at = 0
    while at < len(data):
        kind = data[at]
        if kind == EOL:
            break
        if kind == NOP:
            at += 1
            continue
        if at + 1 >= len(data) or data[at + 1] < 2 or at + data[at + 1] > len(data):
            raise Malformed("bad TCP option length")
        length = data[at + 1]
        options.append((kind, bytes(data[at + 2:at + length])))
        at += length
    return options


def _option_bytes(kind: int, data: bytes) -> bytes:
    return bytes([kind, len(data) + 2]) + data


def _in_order(options: list[tuple[int, bytes]], head: bytes = b"") -> bytes:
    raw = head + b"".join(_option_bytes(kind, data) for kind, data in options)
    return raw + bytes([NOP]) * (-len(raw) % 4)


def lay_out(options: list[tuple[int, bytes]], layout: tuple[tuple[int, ...], ...]) -> bytes:
    """Options in a stack's own layout. `layout` is a sequence of groups such as (NOP, WS): a group
    is written, NOPs and all, when its options are all among `options` and none is written yet
    (so a later group is the layout's fallback: Windows 10 writes SACK and TS together, and NOP
    NOP SACK where TS is missing); options no group names follow in their order. The result is
    padded with NOPs to a 4-byte boundary."""
    present = dict(options)
    raw = bytearray()
    placed: set[int] = set()
    for group in layout:
        kinds = [kind for kind in group if kind != NOP]
        if kinds and all(kind in present and kind not in placed for kind in kinds):
            for kind in group:
                raw += bytes([NOP]) if kind == NOP else _option_bytes(kind, present[kind])
            placed.update(kinds)
    rest = [(kind, data) for kind, data in options if kind not in placed]
    return _in_order(rest, head=bytes(raw))


@dataclass
class Icmp:
    type: int
    code: int
    rest: bytes  # the 4 bytes after the checksum (identifier and sequence, or unused)
    body: bytes

    @classmethod
    def parse(cls, data: bytes) -> Icmp:
        if len(data) < 8:
            raise Malformed("short ICMP message")
        return cls(type=data[0], code=data[1], rest=bytes(data[4:8]), body=bytes(data[8:]))

    def encode(self) -> bytes:
        message = bytes([self.type, self.code, 0, 0]) + self.rest + self.body
        return message[:2] + struct.pack("!H", checksum(message)) + message[4:]
