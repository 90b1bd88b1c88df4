"""The real server's own input buffer, as far as its close shows it: a server reads its socket in
blocks of at most `block` bytes (Postfix's VSTREAM and Sendmail's sm_io 4096, Exim's
smtp_inbuffer 8191, OpenSMTPD's iobuf 65536), each read taking what has arrived, and when it
closes the connection with bytes still unread in the kernel, the kernel answers with a reset
instead of a FIN. A client that pipelines past what the server read sees which one it was.

Pure counting over absolute byte positions: what arrived, what the modelled server has read
(`pulled`), and what the session has consumed. Measured from the real servers on this machine
(tests/protocol/test_reads.py keeps the figures).
"""

from __future__ import annotations


class BufferedReads:
    __slots__ = ("arrived", "block", "drain", "pulled")

    def __init__(self, block: int, drain: int = 0) -> None:
        self.block = block
        self.drain = drain  # bytes read and dropped just before a close (Exim's daemon: 17 reads of 128)
        self.arrived = 0
        self.pulled = 0

    def fed(self, size: int, consumed: int) -> None:
        """`size` bytes arrived while the session had consumed input up to `consumed`: the server
        is blocked in read() for more (what it holds is at most an unfinished line) and takes its
        next block of them at once."""
        self.consumed_to(consumed)
        self.arrived += size
        self._read()

    def consumed_to(self, consumed: int) -> None:
        """The session took input up to `consumed`: the server read blocks until it had it."""
        while self.pulled < consumed and self.pulled < self.arrived:
            self._read()

    def in_kernel(self, consumed: int) -> int:
        """Bytes that arrived and the server has not read (its socket is readable while any wait)."""
        self.consumed_to(consumed)
        return self.arrived - self.pulled

    def reset_at_close(self, consumed: int) -> bool:
        """Whether closing now leaves bytes unread in the kernel (after the drain)."""
        return self.in_kernel(consumed) > self.drain

    def _read(self) -> None:
        self.pulled += min(self.block, self.arrived - self.pulled)
