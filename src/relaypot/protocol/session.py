"""The sans-IO SMTP server session: bytes in; replies, events and transport instructions out.

It never touches a socket, the clock or global randomness: the clock and random source come in
with the listener's context, so a test can run any conversation again exactly. Every reply text comes from the
persona; hostile input becomes a reply and, where useful, an `smtp.violation` event, never an
exception.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace

from relaypot.events import Command, Helo, MailFrom, RcptTo, SessionClosed, SessionOpened, Tls
from relaypot.protocol import postfix_queue_file as queue_file
from relaypot.protocol import states
from relaypot.protocol.accounting import Shape, Slowdowns
from relaypot.protocol.auth import SERVER_FIRST, AuthExchange, AuthStep, capture_unsupported, opening, settle
from relaypot.protocol.client_names import FAIL
from relaypot.protocol.commands import C_SPACE_BYTES, bdat_argument, decode, xexch50_size
from relaypot.protocol.content import chunked_header_refused, judge
from relaypot.protocol.envelope import ReadPath, Where, qualify, read_path, read_vrfy
from relaypot.protocol.exim_envelope import bdat_argument as exim_bdat_argument
from relaypot.protocol.exim_envelope import restricted
from relaypot.protocol.framing import Framer
from relaypot.protocol.intake import Intake, Step, message_record
from relaypot.protocol.lines import read_line
from relaypot.protocol.listener import ListenerContext
from relaypot.protocol.message_id import internet_message_id
from relaypot.protocol.outputs import Deliver, GreetPause, Output, Reply, StartTls, StoredMessage, Wait
from relaypot.protocol.reads import BufferedReads
from relaypot.protocol.recipients import RELAY, unquoted
from relaypot.protocol.recipients import refusal as recipient_refusal
from relaypot.protocol.sendmail_envelope import (
    ENVELOPE_PARAMETERS,
    address_list,
    bare,
    canonical,
    canonical_sender,
    escaped_routing,
    local_mailer,
    look_up,
    refusal_values,
    sender_refusal,
    shorten,
    through_this_host,
)
from relaypot.protocol.sendmail_queue import SendQueue, expansion, recipient_key
from relaypot.protocol.states import AUTH, CHUNK, CLOSED, COMMAND, DATA, PAUSED, gate
from relaypot.protocol.voice import Voice
from relaypot.vocabulary import CONNECTED, GREETED, KNOWN_VERBS, MAIL, RCPT, VERBS, frame_text, wire

BURST_BYTES = 64 * 1024  # reply bytes one call may make before the rest of the input waits
AUTH_VERBS = frozenset(("AUTH", "X-EXPS"))  # the verbs that open a SASL exchange


# how the framer reads an AUTH response past [auth] response_max_length, by response_too_long
RESPONSE_FRAMING = {"refuse": "reject", "bad_base64": "split", "piece": "piece"}


class Session(Voice):
    """One SMTP conversation, driven by bytes from the client and answers from the transport.
    How it speaks (replies, violations, the close) is `Voice`'s."""

    __slots__ = (
        "_auth",
        "_backlog",
        "_bad_rcpts",
        "_batch_start",
        "_chunk_said",
        "_chunking",
        "_echo",
        "_framer",
        "_greeting_due",
        "_input_ended",
        "_kept_parameters",
        "_kernel_input",
        "_last_verb",
        "_line_at_bound",
        "_login",
        "_mail_commands",
        "_message_id",
        "_old_style",
        "_opened_said",
        "_pending",
        "_queue_file",
        "_rcpt_acl",
        "_rcpt_commands",
        "_rcpt_refused",
        "_rcpt_unkept",
        "_reads",
        "_rej_mail",
        "_send_queue",
        "_sender_written",
        "_shape",
        "_slow_owed",
        "_slowdowns",
        "_sync_pipelining",
        "_tls_offered",
        "_unread_at_close",
        "_verb_text",
        "_verbose",
        "_waiting",
        "advertised",
        "authenticated",
        "bytes_in",
        "client_port",
        "commands",
        "esmtp",
        "helo",
        "intake",
        "limits",
        "lines",
        "listener",
        "mail_from",
        "messages",
        "opened_at",
        "persona",
        "progress",
        "rcpt_to",
        "rejecting",
        "relay",
        "server_ip",
        "server_port",
        "service",
        "smtputf8",
        "started",
        "state",
        "tls_active",
        "transferred",
        "unknown",
    )

    def __init__(self, context: ListenerContext, client_ip: str, client_port: int = 0,
                 server_ip: str = "", server_port: int = 0, listener: str = "",
                 tls_active: bool = False, relay: str = "open", service: str = "") -> None:
        super().__init__(context, context.service_replies[service] if service else context.replies, client_ip,
                         COMMAND)
        self.persona = context.persona
        self.lines = context.persona.lines  # read on every command line
        self._message_id = ""  # the message's Internet message id, where its 250 names it (Exchange 2013+)
        # A submission listener (service "submission" or "submissions", persona [services]).
        self.service = context.persona.services[service] if service else None
        self._tls_offered = context.tls_available or (self.service is not None and self.service.tls == "required")
        self.limits = context.limits
        self.client_port = client_port
        self.server_ip = server_ip
        self.server_port = server_port
        self.listener = listener
        self.relay = relay  # the listener's relay policy (recipients.RELAY_POLICIES)
        self.authenticated = False  # a login [deception] accepted: relay policy "auth" then relays
        self._login: tuple[str, str] | None = None  # (mechanism, user name) of that login
        self._waiting: tuple[str, str, bytes] | None = None  # a command answered once a Wait has passed
        self._mail_commands = 0  # MAIL commands read, whatever their answers ([message] mail_limit)
        self._input_ended = False  # the client's end of input came behind the line being answered
        self._kernel_input = False  # the transport saw more input waiting behind what it gave
        # [message] counted_size = "postfix_queue_file": what the transaction puts in its queue file
        self._queue_file: queue_file.Envelope | None = None
        self.state = CONNECTED
        self.tls_active = tls_active
        self.helo: str | None = None
        self.esmtp = True  # the last greeting was EHLO (Exim reads MAIL and RCPT options only then)
        self.advertised: frozenset[str] = frozenset()  # the verbs the last EHLO offered ([sequence] when_advertised)
        self.transferred = False  # DATA or BDAT was sent in this session
        self._last_verb = ""
        # Exim's sync_cmd_limit: PIPELINING was advertised since the session or TLS began, so
        # MAIL, RCPT and RSET need not end a pipelined group
        self._sync_pipelining = False
        self._rej_mail = False  # the last command was a refused MAIL (or a RCPT refused after one)
        self._rcpt_commands = 0  # RCPT commands since MAIL (Exim's rcpt_count)
        self._chunking = ""  # [message] bdat_dialogue = "exim": "open" after a non-LAST chunk, then "rset"
        # The transaction's recipient refusals, where the server repeats them at DATA ([sequence]
        # rcpt_refusals_repeated): None before any, their one text, or "" once two differ.
        self._rcpt_refused: str | None = None
        self._rcpt_acl = False  # the RCPT being answered was refused by the ACL (kept without its code)
        self.mail_from: str | None = None
        self.smtputf8 = False  # the transaction's MAIL asked for SMTPUTF8
        self._kept_parameters: frozenset[str] = frozenset()  # Sendmail: MAIL parameters this envelope set
        self.opened_at: float | None = None  # when the transaction's first recipient was accepted
        self.rcpt_to: list[str] | tuple[()] = ()  # MAIL gives each transaction a list
        self._rcpt_unkept = 0  # recipients accepted past [limits] max_recipients: answered, not kept
        self._sender_written = ""  # the transaction's sender as its MAIL wrote it ({sender})
        self.commands = 0
        self.messages = 0
        self.unknown = 0
        self.bytes_in = 0
        self.started = context.clock()
        data_end = self.persona.message.data_end
        self._framer = Framer(context.max_line, self.lines.ending == "crlf", data_end != "crlf",
                              context.limits.max_fragment, data_end == "lf-one-cr", self.lines.too_long)
        self.intake = Intake(context, self._framer)  # the message in progress
        self._pending: tuple[str, str, bytes] | None = None  # a BDAT command awaiting its chunk
        self._chunk_said = False  # the BDAT being read was answered already (Exim's refusals)
        self._auth: AuthExchange | None = None
        # the real server's own input buffer, where a close shows it ([lines] read_block)
        self._reads = BufferedReads(self.lines.read_block, self.lines.drain_at_close) if self.lines.read_block else None
        self._unread_at_close = 0  # bytes the real server never reads, once it has decided to close
        self._shape = Shape()  # the session's verbs, for session.closed
        # Sendmail's send queue ([recipients] send_queue) and VERB's verbose mode
        self._send_queue = SendQueue() if self.persona.recipients.send_queue else None
        self._verbose = False
        self._line_at_bound = False  # the line being read is at [lines] max_length_ends' bound
        # Input completed so far: lines (commands, AUTH responses, message lines) and KiB of a
        # counted chunk. The transport's idle deadline runs from its last change, so a client
        # that drips a byte at a time cannot hold a connection (a deadline per line, not per byte).
        self.progress = 0
        # Input left unread after a burst of BURST_BYTES of replies: the transport calls resume()
        # once the client has taken them, so a client that pipelines without reading cannot make
        # the sensor hold its replies to thousands of commands.
        self._backlog = False
        # Sendmail's nullserver: after talk before the greeting or transaction stuffing, every
        # command but HELO, EHLO, NOOP, RSET and QUIT is refused (session.rejecting)
        self.rejecting = False
        self._greeting_due = False  # a greet pause or the server's set-up time runs ([server])
        self._opened_said = False  # session.opened is out (a client may leave before: a DNS lookup, a pause)
        self._verb_text = ""  # the command's first word as sent ({verb})
        self._old_style = True  # Sendmail reads VRFY/EXPN lists split at blanks until one has a comma
        errors = self.persona.errors
        self._slowdowns = Slowdowns(errors.slowdowns) if errors.slowdowns else None
        self._slow_owed = 0.0  # the rest of a VRFY's or EXPN's slowdown, owed once its lookup succeeds
        self._bad_rcpts = 0  # recipients refused in this transaction (Sendmail's BadRcptThrottle)
        self._batch_start = 0
        self._echo = b""  # replies a forked queue run writes again (Sendmail's ETRN: _etrn)

    # ------------------------------------------------------------------ transport entry points

    def start(self) -> list[Output]:
        """The greeting, and the `session.opened` event that carries it; where the persona's
        server pauses first (a greet pause, its set-up time), the pause (the transport calls
        `greet` once it passes)."""
        pause = self.persona.server.greet_pause or self.persona.server.setup_time
        if pause and not (self.service is not None and self.service.tls == "implicit"):
            # (with TLS from the first byte the banner waits for the handshake instead)
            self._greeting_due = True
            return [GreetPause(pause)]
        return self._greeting()

    def greet(self) -> list[Output]:
        """The greet pause passed without a word from the client: the greeting."""
        return self._greeting() if self._greeting_due and self.mode != CLOSED else []

    def _greeting(self, early: bool = False) -> list[Output]:
        self._greeting_due = False
        key = "greeting.early" if early else "greeting"
        if self._tarpit and self.context.discredited(self.client_ip):
            # Exchange: a client whose refusal another connection holds waits the tar pit for its banner
            self._slow = self._tarpit
        text, data = self.replies[key].render({**self._placeholders(),
                                               "date": self.context.date(self.started + self._slow)})
        out: list[Output] = [self._opened(text)]
        if early:
            self._violation(out, "early_talker", "input before the greeting")
            self.rejecting = True
        self._send(out, text, data, self.replies[key].code)
        return out

    def refuse(self) -> list[Output]:
        """Over a connection limit: the persona's 421 instead of a greeting, then close."""
        out: list[Output] = [self._opened("")]
        self._violation(out, "limit_connections", f"refused {self.client_ip}")
        self._send_key(out, "session.busy")
        self._close(out, "limit")
        return out

    def _opened(self, banner: str) -> SessionOpened:
        self._opened_said = True
        return SessionOpened(src_port=self.client_port, dst_ip=self.server_ip, dst_port=self.server_port,
                             listener=self.listener, persona=self.persona.name, hostname=self.context.hostname,
                             banner=banner)

    def receive_data(self, data: bytes, more_waiting: bool = False) -> list[Output]:
        """`more_waiting`: the transport saw more input (or its end) waiting behind `data` in the
        kernel, which a server that checks for input sent ahead sees too."""
        self.bytes_in += len(data)
        self._kernel_input = more_waiting
        if self.mode == CLOSED:
            # the real server reads no more once it has decided to close (a tar pit's sleep, a
            # delayed last reply): these wait in the kernel until the close, which they make a reset
            self._unread_at_close += len(data)
            return []
        if self._reads is not None and not self.tls_active:
            self._reads.fed(len(data), self._framer.unread())
        self._framer.feed(data)
        if self.mode == PAUSED:
            return []
        # talk before a greet pause ends is early talk; before the set-up time ends, the banner
        # simply goes out with its answers
        out: list[Output] = self._greeting(early=self.persona.server.greet_pause > 0) if self._greeting_due else []
        self._run_guarded(out)
        return out

    @property
    def backlog(self) -> bool:
        """Input is left that `resume` will read. Never while the session is closed or waits on
        the transport (a message being stored, a TLS handshake): a transport that resumes while
        this holds always gets an answer or sees it clear, and so never spins."""
        return self._backlog and self.mode != PAUSED and self.mode != CLOSED

    def resume(self) -> list[Output]:
        """Go on with the input left after a burst of replies (`backlog`)."""
        out: list[Output] = []
        if self.backlog:
            self._run_guarded(out)
        return out

    def _run_guarded(self, out: list[Output]) -> None:
        for attempt in (1, 2):
            try:
                self._run(out)
                return
            except Exception as exc:  # noqa: BLE001 (a bug must cost neither the records nor the session)
                self._recover(out, exc, final=attempt == 2)

    def _recover(self, out: list[Output], exc: Exception, final: bool) -> None:
        """A bug raised on some input: keep the records made so far and answer the line as a real
        server answers one it cannot make sense of (a reset would be a fingerprint); a second
        failure in one read ends the session with the persona's error-limit reply."""
        self._violation(out, "internal_error", type(exc).__name__, always=True)
        self._auth = None
        self.intake.chunk_kind = ""
        self._reset_transaction()
        self.mode = COMMAND
        self._framer.compact()
        if final:
            self._send_key(out, "session.too_many_errors")
            self._close(out, "internal_error")
        else:
            self._send_key(out, "command.unknown")

    def receive_eof(self, failed: bool = False) -> list[Output]:
        """The client half-closed: answer what is complete; an unterminated last line is dropped.
        A server that says so (Exim: session.lost_input, or data.lost_input in a message) does,
        and closes, once no command waits unread. `failed`: the end came as a read error (a FIN
        inside TLS, to a server whose OpenSSL counts it one): nothing more is answered."""
        # During a greet pause the end of input is no talk: the greeting goes out at once
        out: list[Output] = self._greeting() if self._greeting_due else []
        if self.mode == CLOSED or self._backlog or failed:
            return out
        if self.lines.eof_ends_line and self.mode == COMMAND and self._framer.unread():
            # Sendmail's sfgets() returns the last line unterminated at the end of input: a command,
            # behind which the end of input reads as input sent ahead (the stuffing check's select)
            self._framer.feed(b"\r\n")
            self._input_ended = True
            self._run_guarded(out)
            if self.mode == CLOSED or self._backlog:
                return out
        in_message = self.mode in (DATA, CHUNK) or self.intake.bdat or self._chunking
        key = "data.lost_input" if in_message else "session.lost_input"
        if key in self.replies and self.mode != PAUSED:
            self._send_key(out, key, sender=self._sender_written)
            self._close(out, "eof")
        return out

    def message_stored(self, stored: StoredMessage) -> list[Output]:
        out: list[Output] = []
        if stored.refused:
            self._violation(out, "limit_disk", stored.refused, always=True)
            self._finish_pending(out, self._send_key(out, "data.disk_full"))
        else:
            self.messages += 1
            self.account.message_accepted()
            if self._counters is not None:
                self._counters.new_message()
            self.context.message_queued()
            transfer = "BDAT" if self.intake.chunk_kind == "BDAT" else "DATA"
            key = "bdat.ok" if transfer == "BDAT" else "data.ok"
            if self._verbose and self._send_queue is not None:  # verbose mode: each local delivery said
                for shown in self._send_queue.deliveries():
                    self._send_key(out, "data.delivering", address=shown)
            template = self.replies[key]
            text, data = template.render({**self._placeholders(), "queue_id": self.context.queue_id(self.opened_at),
                                          "size": str(self.intake.chunk_size),  # BDAT's last chunk
                                          "total": str(self.intake.delivered_size or stored.size),
                                          "message_id": self._message_id})
            out.append(message_record(stored, transfer, self.mail_from or "", tuple(self.rcpt_to), template.code,
                                      text))
            code = self._send(out, text, data, template.code)
            self._finish_pending(out, code)
        self.intake.chunk_kind = ""
        self._reset_transaction()
        if self.mode == PAUSED:
            self.mode = COMMAND
            self._run_guarded(out)
        return out

    def waited(self, more_waiting: bool = False) -> list[Output]:
        """The Wait passed: the command behind it answered, as what came meanwhile shows it (and
        `more_waiting`, as receive_data's), and the input after it read."""
        self._kernel_input = more_waiting
        out: list[Output] = []
        if self._waiting is None or self.mode != PAUSED:
            return out
        verb, argument, line = self._waiting
        self._waiting = None
        self.mode = COMMAND
        self._finish_command(out, verb, argument, line, _HANDLERS[verb](self, argument, out))
        if self.mode == COMMAND:
            self._run_guarded(out)
        return out

    def tls_started(self, version: str | None, cipher: str | None, server_name: str | None,
                    ja3: str | None = None, ja4: str | None = None) -> list[Output]:
        """RFC 3207 §4.2: after the handshake the client starts over and must EHLO again."""
        out: list[Output] = [Tls(outcome="established", version=version, cipher=cipher, server_name=server_name,
                                 ja3=ja3, ja4=ja4)]
        self.tls_active = True
        self._sync_pipelining = False
        if self._slowdowns is not None:
            self._slowdowns.restart("HELO")  # Sendmail: n_helo = 0 once TLS is on
        if self._counters is not None:
            self._counters.tls_started()
        self.advertised = frozenset()
        self.state = CONNECTED
        self.helo = None
        self._reset_transaction()
        self.mode = COMMAND
        self._injected(out, self._framer.take_rest())
        self._backlog = False  # what was pipelined after STARTTLS is gone with the framer's bytes
        return out

    def tls_failed(self, error: str, ja3: str | None = None, ja4: str | None = None) -> list[Output]:
        out: list[Output] = [Tls(outcome="failed", error=error, ja3=ja3, ja4=ja4)]
        self._close(out, "tls_failed")
        return out

    def timed_out(self, reason: str = "timeout") -> list[Output]:
        """The transport's deadline passed: the persona's timeout reply and close, once."""
        out: list[Output] = []
        if self.mode == CLOSED:
            return out
        if reason == "session_time":
            self._violation(out, "limit_session_time", "", always=True)
        # Exim and Sendmail word a timeout inside a message apart from one between commands
        in_message = (self.mode == DATA or self.mode == CHUNK) and "session.timeout_data" in self.replies
        self._send_key(out, "session.timeout_data" if in_message else "session.timeout", sender=self._sender_written)
        self._close(out, reason)
        return out

    def shutdown(self) -> list[Output]:
        out: list[Output] = []
        self._send_key(out, "session.shutdown")
        self._close(out, "shutdown")
        return out

    def finish(self, reason: str) -> list[Output]:
        """The connection is gone: final events, then `session.closed`."""
        # gone before the greeting (a greet pause, the client's name asked of DNS): opened, unanswered
        out: list[Output] = [] if self._opened_said else [self._opened("")]
        self._greeting_due = False
        if self._auth is not None:
            out.append(replace(self._auth.abandon(), replies=tuple(self._auth.replies)))
            self._auth = None
        if self._pending is not None:  # a BDAT whose chunk never came: recorded, unanswered
            self._finish_pending(out, 0)
        reason = self._close_reason or reason
        self._keep_unfinished(out, reason)
        self.intake.let_go()
        out.append(SessionClosed(
            reason=reason, duration=round(max(self.context.clock() - self.started, 0.0), 6),
            bytes_in=self.bytes_in, bytes_out=self.bytes_out, commands=self.commands, messages=self.messages,
            shape=str(self._shape),
        ))
        self.mode = CLOSED
        return out

    def _keep_unfinished(self, out: list[Output], reason: str) -> None:
        """What the connection ended in the middle of: a message (DATA or BDAT) or an XEXCH50 blob,
        an over-long line, or commands left unread behind the close."""
        mode = self.mode if self.mode != CLOSED else self.closed_in
        if mode == DATA or mode == CHUNK:
            body, received, what = self.intake.unfinished(mode == DATA)
            if received:
                self._keep(out, body, what, reason, received, envelope=(self.mail_from, tuple(self.rcpt_to)))
            return
        mid_line = self._framer.mid_line()
        if mid_line is not None:
            self._violation(out, "line_too_long", f"{mid_line} bytes, connection closed mid-line")
            kept, digest = self._framer.overlong()
            self._keep(out, kept, "line", reason, mid_line, digest)
        elif self._framer.unread():
            rest = self._framer.take_rest()
            self._keep(out, rest[: self.limits.max_fragment], "unread", reason, len(rest))

    def _injected(self, out: list[Output], rest: bytes) -> None:
        """Bytes sent behind STARTTLS before the handshake (RFC 3207 §5, CVE-2011-0411): not acted
        on, but recorded and kept."""
        if rest:
            self._violation(out, "starttls_injection", f"{len(rest)} bytes after STARTTLS", always=True)
            self._keep(out, rest[: self.limits.max_fragment], "unread", "starttls", len(rest))

    # ------------------------------------------------------------------ the input loop

    def _run(self, out: list[Output]) -> None:
        self._backlog = False
        self._held_back = False
        self._batch_start = len(out)  # the replies made from here on wait, unflushed, behind more input
        burst_end = self.bytes_out + BURST_BYTES
        while True:
            mode = self.mode
            if mode == COMMAND or mode == AUTH:
                line = self._next_line(out)
                if line is None:
                    break
                self.progress += 1
                if mode == AUTH:
                    self._auth_line(line, out)
                else:
                    self._command(line, out)
                if (self.bytes_out >= burst_end or self._held_back) and self._framer.unread():
                    self._backlog = True
                    break
            elif mode == DATA:
                if not self._data(out):
                    break
            elif mode == CHUNK:
                if not self._chunk(out):
                    break
            else:  # PAUSED or CLOSED
                break
        if self._echo:
            # the ETRN's queue-run child flushes its copy of the replies as it exits, after ours
            out.append(Reply(self._echo, int(self._echo[:3])))
            self._echo = b""
        self._framer.compact()

    def _next_line(self, out: list[Output]) -> bytes | None:
        framer = self._framer
        response_bound = self.persona.auth.response_max_length
        if self.mode == AUTH and response_bound:
            how = self.persona.auth.response_too_long
            # Postfix's smtp_get() counts a CR LF as one byte: one more, and the line is looked at (_auth_line)
            bound = min(response_bound + (how == "refuse"), self.limits.max_line_length)
            framer.bound(bound, RESPONSE_FRAMING[how])
        else:
            framer.bound(self.context.max_line, self.lines.too_long)
        line, too_long = framer.next_line()
        if self.lines.max_length_ends and self.mode != AUTH:
            self._line_at_bound = self._at_line_bound(line, too_long)
            if self._line_at_bound and line is None:
                return b""  # not yet ended: answered now, as its head (session.closed keeps it)
        most = self.lines.max_command
        if most and line and len(line) > most and self.mode != AUTH and line[:5].upper() != b"AUTH ":
            # Sendmail: MAXLINE checked on what sfgets() read, an AUTH command spared
            framer.overlong_head = line[:most]
            self._violation(out, "line_too_long", f"{len(line)} bytes")
            self._keep(out, line[: self.limits.max_fragment], "line", "too_long", len(line),
                       hashlib.sha256(line).hexdigest())
            return b""
        if too_long:
            self._violation(out, "line_too_long", f"{too_long} bytes")
            kept, digest = self._framer.overlong()
            self._keep(out, kept, "line", "too_long", too_long, digest)
            if self.lines.too_long == "truncate":
                return self._framer.overlong_head
        return line

    def _at_line_bound(self, line: bytes | None, too_long: int) -> bool:
        """[lines] max_length_ends: the line just read, or the one not yet ended, has max_length
        bytes or more before its LF (OpenSMTPD's smtp_io(): SMTP_LINE_MAX, checked on each read)."""
        bound, framer = self.lines.max_length, self._framer
        if line is not None:
            return too_long > bound  # its LF counted
        seen = framer.mid_line()
        if seen is None:
            seen = framer.unread()
            if seen >= bound:
                framer.overlong_head = bytes(framer.peek(self.context.max_line))
        return seen >= bound

    def _command(self, line: bytes, out: list[Output]) -> None:
        self.commands += 1
        if self._closing_down:
            self._closedown_command(line, out)
            return
        if self._line_at_bound:  # before anything is made of it, pipelining too
            self._finish_command(out, "", "", self._framer.overlong_head, self._send_key(out, "line.too_long"),
                                 unknown=True)
            self._close(out, "protocol")
            return
        if self.lines.refuse_pipelining and self._framer.unread():
            self._pipelined(out, line)
            return
        if line == b"":  # over the length bound: recorded by its head, as docs/events.md says
            counters = self._counters
            if self.lines.too_long == "split" and counters is not None and counters.unknown_command():
                # Exim: the cut-off command is an unrecognised one, counted as any
                self._violation(out, "limit_errors", f"{counters.unknown} unrecognized commands", always=True)
                self._finish_command(out, "", "", self._framer.overlong_head,
                                     self._send_key(out, "session.too_many_unknown"))
                self._close(out, "limit")
                return
            self._finish_command(out, "", "", self._framer.overlong_head, self._send_key(out, "command.too_long"),
                                 unknown=True)
            if "command.too_long" in self.lines.closing_refusals:
                # Sendmail hangs up (a reset where the rest of the line is past what it read:
                # measured, a line of 12288 bytes ends in a FIN, 12289 in a reset; [lines] read_block)
                self._close(out, "protocol")
            return
        if self.commands == 1 and self.lines.open_proxy_verbs and states.open_proxy(line, self.lines):
            self._violation(out, "http", "an HTTP proxy request", always=True)
            self._finish_command(out, "", "", line, self._send_key(out, "command.open_proxy"), unknown=True)
            self._close(out, "forbidden")
            return
        if line[-2:] == b"\r\n":
            stripped = line[:-2]
            if b"\n" in stripped:  # a CRLF-only persona took LFs as part of the line
                self._violation(out, "bare_lf", "bare LF inside a command line")
        else:
            stripped = line.rstrip(b"\n")
            if line[-1:] == b"\n":
                self._violation(out, "bare_lf", "command line ended by a bare LF")
        if self.commands > self.limits.max_commands:
            self._violation(out, "limit_commands", f"{self.commands} commands", always=True)
            self._send_key(out, "session.too_many_commands")
            self._close(out, "limit")
            return
        binary, refusal, verb, sent, argument, forbidden = read_line(stripped, self.lines)
        if binary:
            self._violation(out, "binary", binary)
        self._verb_text = sent
        self._line_text = stripped
        if self.rejecting and verb in self.persona.verbs and verb not in states.REJECTING_TAKES:
            self._reject(verb, argument, line, out)
            return
        if self._chunking and self._between_chunks(verb, refusal, argument, line, out):
            return
        sequence = self.persona.sequence
        if sequence.synchronization == "exim" and self._must_have_waited(verb, refusal):
            self._violation(out, "pipelining", "a command that must wait for its reply came with more input",
                            always=True)
            self._finish_command(out, verb, argument, line, self._send_key(out, "session.sync_error"),
                                 unknown=not verb)
            self._close(out, "protocol")
            return
        if (verb == "DATA" and not refusal) or (verb == "BDAT" and self._bdat_argument(argument)[0] is not None and (
                "BDAT" not in sequence.when_advertised or "BDAT" in self.advertised)):
            # Exim's pipe_connect_acceptable is off from here on (a BDAT without its size is
            # refused before: captured, tests/protocol/test_exim.py)
            self.transferred = True
        counters = self._counters
        if counters is not None and verb and counters.nonmail_command(verb):
            self._violation(out, "limit_errors", "too many commands that send no mail", always=True)
            self._finish_command(out, verb, argument, line, self._send_key(out, "session.too_many_nonmail"))
            self._close(out, "limit")
            return
        if refusal:
            unknown = not verb
            self._finish_command(out, verb, argument, line, self._send_key(out, refusal), unknown=unknown)
            if refusal in self.lines.closing_refusals:
                self._close(out, "protocol")
            return
        # A word that is no SMTP verb is recorded as sent: upper-casing an NTLM blob or
        # "\x1b[31mRED" would corrupt what the attacker wrote.
        recorded = verb if verb in KNOWN_VERBS else sent
        if forbidden:
            code = self._send_key(out, "command.forbidden")
            self._finish_command(out, recorded, argument, line, code)
            self._close(out, "forbidden")
            return
        handler = _HANDLERS.get(verb) if verb in self.persona.verbs else None
        if verb == "MAIL":
            self._mail_commands += 1  # Exim's smtp_mailcmd_count, before any check
        if handler is None:
            if counters is not None and counters.unknown_command():
                self._violation(out, "limit_errors", f"{counters.unknown} unrecognized commands", always=True)
                self._finish_command(out, recorded, argument, line, self._send_key(out, "session.too_many_unknown"))
                self._close(out, "limit")
                return
            self._finish_command(out, recorded, argument, line, self._send_key(out, "command.unknown"), unknown=True)
            return
        deferred = verb in self.persona.errors.slowdowns_deferred
        if deferred and self._slowdowns is not None:  # Sendmail's VRFY and EXPN: counted and slowed before any refusal
            self._slow, self._slow_owed = self._slowdowns.parts(verb)
        # Most commands pass: the gate is asked only where it could refuse.
        if verb == "DATA" and self.intake.bdat:  # Postfix's first check of DATA ([message] bdat_error_state)
            refusal, out_of_sequence = "data.after_bdat", False
        elif verb in AUTH_VERBS and self.persona.auth.mechanism_first and not argument.split():
            refusal, out_of_sequence = "auth.missing_mechanism", False  # Exchange: before HELO is looked at
        elif self.service is not None or (verb, self.state) in self.context.refusals:
            refusal, out_of_sequence = gate(verb, self.state, self.context.refusals, self.service, self.tls_active)
        else:
            refusal, out_of_sequence = "", False
        if refusal:
            if out_of_sequence:
                self._violation(out, "bad_sequence", f"{verb} in state {self.state}")
            if refusal in ("data.need_rcpt", "data.need_mail") and self.persona.sequence.rcpt_refusals_repeated:
                code = self._data_without_recipients(out, "data")
            elif refusal == "rcpt.need_mail" and self._rej_mail and "PIPELINING" in self.advertised:
                # Exim: RCPTs pipelined behind a refused MAIL are no protocol errors
                text, data = self.replies[refusal].render(self._placeholders())
                code = self._send(out, text, data, self.replies[refusal].code)
            else:
                code = self._send_key(out, refusal)
            self._finish_command(out, verb, argument, line, code)
            return
        if self._slowdowns is not None and not deferred and (argument or verb != "ETRN") and not (
                verb == "AUTH" and (self.authenticated or self.state in (MAIL, RCPT))):
            # Sendmail's checksmtpattack(), before the reply (AUTH's after its refusals of a
            # second login and of a transaction)
            self._slow = self._slowdowns.delay(verb)
            if self._slow and verb in ("HELO", "EHLO") and self.persona.sequence.stuffing_checked \
                    and not self.tls_active:
                # the sleep comes before the check for input sent ahead, which sees what came
                # during it: the transport waits, and `waited` answers. (Inside TLS the check sees
                # only what the last read decrypted, not records that came during the sleep.)
                out.append(Wait(self._slow))
                self._slow = 0.0
                self._waiting = (verb, argument, line)
                self.mode = PAUSED
                return
        elif self._tarpit and verb in self.persona.errors.tarpit_verbs:
            self._slow = self._tarpit  # Exchange's VRFY and EXPN: tarpitted, as unknown
        code = handler(self, argument, out)
        if self.mode == CHUNK and verb == "BDAT" and not code:
            self._pending = (verb, argument, line)  # answered once its chunk is read
            return
        self._finish_command(out, verb, argument, line, code)

    def _reject(self, verb: str, argument: str, line: bytes, out: list[Output]) -> None:
        """Sendmail's nullserver: the command refused unread; each counts as a bad command."""
        counters = self._counters
        if counters is not None and counters.unknown_command():
            self._violation(out, "limit_errors", f"{counters.unknown} bad commands", always=True)
            self._finish_command(out, verb, argument, line, self._send_key(out, "session.too_many_unknown"))
            self._close(out, "limit")
            return
        self._finish_command(out, verb, argument, line, self._send_key(out, "session.rejecting"))

    def _finish_command(self, out: list[Output], verb: str, argument: str, raw: bytes, code: int,
                        unknown: bool = False) -> None:
        self._shape.add(verb)
        self._last_verb = "" if unknown else verb  # "RCPT TO :<a@b>" is no RCPT (Exim's last_was_rcpt)
        self._rej_mail = not unknown and ((verb == "MAIL" and code >= 400) or (
            verb == "RCPT" and self._rej_mail and code == 503 and self.state not in (MAIL, RCPT)))
        if verb == "RCPT" and not unknown and self.persona.sequence.rcpt_refusals_repeated:
            if not self._rcpt_acl:  # any other reply is kept whole, its code too (smtp_printf's)
                self._remember_rcpt_reply(self._last_reply)
            self._rcpt_acl = False
        out.append(Command(verb=verb, argument=argument, raw_line=raw, reply_code=code, reply=self._last_reply))
        if self.account.answered(verb, code) and self.mode != CLOSED:
            self._too_many_errors(out)
        if unknown and self.mode != CLOSED:
            self.unknown += 1
            if self.unknown > self.limits.max_unknown_commands and self.mode != CLOSED:
                self._violation(out, "limit_errors", f"{self.unknown} unknown or malformed commands", always=True)
                self._send_key(out, "session.too_many_errors")
                self._close(out, "limit")

    def _too_many_errors(self, out: list[Output]) -> None:
        """The persona's error limit ([errors] limit, counted by `self.account`) is reached: its
        too-many-errors reply, and the connection closes. (The tar pit's delay: `_send`.)"""
        self._violation(out, "limit_errors", f"{self.account.errors} errors, the persona's limit", always=True)
        self._send_key(out, "session.too_many_errors")
        self._close(out, "limit")

    def _stuffed(self) -> bool:
        """Sendmail's check against transaction stuffing: input behind HELO, EHLO or DATA (or the
        end of input, which reads as input)."""
        return self.persona.sequence.stuffing_checked and (
            bool(self._framer.unread()) or self._input_ended or self._kernel_input)

    def _helo(self, argument: str, out: list[Output]) -> int:
        if self._stuffed():
            self._violation(out, "pipelining", "input sent ahead of the HELO reply")
            self.rejecting = True
            return self._send_key(out, "helo.stuffing")
        refusal = self._greet("HELO", argument, self.persona.sequence.helo_requires_argument, out)
        if refusal:
            return self._send_key(out, refusal, verb=self._verb_text)
        return self._send_key(out, "helo.ok", helo=argument, host_name=self._host_name or argument)

    def _ehlo(self, argument: str, out: list[Output]) -> int:
        if self._stuffed():
            self._violation(out, "pipelining", "input sent ahead of the EHLO reply")
            self.rejecting = True
            return self._send_key(out, "helo.stuffing")
        refusal = self._greet("EHLO", argument, self.persona.sequence.ehlo_requires_argument, out)
        if refusal:
            return self._send_key(out, refusal, verb=self._verb_text)
        hide_auth = self.service is not None and self.service.auth_requires_tls and not self.tls_active
        text, data = self.context.ehlo_reply({**self._placeholders(), "helo": argument,
                                              "host_name": self._host_name or argument}, self._tls_offered,
                                             self.tls_active, hide_auth, self.transferred, self.rejecting)
        if self.persona.sequence.when_advertised:  # each keyword line's first word; CHUNKING offers BDAT
            keywords = {line[4:].split(" ", 1)[0].upper() for line in text.split("\r\n")[1:]}
            self.advertised = frozenset(keywords | ({"BDAT"} if "CHUNKING" in keywords else set()))
            self._sync_pipelining = self._sync_pipelining or "PIPELINING" in keywords
        return self._send(out, text, data, 250)

    def _greet(self, verb: str, argument: str, argument_required: bool, out: list[Output]) -> str:
        """RFC 5321 §4.1.4: HELO/EHLO resets any transaction in progress. The reply key refusing
        the greeting ("" when taken): a server that takes one greeting only, a missing argument,
        a name the server's own check refuses."""
        rules = self.persona.sequence
        if rules.helo_once and self.helo is not None:
            return "helo.again"
        self.esmtp = verb == "EHLO"
        if not argument and argument_required:
            return f"{verb.lower()}.missing_argument"
        if rules.helo_syntax == "exchange" and argument:
            # HeloSmtpCommandParser checks the argument as sent: trailing blanks are part of it
            sent = decode(self._line_text)[len(self._verb_text) + 1:].lstrip(" \t")
            refusal = states.helo_refusal(verb, sent, rules, self.context.smtputf8_offered)
        else:
            refusal = states.helo_refusal(verb, argument, rules) if rules.helo_syntax != "any" and argument else ""
        if refusal:
            return refusal
        self.advertised = self.advertised & {"BDAT"}  # Exim's chunking_state outlives a HELO
        self.helo = argument
        self.state = GREETED
        self._reset_transaction()
        out.append(Helo(verb=verb, hostname=argument))
        return ""

    def _where(self) -> Where:
        """What Postfix's reading of an address asks of this listener and transaction."""
        table, server_ip = self.context.recipients, self.server_ip
        return Where(lambda domain: table.local_domain(domain, server_ip), self.context.hostname, self.smtputf8,
                     self.esmtp, self._kept_parameters)

    def _mail(self, argument: str, out: list[Output]) -> int:
        if self.intake.bdat:  # chunks of a message are in progress, or being skipped
            return self._send_key(out, "mail.after_bdat")
        rules = self.persona.message
        if (rules.mail_limit and self._mail_commands > rules.mail_limit and argument.strip()) or (
                rules.messages_limit and self.messages >= rules.messages_limit):
            return self._send_key(out, "mail.too_many_messages")  # the session goes on
        if argument:
            self._rcpt_refused = None  # Exim's smtp_reset() at MAIL, even one that fails
            self._rcpt_commands = 0
        read = read_path(argument, "mail", self.persona, self.context.default_domain, self._where())
        if read.path is not None and self.persona.addresses.grammar == "sendmail":
            self._kept_parameters |= ENVELOPE_PARAMETERS.intersection(read.path.parameters)
        if read.path is None or read.refusal:
            return self._path_refused(out, MailFrom, read)
        if self.persona.addresses.grammar == "sendmail" and self._local_mailer(read.address):
            # a sender only the local mailer could take: a program, a file, an :include:
            code = self._send_key(out, "mail.invalid_sender", argument=read.token)
            out.append(MailFrom(address=read.address, parameters=read.path.parameters, reply_code=code))
            return code
        if code := self._out_of_sync(out):
            return code
        self.state = MAIL
        self._bad_rcpts = 0
        self.mail_from = read.address
        self.smtputf8 = "SMTPUTF8" in read.path.parameters
        self.rcpt_to = []
        self._rcpt_unkept = 0
        self._sender_written = read.token
        if self.persona.message.counted_size == "postfix_queue_file":
            self._queue_file = self._queue_file_envelope(read.address or "", read.path.parameters)
        code = self._send_key(out, "mail.ok", address=read.address or "<>", argument=read.token)
        out.append(MailFrom(address=read.address, parameters=read.path.parameters, reply_code=code))
        return code

    def _rcpt(self, argument: str, out: list[Output]) -> int:
        if self.intake.bdat:
            return self._send_key(out, "rcpt.after_bdat")
        errors = self.persona.errors
        if errors.bad_rcpt_throttle and self._bad_rcpts >= errors.bad_rcpt_throttle:
            self._slow += errors.bad_rcpt_delay  # Sendmail's BadRcptThrottle: a flood slowed down
        code = self._recipient(argument, out)
        if code >= 400:
            self._bad_rcpts += 1
        return code

    def _recipient(self, argument: str, out: list[Output]) -> int:
        self._rcpt_commands += 1
        read = read_path(argument, "rcpt", self.persona, self.context.default_domain, self._where())
        if read.path is None or read.refusal:
            return self._path_refused(out, RcptTo, read)
        address = read.address
        limit = self.persona.recipients.per_message  # the server's own; relaypot's bound is on what is kept
        if limit and len(self.rcpt_to) + self._rcpt_unkept >= limit:
            self._violation(out, "limit_recipients", f"over {limit}")
            self.account.recipient_overshoot()
            code = self._send_key(out, "rcpt.too_many")
        elif self.persona.recipients.restricted_characters and self._restricted(address):
            code = self._send_key(out, "rcpt.restricted", address=address, unquoted=self._internal(address))
            self._remember_refusal()
        elif self._too_many_bad(address):
            code = self._send_key(out, "rcpt.too_many_bad")
            self._remember_refusal()
        elif refusal := self._recipient_refusal("rcpt", address):
            code = self._send_key(out, refusal, address=address, unquoted=self._internal(address), argument=read.token,
                                  reason=self._sender_shown())
            self._remember_refusal()
        else:
            # Accepted as deliverable (a relay too, where the listener is open); nothing is sent.
            assert isinstance(self.rcpt_to, list)  # RCPT is refused before MAIL gives the list
            delay = 0.0
            if not self.rcpt_to:
                # Postfix opens the queue file at the first recipient it accepts: its queue id
                # carries that moment's microseconds, not the end of the message's.
                self.opened_at = self.context.clock()
                delay = self.context.open_queue_file()
            if code := self._out_of_sync(out):
                return code
            # Past relaypot's bound the recipient is answered as the server would, and recorded
            # with its command, but the transaction keeps no more of them (memory, not protocol)
            keep = len(self.rcpt_to) < self.limits.max_recipients
            if self._queue_file is not None:
                parameters = read.path.parameters
                self._queue_file.recipients.append(
                    queue_file.Recipient(address, parameters.get("ORCPT", ""), parameters.get("NOTIFY", "")))
            if keep:
                self.rcpt_to.append(address)
            else:
                self._violation(out, "limit_recipients_kept", f"past {self.limits.max_recipients}")
                self._rcpt_unkept += 1
            self.state = RCPT
            shown = read.token
            if self._send_queue is not None:  # Sendmail: a duplicate named as first written; verbose mode's aliases
                shown, steps = self._send_queue.add(shown, address, self._is_local, self.persona.recipients.aliases,
                                                    self._verbose, keep)
                for step in steps:
                    address_shown, _, target = step.partition("... aliased to ")
                    self._send_key(out, "rcpt.aliased", address=address_shown, target=target)
            # IIS ends its reply to a quoted local part with a space (KB Q304897, test 7)
            quoted = address.startswith('"') and "rcpt.ok_quoted" in self.replies
            code = self._send_key(out, "rcpt.ok_quoted" if quoted else "rcpt.ok", delay, address=address,
                                  argument=shown)
        out.append(RcptTo(address=address, parameters=read.path.parameters, reply_code=code))
        return code

    def _path_refused(self, out: list[Output], record: type[MailFrom] | type[RcptTo], read: ReadPath) -> int:
        """MAIL or RCPT refused as the server reads its path; recorded once a path was read."""
        if read.path is None:
            return self._send_key(out, read.refusal, argument=read.token, reason=read.reason)
        code = self._send_key(out, read.refusal, argument=read.token, reason=read.reason)
        out.append(record(address=read.address, parameters=read.path.parameters, reply_code=code))
        return code

    def _data(self, out: list[Output]) -> bool:
        """Consume DATA body bytes; True when the body ended and input processing may go on."""
        if self.persona.message.strict_line_ends and (bare := self.intake.bare_line_end()):
            self._violation(out, "smuggling", f"a bare {bare.upper()} in a message", always=True)
            self._send_key(out, f"data.bare_{bare}")
            self._close(out, "protocol")  # the message so far is kept as unfinished
            return False
        step = self.intake.body()
        if step[0] == Step.LINE_TOO_LONG:  # OpenSMTPD: a body line at SMTP_LINE_MAX ends the session
            self._violation(out, "line_too_long", f"a message line of {step[1]} bytes")
            if step[2] is not None:  # the whole body came: kept here, not as what the close left unfinished
                self._keep(out, step[2], "message", "line_too_long", len(step[2]),
                           envelope=(self.mail_from, tuple(self.rcpt_to)))
                self.mode = COMMAND
            self._send_key(out, "line.too_long")
            self._close(out, "protocol")
            return False
        if step[0] == Step.WAITING:
            if step[1]:
                self.progress += 1  # a line of the message is complete
            return False
        self.progress += 1
        for violation, detail in step[-1]:
            self._violation(out, violation, detail)
        if self._framer.next_starts(b"MAIL"):  # the next transaction sent before this one's reply
            self._violation(out, "pipelined_transaction", f"{self._framer.unread()} bytes after the end of data")
        if step[0] == Step.DELIVER and self.lines.refuse_pipelining and self._framer.unread():
            # OpenSMTPD: input behind the end of data is pipelining; the message is not committed
            self._keep(out, step[1], "message", "pipelining", step[2], envelope=(self.mail_from, tuple(self.rcpt_to)))
            self.mode = COMMAND  # kept here, not again as an unfinished message at the close
            self._reset_transaction()
            self.intake.let_go()
            self._pipelined(out, b"")
            return False
        if step[0] == Step.DELIVER and self.persona.message.refuse_nul and b"\0" in step[1]:
            self._keep(out, step[1], "message", "nul", step[2], envelope=(self.mail_from, tuple(self.rcpt_to)))
            self._send_key(out, "data.nul")
            self._reset_transaction()
            self.intake.let_go()
            self.mode = COMMAND
            return True
        if step[0] == Step.DELIVER and self._judged(out, step[1], step[2]):
            self.mode = COMMAND
            return True
        if step[0] == Step.DELIVER:
            self._deliver(out, step[1], step[2], step[3], "DATA")
            return False
        self._refuse_message(out, step[1])
        self.mode = COMMAND
        return True

    def _data_command(self, argument: str, out: list[Output]) -> int:
        refusal = self.intake.data_refusal(argument)
        if refusal:
            return self._send_key(out, refusal)
        if self._stuffed():  # smtp_data() returns false: the server hangs up
            self._violation(out, "pipelining", "input sent ahead of the DATA reply", always=True)
            code = self._send_key(out, "data.stuffing")
            self._close(out, "protocol")
            return code
        code = self._send_key(out, "data.start")
        self.mode = DATA
        self.intake.start_body()
        self.intake.queue_envelope = self._queue_file_ready()
        return code

    def _bdat_argument(self, argument: str) -> tuple[int | None, bool]:
        """BDAT's size (None where there is none to read) and whether it is the LAST chunk, as
        the persona's server reads them."""
        read = exim_bdat_argument if self.persona.message.bdat_dialogue == "exim" else bdat_argument
        return read(argument)

    def _bdat(self, argument: str, out: list[Output]) -> int:
        if "BDAT" in self.persona.sequence.when_advertised and "BDAT" not in self.advertised:
            return self._send_key(out, "bdat.not_advertised")  # its chunk is then read as commands (Exim)
        size, last = self._bdat_argument(argument)
        if size is None:
            # Without a size we cannot know where the chunk ends: treat it as a bad command; a
            # server that says so with 521 (Postfix) hangs up, the stream being lost.
            code = self._send_key(out, "bdat.syntax")
            if code == 521:
                self._close(out, "protocol")
            return code
        refusal = (self.intake.bdat_refusal(size, last, self.state) if self.persona.message.bdat_error_state
                   else self.context.refusals.get(("BDAT", self.state)))
        self.intake.start_chunk("BDAT", size, last, refusal)
        if self.intake.queue_envelope is None:
            self.intake.queue_envelope = self._queue_file_ready()
        if refusal == "bdat.too_big":
            self._violation(out, "limit_message_size", f"a chunk of {size} bytes past the size limit", always=True)
        elif refusal:
            self._violation(out, "bad_sequence", f"BDAT in state {self.state}")
        self.mode = CHUNK
        if refusal and self.persona.message.bdat_dialogue == "exim":
            # smtp_in.c refuses the BDAT before it reads the chunk, then bdat_flush_data() drops it
            self._chunk_said = True
            return self._bdat_refused(out, refusal)
        # RFC 3030 §2: the reply comes after the chunk has been read (see _chunk_done).
        return 0

    def _chunk(self, out: list[Output]) -> bool:
        """Consume a counted chunk (BDAT or XEXCH50); True when it is complete."""
        complete, progressed = self.intake.chunk()
        if progressed:
            self.progress += 1
        if not complete:
            return False
        self._chunk_done(out)
        return self.mode != PAUSED

    def _chunk_done(self, out: list[Output]) -> None:
        self.mode = COMMAND
        step = self.intake.chunk_done()
        kind = step[0]
        if kind == Step.BLOB_DONE:
            self._keep(out, step[1], "xexch50", "complete", step[2])
            self._send_key(out, "xexch50.ok")
            return
        if kind == Step.SEQUENCE:
            if self._chunk_said:  # refused before its chunk was read: nothing more to say
                self._chunk_said = False
                return
            code = self._bdat_refused(out, step[1])
            if self.persona.message.bdat_error_state:
                if self.intake.chunk_last:  # skip_bdat(): the last chunk ends the transaction
                    self._reset_transaction()
                else:
                    self.intake.bdat = "error"
        elif kind == Step.CHUNK_OK:
            code = self._chunked_header_refusal(out, False)
            if not code:
                code = self._send_key(out, "bdat.chunk", size=str(step[1]))
                if self.persona.message.bdat_dialogue == "exim":
                    self._chunking = "open"
        elif kind == Step.REFUSED:
            code = self._refuse_message(out, step[1])
        else:
            code = self._chunked_header_refusal(out, True, step[1]) or self._judged(out, step[1], step[2])
            if not code:
                self._deliver(out, step[1], step[2], step[3], "BDAT")  # its command's event goes out with the reply
                return
        self._finish_pending(out, code)

    def _bdat_refused(self, out: list[Output], key: str) -> int:
        """A BDAT refused for the transaction's state or its size."""
        if key in ("bdat.need_rcpt", "bdat.need_mail") and self.persona.sequence.rcpt_refusals_repeated:
            return self._data_without_recipients(out, "bdat")
        if key == "bdat.too_big":  # the exploit is in the headers: kept as a refused DATA's
            self._keep(out, self.intake.head or b"", "oversize", "limit_message_size", self.intake.chunk_size,
                       envelope=(self.mail_from, tuple(self.rcpt_to)))
        return self._send_key(out, key, size=str(self.intake.chunk_size))

    def _finish_pending(self, out: list[Output], code: int) -> None:
        """Emit the command event of a BDAT, whose reply follows its chunk (RFC 3030 §2)."""
        if self._pending is not None:
            verb, argument, raw = self._pending
            self._pending = None
            self._finish_command(out, verb, argument, raw, code)

    def _rset(self, argument: str, out: list[Output]) -> int:
        refusal = states.rset_refusal(argument, self.persona.sequence)
        if refusal:
            return self._send_key(out, refusal)
        self._reset_transaction()
        return self._send_key(out, "rset.ok")

    def _quit(self, argument: str, out: list[Output]) -> int:
        return self._goodbye(out)

    def _goodbye(self, out: list[Output], then: str = "") -> int:
        """quit.ok (and the reply `then`, where given), then the close. Where the server corks it
        while it waits for the client's FIN ([server] quit_delay: Exim's smtp_quit_handler() polls
        200 ms), input still unread in the kernel ends the wait at once, and where more is unread
        than the drain before the close takes, the close is a reset that takes the corked replies
        of this read with it (measured: nothing arrives; tests/protocol/test_reads.py); corked, the
        221 leaves with the close (no close_lag after it)."""
        delay = 0.0 if self.tls_active else self.persona.server.quit_delay
        reads = self._reads
        waiting = reads is not None and bool(delay) and reads.in_kernel(self._framer.unread()) > 0
        corked_from = len(out)
        code = self._send_key(out, "quit.ok", 0.0 if waiting else delay)
        if then:
            self._send_key(out, then)
        if delay:  # bytes or a FIN that come later end the wait (the transport's part)
            out[corked_from:] = [replace(item, corked=True) if type(item) is Reply else item
                                 for item in out[corked_from:]]
        if waiting and reads is not None and reads.reset_at_close(self._framer.unread()):
            out[self._batch_start:] = [item for item in out[self._batch_start:] if type(item) is not Reply]
        self._close(out, "quit", lag=0.0 if delay else None)
        return code

    def _vrfy(self, argument: str, out: list[Output]) -> int:
        if self.persona.addresses.grammar == "sendmail":
            return self._look_up("vrfy", argument, out)
        refused, address, shown = read_vrfy(argument, self.persona, self.context.default_domain, self._where())
        if refused:  # Exim's refusals repeat the argument or the parser's reason: `shown`
            return self._send_key(out, refused, argument=shown, reason=shown)
        if self.persona.recipients.vrfy_judged:
            refusal = self._recipient_refusal("vrfy", address)
            if refusal:
                return self._send_key(out, refusal, address=address, unquoted=self._internal(address))
        return self._send_key(out, "vrfy.ok", argument=shown, address=address)

    def _pipelined(self, out: list[Output], line: bytes) -> None:
        """A server without PIPELINING that refuses a client sending ahead (OpenSMTPD: the line
        is not acted on, and the session ends)."""
        self._violation(out, "pipelining", f"{self._framer.unread()} bytes sent ahead of the reply", always=True)
        code = self._send_key(out, "command.pipelining")
        if line:
            self._finish_command(out, "", "", line, code, unknown=True)
        self._close(out, "protocol")

    def _must_have_waited(self, verb: str, refusal: str) -> bool:
        """Exim's smtp_read_command() once the session sent DATA or BDAT: a command that must end
        a pipelined group came with more input behind it, on a plain connection (inside TLS the
        input waits in the TLS library, where this check does not look)."""
        return (self.transferred and refusal != "command.nul" and not self.tls_active
                and bool(self._framer.unread()) and states.must_sync(verb, self._sync_pipelining))

    def _out_of_sync(self, out: list[Output]) -> int:
        """Exim's check after the MAIL and RCPT ACLs accept: without PIPELINING advertised, input
        waiting behind the command is a synchronization error, and the session ends (its code;
        0 when in step)."""
        if (self.persona.sequence.synchronization == "exim" and "PIPELINING" not in self.advertised
                and self._framer.unread()):
            self._violation(out, "pipelining", "pipelined without PIPELINING advertised", always=True)
            code = self._send_key(out, "session.sync_error")
            self._close(out, "protocol")
            return code
        return 0

    def _between_chunks(self, verb: str, refusal: str, argument: str, line: bytes, out: list[Output]) -> bool:
        """Exim's bdat_getc() between chunks of a message: True when it answered the line (False:
        a BDAT with a size, read as any BDAT)."""
        key = states.between_chunks(self._chunking, verb, refusal, argument)
        if key is None:
            return False
        code = 0
        if key == "quit.ok":
            # receive.c's reply, as the message is left unfinished (in TLS it follows the
            # close_notify in clear: no reply to a client)
            code = self._goodbye(out, then="" if self.tls_active else "data.lost_input")
        elif not key:
            self._violation(out, "crash", "the real server crashes here (SIGSEGV)", always=True)
            self._close(out, "protocol")
        else:
            code = self._send_key(out, key)
            if key != "noop.ok":
                self._chunking = "rset"
                if self._counters is not None and self._counters.protocol_error():
                    self._join_too_many(out, code)
                    if key == "bdat.only_rset":  # bdat_getc() gives up: the message is lost
                        self._send_key(out, "data.lost_input")
                        # it reads a byte at a time there: what the client sent after is unread
                        self._close(out, "limit", reset=bool(self._framer.unread()))
        self._finish_command(out, verb, argument, line, code, unknown=not verb)
        return True

    def _remember_refusal(self) -> None:
        """An ACL refused the recipient: Exim keeps its message, without the code."""
        if self.persona.sequence.rcpt_refusals_repeated:
            self._remember_rcpt_reply(self._last_reply[4:])
            self._rcpt_acl = True

    def _remember_rcpt_reply(self, text: str) -> None:
        """Exim's rcpt_smtp_response: the first RCPT reply's text, and whether all were the same."""
        self._rcpt_refused = text if self._rcpt_refused in (None, text) else ""

    def _data_without_recipients(self, out: list[Output], command: str) -> int:
        """Exim's DATA or BDAT ("data", "bdat") with every recipient refused: the refusal repeated
        where all were refused alike, then "Valid RCPT command must precede DATA" straight after a
        RCPT of a pipelining client (no protocol error), else the lower-case one (a protocol error)."""
        # Exim's last_was_rcpt: the last command was a RCPT inside a transaction, or one answered
        # "sender not yet given" behind a refused MAIL of a pipelining client (no protocol error)
        after_rcpt = "PIPELINING" in self.advertised and self._last_verb == "RCPT" and (
            self.state == MAIL or self._rej_mail)
        last = self.replies[f"{command}.need_rcpt_after_rcpt" if after_rcpt else f"{command}.need_rcpt"]
        lines = []
        if self._rcpt_refused:
            lines = [self.replies["data.rcpts_refused_intro"].text[4:], self._rcpt_refused]
        text = frame_text(last.code, [*lines, last.text[4:]])
        code = self._send(out, text, wire(text), last.code)
        if not after_rcpt and self._counters is not None:
            self._count_protocol_error(out, f"{command}.need_rcpt", code)
        return code

    def _too_many_bad(self, address: str) -> bool:
        """Debian Exim's "Rejected for too many bad recipients": more than bad_rcpt_limit RCPTs
        since MAIL, fewer than half of them taken; a local postmaster is accepted before the check."""
        limit = self.persona.recipients.bad_rcpt_limit
        taken = len(self.rcpt_to) + self._rcpt_unkept
        if not limit or self._rcpt_commands <= limit or taken >= self._rcpt_commands // 2:
            return False
        local_part, _, domain = address.rpartition("@")
        return not (local_part.lower() == "postmaster" and self.context.recipients.local_domain(domain, self.server_ip))

    def _restricted(self, address: str) -> bool:
        """Debian Exim's acl_check_rcpt refuses local parts with characters that route or run
        things, each set for local and for remote domains."""
        local_part, _, domain = address.rpartition("@")
        return restricted(local_part, self.context.recipients.local_domain(domain, self.server_ip))

    def _recipient_refusal(self, command: str, address: str) -> str:
        service = self.service
        table = self.context.recipients
        if self.persona.addresses.grammar == "sendmail":  # check_rcpt reads the address ruleset 3 left
            address = escaped_routing(canonical(address))
            if "!" in address:  # this host's UUCP hops: local
                local_part, at, domain = address.rpartition("@")
                local_part = through_this_host(local_part if at else address,
                                               lambda host: table.local_domain(host, self.server_ip))
                address = f"{local_part}@{domain}" if at else local_part
        verdict = table.judge(address, self.server_ip)
        refusal = recipient_refusal(command, verdict, self.relay, self.authenticated,
                                    service is not None and service.login_required)
        if refusal == f"{command}.relay_denied" and self._client_names is not None:
            # Sendmail's check_relay: how the client's address resolved decides the refusal's words
            outcome = self._client_names["client_resolve"]
            if outcome != FAIL and f"{refusal}.{outcome.lower()}" in self.replies:
                refusal = f"{refusal}.{outcome.lower()}"
        friends = self.persona.recipients.spam_friends
        if (command == "rcpt" and refusal in ("", "rcpt.unknown_user") and self.persona.addresses.grammar == "sendmail"
                and (sender := sender_refusal(self.mail_from, self.context.hostname))
                and not (sender == "local" and verdict == RELAY)  # an open relay takes nmap's antispam@[address]
                and (unquoted(address).rpartition("@")[0] or address).lower() not in friends):
            return f"rcpt.sender_{sender}"  # FEATURE(delay_checks): check_mail's verdict, at RCPT
        if (command == "rcpt" and refusal in ("", "rcpt.unknown_user") and self.persona.addresses.grammar == "sendmail"
                and (kind := self._local_mailer(address))):
            return f"rcpt.to_{kind}"  # recipient(): after check_rcpt, before the user is looked up
        return refusal

    def _internal(self, address: str) -> str:
        """The address as the server keeps it inside, which its refusals name: Postfix's reader
        gave it so already (an escaped quote in a quoted local part stays: `"a\\"b"` is `a"b`,
        captured in tests/reference/postfix/address_forms.json); others' quotes come off here."""
        return address if self.persona.addresses.grammar == "postfix" else unquoted(address)

    def _sender_shown(self) -> str:
        """The sender as a refusal names it: Sendmail's $&f, as its rulesets left it."""
        if self.persona.addresses.grammar == "sendmail" and self.mail_from:
            return canonical_sender(self.mail_from)
        return self.mail_from or ""

    def _local_mailer(self, address: str) -> str:
        """Sendmail's local mailer for an address at this host: "programs", "files" or
        "includes" where its local part is one ("|...", "/...", ":include:..."), else ""."""
        local_part, at, domain = unquoted(address).rpartition("@")
        if at and not self.context.recipients.local_domain(domain, self.server_ip):
            return ""
        return local_mailer(local_part if at else unquoted(address))

    def _look_up(self, command: str, argument: str, out: list[Output]) -> int:
        """Sendmail's VRFY and EXPN (printvrfyaddr, protocol/sendmail_envelope.py): every address
        of the list named, the last one (of the list read backwards) first; the first address
        prescan(), invalidaddr() or the rulesets refuse ends the command (QuickAbort); an unknown
        user refuses the whole list, the last unknown named."""
        items, self._old_style = address_list(argument, self._old_style)
        if not items:
            return self._send_key(out, f"{command}.missing_argument")
        rules = self.persona.recipients
        table, server_ip = self.context.recipients, self.server_ip
        found = []
        for item in items:  # the first refusal ends the command (QuickAbort), in the list's order
            if item.refusal:
                key = f"{command}.bad_address" if item.refusal == "bad_address" else f"rcpt.{item.refusal}"
                return self._send_key(out, key, argument=shorten(item.text), reason=item.reason)
            looked = look_up(item.text, self.context.hostname, rules.aliases, rules.full_names, table.exists,
                             lambda domain: table.local_domain(domain, server_ip), command == "expn")
            if looked.kind == "refused":  # parseaddr() says as it says to RCPT
                values = refusal_values(looked.reason, looked.text)
                return self._send_key(out, f"rcpt.{looked.reason}", argument=values["argument"],
                                      reason=values.get("reason", ""))
            found.append(looked)
        elements = [item.text for item in items]
        unknown = [item for item in found if item.kind == "unknown"]
        if unknown:
            return self._send_key(out, f"{command}.unknown_user", argument=shorten(unknown[-1].text))
        if command == "expn" and self._verbose and self._send_queue is not None:  # verbose mode: each alias step
            # (printed as the lookup goes, before the rest of the slowdown)
            for element in elements:
                key, local = recipient_key(bare(element), self._is_local)
                for step in expansion(element, key, rules.aliases) if local else ():
                    address_shown, _, target = step.partition("... aliased to ")
                    self._send_key(out, "rcpt.aliased", address=address_shown, target=target)
        self._slow, self._slow_owed = self._slow + self._slow_owed, 0.0  # every address found: the whole wait
        if len(found) == 1:
            key = f"{command}.remote" if found[0].kind == "remote" else f"{command}.ok"
            return self._send_key(out, key, address=found[0].text)
        templates = [self.replies[f"{command}.remote" if item.kind == "remote" else f"{command}.ok"]
                     for item in reversed(found)]
        texts = [template.render({**self._placeholders(), "address": item.text})[0]
                 for template, item in zip(templates, reversed(found))]
        lines = [f"{text[:3]}{'-' if n < len(texts) - 1 else ' '}{text[4:]}" for n, text in enumerate(texts)]
        text = "\r\n".join(lines)
        return self._send(out, text, wire(text), templates[-1].code)

    def _verb(self, argument: str, out: list[Output]) -> int:
        """Sendmail's VERB, whatever its argument: verbose mode for the rest of the session."""
        self._verbose = True
        return self._send_key(out, "verb.ok")

    def _is_local(self, domain: str) -> bool:
        return self.context.recipients.local_domain(domain, self.server_ip)

    def _expn(self, argument: str, out: list[Output]) -> int:
        if self.persona.addresses.grammar == "sendmail":
            return self._look_up("expn", argument, out)
        if not argument:
            return self._send_key(out, "expn.missing_argument")
        address = qualify(argument.strip("<>"), self.persona, self.context.default_domain)
        return self._send_key(out, "expn.ok", argument=argument, address=address)

    def _help(self, argument: str, out: list[Output]) -> int:
        if self.persona.help_file:
            return self._help_file(argument, out)
        topic = self.persona.help_topics.get(argument.upper())
        if topic is not None:
            text, data = topic.render(self._placeholders())
            return self._send(out, text, data, topic.code)
        if self.tls_active and "help.tls_active" in self.replies:  # Exim no longer lists STARTTLS
            return self._send_key(out, "help.tls_active")
        return self._send_key(out, "help.ok")

    def _help_file(self, argument: str, out: list[Output]) -> int:
        """Sendmail's help(): every helpfile line that begins with the topic (lower-cased; none
        asked: "smtp"), then help.ok; a topic that matches nothing is help.unknown."""
        topic = argument.lstrip(" \t").lower() or "smtp"
        texts = [f"2.0.0 {text}" for line, text in self.persona.help_file if line.startswith(topic)]
        if not texts:
            return self._send_key(out, "help.unknown", argument=topic[:10])
        last = self.replies["help.ok"]
        text = frame_text(last.code, [*texts, last.text[4:]])
        return self._send(out, text, wire(text), last.code)

    def _etrn(self, argument: str, out: list[Output]) -> int:
        if self.persona.addresses.grammar == "sendmail":
            return self._sendmail_etrn(argument, out)
        refusal, domain = states.etrn_reading(argument, self.state, self.persona.sequence)
        return self._send_key(out, refusal or "etrn.ok", argument=domain)

    def _sendmail_etrn(self, argument: str, out: list[Output]) -> int:
        """Sendmail's ETRN: a queue group ("#mqueue", the only one in Debian's sendmail.cf) or a
        node; either run forks a child holding a copy of the replies not yet flushed (those made
        behind more input in this read), which it writes as it exits: they come twice."""
        if not argument:
            return self._send_key(out, "etrn.missing_argument")
        if argument.startswith("#") and argument[1:] != "mqueue":
            return self._send_key(out, "etrn.unknown_queue", argument=argument[1:])
        self._echo += b"".join(item.data for item in out[self._batch_start:] if type(item) is Reply)
        if argument.startswith("#"):
            return self._send_key(out, "etrn.queue_group", argument=argument[1:])
        return self._send_key(out, "etrn.ok", argument=argument)

    # XCLIENT and XFORWARD: only the server's own trusted clients may use them.
    def _xclient(self, argument: str, out: list[Output]) -> int:
        return self._send_key(out, states.trusted_verb_refusal("XCLIENT", argument, self.state, self.persona.sequence))

    def _xforward(self, argument: str, out: list[Output]) -> int:
        return self._send_key(out, states.trusted_verb_refusal("XFORWARD", argument, self.state, self.persona.sequence))

    def _xexch50(self, argument: str, out: list[Output]) -> int:
        self._violation(out, "xexch50", f"XEXCH50 {argument[:64]}", always=True)
        if self.persona.sequence.xexch50_refused:
            # Exchange 2007 and later (Xexch50SmtpCommand): its order checked, then no blob from a
            # client without the Exchange servers' permission
            key = {CONNECTED: "mail.need_helo", GREETED: "rcpt.need_mail", MAIL: "data.need_rcpt"}.get(
                self.state, "xexch50.not_authorized")
            return self._send_key(out, key)
        size = xexch50_size(argument)
        if size is None:  # a negative size too: the exploit's tell, answered as a syntax error
            return self._send_key(out, "xexch50.syntax")
        code = self._send_key(out, "xexch50.ready")
        if size:
            self.intake.start_chunk("XEXCH50", min(size, self.limits.max_chunk_discard))
            self.mode = CHUNK
        return code

    def _starttls(self, argument: str, out: list[Output]) -> int:
        sequence = self.persona.sequence
        refusal = states.starttls_refusal(argument, self.tls_active, self._tls_offered, sequence.starttls_argument_last,
                                          sequence.starttls_transaction_last and self.state in (MAIL, RCPT))
        if not refusal and "STARTTLS" in self.persona.sequence.when_advertised and "STARTTLS" not in self.advertised:
            refusal = "starttls.not_advertised"
        if refusal:
            return self._send_key(out, refusal)
        code = self._send_key(out, "starttls.ready")
        # RFC 3207 §5 / CVE-2011-0411: bytes sent before the handshake must not survive it.
        self._injected(out, self._framer.take_rest())
        out.append(StartTls())
        self.mode = PAUSED
        return code

    def _auth_command(self, argument: str, out: list[Output]) -> int:
        if not self.persona.auth.mechanisms:  # never advertised: Exim without authenticators, OpenSMTPD in clear
            key = "auth.not_offered" if "auth.not_offered" in self.replies else "auth.not_available"
            return self._send_key(out, key)
        if "AUTH" in self.persona.sequence.when_advertised and "AUTH" not in self.advertised:
            return self._send_key(out, "auth.not_advertised")  # Exim: only after an EHLO that offered it
        mechanism, refused, initial, shown = opening(argument, self.authenticated, self.state in (MAIL, RCPT),
                                                     self.persona.auth)
        if refused:
            return self._send_key(out, refused)
        tls_only = self.persona.auth.tls_mechanisms
        if mechanism not in self.persona.auth.mechanisms or (mechanism in tls_only and (
                not self.tls_active or self._verb_text.upper() == "X-EXPS")):
            code = self._send_key(out, "auth.unknown_mechanism", mechanism=shown)  # as the client wrote it
            out.append(replace(capture_unsupported(mechanism, initial), reply_code=code))
            return code
        self._auth = AuthExchange(mechanism, True, self.context.auth_context())
        handling = self.persona.auth.server_first_initial
        if initial is not None and mechanism in SERVER_FIRST and handling != "ignored":
            exchange = self._auth
            step = exchange.unexpected_initial(initial) if handling == "failed" else exchange.refused_initial(initial)
            return self._auth_step(step, out, first=True)
        return self._auth_step(self._auth.start(initial), out, first=True)

    def _close(self, out: list[Output], reason: str, reset: bool = False, lag: float | None = None) -> None:
        """The close; `lag` None: the persona's close_lag after the last reply, or in a message
        its close_lag_in_message (0 where that reply is corked and leaves with the close)."""
        reads = self._reads
        if reads is not None and not self.tls_active and self.mode != CLOSED:
            # input past what the real server read is still in the kernel: its close is a reset
            self._unread_at_close = reads.in_kernel(self._framer.unread())
            reset = reset or reads.reset_at_close(self._framer.unread())
        if lag is None:
            server = self.persona.server
            lag = server.close_lag_in_message if self.mode in (DATA, CHUNK) else server.close_lag
        super()._close(out, reason, reset, lag)

    def reset_at_close(self, waiting: int = 0) -> bool:
        """Whether the connection, closed now, ends in a reset: what the real server never read
        (left in the kernel by its reads when it decided to close, all that came after, and the
        `waiting` bytes the transport has not read yet) is more than the drain before its close
        takes."""
        return self._unread_at_close + waiting > self.lines.drain_at_close

    def _closedown_command(self, line: bytes, out: list[Output]) -> None:
        """Exim's smtp_closedown() after a reply it could not write: QUIT ends the session (no
        corked wait), RSET is "250 Reset OK", anything else the 421 again."""
        stripped = line.rstrip(C_SPACE_BYTES)
        key = {b"QUIT": "quit.ok", b"RSET": "rset.ok"}.get(stripped.upper(), "session.reply_too_long")
        code = self._send_key(out, key)
        word, _, argument = stripped.partition(b" ")  # recorded by its first word, as any command
        self._finish_command(out, decode(word.upper()), decode(argument), line, code)
        if key == "quit.ok":
            self._close(out, "quit")

    def _auth_line(self, line: bytes, out: list[Output]) -> None:
        assert self._auth is not None  # AUTH mode is only entered with an exchange
        rules = self.persona.auth
        how = rules.response_too_long
        if rules.response_max_length and how != "piece" and (line == b"" or (
                how == "refuse" and len(line) - line.endswith(b"\r\n") > rules.response_max_length)):
            self._auth_step(self._auth.too_long(how), out)  # past the server's bound
            return
        if line[-1:] == b"\n":  # a piece of a line (Sendmail's) keeps its CR
            line = line.rstrip(b"\r\n")
        self._auth_step(self._auth.respond(line.strip(b" ")), out)

    def _auth_step(self, step: AuthStep, out: list[Output], first: bool = False) -> int:
        exchange = self._auth
        assert exchange is not None  # a step belongs to an exchange
        key, event, delay = settle(step, exchange, self.context.logins, self.client_ip, self.persona.auth)
        if event is not None and event.outcome == "accepted":
            self.authenticated = True
            self._login = (event.mechanism, event.username or "")
        code = self._send_key(out, key, delay=delay, **(step.values or {}))
        if not first:  # the AUTH command's own reply is in its smtp.command event
            exchange.replies.append(self._last_reply)
        if step.done:
            assert event is not None  # the last step carries the exchange's record
            self._auth = None
            self.mode = COMMAND if self.mode != CLOSED else CLOSED
            out.append(replace(event, reply_code=code, replies=tuple(exchange.replies)))
            if not first:  # an exchange's last reply counts as the AUTH command's (Postfix)
                if self.account.answered("", code) and self.mode != CLOSED:
                    self._too_many_errors(out)
        else:
            self.mode = AUTH
        return code

    # ------------------------------------------------------------------ helpers

    def _queue_file_envelope(self, sender: str, parameters: dict[str, str]) -> queue_file.Envelope:
        """What a MAIL puts in Postfix's queue file (the recipients join it as they are taken)."""
        return queue_file.Envelope(self.context.hostname, sender, envid=parameters.get("ENVID", ""),
                                   ret=parameters.get("RET", ""), body=parameters.get("BODY", ""),
                                   smtputf8=self.smtputf8)

    def _queue_file_ready(self) -> queue_file.Envelope | None:
        """The transaction's queue file envelope with what the session adds, as its message starts."""
        envelope = self._queue_file
        if envelope is None:
            return None
        envelope.helo, envelope.tls = self.helo, self.tls_active
        envelope.esmtp = self.esmtp and self.helo is not None  # no greeting at all: "SMTP"
        envelope.sasl = self._login if self.authenticated else None
        envelope.client_address, envelope.client_port = self.client_ip, self.client_port
        envelope.server_address, envelope.server_port = self.server_ip, self.server_port
        # permit_inet_interfaces: a client at one of the server's own addresses is local
        envelope.local = self.client_ip in (self.server_ip, "::1") or self.client_ip.startswith("127.")
        envelope.arrival = self.opened_at if self.opened_at is not None else self.context.clock()
        return envelope

    def _reset_transaction(self) -> None:
        if self.state in (MAIL, RCPT):
            self.state = GREETED if self.helo is not None else CONNECTED
        self.mail_from = None
        self.smtputf8 = False
        self._kept_parameters = frozenset()
        self._rcpt_refused = None
        self._rcpt_commands = 0
        self._chunking = ""
        self.opened_at = None
        self.rcpt_to = ()
        self._rcpt_unkept = 0
        self._sender_written = ""
        self._queue_file = None
        self.account.overshoot = 0
        self.intake.reset()
        if self._send_queue is not None:
            self._send_queue.clear()

    def _deliver(self, out: list[Output], body: bytes, size: int, kept: int | None, transfer: str) -> None:
        """Hand a complete message to the transport to store; its reply waits for the store
        (`message_stored`). `kept`: the bytes kept of one taken past the size limit."""
        if kept is not None:
            limit = self.context.message_limit
            why = (f"within the persona's server's limit of {limit}" if limit
                   else "the persona's server has no size limit")
            self._violation(out, "limit_message_size", f"{size} bytes taken, the first {kept} kept ({why})",
                            always=True)
        key = "bdat.ok" if transfer == "BDAT" else "data.ok"
        if "message_id" in self.replies[key].fields:
            self._message_id = internet_message_id(body, self.context.hostname, self.context.rng)
        self.mode = PAUSED
        out.append(Deliver(body, transfer))

    def _chunked_header_refusal(self, out: list[Output], last: bool, body: bytes | None = None) -> int:
        """Exim under CHUNKING ([message] chunked_header_crlf): the message so far refused at the
        chunk that completes a first header line ended by a bare LF (protocol/content.py), kept as
        sent, the transaction over; its reply's code. 0 where it goes on."""
        intake = self.intake
        if not self.persona.message.chunked_header_crlf or intake.header_judged:
            return 0
        message = body if body is not None else intake.message
        refused = chunked_header_refused(message, last) if message is not None else False
        if refused is None:
            return 0
        intake.header_judged = True
        if not refused:
            return 0
        self._violation(out, "bare_lf", "a first header line ended by a bare LF, sent by BDAT")
        self._keep(out, bytes(message or b""), "message", "header_not_crlf", len(message or b""),
                   envelope=(self.mail_from, tuple(self.rcpt_to)))
        code = self._send_key(out, "data.header_not_crlf")
        self._reset_transaction()
        return code

    def _judged(self, out: list[Output], body: bytes, size: int) -> int:
        """A whole message its server refuses for what is in it (protocol/content.py: its hops,
        its header section, its lines): kept as sent, the persona's refusal said, the transaction
        over; its reply's code. 0 where it is taken."""
        refusal = judge(body, self.persona.message)
        if refusal is None:
            return 0
        key, values = refusal
        self._keep(out, body, "message", key.split(".", 1)[1], size, envelope=(self.mail_from, tuple(self.rcpt_to)))
        code = self._send_key(out, key, 0.0, **values)
        self._reset_transaction()
        self.intake.let_go()
        return code

    def _refuse_message(self, out: list[Output], size: int) -> int:
        """A message not kept: too big for the limit, or for the memory all messages share. The
        transaction is over."""
        violation, detail, key = self.intake.refusal(size)
        self._violation(out, violation, detail, always=True)
        self._keep(out, self.intake.head or b"", "oversize", violation, size,
                   envelope=(self.mail_from, tuple(self.rcpt_to)))
        code = self._send_key(out, key)
        self._reset_transaction()
        return code


def _answer(key: str) -> Callable[[Session, str, list[Output]], int]:
    return lambda session, _argument, out: session._send_key(out, key)


# Each verb's row in vocabulary.VERBS names the method that answers it, or its one reply.
_HANDLERS: dict[str, Callable[[Session, str, list[Output]], int]] = {
    name: _answer(verb.reply) if verb.reply else getattr(Session, verb.handler) for name, verb in VERBS.items()
}
