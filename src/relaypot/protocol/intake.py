"""The message in progress: a DATA body, BDAT chunks or an XEXCH50 blob, taken in against the
size limit and the memory every session's messages share ([message], [limits]).

Bookkeeping only: the session asks for the next step and turns what comes back into replies,
records and the message to store; nothing here sends or records anything.
"""

from __future__ import annotations

import re

from relaypot.events import MessageReceived
from relaypot.protocol.data import LfSize, exim_message_size, line_ending_violations, stored_size, unstuff
from relaypot.protocol.framing import Framer
from relaypot.protocol.listener import ListenerContext
from relaypot.protocol.outputs import StoredMessage
from relaypot.protocol.postfix_queue_file import Envelope, QueueFileSize, fits_surely
from relaypot.vocabulary import MAIL, RCPT

CHUNK_PROGRESS = 1024  # bytes of a BDAT or XEXCH50 chunk that count as a line for the idle deadline
_BARE_ENDING = re.compile(rb"(?<!\r)\n|\r(?=[^\n])")  # a LF without its CR, a CR without its LF



class Step:
    """What a step of a DATA body or of a chunk comes to (the first item of the step's tuple)."""

    WAITING = "waiting"  # more input is needed
    DELIVER = "deliver"  # the message is complete: store it
    REFUSED = "refused"  # the message is complete and refused (too big, or no memory for it)
    CHUNK_OK = "chunk_ok"  # a BDAT chunk that is not the last: its 250 with the size so far
    SEQUENCE = "sequence"  # a BDAT chunk sent out of sequence: the refusal its command earned
    BLOB_DONE = "blob_done"  # an XEXCH50 blob read to its end
    LINE_TOO_LONG = "line_too_long"  # a body line at the server's line bound ([lines] max_length_ends)


