"""The stack rewriter: the exchange2000 persona's [stack] applied to packets the Linux kernel sent."""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaypot.personas.model import StackProfile, load
from relaypot.stack.packet import (
    ACK,
    DF,
    FIN,
    MSS,
    NOP,
    PSH,
    RST,
    SOK,
    SYN,
    TS,
    URG,
    WS,
    Icmp,
    Ipv4,
    Tcp,
    checksum,
)
from relaypot.stack.rewrite import ECHO_MEMORY, Rewriter
from stack.packets import DST, SRC, linux_syn_ack

WINDOWS = load("exchange2000").stack


def tcp_packet(flags: int, sport: int = 25, dport: int = 40000, df: bool = True, seq: int = 5, ack: int = 0,
               options=(), src=SRC, dst=DST) -> bytes:
    ip = Ipv4(ident=0, flags_fragment=DF if df else 0, ttl=128, protocol=6, src=src, dst=dst)
    ip.payload = Tcp(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, window=0,
                     options=list(options)).encode(ip)
    return ip.encode()


def icmp_packet(icmp: Icmp, df: bool, src=SRC, dst=DST) -> bytes:
    ip = Ipv4(ident=1, flags_fragment=DF if df else 0, ttl=64, protocol=1, src=src, dst=dst)
    ip.payload = icmp.encode()
    return ip.encode()


def verified(packet: bytes) -> Ipv4:
    ip = Ipv4.parse(packet)
    assert checksum(packet[:20]) == 0
    if ip.protocol == 6:
        assert checksum(ip.pseudo_header(len(ip.payload)) + ip.payload) == 0
    else:
        assert checksum(ip.payload) == 0
    return ip


def test_a_linux_syn_ack_leaves_as_windows_2000_lays_it_out():
    rewriter = Rewriter(WINDOWS, frozenset({25}), seed=1)
    ip = verified(rewriter.outgoing(linux_syn_ack()))
    tcp = Tcp.parse(ip.payload)
    options = ip.payload[20:(ip.payload[12] >> 4) * 4]
    # nmap's O=M5B4NW0NNT00NNS, p0f's mss,nop,ws,nop,nop,ts,nop,nop,sok
    assert options[:4] == bytes([MSS, 4, 0x05, 0xB4]) and options[4:8] == bytes([NOP, WS, 3, 0])
    assert options[8:10] == bytes([NOP, NOP]) and options[10:12] == bytes([TS, 10])
    assert options[12:20] == bytes(8), "TSval and TSecr are zero, as Windows 2000's SYN+ACK"
    assert options[20:] == bytes([NOP, NOP, SOK, 2])
    assert tcp.window == 65535 and (tcp.seq, tcp.ack, tcp.flags) == (1000, 2001, SYN | ACK)
    assert ip.df and ip.ident == rewriter.ip_id


def test_ip_ids_come_from_one_counter_across_tcp_and_icmp():
    rewriter = Rewriter(WINDOWS, frozenset({25}), seed=2)
    first = rewriter.ip_id
    idents = [Ipv4.parse(rewriter.outgoing(p)).ident for p in (
        linux_syn_ack(), tcp_packet(ACK), icmp_packet(Icmp(0, 0, b"\0\1\0\1", b"x"), df=False), tcp_packet(RST))]
    assert idents == [(first + n) & 0xFFFF for n in range(1, 5)]


def test_rsts_lose_df_and_a_bare_rst_acknowledges_something():
    rewriter = Rewriter(WINDOWS, frozenset({25}))
    bare = verified(rewriter.outgoing(tcp_packet(RST, seq=4242, ack=0)))
    assert not bare.df and Tcp.parse(bare.payload).ack == 4242  # nmap T4, T6: A=O, not zero
    with_ack = verified(rewriter.outgoing(tcp_packet(RST | ACK, seq=0, ack=99)))
    assert not with_ack.df and Tcp.parse(with_ack.payload).ack == 99


def test_a_data_segment_keeps_everything_but_its_ip_id():
    rewriter = Rewriter(WINDOWS, frozenset({25}))
    original = Ipv4.parse(tcp_packet(ACK | PSH, seq=77, ack=88))
    ip = verified(rewriter.outgoing(original.encode()))
    assert ip.payload == original.payload and ip.df


