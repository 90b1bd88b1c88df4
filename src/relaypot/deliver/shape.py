"""What a relay probe looks like, and the form it is sent on in: pure functions, no I/O.

A scanner's probe is a few lines of plain text naming the relay it tests. Only such a message is
ever delivered: a message that merely mentions "relay test" (a phishing page, a spam run with
the words in its subject) is not a probe, however the classifier labelled it. What is delivered
is normalised as a relaying MTA would send it on: CRLF line endings, dot-stuffed (RFC 5321
§4.5.2), with the persona's Received: line on top.
"""

from __future__ import annotations

import email.parser
import email.policy
import re

# A probe is short: Super webscan's is about 200 bytes, the generic checkers' a few lines.
LONGEST_LINE = 998  # RFC 5322 §2.1.1: a longer line is no mail a relay passes on unchanged
PLAIN_ENCODINGS = frozenset({"", "7bit", "8bit", "quoted-printable"})
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HTML = re.compile(rb"<\s*(?:!doctype|html|head|body|a|script|iframe|img|form|div|table|meta|style|span|p|br)\b"
                   rb"|\bhref\s*=|\bsrc\s*=", re.IGNORECASE)
_LINE_END = re.compile(rb"\r\n|\r|\n")


def lines_of(raw: bytes) -> list[bytes]:
    """The message's lines, whatever ended them (CRLF, bare CR, bare LF); no final empty line."""
    lines = _LINE_END.split(raw)
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def split_message(raw: bytes) -> tuple[bytes, bytes]:
    """(header section, body) at the first empty line, with line endings left as they were."""
    previous_end, last = 0, b""  # a message that starts with an empty line has no header section
    for match in _LINE_END.finditer(raw):  # CRLF is one line end here, never CR then LF
        if match.start() == previous_end:
            return raw[:previous_end - len(last)], raw[match.end():]
        previous_end, last = match.end(), match.group()
    return raw, b""


def shape_problem(raw: bytes, max_bytes: int) -> str | None:
    """Why `raw` is not probe-shaped (short plain text, no attachment, no HTML), or None."""
    if len(raw) > max_bytes:
        return f"larger than deliver_max_bytes ({len(raw)} > {max_bytes})"
    if _CONTROL.search(raw):
        return "not plain text: it holds control bytes"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not plain text: it is not UTF-8"
    if any(len(line) > LONGEST_LINE for line in lines_of(raw)):
        return f"a line longer than {LONGEST_LINE} bytes"
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(split_message(raw)[0] + b"\n")
    if headers.get_content_maintype() == "multipart":
        return "multipart: probes carry no attachments"
    if headers.get_content_type() != "text/plain":
        return f"Content-Type {headers.get_content_type()}: probes are text/plain"
    disposition = str(headers.get("Content-Disposition", "")).split(";", 1)[0].strip().lower()
    if disposition == "attachment":
        return "an attachment"
    encoding = str(headers.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding not in PLAIN_ENCODINGS:
        return f"Content-Transfer-Encoding {encoding}: probes are plain text"
    if _HTML.search(raw):
        return "HTML: probes are plain text"
    return None


def subject_and_body(raw: bytes) -> tuple[str, str]:
    """The Subject header (unfolded) and the body, as text, for the delivery signature."""
    head, body = split_message(raw)
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head + b"\n")
    subject = " ".join(str(headers.get("Subject", "")).split())
    return subject, body.decode("utf-8", "replace")


def wire_form(raw: bytes, received: str) -> bytes:
    """The DATA to send: `received` (CRLF-folded, no final CRLF) on top, every line ended by CRLF,
    a line starting with "." dot-stuffed; without the final ".": the client adds it."""
    lines = [*received.encode("utf-8").split(b"\r\n"), *lines_of(raw)]
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)
