"""`relaypot stack`: set the host up, rewrite packets until told to stop, put everything back."""

from __future__ import annotations

import logging
import math
import select
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TextIO

from relaypot.personas.model import Persona
from relaypot.stack import host, watchdog
from relaypot.stack.nfqueue import NfQueue, Packet
from relaypot.stack.rewrite import Rewriter

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run_stack(persona: Persona, ports: list[int], queue_number: int, interface: str | None,
              state_file: Path, out: TextIO = sys.stdout) -> None:
    profile = persona.stack
    leftover = host.undo(state_file)
    for line in leftover:
        print(f"relaypot stack: an earlier run left changes; {line}", file=out, flush=True)
    host_plan = host.plan(profile, ports, queue_number, interface)
    exposed = host.ipv6_listeners(ports) if profile.rewrite else []
    if exposed:
        print(f"relaypot stack: warning: port {','.join(map(str, exposed))} also listens on IPv6, which keeps "
              "the host's own stack (the rewriter handles IPv4); listen on IPv4 only", file=out, flush=True)
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    heartbeat = watchdog.Heartbeat()
    guard = watchdog.start(heartbeat, interface, out) if profile.rewrite else 0
    queue = NfQueue(queue_number) if profile.rewrite else None
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) if profile.rewrite else None
    rewriter = Rewriter(profile, frozenset(ports))
    try:
        host.apply(host_plan, state_file, interface)
        print(f"relaypot stack: {persona.name} ({profile.imitates or 'the host stack'}) on ports "
              f"{','.join(map(str, ports))}{' via ' + interface if interface else ''}; "
              f"{'rewriting through queue ' + str(queue_number) if queue else 'sysctls only'}; "
              "SIGTERM or Ctrl-C puts everything back", file=out, flush=True)
        while not stopping:
            if queue is None:  # sysctls only: nothing to do but wait
                time.sleep(0.5)
                continue
            heartbeat.beat()
            ready, _, _ = select.select([queue], [], [], 0.5)
            if ready:
                _serve(queue, raw, rewriter)
    finally:
        if guard:
            watchdog.stop(guard)
        for line in host.undo(state_file):
            print(f"relaypot stack: {line}", file=out, flush=True)
        if queue is not None:
            queue.close()
        if raw is not None:
            raw.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        counters = rewriter.counters
        print(f"relaypot stack: stopped; {counters.rewritten} packets rewritten, {counters.answered} "
              f"probes answered, {counters.passed} passed unchanged"
              f"{f', {counters.errors} failed to parse and passed unchanged' if counters.errors else ''}"
              f"{f', {queue.overruns} queue overruns' if queue and queue.overruns else ''}",
              file=out, flush=True)


def _serve(queue: NfQueue, raw: socket.socket | None, rewriter: Rewriter) -> None:
    for packet in queue.receive():
        try:
            _decide(queue, raw, rewriter, packet)
        except Exception:  # a packet the rewriter chokes on still gets its verdict: unchanged
            rewriter.counters.errors += 1
            if math.log10(rewriter.counters.errors).is_integer():  # the 1st, 10th, 100th...: no flood
                log.exception("relaypot stack: %d packets could not be rewritten; they pass unchanged",
                              rewriter.counters.errors)
            queue.verdict(packet.packet_id, True)


def _decide(queue: NfQueue, raw: socket.socket | None, rewriter: Rewriter, packet: Packet) -> None:
    if packet.outgoing:
        queue.verdict(packet.packet_id, True, rewriter.outgoing(packet.payload))
        return
    incoming = rewriter.incoming(packet.payload)
    for answer in incoming.answers:
        if raw is not None:
            try:
                raw.sendto(answer, (socket.inet_ntoa(answer[16:20]), 0))
            except OSError:
                pass  # an answer lost is a probe unanswered, never a session harmed
    queue.verdict(packet.packet_id, incoming.accept)


def describe(persona: Persona, ports: list[int], queue_number: int, interface: str | None) -> list[str]:
    """What a run would change (--dry-run)."""
    profile = persona.stack
    lines = host.plan(profile, ports, queue_number, interface).describe()
    if profile.rewrite:
        lines.append(f"rewrite packets from queue {queue_number} as {profile.imitates or persona.name}")
    if profile.window_clamp:
        lines.append(f"(relaypot run itself clamps its listening sockets' window to {profile.window_clamp})")
    return lines
