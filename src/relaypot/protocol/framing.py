"""The session's receive buffer: bytes in; complete command lines, DATA bodies and counted chunks out.

Like h11's receive buffer, it knows framing and nothing of SMTP's meaning: the session asks for
the next line, the rest of a DATA body, or the next bytes of a BDAT chunk, and decides what they
mean, what they cost against its limits, and which violations they are.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from relaypot.protocol.data import ANY_CRS, ONE_CR, LfSize, find_end

if TYPE_CHECKING:
    from relaypot.protocol.postfix_queue_file import QueueFileSize

_TAIL = 8  # bytes of a dropped body kept to find <CRLF>.<CRLF> across reads


class Framer:
    """Lines up to `max_line` bytes (CRLF, or LF too unless `crlf_only`); a longer one is skipped
    to its end and reported, its head kept for a server that truncates instead of refusing. With
    `long_lines` "split", a line whose bytes before its LF pass `max_line` is cut instead: its first
    `max_line` + 1 bytes are the over-long line, and what follows is read as the next line (Exim's
    smtp_read_command returns once its buffer is full, the byte that overflowed it read and lost).
    With "piece", a line of more than `max_line` bytes, its ending included, is read in pieces of
    `max_line` bytes, each a line of its own, not an over-long one (Sendmail's sfgets() into its
    buffer). bound() changes both for the lines read next (an AUTH response's own bound)."""

    __slots__ = ("_hash", "_kept", "_overlong", "_scanned", "buf", "crlf_only", "end_crs", "keep", "lf_data_end",
                 "long_lines", "max_line", "overlong_head", "pos")

    TOO_LONG = b""  # what next_line returns for a line past the bound

    def __init__(self, max_line: int, crlf_only: bool, lf_data_end: bool, keep: int = 0, one_cr: bool = False,
                 long_lines: str = "reject") -> None:
        self.buf = bytearray()
        self.pos = 0  # bytes of buf already taken
        self.max_line = max_line
        self.long_lines = long_lines  # [lines] too_long: "truncate" and "reject" are read alike here
        self.crlf_only = crlf_only
        self.lf_data_end = lf_data_end
        self.end_crs = ONE_CR if one_cr else ANY_CRS  # the CRs a "." line may end with
        self._overlong: int | None = None  # bytes seen of a line past the bound, while skipping it
        self.overlong_head = b""
        # Of a line past the bound, its first `keep` bytes and the SHA-256 of all of it (a record
        # of what the client sent; the session acts on `overlong_head` alone).
        self.keep = keep
        self._kept = bytearray()
        self._hash: hashlib._Hash | None = None
        self._scanned = 0  # how far a DATA body has been searched for its end

    def feed(self, data: bytes) -> None:
        self.buf += data

    def bound(self, max_line: int, long_lines: str) -> None:
        """The bound and its handling for the lines read from now on (a line being skipped as
        over-long is skipped to its end whatever they are)."""
        self.max_line = max_line
        self.long_lines = long_lines

    def unread(self) -> int:
        return len(self.buf) - self.pos

    def next_starts(self, prefix: bytes) -> bool:
        """The unread input begins with `prefix` (ASCII letters compared case-insensitively)."""
        return bytes(self.buf[self.pos : self.pos + len(prefix)]).upper() == prefix

    def compact(self) -> None:
        """Forget what was taken (once per read, not per line)."""
        if self.pos:
            del self.buf[: self.pos]
            self.pos = 0

    def discard(self) -> int:
        """Drop everything unread (bytes a client sent before a TLS handshake); returns how many."""
        dropped = len(self.buf) - self.pos
        self.buf = bytearray()
        self.pos = 0
        return dropped

    def mid_line(self) -> int | None:
        """Bytes of an over-long line the connection ended in, if it did."""
        return self._overlong

    def overlong(self) -> tuple[bytes, str]:
        """The kept head and the SHA-256 of the over-long line just read (or cut off), once."""
        kept, digest = bytes(self._kept), self._hash.hexdigest() if self._hash is not None else ""
        self._kept = bytearray()
        self._hash = None
        return kept, digest

    def take_rest(self) -> bytes:
        """Everything unread, taken (bytes a client sent before a TLS handshake)."""
        rest = bytes(self.buf[self.pos :])
        self.discard()
        return rest

    def _skip(self, part: bytes | bytearray) -> None:
        """Part of an over-long line, passing: hashed, and kept up to `keep`."""
        if self._hash is None:
            self._hash = hashlib.sha256()
        self._hash.update(part)
        room = self.keep - len(self._kept)
        if room > 0:
            self._kept += part[:room]

    def next_line(self) -> tuple[bytes | None, int]:
        """(the next complete line with its ending, 0); (TOO_LONG or the truncated head, its length)
        for a line past the bound; (None, 0) until a line is complete."""
        buf = self.buf
        pos = self.pos
        if self._overlong is not None:
            # Skipping the rest of an over-long line (RFC 5321 §4.5.3.1.4 bound).
            idx = buf.find(b"\n", pos)
            if idx < 0:
                self._overlong += len(buf) - pos
                self._skip(buf[pos:])
                self.pos = len(buf)
                return None, 0
            self._skip(buf[pos : idx + 1])
            total = self._overlong + idx + 1 - pos
            self.pos = idx + 1
            self._overlong = None
            return self.TOO_LONG, total
        if self.crlf_only:
            idx = buf.find(b"\r\n", pos)
            end = idx + 2
        else:
            idx = buf.find(b"\n", pos)
            end = idx + 1
        max_line = self.max_line
        if self.long_lines == "split":
            return self._split_line(idx, end)
        if self.long_lines == "piece":
            return self._piece_line(idx, end)
        if idx < 0 or end - pos > max_line:
            if idx < 0 and len(buf) - pos <= max_line:
                return None, 0
            # Over the bound: keep the head (a server that truncates acts on it), drop the rest.
            self.overlong_head = bytes(buf[pos : pos + max_line])
            self._kept, self._hash = bytearray(), None
            if idx >= 0:
                self._skip(buf[pos:end])
                self.pos = end
                return self.TOO_LONG, end - pos
            self._skip(buf[pos:])
            self._overlong = len(buf) - pos
            self.pos = len(buf)
            return None, 0
        self.pos = end
        return bytes(buf[pos:end]), 0

    def _split_line(self, idx: int, end: int) -> tuple[bytes | None, int]:
        """next_line for a server that cuts an over-long line where its buffer filled."""
        buf, pos, cut = self.buf, self.pos, self.max_line + 1
        content = (idx if idx >= 0 else len(buf)) - pos  # the bytes before the LF, so far
        if content < cut:
            if idx < 0:
                return None, 0
            self.pos = end
            return bytes(buf[pos:end]), 0
        self.overlong_head = bytes(buf[pos : pos + self.max_line])
        self._kept, self._hash = bytearray(), None
        self._skip(buf[pos : pos + cut])
        self.pos = pos + cut
        return self.TOO_LONG, cut

    def _piece_line(self, idx: int, end: int) -> tuple[bytes | None, int]:
        """next_line for a server that reads a line in pieces of its buffer's size."""
        buf, pos = self.buf, self.pos
        piece_end = pos + self.max_line
        if (idx < 0 or end > piece_end) and len(buf) >= piece_end:
            self.pos = piece_end
            return bytes(buf[pos:piece_end]), 0
        if idx < 0:
            return None, 0
        self.pos = end
        return bytes(buf[pos:end]), 0

    # ------------------------------------------------------------------ DATA

    def start_body(self) -> None:
        self.compact()
        self._scanned = 0

    def body(self, at_start: bool) -> tuple[bytes, bytes] | bool:
        """The DATA body once its end has arrived: (body as sent, end marker), the buffer left
        holding what follows. Until then, whether a new line of the body completed."""
        self.compact()
        buf = self.buf
        found = find_end(buf, self._scanned, self.lf_data_end, at_start, self.end_crs)
        if isinstance(found, int):
            line_done = buf.find(b"\n", self._scanned, found) >= 0
            self._scanned = found
            return line_done
        body_end, resume, marker = found
        raw = bytes(buf[:body_end])
        # A fresh buffer for what follows: the body's allocation is not kept for the session.
        self.buf = bytearray(buf[resume:])
        self._scanned = 0
        return raw, marker

    def body_bytes(self) -> int:
        """Bytes of the body held so far (it starts at the buffer's start)."""
        return len(self.buf)

    def drop_body(self, counter: LfSize | QueueFileSize | None = None) -> int:
        """Stop keeping a body (too big, or out of memory): all but a tail to find its end in; returns
        the bytes dropped, first counted by `counter` where the body's size is counted."""
        drop = len(self.buf) - _TAIL
        if drop <= 0:
            return 0
        if counter is not None:
            counter.feed(self.buf, 0, drop)
        del self.buf[:drop]
        self._scanned = 0
        return drop

    # ------------------------------------------------------------------ counted chunks (BDAT, XEXCH50)

    def available(self, most: int) -> int:
        return min(len(self.buf) - self.pos, most)

    def peek(self, size: int) -> bytearray:
        """The next `size` unread bytes, left unread."""
        return self.buf[self.pos : self.pos + size]

    def take(self, size: int) -> bytearray:
        """The next `size` unread bytes (at most `available`), taken."""
        start = self.pos
        self.pos = start + size
        return self.buf[start : start + size]

    def skip(self, size: int) -> None:
        self.pos += size
