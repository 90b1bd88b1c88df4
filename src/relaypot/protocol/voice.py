"""How a session speaks: a persona's reply template made into bytes with the session's values,
the tar pit's delay added, a violation recorded once per kind, the close. What a session says,
and when, is `session.py`'s; this base class only makes the outputs.
"""

from __future__ import annotations

from dataclasses import replace

from relaypot.events import Violation
from relaypot.personas.model import ReplyTemplate
from relaypot.protocol.accounting import ErrorAccount, ProtocolCounters
from relaypot.protocol.client_names import OK, UNNAMED, ClientName, placeholders
from relaypot.protocol.listener import ListenerContext
from relaypot.protocol.outputs import Close, Keep, Output, Reply
from relaypot.protocol.sendmail_envelope import shorten
from relaypot.protocol.states import CLOSED
from relaypot.vocabulary import printable_bytes, seven_bit_bytes, wire

MAX_FRAGMENTS = 32  # fragments one session may leave: a flood of long lines is not a flood of files


class Voice:
    # Slots: ten thousand idle sessions should cost little memory, and attribute access less time.
    __slots__ = (
        "_clear",
        "_client_names",
        "_close_reason",
        "_closing_down",
        "_counters",
        "_held_back",
        "_host_name",
        "_kept",
        "_last_reply",
        "_line_text",
        "_seen_violations",
        "_slow",
        "_tarpit",
        "account",
        "bytes_out",
        "client_ip",
        "closed_in",
        "context",
        "mode",
        "replies",
    )

    def __init__(self, context: ListenerContext, replies: dict[str, ReplyTemplate], client_ip: str,
                 mode: str) -> None:
        self.context = context
        self.replies = replies
        self.client_ip = client_ip
        self.mode = mode
        self.account = ErrorAccount(context.persona.errors)  # the persona's [errors]
        errors = context.persona.errors
        # Exim's counters, where the persona's server keeps them ([errors] protocol_limit...)
        self._counters = ProtocolCounters(errors) if (
            errors.protocol_limit or errors.unknown_limit or errors.nonmail_limit) else None
        self.bytes_out = 0
        self._last_reply = ""  # text of the latest reply, for the command's event
        self._seen_violations: set[str] | None = None
        self._closing_down = False  # a reply too long to write was refused: Exim's smtp_closedown()
        self._close_reason: str | None = None
        self._clear = b""  # a reply to write outside TLS as the connection closes ([server] unsaid_in_tls)
        self.closed_in = mode  # the input mode the session was in when it closed
        self._kept = 0  # fragments kept (Keep outputs)
        # A reply the persona delays (a failed AUTH, the error tar pit) holds back the next
        # command as the real server's sleep does: the rest of the input waits (as a backlog)
        # until the transport has sent it, so records keep real time and a deadline meets the
        # commands still unread, not their replies made ahead of time.
        self._held_back = False
        self._line_text = b""  # the command line being answered, without its ending ({line})
        self._slow = 0.0  # a wait the next reply owes (Sendmail's slowdowns: protocol/accounting.py)
        self._tarpit = errors.tarpit  # Exchange's wait before every refusal ([errors] tarpit; 0: none)
        # how the client is named where the persona's server asks DNS ([server] names_client):
        # unnamed until the transport's lookup says otherwise (`named`)
        self._client_names = placeholders(UNNAMED, client_ip) if context.persona.server.names_client else None
        self._host_name = ""  # the client's name where DNS confirmed it, lower-cased (Exim's sender_host_name)

    def _placeholders(self) -> dict[str, str]:
        """The session's own template values; built when a reply needs them, not per connection."""
        values = {"client_ip": self.client_ip, "hostname": self.context.hostname, "domain": self.context.default_domain}
        if self._client_names is not None:
            values.update(self._client_names)
        return values

    def named(self, name: ClientName) -> None:
        """What DNS said of the client, before the greeting (the transport's lookup)."""
        if self._client_names is not None:
            self._client_names = placeholders(name, self.client_ip)
            self._host_name = name.ptr.lower() if name.resolve == OK and name.ptr else ""

    def _shown_line(self) -> str:
        """{line}: the command line as Sendmail echoes it, up to a NUL (a C string), a long one cut
        in the middle (made only for a reply that names it)."""
        return shorten(self._line_text.split(b"\0", 1)[0].decode("utf-8", "surrogateescape"))

    def _send_key(self, out: list[Output], key: str, delay: float = 0.0, **values: str) -> int:
        """The persona's reply `key`, its placeholders filled; returns its code."""
        template = self.replies[key]
        bare_cr = self.context.persona.server.seven_bit_replies  # Sendmail echoes a CR as sent
        if key in self.context.persona.server.unsaid_in_tls and getattr(self, "tls_active", False):
            # written in clear once TLS is dropped, as the connection closes: no reply a TLS client reads
            text, self._clear = template.render({**self._placeholders(), **values})
            self._last_reply = text
            return template.code
        if template.wire is not None:
            text, data = template.text, template.wire
        elif "line" in template.fields:
            text, data = template.render({**self._placeholders(), "line": self._shown_line(), **values}, bare_cr)
        else:
            text, data = template.render({**self._placeholders(), **values}, bare_cr)
        if data and key in self.context.persona.server.printable_replies:  # one line each
            data = printable_bytes(data[:-2]) + b"\r\n"
            text = data[:-2].decode("utf-8", "surrogateescape")
        most = self.context.persona.server.max_reply_bytes
        if most and len(data) > most:  # the echo a client made too long for the server to write
            self._violation(out, "reply_too_long", f"{len(data)} bytes ({key})", always=True)
            self._closing_down = True  # every command from here on: the session's _closedown_command
            return self._send_key(out, "session.reply_too_long")
        code = self._send(out, text, data, template.code, delay)
        if self._counters is not None:
            code = self._count_protocol_error(out, key, code)
        return code

    def _count_protocol_error(self, out: list[Output], key: str, code: int) -> int:
        """Exim's synprot_error(): a syntax or protocol error past the limit ends the session, its
        reply joined by a last line in its own code ("503-..." then "503 Too many syntax or
        protocol errors"); a few replies end it as they are (a bad HELO, a NUL). Returns the code of
        the reply that went out (Exchange's 421 where it took the refusal's place)."""
        rules = self.context.persona.errors
        joins = key in rules.protocol_replies
        replaced = key in rules.protocol_replies_replaced
        if not (joins or replaced or key in rules.protocol_replies_closing):
            return code
        assert self._counters is not None
        if not self._counters.protocol_error() or self.mode == CLOSED:
            return code
        if joins:
            self._join_too_many(out, code)
        elif replaced:
            code = self._replace_by_too_many(out, code)
        self._violation(out, "limit_errors", f"{self._counters.protocol} syntax or protocol errors", always=True)
        self._close(out, "limit")
        return code

    def _join_too_many(self, out: list[Output], code: int) -> None:
        """The reply just made, joined by session.too_many_errors' text in its code."""
        if out and isinstance(out[-1], Reply):
            reply = out[-1]
            text = self._last_reply
            last = text.rfind("\r\n") + 2 if "\r\n" in text else 0
            tail = self.replies["session.too_many_errors"].text[4:]
            text = f"{text[:last + 3]}-{text[last + 4:]}\r\n{code} {tail}"
            data = wire(text)
            self.bytes_out += len(data) - len(reply.data)
            out[-1] = replace(reply, data=data, code=code)
            self._last_reply = text

    def _replace_by_too_many(self, out: list[Output], code: int) -> int:
        """Exchange's MaxProtocolErrors: the reply just made gives way to session.too_many_errors,
        which keeps its wait (the tar pit holds it as it would have held the refusal); its code."""
        if not (out and isinstance(out[-1], Reply)):
            return code
        reply, template = out[-1], self.replies["session.too_many_errors"]
        text, data = template.render(self._placeholders())
        self.bytes_out += len(data) - len(reply.data)
        out[-1] = replace(reply, data=data, code=template.code)
        self._last_reply = text
        return template.code

    def _send(self, out: list[Output], text: str, data: bytes, code: int, delay: float = 0.0) -> int:
        if self.context.persona.server.seven_bit_replies and (not data.isascii() or b"\0" in data):
            data = seven_bit_bytes(data)
            text = data[:-2].decode("ascii")
        tarpit = self.account.delay() if self.account.errors else 0.0
        delay += tarpit  # Postfix's sleep before any reply past the soft limit, which flushes after it
        if self._tarpit and code >= 500:  # Exchange holds an anonymous client's every refusal...
            self._slow = max(self._slow, self._tarpit)
            self.context.discredit(self.client_ip, self.context.clock() + self._tarpit)  # ...and discredits it
        if self._slow:
            delay, self._slow = delay + self._slow, 0.0
        if data:
            self.bytes_out += len(data)
            out.append(Reply(data, code, delay, flushed=tarpit > 0))
            if delay:
                self._held_back = True
        self._last_reply = text
        return code

    def _violation(self, out: list[Output], kind: str, detail: str, always: bool = False) -> None:
        # Once per kind per session unless `always`: a flood of bad lines must not flood the store.
        if not always:
            seen = self._seen_violations
            if seen is None:
                seen = self._seen_violations = set()
            elif kind in seen:
                return
            seen.add(kind)
        out.append(Violation(violation=kind, detail=detail))

    def _keep(self, out: list[Output], data: bytes, what: str, reason: str, received: int,
              digest: str | None = None, envelope: tuple[str | None, tuple[str, ...]] = (None, ())) -> None:
        """Keep bytes the client sent that are no accepted message (a `Keep` for the transport to
        store and record): at most MAX_FRAGMENTS per session, and past that a violation says so."""
        if self._kept >= MAX_FRAGMENTS:
            self._violation(out, "limit_fragments", f"over {MAX_FRAGMENTS} fragments: {what} of {received} bytes "
                                                    "not kept")
            return
        self._kept += 1
        out.append(Keep(data, what, reason, received, digest if received > len(data) else None, *envelope))

    def _close(self, out: list[Output], reason: str, reset: bool = False, lag: float = 0.0) -> None:
        if self.mode == CLOSED:
            return
        self._close_reason = self._close_reason or reason
        self.closed_in = self.mode
        self.mode = CLOSED
        out.append(Close(reason, self._clear, reset, lag))