class Intake:
    __slots__ = (
        "bare_pos",
        "bdat",
        "blob",
        "blob_size",
        "chunk_kind",
        "chunk_last",
        "chunk_left",
        "chunk_read",
        "chunk_refusal",
        "chunk_size",
        "context",
        "delivered_size",
        "dropped",
        "framer",
        "head",
        "header_judged",
        "held",
        "keep",
        "kept",
        "lf_size",
        "line_bound",
        "line_carried",
        "line_start",
        "long_line",
        "message",
        "out_of_memory",
        "overflow",
        "past_limit",
        "queue_envelope",
        "takes_past",
    )

    def __init__(self, context: ListenerContext, framer: Framer) -> None:
        self.context = context
        self.framer = framer
        # A message past the operator's max_message_size that the persona's server would take (it
        # has no limit, as IIS by default, or a larger one, or one it counts in fewer bytes than
        # were sent) is taken (250), only its first max_message_size bytes kept.
        limit = context.message_limit
        self.takes_past = not limit or limit > context.max_message or context.persona.message.counted_size != "wire"
        self.lf_size: LfSize | QueueFileSize | None = None  # the size as the server counts what was not kept, so far
        self.queue_envelope: Envelope | None = None  # the transaction's, where the server counts its queue file
        self.overflow = 0  # bytes dropped from a DATA body past the size limit
        self.bare_pos = 0  # where bare_line_end() looks on from
        # [lines] max_length_ends: a body line of line_bound bytes before its LF ends the session
        lines = context.persona.lines
        self.line_bound = lines.max_length if lines.max_length_ends else 0
        self.long_line = re.compile(rb"(?<=\n)[^\n]{%d}" % self.line_bound) if self.line_bound else None
        self.line_start = 0  # where the body line being read starts in the framer's buffer
        self.line_carried = 0  # bytes of that line dropped from the buffer before line_start
        self.chunk_kind = ""  # "BDAT" | "XEXCH50"
        self.chunk_left = 0
        self.chunk_size = 0  # the size the BDAT command named
        self.chunk_last = False
        self.chunk_refusal: str | None = None
        self.chunk_read = 0  # bytes of the chunk since the last progress
        self.message: bytearray | None = None  # BDAT chunks so far
        self.bdat = ""  # [message] bdat_error_state: "" (no BDAT yet), "ok" (taking chunks), "error" (skipping)
        self.dropped = 0  # bytes of BDAT chunks not kept (the message is refused)
        self.past_limit = 0  # bytes taken past the limit and not kept
        self.kept: bytes | None = None  # DATA's kept part, past the limit
        self.held = 0  # bytes of the message counted against context.memory
        self.out_of_memory = False  # the body is being dropped: the shared bound was reached
        # What is kept of what is not taken: the head of a message refused for its size, and of an
        # XEXCH50 blob, at most `keep` bytes each ([limits] max_fragment).
        self.keep = context.limits.max_fragment
        self.head: bytes | None = None
        self.header_judged = False  # [message] chunked_header_crlf: the first header line was looked at
        self.delivered_size = 0  # a BDAT message's size as its server counts it, for its reply
        self.blob = bytearray()
        self.blob_size = 0

    # ------------------------------------------------------------------ memory

    def hold(self, size: int) -> bool:
        """Count `size` bytes of the message against the shared bound; False (and nothing held)
        when that would pass it."""
        more = size - self.held
        if more <= 0:
            return True
        if self.out_of_memory or not self.context.memory.take(more):
            self.out_of_memory = True
            self.let_go()
            return False
        self.held = size
        return True

    def let_go(self) -> None:
        if self.held:
            self.context.memory.give(self.held)
            self.held = 0

    def takes_any_size(self) -> bool:
        """A message past the operator's bound may be taken (cut), not refused with a limit the
        real server never had; whether it is comes at its end (too_big)."""
        return self.takes_past and not self.out_of_memory

    def counting(self, unstuffed: bool) -> LfSize | QueueFileSize | None:
        """A fresh count of the message's size as its server counts it (None: as sent)."""
        counted = self.context.persona.message.counted_size
        if counted == "postfix_queue_file":
            return None if self.queue_envelope is None else QueueFileSize(self.queue_envelope, unstuffed)
        return None if counted == "wire" else LfSize(unstuffed and counted == "lf_unstuffed")

    def too_big(self, size: int, rest: bytes | bytearray, unstuffed: bool) -> bool:
        """Whether a complete message of `size` bytes as sent is past the persona's own limit;
        `rest`: its bytes not counted yet (counted only where the size as sent is past the
        limit, as a server's count is never more, but for Postfix's queue file, mostly more)."""
        limit = self.context.message_limit
        if not limit:
            return False
        if self.context.persona.message.counted_size == "postfix_queue_file" and self.queue_envelope is not None:
            if fits_surely(self.queue_envelope, size, limit):
                return False
        elif size <= limit:
            return False
        counter = self.lf_size or self.counting(unstuffed)
        if counter is None:
            return True  # counted as sent
        counter.feed(rest)
        return size - counter.saved > limit

    def reset(self) -> None:
        """The transaction is over (RSET, a message taken or refused, a new EHLO)."""
        self.message = None
        self.bdat = ""
        self.dropped = 0
        self.past_limit = 0
        self.kept = None
        self.head = None
        self.header_judged = False
        self.delivered_size = 0
        self.lf_size = None
        self.queue_envelope = None
        self.let_go()
        self.out_of_memory = False

    def unfinished(self, in_body: bool) -> tuple[bytes, int, str]:
        """What a message the client never finished left: (the bytes kept, the bytes received, what
        it was: "message" or "xexch50"). The intake lets go of them."""
        if in_body:
            kept = self.kept if self.kept is not None else self.head
            body = bytes(self.framer.buf) if kept is None else kept
            received = self.overflow + len(self.framer.buf)
            what = "message"
        elif self.chunk_kind == "XEXCH50":
            body, received, what = bytes(self.blob), self.blob_size, "xexch50"
        else:
            body = bytes(self.message or b"") if not self.dropped else (self.head or b"")
            received, what = len(self.message or b"") + self.dropped + self.past_limit, "message"
        self.blob, self.blob_size = bytearray(), 0
        return body, received, what

    def refusal(self, size: int) -> tuple[str, str, str]:
        """Why a message of `size` bytes is not kept: (violation, its detail, the reply key)."""
        if self.out_of_memory:
            memory = self.context.memory
            return ("limit_memory", f"{size} bytes; messages in progress hold {memory.used} of {memory.limit}",
                    "data.disk_full")
        return "limit_message_size", f"{size} bytes", "data.too_big"

    # ------------------------------------------------------------------ DATA

    def data_refusal(self, argument: str) -> str:
        """The reply key refusing DATA ([message]), or "" when the body may start."""
        rules = self.context.persona.message
        if argument and rules.refuse_data_argument:
            return "data.syntax"
        if (self.message is not None or self.bdat) and rules.refuse_data_after_bdat:
            return "data.after_bdat"  # chunks of this message came by BDAT (RFC 3030 §3)
        return ""

    def start_body(self) -> None:
        self.framer.start_body()
        self.overflow = 0
        self.lf_size = None
        self.bare_pos = 0
        self.line_start = self.line_carried = 0

    def bare_line_end(self) -> str:
        """Sendmail's collect() in SMTP mode (Debian's CVE-2023-51765 backport): "lf" for a LF not
        after a CR, "cr" for a CR before anything but a LF, in the message so far; "" for none.
        A CR that ends what has arrived waits for its next byte."""
        buf = self.framer.buf
        if buf.startswith(b".\r\n"):
            return ""
        end = buf.find(b"\r\n.\r\n", max(0, self.bare_pos - 4))
        limit = end + 2 if end >= 0 else len(buf)
        found = _BARE_ENDING.search(buf, self.bare_pos, limit)
        if found is None:
            self.bare_pos = max(0, limit - 1)
            return ""
        return "lf" if found.group() == b"\n" else "cr"

    def _line_past_bound(self, body: bytes | bytearray) -> int:
        """OpenSMTPD's smtp_io() on each read in DATA: the length of the first body line of
        line_bound bytes or more before its LF (a CR counted), or of the line not yet ended once
        that many are in; 0 for none. Each byte is looked at once: the search resumes at the
        line still being read."""
        start, bound = self.line_start, self.line_bound
        first_end = body.find(b"\n", start)
        head = (first_end if first_end >= 0 else len(body)) - start + self.line_carried
        if head >= bound:
            return head
        if first_end < 0:
            return 0
        found = self.long_line.search(body, first_end) if self.long_line else None
        if found:
            end = body.find(b"\n", found.start())
            return (end if end >= 0 else len(body)) - found.start()
        self.line_start = body.rfind(b"\n") + 1
        self.line_carried = 0
        return 0

    def body(self) -> tuple:
        """The next step of a DATA body:
        (WAITING, a line completed) | (DELIVER, body, size, bytes kept when taken past the limit
        or None, line-ending violations) | (REFUSED, size, line-ending violations)."""
        framer = self.framer
        found = framer.body(at_start=not self.overflow)
        if self.line_bound:
            body = found[0] if isinstance(found, tuple) else framer.buf
            length = self._line_past_bound(body)
            if length:  # the whole body as sent, where it came (framer.body() made it bytes)
                return Step.LINE_TOO_LONG, length, body if isinstance(found, tuple) else None
        if not isinstance(found, tuple):
            held = framer.body_bytes()
            if self.overflow or held > self.context.max_message + 8 or not self.hold(held):
                # Over the size limit, or the memory for messages: stop keeping the body, but keep
                # a tail to find its end in.
                if self.kept is None and not self.overflow and self.takes_any_size():
                    self.kept = bytes(framer.buf[: self.context.max_message])
                elif self.head is None and self.kept is None:
                    self.head = bytes(framer.buf[: self.keep])  # the exploit is in the headers
                self.let_go()
                if self.kept is not None and not self.hold(len(self.kept)):
                    self.kept = None  # no memory for even that: refused as any message would be
                if self.lf_size is None:  # what is dropped is counted now: the first drop starts the body
                    self.lf_size = self.counting(unstuffed=True)
                dropped = framer.drop_body(self.lf_size)
                self.overflow += dropped
                self.bare_pos = 0
                # the line being read keeps its count across the drop
                self.line_carried += max(0, dropped - self.line_start)
                self.line_start = max(0, self.line_start - dropped)
            return Step.WAITING, bool(found)
        raw, marker = found
        violations = list(line_ending_violations(raw, marker))
        size = len(raw) + self.overflow
        too_big = self.too_big(size, raw, unstuffed=True)
        if self.kept is None and not too_big and not self.overflow and size > self.context.max_message \
                and self.takes_any_size() and self.hold(self.context.max_message):
            self.kept = raw[: self.context.max_message]  # past the bound by less than a read's tail
        if self.kept is not None:
            kept, self.kept = self.kept, None
            self.overflow = 0
            if too_big:
                self.head = kept[: self.keep]
                self.let_go()
                return Step.REFUSED, size, violations
            self.past_limit = size - len(kept)
            return Step.DELIVER, unstuff(kept), size, len(kept), violations
        if self.overflow or too_big or size > self.context.max_message or not self.hold(len(raw)):
            self.overflow = 0
            if self.head is None:
                self.head = raw[: self.keep]
            return Step.REFUSED, size, violations
        return Step.DELIVER, unstuff(raw), size, None, violations

    # ------------------------------------------------------------------ BDAT and XEXCH50

    def bdat_refusal(self, size: int, last: bool, state: str) -> str | None:
        """[message] bdat_error_state: Postfix's bdat_cmd, in its order (a null chunk, a chunk after
        a refused one, a first chunk with no recipient); None when the chunk is taken."""
        if size == 0 and not last:
            return "bdat.null"
        if self.bdat == "error":
            return "bdat.discarded"
        if not self.bdat and state != RCPT:
            return "bdat.need_rcpt" if state == MAIL else "bdat.need_mail"
        limit = self.context.message_limit
        if limit and len(self.message or b"") + self.past_limit + size > limit:
            return "bdat.too_big"  # judged by the size the command names, before the chunk is read
        self.bdat = "ok"
        return None

    def start_chunk(self, kind: str, size: int, last: bool = False, refusal: str | None = None) -> None:
        self.chunk_kind = kind
        self.chunk_size = size
        self.chunk_left = size
        self.chunk_last = last
        self.chunk_refusal = refusal

    def chunk(self) -> tuple[bool, bool]:
        """Read what has arrived of a counted chunk: (complete, progressed: CHUNK_PROGRESS more
        bytes, or the end, for the idle deadline)."""
        framer = self.framer
        take = framer.available(self.chunk_left)
        progressed = False
        if take:
            message = self.message
            if message is None:
                message = self.message = bytearray()
            room = self.context.max_message - len(message)
            taking = self.chunk_kind == "BDAT" and not self.chunk_refusal and not self.dropped
            if taking and take <= room and self.hold(len(message) + take):
                message += framer.take(take)
            elif taking and take > room and self.takes_any_size() and self.hold(len(message) + max(room, 0)):
                if room > 0:
                    message += framer.take(room)
                if self.lf_size is None and (counter := self.counting(unstuffed=False)) is not None:
                    self.lf_size = counter  # what is skipped is counted now, after what was kept
                    counter.feed(message)
                if self.lf_size is not None:
                    self.lf_size.feed(framer.buf, framer.pos, framer.pos + take - max(room, 0))
                framer.skip(take - max(room, 0))
                self.past_limit += take - max(room, 0)
            elif self.chunk_kind == "XEXCH50":
                kept = min(take, self.keep - len(self.blob))
                if kept > 0:
                    self.blob += framer.take(kept)
                framer.skip(take - max(kept, 0))
                self.blob_size += take
            else:
                if self.head is None:  # the head of a refused message is kept, as DATA's is
                    self.head = bytes(message[: self.keep]) if message else bytes(framer.peek(min(take, self.keep)))
                if message:  # what was kept goes: the message is refused whatever follows
                    self.dropped += len(message)
                    message.clear()
                    self.let_go()
                self.dropped += take
                framer.skip(take)
            self.chunk_left -= take
            self.chunk_read += take
            if self.chunk_read >= CHUNK_PROGRESS or not self.chunk_left:
                progressed = True
                self.chunk_read = 0
        return not self.chunk_left, progressed

    def chunk_done(self) -> tuple:
        """What a complete chunk comes to: (BLOB_DONE, blob, size) | (SEQUENCE, reply key) | (CHUNK_OK,
        this chunk's size, as Postfix counts it) | (REFUSED, size) | (DELIVER, body, size, bytes
        kept when taken past the limit or None)."""
        if self.chunk_kind == "XEXCH50":
            self.chunk_kind = ""
            blob, size = bytes(self.blob), self.blob_size
            self.blob, self.blob_size = bytearray(), 0
            return Step.BLOB_DONE, blob, size
        size = len(self.message or b"") + self.dropped
        if self.chunk_refusal:
            self.dropped = 0
            self.chunk_kind = ""
            return Step.SEQUENCE, self.chunk_refusal
        if not self.chunk_last:
            return Step.CHUNK_OK, self.chunk_size
        if self.dropped:
            self.chunk_kind = ""
            return Step.REFUSED, size
        if self.too_big(size + self.past_limit, b"" if self.lf_size is not None else self.message or b"", False):
            self.chunk_kind = ""
            if self.head is None:
                self.head = bytes((self.message or b"")[: self.keep])
            self.message = None
            self.let_go()
            return Step.REFUSED, size + self.past_limit
        body = bytes(self.message or b"")
        self.message = None
        counted = exim_message_size(body) if self.context.persona.message.bdat_dialogue == "exim" else stored_size(body)
        if self.past_limit and body[-1:] != b"\n":
            counted -= 2  # the line the cut ended was not the message's last: it gets no line end of its own
        self.delivered_size = counted + self.past_limit
        return Step.DELIVER, body, size + self.past_limit, len(body) if self.past_limit else None


def message_record(stored: StoredMessage, transfer: str, mail_from: str, rcpt_to: tuple[str, ...], code: int,
                   reply: str) -> MessageReceived:
    """The record of a message the store took, with what its summary found in it."""
    summary = stored.summary or {}
    return MessageReceived(
        sha256=stored.sha256, size=stored.size, path=stored.path, transfer=transfer,
        mail_from=mail_from, rcpt_to=rcpt_to,
        subject=summary.get("subject"), header_from=summary.get("header_from"),
        header_to=summary.get("header_to"), date=summary.get("date"),
        message_id=summary.get("message_id"),
        attachments=tuple(summary.get("attachments", ())), urls=tuple(summary.get("urls", ())),
        excerpt=summary.get("excerpt", ""), body_sha256=summary.get("body_sha256"),
        reply_code=code, reply=reply,
    )
