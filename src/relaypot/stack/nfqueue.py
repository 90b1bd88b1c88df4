"""A netfilter queue over netlink, from the standard library (linux/netfilter/nfnetlink_queue.h).

The kernel hands each packet a rule sent to queue N to the process bound to N, and waits for its
verdict: accept (with the packet, rewritten or not) or drop. The queue is bound fail-open: when
it is full, the kernel accepts packets instead of dropping them, as `--queue-bypass` does when no
process is bound, so a slow or dead rewriter costs the personality, never the traffic.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQNL_CFG_CMD_BIND, NFQNL_CFG_CMD_UNBIND = 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN, NFQA_CFG_MASK, NFQA_CFG_FLAGS = 1, 2, 3, 4, 5
NFQA_CFG_F_FAIL_OPEN = 1
NFQNL_COPY_PACKET = 2
NFQA_PACKET_HDR, NFQA_VERDICT_HDR, NFQA_PAYLOAD = 1, 2, 10
NF_DROP, NF_ACCEPT = 0, 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR, NLMSG_DONE = 2, 3
HOOK_LOCAL_OUT, HOOK_POST_ROUTING = 3, 4

_NLMSG = struct.Struct("=IHHII")  # length, type, flags, sequence, port id (host order)
_NFGEN = struct.Struct("!BBH")  # family, version, queue number (big-endian)
_ATTR = struct.Struct("=HH")


class QueueError(OSError):
    """The kernel refused the queue (no permission, queue taken, no NFQUEUE support)."""


@dataclass(frozen=True)
class Packet:
    packet_id: int
    hook: int
    payload: bytes

    @property
    def outgoing(self) -> bool:
        return self.hook in (HOOK_LOCAL_OUT, HOOK_POST_ROUTING)


def _attr(kind: int, data: bytes) -> bytes:
    raw = _ATTR.pack(_ATTR.size + len(data), kind) + data
    return raw + b"\0" * (-len(raw) % 4)


def _attributes(data: bytes) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    at = 0
    while at + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, at)
        if length < _ATTR.size:
            break
        found[kind & 0x7FFF] = data[at + _ATTR.size:at + length]
        at += (length + 3) & ~3
    return found


class NfQueue:
    def __init__(self, number: int, max_length: int = 4096) -> None:
        self.number = number
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((0, 0))
        self.sequence = 0
        self.overruns = 0  # times the kernel dropped queue messages we were too slow to read
        try:
            self._config(_attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, socket.AF_INET)))
            self._config(_attr(NFQA_CFG_PARAMS, struct.pack("!IBxxx", 0xFFFF, NFQNL_COPY_PACKET)))
            self._config(_attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", max_length)))
            self._config(_attr(NFQA_CFG_FLAGS, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN))
                         + _attr(NFQA_CFG_MASK, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN)))
        except OSError:
            self.sock.close()
            raise

    def fileno(self) -> int:
        return self.sock.fileno()

    def _send(self, kind: int, body: bytes, flags: int = NLM_F_REQUEST) -> int:
        self.sequence += 1
        header = _NLMSG.pack(_NLMSG.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, flags, self.sequence, 0)
        self.sock.send(header + body)
        return self.sequence

    def _config(self, attributes: bytes) -> None:
        sequence = self._send(NFQNL_MSG_CONFIG, _NFGEN.pack(socket.AF_UNSPEC, 0, self.number) + attributes,
                              NLM_F_REQUEST | NLM_F_ACK)
        while True:
            data = self.sock.recv(65536)
            for kind, seq, body in self._messages(data):
                if kind == NLMSG_ERROR and seq == sequence:
                    code = -struct.unpack_from("=i", body)[0]
                    if code:
                        raise QueueError(code, f"netfilter queue {self.number}: {os.strerror(code)}")
                    return

    @staticmethod
    def _messages(data: bytes) -> Iterator[tuple[int, int, bytes]]:
        at = 0
        while at + _NLMSG.size <= len(data):
            length, kind, _flags, seq, _port = _NLMSG.unpack_from(data, at)
            if length < _NLMSG.size:
                return
            yield kind, seq, data[at + _NLMSG.size:at + length]
            at += (length + 3) & ~3

    def receive(self) -> list[Packet]:
        """The packets waiting (blocks until one comes unless the socket is non-blocking)."""
        try:
            data = self.sock.recv(1 << 17)
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:  # the kernel's messages outran us; fail-open covers them
                self.overruns += 1
                return []
            raise
        packets = []
        for kind, _seq, body in self._messages(data):
            if kind != (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                continue
            attributes = _attributes(body[_NFGEN.size:])
            header = attributes.get(NFQA_PACKET_HDR)
            if header is None or len(header) < 7:
                continue
            packet_id, _protocol, hook = struct.unpack_from("!IHB", header)
            packets.append(Packet(packet_id, hook, attributes.get(NFQA_PAYLOAD, b"")))
        return packets

    def verdict(self, packet_id: int, accept: bool = True, payload: bytes | None = None) -> None:
        body = _NFGEN.pack(socket.AF_UNSPEC, 0, self.number)
        body += _attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT if accept else NF_DROP, packet_id))
        if payload is not None:
            body += _attr(NFQA_PAYLOAD, payload)
        self._send(NFQNL_MSG_VERDICT, body)

    def close(self) -> None:
        try:
            self._send(NFQNL_MSG_CONFIG, _NFGEN.pack(socket.AF_UNSPEC, 0, self.number)
                       + _attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_UNBIND, socket.AF_INET)))
        except OSError:
            pass
        self.sock.close()
