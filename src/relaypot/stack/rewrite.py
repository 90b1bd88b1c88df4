"""The stack rewriter: a persona's [stack] profile applied to packets (pure: bytes in, bytes out).

Outgoing packets (the sensor's TCP segments, RSTs, ICMP answers) are rewritten in place of the
kernel's; incoming ones are looked at for what an answer needs (an echo request's DF) and, for
probes the kernel ignores but the persona's system answered (nmap's T2 and T3), an answer is made
here. The rule that keeps connections working: a rewrite never promises what the kernel will not
keep. Options are only reordered, a SYN+ACK's timestamps are zeroed (the peer's echo of 0 is one
Linux ignores, RFC 7323 §4.3 and tcp_paws_check), and the window a SYN+ACK announces governs only
the peer's first flight, which its initial congestion window keeps far below the kernel's buffer.
"""

from __future__ import annotations

import random
import struct
from collections import OrderedDict
from dataclasses import dataclass, field

from relaypot.personas.model import StackProfile
from relaypot.stack.packet import (
    ACK,
    DF,
    FIN,
    ICMP_ECHO_REPLY,
    ICMP_ECHO_REQUEST,
    ICMP_UNREACHABLE,
    IPPROTO_ICMP,
    IPPROTO_TCP,
    MSS,
    OPTION_NAMES,
    RST,
    SOK,
    SYN,
    TS,
    WS,
    Icmp,
    Ipv4,
    Malformed,
    Tcp,
)

ECHO_MEMORY = 4096  # echo requests whose DF is remembered until their reply passes


@dataclass
class Incoming:
    """What to do with an incoming packet: let it through or drop it, and what to send back."""

    accept: bool = True
    answers: list[bytes] = field(default_factory=list)


@dataclass
class Counters:
    rewritten: int = 0
    passed: int = 0  # unchanged, or not a packet the rewriter reads
    answered: int = 0  # probes answered by the rewriter itself
    errors: int = 0  # packets the rewriter failed on (a bug): they passed unchanged


