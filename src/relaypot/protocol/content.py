"""What a server judges in a message it has taken in whole ([message] max_hops, max_header_bytes,
max_line_length, header_grammar): the trace headers it brings, the size of its header section,
its longest line, whether its header section parses at all. Each as its server's source reads
it, and as captured (tests/reference/<persona>/content.json).

Pure: the message as the client sent it (unstuffed) in; the reply key that refuses it, with its
values, out, or None.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from relaypot.personas.model import MessageRules
from relaypot.protocol.exim_envelope import header_addresses_parse

# A header's first line as Postfix's is_header(), Sendmail's isheader() and Exim read it: a name of
# printable characters other than the colon, blanks before the colon allowed.
_HEADER = re.compile(rb"[!-9;-~]+[ \t]*:")
_RECEIVED = re.compile(rb"received[ \t]*:", re.IGNORECASE)
_ADDRESS_HEADERS = frozenset({b"from", b"sender", b"reply-to", b"to", b"cc", b"bcc"})  # Exim's verify_check_headers


_EXIM_HEADER = re.compile(rb"[!-9;-~]*[ \t\n\v\f\r]*:")  # receive.c: isgraph() but the colon, isspace(), ":"


def chunked_header_refused(message: bytes | bytearray, complete: bool) -> bool | None:
    """Exim 4.96's receive.c under CHUNKING: a message whose first line ends with a bare LF is
    refused ("552 Message header not CRLF terminated") where that line, with the lines that
    continue it, is a header; a blank first line, or one that is no header, ends the header
    section first. True: refused; False: taken; None: not known until more of the message comes
    (the byte after the header line, which Exim reads to look for a continuation)."""
    end = message.find(b"\n")
    if end < 0:
        return False if complete else None  # the message ends inside its first line: no line end seen
    if end == 0 or message[end - 1] == 0x0D:
        return False  # a blank first line; a CRLF, which sets first_line_ended_crlf
    while end + 1 < len(message) and message[end + 1] in b" \t":  # a continuation line
        following = message.find(b"\n", end + 1)
        if following < 0:
            if not complete:
                return None
            end = len(message)
            break
        end = following
    else:
        if end + 1 >= len(message) and not complete:
            return None
    line = bytes(message[:end])
    return line[:1] not in b" \t\n\v\f\r" and _EXIM_HEADER.match(line) is not None


def judge(body: bytes, rules: MessageRules) -> tuple[str, dict[str, str]] | None:
    """The refusal `rules` give the message `body`, or None where it is taken."""
    # (each check first asks whether the message is long enough to fail it: most are short)
    if rules.max_header_bytes and len(body) >= rules.max_header_bytes and header_bytes(body) > rules.max_header_bytes:
        return "data.headers_too_large", {}
    if rules.max_line_length and len(body) > rules.max_line_length:
        longest = longest_line(body, rules.max_line_length)
        if longest > rules.max_line_length:
            return "data.line_too_long", {"length": str(longest)}
    if rules.verify_header_syntax and not all(
            header_addresses_parse(value.decode("latin-1")) for name, value in headers(body)
            if name.lower() in _ADDRESS_HEADERS):
        return "data.header_syntax", {}
    if rules.header_grammar == "opensmtpd":
        found = opensmtpd_header_section(body, rules.max_hops)
        return (found, {}) if found else None
    if rules.max_hops and body.count(b"\n") >= rules.max_hops and sum(
            1 for line in _header_section(body) if _RECEIVED.match(line)) > rules.max_hops:
        return "data.too_many_hops", {}
    return None


def _lines(body: bytes) -> Iterator[bytes]:
    """The message's lines, each without its LF and a CR before it (an unterminated last line
    too; nothing after a last LF): read as far as asked (the header section is at the start of
    a message of up to max_message_size)."""
    start = 0
    while start < len(body):
        end = body.find(b"\n", start)
        if end < 0:
            end = len(body)
        yield body[start : end - 1] if end > start and body[end - 1] == 0x0D else body[start:end]
        start = end + 1


def longest_line(body: bytes, limit: int) -> int:
    """The longest line's length without its line end, where one is longer than `limit` (else
    `limit` or less): the lengths taken in C (a 25 MB message of short lines in tens of ms), the
    CR before a LF only taken off the few lines that long."""
    lines = body.split(b"\n")
    if max(map(len, lines)) <= limit:
        return 0
    last = len(lines) - 1
    return max(len(line) - (n < last and line.endswith(b"\r")) for n, line in enumerate(lines) if len(line) > limit)


def _in_header(line: bytes, first: bool) -> bool:
    """Whether `line` belongs to the header section: a header, or (not first) its continuation."""
    return _HEADER.match(line) is not None or (not first and line[:1] in (b" ", b"\t"))


def _header_section(body: bytes) -> Iterator[bytes]:
    """The header lines (continuations included) before the first line that is no header."""
    first = True
    for line in _lines(body):
        if not _in_header(line, first):
            return
        first = False
        yield line


def headers(body: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The header section as (name, value): the name without the blanks before its colon, the
    value with its continuation lines, each after a LF."""
    name, value = b"", b""
    for line in _header_section(body):
        if line[:1] in (b" ", b"\t"):
            value += b"\n" + line
            continue
        if name:
            yield name, value
        name, _colon, value = line.partition(b":")
        name = name.rstrip(b" \t")
    if name:
        yield name, value


def header_bytes(body: bytes) -> int:
    """The header section as Sendmail's collect() counts it against MaxHeadersLength: every
    character of the header lines and of the line that ends them (a blank line, or a body line),
    each line end one byte, NULs not at all."""
    total = 0
    first = True
    for line in _lines(body):
        total += len(line) + 1 - line.count(b"\0")
        if not _in_header(line, first):
            return total
        first = False
    return total


def opensmtpd_header_section(body: bytes, max_hops: int) -> str:
    """OpenSMTPD 6.8's smtp_tx_dataline() and rfc5322 parser over the header section, to the
    first error: "data.too_many_hops" at the Received header past `max_hops`,
    "data.malformed" at a line after the headers that is neither blank nor a header (the message
    "is not RFC 2822 compliant"), else "". A header is any line with a colon, its name all
    before it (matched without case); a line starting with a blank continues the one before."""
    received = 0
    in_header = False
    for line in _lines(body):
        if in_header and line[:1] in (b" ", b"\t"):
            continue
        name, colon, _value = line.partition(b":")
        if not colon:
            return "" if line == b"" else "data.malformed"
        in_header = True
        if name.lower() == b"received":
            received += 1
            if max_hops and received > max_hops:
                return "data.too_many_hops"
    return ""