def test_the_postfix_stack_rewrites_nothing():
    rewriter = Rewriter(load("postfix").stack, frozenset({25}))
    assert rewriter.outgoing(linux_syn_ack()) is None
    assert rewriter.outgoing(tcp_packet(RST)) is None
    assert rewriter.incoming(tcp_packet(0, sport=40000, dport=25)).answers == []


def test_port_unreachables_quote_eight_bytes_as_windows():
    rewriter = Rewriter(WINDOWS, frozenset({25}))
    udp = Ipv4(ident=3, flags_fragment=0, ttl=64, protocol=17, src=DST, dst=SRC)
    udp.payload = struct.pack("!HHHH", 40000, 43919, 308, 0) + b"C" * 300
    unreachable = icmp_packet(Icmp(3, 3, b"\0" * 4, udp.encode()), df=False)
    ip = verified(rewriter.outgoing(unreachable))
    assert len(ip.encode()) == 56  # nmap's IPL=38
    assert Icmp.parse(ip.payload).body == udp.encode()[:28]


def test_echo_replies_take_the_requests_df_and_code_zero():
    rewriter = Rewriter(WINDOWS, frozenset({25}))
    for df in (True, False):
        rest = b"\x12\x34\x01" + bytes([df])
        request = icmp_packet(Icmp(8, 9, rest, b"\0" * 120), df=df, src=DST, dst=SRC)
        assert rewriter.incoming(request).accept
        reply = verified(rewriter.outgoing(icmp_packet(Icmp(0, 9, rest, b"\0" * 120), df=False)))
        assert reply.df is df and Icmp.parse(reply.payload).code == 0


def test_echo_memory_is_bounded():
    rewriter = Rewriter(WINDOWS, frozenset({25}))
    for n in range(ECHO_MEMORY + 50):
        rewriter.incoming(icmp_packet(Icmp(8, 0, struct.pack("!HH", 1, n), b""), df=True, src=DST, dst=SRC))
    assert len(rewriter.echo_df) == ECHO_MEMORY


def test_a_segment_with_no_flags_gets_windows_rst_ack():
    rewriter = Rewriter(WINDOWS, frozenset({25}))
    decision = rewriter.incoming(tcp_packet(0, sport=40000, dport=25, seq=31337, src=DST, dst=SRC))
    assert not decision.accept and len(decision.answers) == 1
    ip = verified(decision.answers[0])
    tcp = Tcp.parse(ip.payload)
    # nmap T2: R=Y, DF=N, W=0, S=Z, A=S, F=AR, TTL 128
    assert (ip.src, ip.dst, ip.ttl, ip.df) == (SRC, DST, 128, False)
    assert (tcp.sport, tcp.dport, tcp.seq, tcp.ack, tcp.flags, tcp.window) == (25, 40000, 0, 31337, RST | ACK, 0)


def test_syn_fin_gets_a_syn_ack_with_the_offered_options():
    rewriter = Rewriter(WINDOWS, frozenset({25}), seed=3)
    offered = [(WS, b"\x0a"), (MSS, b"\x01\x09"), (TS, struct.pack("!II", 0xFFFFFFFF, 0)), (SOK, b"")]
    probe = tcp_packet(SYN | FIN | URG | PSH, sport=40001, dport=25, seq=99, options=offered, src=DST, dst=SRC)
    decision = rewriter.incoming(probe)
    ip = verified(decision.answers[0])
    tcp = Tcp.parse(ip.payload)
    assert ip.df and tcp.flags == SYN | ACK and tcp.ack == 100 and tcp.window == 65535
    assert [kind for kind, _ in tcp.options] == [MSS, WS, TS, SOK]  # nmap T3: O=M5B4NW0NNT00NNS


def test_probes_to_other_ports_and_ordinary_segments_pass():
    rewriter = Rewriter(WINDOWS, frozenset({25}))
    assert rewriter.incoming(tcp_packet(0, sport=40000, dport=26, src=DST, dst=SRC)).answers == []
    assert rewriter.incoming(tcp_packet(SYN, sport=40000, dport=25, src=DST, dst=SRC)).accept
    assert rewriter.incoming(tcp_packet(FIN | ACK, sport=40000, dport=25, src=DST, dst=SRC)).answers == []


