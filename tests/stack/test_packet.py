"""IPv4, TCP and ICMP headers: what the stack rewriter reads and writes."""

import struct

from hypothesis import given
from hypothesis import strategies as st

from relaypot.stack.packet import (
    ACK,
    MSS,
    NOP,
    SOK,
    TS,
    WS,
    Icmp,
    Ipv4,
    Malformed,
    Tcp,
    checksum,
    lay_out,
    parse_options,
)
from stack.packets import DST, LINUX_OPTIONS, SRC, linux_syn_ack


def test_a_packet_carries_checksums_that_verify():
    packet = linux_syn_ack()
    ip = Ipv4.parse(packet)
    assert checksum(packet[:20]) == 0
    assert checksum(ip.pseudo_header(len(ip.payload)) + ip.payload) == 0


def test_options_keep_linux_order_unless_laid_out():
    ip = Ipv4.parse(linux_syn_ack())
    raw = ip.payload[20:(ip.payload[12] >> 4) * 4]
    assert raw == (bytes([MSS, 4, 0x05, 0xB4, SOK, 2, TS, 10]) + struct.pack("!II", 123456, 777)
                   + bytes([WS, 3, 0, NOP]))
    windows = lay_out(LINUX_OPTIONS, ((MSS,), (NOP, WS), (NOP, NOP, TS), (NOP, NOP, SOK)))
    assert [b for b in windows[:8]] == [MSS, 4, 0x05, 0xB4, NOP, WS, 3, 0]
    assert windows[8:10] == bytes([NOP, NOP]) and windows[10] == TS
    assert windows[20:] == bytes([NOP, NOP, SOK, 2])
    assert parse_options(windows) == [LINUX_OPTIONS[0], LINUX_OPTIONS[3], LINUX_OPTIONS[2], LINUX_OPTIONS[1]]


def test_a_group_is_left_out_when_its_option_is_absent_and_unknown_options_follow():
    options = [(MSS, b"\x05\xb4"), (30, b"\1\2")]
    laid = lay_out(options, ((MSS,), (NOP, WS), (NOP, NOP, SOK)))
    assert laid == bytes([MSS, 4, 5, 0xB4, 30, 4, 1, 2])
    assert len(lay_out([(MSS, b"\x05\xb4"), (SOK, b"")], ((MSS,), (NOP, NOP, SOK)))) % 4 == 0


def test_df_reads_and_writes_one_bit():
    ip = Ipv4.parse(linux_syn_ack())
    assert ip.df
    ip.df = False
    assert not ip.df and Ipv4.parse(ip.encode()).flags_fragment == 0


def test_icmp_round_trips_with_its_checksum():
    icmp = Icmp(type=0, code=9, rest=b"\1\2\0\3", body=b"\0" * 120)
    data = icmp.encode()
    assert checksum(data) == 0
    assert Icmp.parse(data) == icmp


@given(st.binary(max_size=120))
def test_any_bytes_parse_or_raise_malformed(data):
    for parse in (Ipv4.parse, Tcp.parse, Icmp.parse, parse_options):
        try:
            parse(data)
        except Malformed:
            pass


@given(sport=st.integers(0, 65535), seq=st.integers(0, 2**32 - 1), window=st.integers(0, 65535),
       mss=st.integers(0, 65535), payload=st.binary(max_size=64), ttl=st.integers(1, 255))
def test_tcp_segments_round_trip(sport, seq, window, mss, payload, ttl):
    ip = Ipv4(ident=7, flags_fragment=0, ttl=ttl, protocol=6, src=SRC, dst=DST)
    tcp = Tcp(sport=sport, dport=25, seq=seq, ack=0, flags=ACK, window=window,
              options=[(MSS, struct.pack("!H", mss))], payload=payload)
    ip.payload = tcp.encode(ip)
    again = Ipv4.parse(ip.encode())
    assert again.ttl == ttl and Tcp.parse(again.payload) == tcp
    assert checksum(again.pseudo_header(len(again.payload)) + again.payload) == 0
