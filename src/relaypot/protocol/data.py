"""Find the end of a DATA body in a growing buffer, undo dot-stuffing, and spot smuggling signs."""

from __future__ import annotations

import re

# RFC 5321 §4.1.1.4: the body ends with a line holding a single ".": <CRLF>.<CRLF>.
CRLF_END = b"\r\n.\r\n"
# A "." line between any line endings, a NUL beside the dot allowed: every end-of-data variant
# the public smuggling scanners try (a body cannot hold <CRLF>.<CRLF> itself: it would have ended).
_DOT_LINE = re.compile(rb"(?:\r\n|\n|\r)\x00?\.\x00?(?:\r\n|\n|\r)")
MAX_SIGNS = 4  # distinct sequences named in one violation's detail
ANY_CRS = re.compile(rb"\r*")
# a server that drops one CR before the LF and compares the line as a C string, so that ".<NUL>x"
# is "." too (OpenSMTPD's io_getline and strcmp)
ONE_CR = re.compile(rb"\x00[^\n]*|\r?")


def find_end(buf: bytearray, scanned: int, lf_end: bool, at_start: bool = True,
             crs: re.Pattern[bytes] = ANY_CRS) -> tuple[int, int, bytes] | int:
    """Locate end-of-data in `buf`, whose index 0 is the start of the body when `at_start`.

    Returns `(body_end, resume_at, marker)` when found: the body is `buf[:body_end]` (its last line
    ending included), the bytes from `resume_at` on belong to the next command, and `marker` is the
    end sequence as sent. Otherwise returns how far the buffer was scanned, to pass back next time,
    so a marker split across reads is found without rescanning the whole body.
    With `lf_end`, a "." line after or before a bare LF also ends the body, as in servers that
    take LF as a line ending (what SMTP smuggling exploits), and so does ".\r\r\n": such a server
    (Postfix's smtp_get) drops every CR before the LF; `crs` says how many CRs it drops (ONE_CR:
    ".\r\r\n" is no end there).
    """
    if at_start:
        if buf[:3] == b".\r\n":
            return 0, 3, b".\r\n"
        if lf_end and buf[:1] == b".":
            after = crs.match(buf, 1).end()  # type: ignore[union-attr]
            if after == len(buf):
                return 0
            if buf[after] == 0x0A:
                return 0, after + 1, bytes(buf[: after + 1])
    if not lf_end:
        idx = buf.find(CRLF_END, max(scanned - 4, 0))
        if idx >= 0:
            return idx + 2, idx + 5, CRLF_END
        return len(buf)
    pos = max(scanned - 3, 0)
    while True:
        idx = buf.find(b"\n.", pos)
        if idx < 0:
            return len(buf)
        after = crs.match(buf, idx + 2).end()  # type: ignore[union-attr]
        if after == len(buf):
            # The read ended inside a possible marker: look here again when more arrives.
            return idx
        if buf[after] == 0x0A:
            return idx + 1, after + 1, _marker(buf, idx, after + 1 - idx)
        pos = idx + 1


def _marker(buf: bytearray, lf_at: int, length: int) -> bytes:
    """The end sequence, with the CR before its first LF when there is one."""
    start = lf_at - 1 if lf_at > 0 and buf[lf_at - 1] == 0x0D else lf_at
    return bytes(buf[start : lf_at + length])


def unstuff(body: bytes) -> bytes:
    """RFC 5321 §4.5.2: drop the first "." of every line that starts with one."""
    if body[:1] == b".":
        body = body[1:]
    if b"\n." in body:
        body = body.replace(b"\n.", b"\n")
    return body