@given(st.binary(max_size=200))
def test_hostile_bytes_pass_unchanged_in_either_direction(data):
    rewriter = Rewriter(WINDOWS, frozenset({25}))
    result = rewriter.outgoing(data)
    assert result is None or Ipv4.parse(result)
    assert rewriter.incoming(data).accept or rewriter.incoming(data).answers


@pytest.mark.parametrize("key,value", [("ip_id", "random"), ("ttl", 300), ("option_layout", [["mss", "bogus"]]),
                                       ("sysctls", {"kernel.panic": "1"}), ("nope", 1)])
def test_a_persona_stack_table_is_checked(key, value):
    from relaypot.errors import PersonaError
    from relaypot.personas.model import _parse_stack

    with pytest.raises(PersonaError):
        _parse_stack({key: value}, "test.toml")
    assert StackProfile() == _parse_stack({}, "test.toml")


def test_an_echo_reply_whose_only_change_is_df_is_still_rewritten():
    profile = StackProfile(echo_reply_df="request")  # nothing else: the kernel's IP ids, codes
    rewriter = Rewriter(profile, frozenset({25}))
    rest = b"\0\7\0\1"
    rewriter.incoming(icmp_packet(Icmp(8, 0, rest, b""), df=True, src=DST, dst=SRC))
    reply = rewriter.outgoing(icmp_packet(Icmp(0, 0, rest, b""), df=False))
    assert reply is not None and verified(reply).df


def test_ipv6_listeners_on_the_sensors_ports_are_found(tmp_path):
    from relaypot.stack.host import ipv6_listeners

    table = tmp_path / "tcp6"
    table.write_text(
        "  sl  local_address                         remote_address                        st\n"
        "   0: 00000000000000000000000000000000:0019 00000000000000000000000000000000:0000 0A\n"
        "   1: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A\n"
        "   2: 00000000000000000000000001000000:024B 00000000000000000000000001000000:9C40 01\n")
    assert ipv6_listeners([25, 587], table) == [25]
    assert ipv6_listeners([2525], table) == []


def test_undo_trusts_no_sysctl_name_outside_net(tmp_path):
    import json

    from relaypot.errors import ConfigError
    from relaypot.stack.host import undo

    state = tmp_path / "state.json"
    state.write_text(json.dumps({"sysctls": [{"name": "kernel.core_pattern", "before": "|/tmp/x", "after": ""}],
                                 "rules": False, "pid": 0}))
    with pytest.raises(ConfigError, match="no sysctl"):
        undo(state)


def test_a_packet_the_rewriter_fails_on_still_gets_its_verdict_unchanged():
    """The loop's promise: every queued packet gets a verdict, or the kernel holds it and the
    connection stalls. A stand-in for the kernel's queue records what the loop answers."""
    from relaypot.stack.nfqueue import HOOK_LOCAL_OUT, Packet
    from relaypot.stack.runner import _serve

    class Failing(Rewriter):
        def outgoing(self, packet: bytes) -> bytes | None:
            raise IndexError("a bug")

    class Queue:
        def __init__(self) -> None:
            self.verdicts: list[tuple] = []

        def receive(self) -> list[Packet]:
            return [Packet(7, HOOK_LOCAL_OUT, linux_syn_ack()), Packet(8, HOOK_LOCAL_OUT, linux_syn_ack())]

        def verdict(self, packet_id: int, accept: bool = True, payload: bytes | None = None) -> None:
            self.verdicts.append((packet_id, accept, payload))

    queue, rewriter = Queue(), Failing(WINDOWS, frozenset({25}))
    _serve(queue, None, rewriter)  # type: ignore[arg-type]
    assert queue.verdicts == [(7, True, None), (8, True, None)] and rewriter.counters.errors == 2


def test_relaypot_stack_refuses_a_persona_without_a_stack_table(tmp_path):
    import subprocess
    import sys

    from relaypot.personas.model import DATA_DIR

    bare = tmp_path / "bare.toml"
    text = (DATA_DIR / "postfix.toml").read_text()
    start = text.index("\n[stack]\n")
    end = text.index("\n[", start + 1)
    bare.write_text(text[:start] + text[end:])
    result = subprocess.run([sys.executable, "-m", "relaypot.cli", "stack", "--dry-run", "--persona", str(bare)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "has no [stack] table" in result.stderr
