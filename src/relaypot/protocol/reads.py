"""The real server's own input buffer, as far as its close shows it: a server reads its socket in
blocks of at most `block` bytes (Postfix's VSTREAM and Sendmail's sm_io 4096, Exim's
smtp_inbuffer 8191, OpenSMTPD's iobuf 65536), each read taking what has arrived, and when it
closes the connection with bytes still unread in the kernel, the kernel answers with a reset
instead of a FIN. A client that pipelines past what the server read sees which one it was.

Pure counting over absolute byte positions: what arrived, and what the modelled server has read
(`pulled`); what the session has consumed is what arrived less what its receive buffer still
holds (`unread`, the Framer's). Measured from the real servers on this machine
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

    def fed(self, size: int, unread: int) -> None:
        """`size` bytes arrived while the session held `unread` bytes unconsumed: the server is
        blocked in read() for more (what it holds is at most an unfinished line) and takes its
        next block of them at once."""
        self._caught_up(unread)
        self.arrived += size
        self._read()

    def in_kernel(self, unread: int) -> int:
        """Bytes that arrived and the server has not read (its socket is readable while any wait)."""
        self._caught_up(unread)
        return self.arrived - self.pulled

    def reset_at_close(self, unread: int) -> bool:
        """Whether closing now leaves bytes unread in the kernel (after the drain)."""
        return self.in_kernel(unread) > self.drain

    def _caught_up(self, unread: int) -> None:
        """The session consumed all but `unread` bytes: the server read blocks until it had them."""
        consumed = self.arrived - unread
        while self.pulled < consumed and self.pulled < self.arrived:
            self._read()

    def _read(self) -> None:
        self.pulled += min(self.block, self.arrived - self.pulled)
