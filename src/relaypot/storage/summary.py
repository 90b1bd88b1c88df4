"""Extract Subject, From, To, Date, Message-ID, attachments and URLs from a raw message, cheaply.

Most spam is one plain part: its headers are read without the `email` package's full parser,
which costs more than the rest of a session. MIME structure, encoded parts and attachments go
through `email` with the compat32 policy, bounded in size and count.
"""

from __future__ import annotations

import email
import email.errors
import email.feedparser
import email.header
import email.message
import email.parser  # message_from_bytes imports it on first use; import it while we still can
import email.policy
import hashlib
import re
from typing import Any

WANTED = {b"subject": "subject", b"from": "header_from", b"to": "header_to", b"date": "date",
          b"message-id": "message_id"}
MAX_HEADER_VALUE = 998  # RFC 5322 §2.1.1 line limit; longer values are cut
MAX_URLS = 100
MAX_ATTACHMENTS = 100
MAX_SCAN = 1 << 20  # bytes of body searched for URLs
EXCERPT = 500  # characters of body text kept with the record, whitespace collapsed
URL = re.compile(rb"""(?i)\b(?:https?|ftp)://[^\s<>"'`{}|\\^\[\]]{1,2000}""")


def summarize(raw: bytes) -> dict[str, Any]:
    head, body = _split(raw)
    headers = _headers(head)
    summary: dict[str, Any] = {name: _decode(headers[key]) for key, name in WANTED.items() if key in headers}
    content_type = headers.get(b"content-type", b"").lower()
    encoding = headers.get(b"content-transfer-encoding", b"").strip().lower()
    if b"multipart" in content_type or encoding in (b"base64", b"quoted-printable"):
        texts, attachments = _walk(raw)
        summary["attachments"] = attachments
        summary["urls"] = _urls([text.encode("utf-8", "replace") for text in texts])
        summary["excerpt"] = _excerpt(texts[0] if texts else "")
        summary["body_sha256"] = body_hash(texts, [a["sha256"] for a in attachments])
    else:
        summary["attachments"] = []
        summary["urls"] = _urls([body[:MAX_SCAN]])
        summary["excerpt"] = _excerpt(body[: EXCERPT * 4].decode("utf-8", "replace"))
        summary["body_sha256"] = body_hash([body.decode("utf-8", "replace")], [])
    return summary


def body_hash(texts: list[str], attachments: list[str]) -> str:
    """What a campaign's copies share when their headers differ (a recipient, a date, a Message-ID
    per copy): the decoded text parts with whitespace normalised, then each attachment's hash."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(" ".join(text.split()).encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    for attachment in attachments:
        digest.update(b"attachment " + attachment.encode("ascii") + b"\n")
    return digest.hexdigest()


def _excerpt(text: str) -> str:
    return " ".join(text[: EXCERPT * 4].split())[:EXCERPT]


def _split(raw: bytes) -> tuple[bytes, bytes]:
    for sep in (b"\r\n\r\n", b"\n\n"):
        idx = raw.find(sep)
        if idx >= 0:
            return raw[:idx], raw[idx + len(sep):]
    return raw, b""


def _headers(head: bytes) -> dict[bytes, bytes]:
    """The first occurrence of each header, unfolded (RFC 5322 §2.2.3)."""
    found: dict[bytes, bytes] = {}
    name = None
    for line in head.split(b"\n"):
        line = line.rstrip(b"\r")
        if line[:1] in (b" ", b"\t") and name is not None:
            if name not in found:
                continue
            found[name] = found[name] + b" " + line.strip()
            continue
        key, sep, value = line.partition(b":")
        if not sep:
            name = None
            continue
        name = key.strip().lower()
        if name in WANTED or name in (b"content-type", b"content-transfer-encoding"):
            if name not in found:
                found[name] = value.strip()
                continue
        name = None
    return found


def _decode(value: bytes) -> str:
    text = value[:MAX_HEADER_VALUE].decode("utf-8", "replace")
    if "=?" in text:
        try:
            text = str(email.header.make_header(email.header.decode_header(text)))
        except Exception:  # noqa: BLE001 (an attacker's charset name may even name a codec we cannot load)
            pass
    return text


def _walk(raw: bytes) -> tuple[list[str], list[dict[str, Any]]]:
    """The decoded text parts (in order) and the attachments of a MIME message."""
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)
    texts: list[str] = []
    attachments: list[dict[str, Any]] = []
    for count, part in enumerate(message.walk()):
        if count > 1000:
            break
        if part.is_multipart():
            continue
        try:
            decoded = part.get_payload(decode=True)
        except (ValueError, AssertionError, LookupError):
            decoded = None
        payload = decoded if isinstance(decoded, bytes) else b""  # a leaf part decodes to bytes
        filename = _filename(part)
        if filename or part.get_content_maintype() not in ("text", "multipart"):
            if len(attachments) < MAX_ATTACHMENTS:
                attachments.append({
                    "filename": _decode(filename.encode("utf-8", "replace")) if filename else None,
                    "content_type": part.get_content_type(),
                    "size": len(payload),
                    "sha256": hashlib.sha256(payload).hexdigest(),
                })
        elif sum(len(t) for t in texts) < MAX_SCAN:
            texts.append(_text(payload[:MAX_SCAN], part.get_content_charset()))
    return texts, attachments


def _filename(part: email.message.Message) -> str | None:
    """The attachment's name. compat32 turns a raw UTF-8 header (RFC 6532: salary_<U+202E>fdp.exe,
    the override being the finding) into replacement characters, so such a header is decoded as
    UTF-8 here and its name read from that."""
    raw = [(name, value) for name, value in part.raw_items()
           if name.lower() in ("content-disposition", "content-type") and not value.isascii()]
    if not raw:
        return part.get_filename()
    decoded = email.message.Message()
    for name, value in raw:
        decoded[name] = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return decoded.get_filename() or part.get_filename()


def _text(payload: bytes, charset: str | None) -> str:
    try:
        return payload.decode(charset or "utf-8", "replace")
    except Exception:  # noqa: BLE001 (the attacker names the charset)
        return payload.decode("utf-8", "replace")


def _urls(texts: list[bytes]) -> list[str]:
    seen: dict[str, None] = {}
    for text in texts:
        if b"://" not in text:  # a substring test is far cheaper than the scan, and most spam has no URL
            continue
        for match in URL.finditer(text):
            url = match.group(0).rstrip(b".,;:!?)").decode("utf-8", "replace")
            seen.setdefault(url, None)
            if len(seen) >= MAX_URLS:
                return list(seen)
    return list(seen)