class Rewriter:
    def __init__(self, profile: StackProfile, ports: frozenset[int], seed: int | None = None) -> None:
        self.profile = profile
        self.ports = ports
        self.layout = tuple(tuple(OPTION_NAMES[name] for name in group) for group in profile.option_layout)
        self.random = random.Random(seed)
        self.ip_id = self.random.getrandbits(16)
        self.echo_df: OrderedDict[tuple[bytes, bytes], bool] = OrderedDict()
        self.counters = Counters()

    # -- outgoing ---------------------------------------------------------------------------------

    def outgoing(self, packet: bytes) -> bytes | None:
        """The packet as the persona's stack would send it, or None to send it unchanged."""
        try:
            ip = Ipv4.parse(packet)
            if ip.protocol == IPPROTO_TCP:
                changed = self._tcp(ip)
            elif ip.protocol == IPPROTO_ICMP:
                changed = self._icmp(ip)
            else:
                changed = False
        except Malformed:
            self.counters.passed += 1
            return None
        if self.profile.ip_id == "incremental":
            self.ip_id = (self.ip_id + 1) & 0xFFFF
            ip.ident = self.ip_id
            changed = True
        if not changed:
            self.counters.passed += 1
            return None
        self.counters.rewritten += 1
        return ip.encode()

    def _tcp(self, ip: Ipv4) -> bool:
        profile = self.profile
        tcp = Tcp.parse(ip.payload)
        flags = tcp.flags
        df = ip.df
        layout = None
        if flags & SYN and flags & ACK:
            if profile.option_layout:
                layout = self.layout
            if profile.syn_ack_window:
                tcp.window = profile.syn_ack_window
            if profile.syn_ack_timestamp_zero:
                tcp.options = [(kind, bytes(8) if kind == TS and len(data) == 8 else data)
                               for kind, data in tcp.options]
        elif flags & RST:
            if profile.rst_df != "kernel":
                ip.df = profile.rst_df == "set"
            if profile.rst_ack == "other" and not flags & ACK and tcp.ack == 0:
                tcp.ack = tcp.seq or 1
        else:
            return False
        before = ip.payload
        ip.payload = tcp.encode(ip, layout)
        return ip.payload != before or ip.df != df

    def _icmp(self, ip: Ipv4) -> bool:
        profile = self.profile
        icmp = Icmp.parse(ip.payload)
        df = ip.df
        if icmp.type == ICMP_ECHO_REPLY:
            if profile.echo_reply_code == "zero":
                icmp.code = 0
            if profile.echo_reply_df == "request":
                request_df = self.echo_df.pop((ip.dst, icmp.rest), None)
                if request_df is not None:
                    ip.df = request_df
        elif icmp.type == ICMP_UNREACHABLE and profile.icmp_error_quote:
            if len(icmp.body) >= 20:
                quoted_ihl = (icmp.body[0] & 0x0F) * 4
                icmp.body = icmp.body[:quoted_ihl + profile.icmp_error_quote]
        else:
            return False
        before = ip.payload
        ip.payload = icmp.encode()
        return ip.payload != before or ip.df != df

    # -- incoming ---------------------------------------------------------------------------------

    def incoming(self, packet: bytes) -> Incoming:
        try:
            ip = Ipv4.parse(packet)
            if ip.protocol == IPPROTO_ICMP:
                self._note_echo(ip)
            elif ip.protocol == IPPROTO_TCP:
                answer = self._answer(ip)
                if answer is not None:
                    self.counters.answered += 1
                    return Incoming(accept=False, answers=[answer])
        except Malformed:
            pass
        return Incoming()

    def _note_echo(self, ip: Ipv4) -> None:
        icmp = Icmp.parse(ip.payload)
        if icmp.type == ICMP_ECHO_REQUEST and self.profile.echo_reply_df == "request":
            self.echo_df[(ip.src, icmp.rest)] = ip.df
            while len(self.echo_df) > ECHO_MEMORY:
                self.echo_df.popitem(last=False)

    def _answer(self, ip: Ipv4) -> bytes | None:
        """The persona's answer to a probe the kernel ignores, or None."""
        profile = self.profile
        tcp = Tcp.parse(ip.payload)
        if tcp.dport not in self.ports:
            return None
        flags = tcp.flags
        rst_df = profile.rst_df != "clear"  # as the system's other RSTs (Linux's: DF)
        if not flags & (SYN | ACK | RST) and profile.answer_no_flags == "rst-ack":
            reply = Tcp(sport=tcp.dport, dport=tcp.sport, seq=0, ack=tcp.seq, flags=RST | ACK, window=0)
            return self._send(ip, reply, df=rst_df)
        syn_fin = flags & SYN and flags & FIN and not flags & (ACK | RST)
        if syn_fin and profile.answer_syn_fin == "rst-ack":
            # Windows 10 refuses it: a RST+ACK acknowledging the SYN and the FIN (nmap T3: A=O)
            reply = Tcp(sport=tcp.dport, dport=tcp.sport, seq=0, ack=(tcp.seq + 2) & 0xFFFFFFFF,
                        flags=RST | ACK, window=0)
            return self._send(ip, reply, df=rst_df)
        if syn_fin and profile.answer_syn_fin == "syn-ack":
            options: list[tuple[int, bytes]] = [(MSS, struct.pack("!H", profile.mss))]
            offered = {kind for kind, _ in tcp.options}
            if WS in offered:
                options.append((WS, b"\0"))
            if TS in offered:
                options.append((TS, bytes(8)))
            if SOK in offered:
                options.append((SOK, b""))
            reply = Tcp(sport=tcp.dport, dport=tcp.sport, seq=self.random.getrandbits(32),
                        ack=(tcp.seq + 1) & 0xFFFFFFFF, flags=SYN | ACK,
                        window=profile.syn_ack_window or 65535, options=options)
            return self._send(ip, reply, df=True, layout=self.layout or None)
        return None

    def _send(self, probe: Ipv4, tcp: Tcp, df: bool, layout: tuple[tuple[int, ...], ...] | None = None) -> bytes:
        ident = 0
        if self.profile.ip_id == "incremental":  # the one counter every packet of the system draws on
            self.ip_id = ident = (self.ip_id + 1) & 0xFFFF
        ip = Ipv4(ident=ident, flags_fragment=DF if df else 0, ttl=self.profile.ttl, protocol=IPPROTO_TCP,
                  src=probe.dst, dst=probe.src)
        ip.payload = tcp.encode(ip, layout)
        return ip.encode()