def line_ending_violations(body: bytes, marker: bytes) -> list[tuple[str, str]]:
    """Bare LFs in a body and end-of-data sequences with a bare LF, as (violation, detail) pairs."""
    found: list[tuple[str, str]] = []
    bare = body.count(b"\n") - body.count(b"\r\n")
    if bare:
        found.append(("bare_lf", f"{bare} bare LF in the message body"))
    signs = _dot_lines(body, bare)
    if signs:
        found.append(("smuggling", "the body holds " + " and ".join(signs)))
    if marker not in (CRLF_END, b".\r\n"):
        found.append(("smuggling", "data ended by " + _show(marker)))
    return found


def _dot_lines(body: bytes, bare_lf: int) -> list[str]:
    """The "." lines in `body` that a server reading other line endings would end the message at,
    in the order first seen. Only a body with a bare LF or CR, or a NUL, can hold one."""
    if not bare_lf and body.count(b"\r") == body.count(b"\r\n") and b"\x00" not in body:
        return []
    signs: list[str] = []
    for found in _DOT_LINE.finditer(body):
        sign = _show(found.group()).replace("<CR><LF>", "<CRLF>")
        if found.group() != CRLF_END and sign not in signs:
            signs.append(sign)
            if len(signs) == MAX_SIGNS:
                break
    return signs


def _show(seq: bytes) -> str:
    return seq.replace(b"\r", b"<CR>").replace(b"\n", b"<LF>").replace(b"\x00", b"<NUL>").decode("ascii", "replace")


def stored_size(body: bytes) -> int:
    """A message's size as Postfix's cleanup stores it, and says in its BDAT reply: every line ended
    by CRLF (a bare LF counts as CRLF) and the last line given one. The bytes kept are as sent."""
    size = len(body) + body.count(b"\n") - body.count(b"\r\n")
    if body and body[-1:] != b"\n":
        size += 2
    return size


class LfSize:
    """A message's size as a server that stores it with LF line ends counts it against its limit
    (Exim, OpenSMTPD: each CRLF one byte; Exim also without the dot a stuffed line was sent
    with), from the bytes as sent, fed in contiguous ranges (a body is seen in pieces: what is
    dropped past the bound, then the rest). `saved` is what the wire size exceeds that count by."""

    __slots__ = ("carry", "saved", "unstuffed")

    def __init__(self, unstuffed: bool) -> None:
        self.unstuffed = unstuffed  # a DATA body's stuffed dots do not count (Exim)
        self.saved = 0
        self.carry = b"\n"  # the last two bytes fed: a body starts at a line's start

    def feed(self, buf: bytes | bytearray, start: int = 0, end: int | None = None) -> None:
        end = len(buf) if end is None else end
        if end <= start:
            return
        self.saved += buf.count(b"\r\n", start, end) + (self.carry[-1:] == b"\r" and buf[start] == 0x0A)
        if self.unstuffed:  # "\n.." within the range, or across its start
            self.saved += buf.count(b"\n..", start, end)
            if self.carry == b"\n." and buf[start] == 0x2E:
                self.saved += 1
            elif self.carry[-1:] == b"\n" and buf[start : min(end, start + 2)] == b"..":
                self.saved += 1
        self.carry = (self.carry + bytes(buf[max(start, end - 2) : end]))[-2:]


_EXIM_HEADER = re.compile(rb"[!-9;-~]+[ \t]*:")


def exim_message_size(body: bytes) -> int:
    """A message's size as Exim 4.96 reports it after BDAT ("total N"): every line with a CRLF
    ending (a bare LF or CR ends a line too, and the last line gets one), plus one byte for the
    blank line it puts before a body that follows its headers without one (receive.c)."""
    if not body:
        return 2  # an empty message still has its line end
    lines = re.split(rb"\r\n|\n|\r", body)
    if lines[-1] == b"":
        lines.pop()
    size = sum(len(line) + 2 for line in lines)
    for n, line in enumerate(lines):
        if not line:
            return size  # the headers end with a blank line of their own
        if _EXIM_HEADER.match(line) or (n and line[:1] in (b" ", b"\t")):
            continue
        return size + 1  # a line that is no header starts the body: a blank line goes before it
    return size
