"""Packets as the Linux kernel sends them, for the stack tests."""

import struct

from relaypot.stack.packet import ACK, DF, MSS, SOK, SYN, TS, WS, Ipv4, Tcp

SRC, DST = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])

# A SYN+ACK's options as Linux 6 lays them out with timestamps on and window scale 0: MSS,
# SACK-permitted, TS, NOP, WS (nmap's O1=M5B4ST11NW0 for the sensor without relaypot stack).
LINUX_OPTIONS = [(MSS, struct.pack("!H", 1460)), (SOK, b""), (TS, struct.pack("!II", 123456, 777)), (WS, b"\0")]


def linux_syn_ack() -> bytes:
    ip = Ipv4(ident=0, flags_fragment=DF, ttl=64, protocol=6, src=SRC, dst=DST)
    tcp = Tcp(sport=25, dport=40000, seq=1000, ack=2001, flags=SYN | ACK, window=32120, options=LINUX_OPTIONS)
    ip.payload = tcp.encode(ip)
    return ip.encode()
