"""Rebuild a recorded session's transcript from the store: what the client sent, what it was told."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator

from relaypot.escape import terminal
from relaypot.events import (
    Attack,
    Auth,
    Command,
    Fragment,
    MessageReceived,
    SessionClosed,
    SessionOpened,
    Tls,
    Violation,
    record_from_dict,
)
from relaypot.storage.database import Database


def transcript_lines(store_url: str, session_id: str) -> Iterator[str]:
    db = Database(store_url, must_exist=True)
    try:
        rows = db.query("SELECT payload FROM events WHERE session_id = ? ORDER BY seq", (session_id,))
    finally:
        db.close()
    held: list[str] = []  # an AUTH verdict that came before its own command line
    for (payload,) in rows:
        data = json.loads(payload)
        lines = list(_lines(data))
        if data["kind"] == "smtp.auth" and not data.get("replies"):
            held = lines  # a one-line AUTH (PLAIN with its initial response): the session records
            continue      # the verdict, then the command that carried it; a transcript shows the command first
        yield from lines
        if held and data["kind"] == "smtp.command":
            yield from held
            held = []
    yield from held


def _client(raw: bytes) -> str:
    return "C: " + terminal(raw.decode("utf-8", "surrogateescape").rstrip("\r\n"), 400)


def _decoded(raw: bytes) -> str:
    """A base64 AUTH line shown decoded beside it (PLAIN's NULs as \\x00); nothing for other lines."""
    try:
        data = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        return ""
    if not data or data.startswith(b"NTLMSSP"):
        return ""  # NTLM is binary: the summary line says what it held
    return "    # " + terminal(data.decode("utf-8", "surrogateescape"), 200)


def _server(text: str) -> Iterator[str]:
    for line in text.splitlines():
        yield "S: " + terminal(line, 400)


def _lines(data: dict) -> Iterator[str]:
    record = record_from_dict(data)
    event = record.event
    if isinstance(event, SessionOpened):
        yield (f"# session {record.session} from {record.src_ip}:{event.src_port} to "
               f"{event.dst_ip}:{event.dst_port}, persona {event.persona}, at {record.ts}")
        if event.banner:
            yield from _server(event.banner)
    elif isinstance(event, Command):
        yield _client(event.raw_line)
        yield from _server(event.reply)
    elif isinstance(event, Auth):
        for raw, reply in zip(event.raw_responses[-len(event.replies):] if event.replies else (), event.replies):
            yield _client(raw) + _decoded(raw)
            yield from _server(reply)
        yield (f"# AUTH {event.mechanism} {event.outcome}: user {terminal(event.username)}, password "
               f"{terminal(event.password)}" + (f", {terminal(event.response, 200)}" if event.response else ""))
    elif isinstance(event, MessageReceived):
        yield f"C: <message: {event.size} bytes, sha256 {event.sha256}, stored as {event.path}>"
        yield from _server(event.reply)
    elif isinstance(event, Tls):
        yield f"# TLS {event.outcome} {event.version or ''} {event.cipher or ''} {terminal(event.error)}".rstrip()
    elif isinstance(event, Violation):
        yield f"# violation {event.violation}: {terminal(event.detail)}"
    elif isinstance(event, Attack):
        cves = f" ({', '.join(event.cves)})" if event.cves else ""
        yield f"# attack {event.attack}{cves}, {event.attack_class}, in {event.place}: {terminal(event.excerpt, 200)}"
    elif isinstance(event, Fragment):
        yield (f"C: <{event.what} left ({event.reason}): {event.received} bytes, {event.size} kept, sha256 "
               f"{event.sha256}, stored as {event.path or '(not stored: ' + terminal(event.refused) + ')'}>")
    elif isinstance(event, SessionClosed):
        yield (f"# closed: {event.reason} after {event.duration:.3f}s, {event.commands} commands, "
               f"{event.messages} messages, {event.bytes_in} bytes in, {event.bytes_out} bytes out")
