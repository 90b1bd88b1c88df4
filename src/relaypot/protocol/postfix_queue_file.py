"""The size of the queue file Postfix 3.7's cleanup writes for a message, which is what its
message_size_limit bounds: cleanup runs under a file size limit of message_size_limit bytes
(cleanup_init.c set_file_limit()), and a queue file that would grow past it is "552 5.3.4 Error:
message file too big", whatever the message's size as sent.

A queue file is records, each a type byte, its length in base 128 and its text (rec_put()): the
envelope smtpd writes (sender, recipients, the client's and the server's attributes), the
Received: header smtpd puts first, each line of the message as smtpd's smtp_get() reads it (in
pieces of at most line_length_limit bytes, line ends and a stuffed dot dropped), the headers
cleanup adds where a local client left them out, drops, or cuts at header_size_limit, and the
extracted segment's records. Every record below was read from queue files the real Postfix 3.7.11
wrote on this machine (tests/reference/queue_files.py, tests/reference/postfix/queue-files.json).

Not modelled (a message meeting them is counted a little off): cleanup's rewriting of address
headers for a local client (`From: a` becomes `From: a@host`), the headers of MIME parts (cut at
the limit as the message's own are), names looked up in DNS (a client is `localhost` on loopback,
else `unknown`), runs of more than MAX_CR_RUN CRs before a line end, and a header section of more
than EXACT_LINES lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

LINE_LIMIT = 2048  # line_length_limit: smtp_get() reads a line in pieces of at most this many bytes
HEADER_LIMIT = 102_400  # header_size_limit: a header is kept while it is shorter (mime_state.c)
# Lines read one by one at the content's start (From_ lines and headers, whose names matter);
# past them every line is body, counted in bulk (a header section of tiny lines costs no more)
EXACT_LINES = 10_000
MAX_CR_RUN = 32  # CRs before a LF counted as dropped with it (a longer run counts as this many)
LONG_LINE = re.compile(rb"(?m)^[^\n]{128,}(?=\n)")
SIZE_RECORD = 97  # the fixed-width size record (six numbers of 15 digits)
# message_drop_headers' default: cleanup leaves these out of the queue file
DROPPED_HEADERS = frozenset({"bcc", "content-length", "resent-bcc", "return-path"})
RESENT_HEADERS = frozenset({"resent-bcc", "resent-cc", "resent-date", "resent-from", "resent-message-id",
                            "resent-reply-to", "resent-sender", "resent-to"})
# dsn_notify's bits (dsn_mask.c) and RET's (dsn_ret_code())
NOTIFY_BITS = {"NEVER": 1, "SUCCESS": 2, "FAILURE": 4, "DELAY": 8}
RET_CODES = {"FULL": 1, "HDRS": 2}
_FROM_LINE = re.compile(rb">*From ")  # a UNIX From_ line at the content's start: X-Mailbox-Line
_HEADER_NAME = re.compile(rb"[!-9;-~]+[ \t]*:")  # is_header_buf(): printable ASCII up to a colon


def record_size(length: int) -> int:
    """A record of `length` bytes of text: its type byte and its length in base 128 too."""
    digits, rest = 1, length >> 7
    while rest:
        digits, rest = digits + 1, rest >> 7
    return 1 + digits + length


def xtext_decoded(text: str) -> str:
    """RFC 3461 xtext: `+XX` is the byte XX (ENVID and ORCPT are stored decoded)."""
    return re.sub(r"\+([0-9A-F]{2})", lambda found: chr(int(found.group(1), 16)), text)


@dataclass(frozen=True)
class Recipient:
    address: str
    orcpt: str = ""  # ORCPT= as sent (xtext)
    notify: str = ""  # NOTIFY= as sent


@dataclass
class Envelope:
    """What the transaction and the session put in a queue file besides the message."""

    hostname: str
    sender: str
    recipients: list[Recipient] = field(default_factory=list)
    local: bool = False  # the client is at one of the server's own addresses: rewrite_context=local
    helo: str | None = None
    esmtp: bool = True
    tls: bool = False
    sasl: tuple[str, str] | None = None  # (mechanism, user name) of a login
    smtputf8: bool = False
    envid: str = ""
    ret: str = ""
    body: str = ""  # BODY= (7BIT or 8BITMIME): its encoding attribute
    client_address: str = "127.0.0.1"
    client_port: int = 0
    server_address: str = "127.0.0.1"
    server_port: int = 0
    queue_id: str = "XXXXXXXXXXX"  # 11 characters, as the persona's ids (5 hex digits, a 6-digit inode)
    arrival: float = 0.0

    @property
    def client_name(self) -> str:
        # the name Postfix would find: loopback's in /etc/hosts; the sensor looks nothing up
        return "localhost" if self.client_address in ("127.0.0.1", "::1") else "unknown"

    @property
    def unique_recipients(self) -> list[Recipient]:
        """cleanup's duplicate filter: the same address with the same ORCPT and NOTIFY once."""
        seen: set[Recipient] = set()
        kept = []
        for recipient in self.recipients:
            if recipient not in seen:
                seen.add(recipient)
                kept.append(recipient)
        return kept

    def date(self) -> str:
        """mail_date(): `Mon,  7 Dec 2026 03:25:45 +0000 (UTC)` (the persona's dates are UTC)."""
        moment = datetime.fromtimestamp(self.arrival, UTC)
        return moment.strftime("%a, ") + f"{moment.day:2d}" + moment.strftime(" %b %Y %H:%M:%S +0000 (UTC)")

    def records(self) -> int:
        """The bytes of the envelope segment and of the Received: header."""
        protocol = "ESMTP" if self.esmtp else "SMTP"
        name = self.client_name
        address_type = 10 if ":" in self.client_address else 2
        rfc_address = f"IPv6:{self.client_address}" if address_type == 10 else self.client_address
        seconds = int(self.arrival)
        micros = round((self.arrival - seconds) * 1_000_000) % 1_000_000
        texts = [f"{seconds} {micros}", f"create_time={seconds}", f"log_ident={self.queue_id}",
                 f"rewrite_context={'local' if self.local else 'remote'}", self.sender,
                 f"log_client_name={name}", f"log_client_address={self.client_address}",
                 f"log_client_port={self.client_port}", f"log_message_origin={name}[{self.client_address}]",
                 f"log_protocol_name={protocol}", f"client_name={name}", f"reverse_client_name={name}",
                 f"client_address={self.client_address}", f"client_port={self.client_port}",
                 f"server_address={self.server_address}", f"server_port={self.server_port}",
                 f"protocol_name={protocol}", f"client_address_type={address_type}", ""]  # "" the content's start
        if self.helo is not None:
            texts += [f"log_helo_name={self.helo}", f"helo_name={self.helo}"]
        if self.sasl is not None:
            texts += [f"sasl_method={self.sasl[0]}", f"sasl_username={self.sasl[1]}"]
        if self.envid:
            texts.append(f"envelope_id={xtext_decoded(self.envid)}")
        if self.ret.upper() in RET_CODES:
            texts.append(f"ret_flags={RET_CODES[self.ret.upper()]}")
        if self.body:
            texts.append(f"encoding={encoding(self.body)}")
        for recipient in self.unique_recipients:
            if recipient.notify:
                bits = sum(NOTIFY_BITS.get(word.strip().upper(), 0) for word in recipient.notify.split(","))
                texts.append(f"notify_flags={bits}")
            orcpt = xtext_decoded(recipient.orcpt) if recipient.orcpt else f"rfc822;{recipient.address}"
            canonical = recipient.address if "@" in recipient.address else f"{recipient.address}@{self.hostname}"
            texts += [f"dsn_orig_rcpt={orcpt}", recipient.address, canonical]
        with_ = "UTF8SMTP" if self.smtputf8 else protocol
        if self.esmtp:
            with_ += ("S" if self.tls else "") + ("A" if self.sasl else "")
        texts.append(f"Received: from {self.helo if self.helo is not None else name} ({name} [{rfc_address}])")
        if len(self.recipients) == 1:
            texts += [f"\tby {self.hostname} (Postfix) with {with_} id {self.queue_id}",
                      f"\tfor <{self.recipients[0].address}>; {self.date()}"]
        else:
            texts += [f"\tby {self.hostname} (Postfix) with {with_} id {self.queue_id};", f"\t{self.date()}"]
        return SIZE_RECORD + sum(record_size(len(text.encode("utf-8", "surrogateescape"))) for text in texts)

    def added_headers(self, seen: set[str], resent: bool) -> int:
        """The headers cleanup adds where a local client's message has none (Message-Id, Date,
        From; their Resent- forms where the message has a Resent- header)."""
        if not self.local:
            return 0
        prefix = "Resent-" if resent else ""
        added = []
        if f"{prefix}message-id".lower() not in seen:
            stamp = datetime.fromtimestamp(self.arrival, UTC).strftime("%Y%m%d%H%M%S")
            added.append(f"{prefix}Message-Id: <{stamp}.{self.queue_id}@{self.hostname}>")
        if f"{prefix}date".lower() not in seen:
            added.append(f"{prefix}Date: {self.date()}")
        if f"{prefix}from".lower() not in seen:
            added.append(f"{prefix}From: {self.sender or 'MAILER-DAEMON'}")
        return sum(record_size(len(text.encode("utf-8", "surrogateescape"))) for text in added)


def fits_surely(envelope: Envelope, size: int, limit: int) -> bool:
    """Whether a message of `size` bytes as sent fits `limit` whatever its lines: a line's records
    are at most twice its bytes (a bare LF is a record of two), plus what is added to the lines read
    one by one (an X-Mailbox-Line's 16 bytes), the headers cleanup adds (its From: the sender
    again, its Message-Id the host name) and the extracted segment. Spares counting a message
    far below the limit."""
    mailbox_lines = min(EXACT_LINES, size // len(b"From \n") + 1)
    added = 512 + len(envelope.sender) + 2 * len(envelope.hostname)
    return 2 * size + 16 * mailbox_lines + added + envelope.records() <= limit


def encoding(body: str) -> str:
    return "8bit" if body.upper() == "8BITMIME" else "7bit"


def line_records(length: int, trailing_crs: int, stuffed: bool, ended: bool) -> int:
    """The records smtp_get() makes of one line: `length` bytes before its LF (or all of it, where
    no LF ends it), `trailing_crs` of them CRs just before the LF, `stuffed` when a dot starts it
    that DATA drops. A piece of LINE_LIMIT bytes without the LF is a record of its own; a CR that
    ends a piece takes the LF after it along; the last piece loses its line end; the dot goes from
    the first piece, once the line is cut."""
    if ended:
        pieces, rest = divmod(length + 1, LINE_LIMIT)  # with its LF
        if rest == 0:  # the last piece ends with the LF
            pieces, rest = pieces - 1, LINE_LIMIT
        elif rest == 1 and pieces and trailing_crs:  # a piece ended by the CR before the LF takes the LF
            pieces, rest = pieces - 1, LINE_LIMIT + 1
        last = rest - 1 - min(trailing_crs, rest - 1)
    else:
        pieces, last = divmod(length, LINE_LIMIT)
        if pieces and not last:
            pieces, last = pieces - 1, LINE_LIMIT
    if stuffed and pieces:
        return record_size(LINE_LIMIT - 1) + (pieces - 1) * record_size(LINE_LIMIT) + record_size(last)
    return pieces * record_size(LINE_LIMIT) + record_size(max(0, last - stuffed))


def header_records(length: int) -> int:
    """The records cleanup_out() makes of one line of a header as cleanup holds it (smtpd's pieces
    joined again): pieces of LINE_LIMIT, the last one as long as it comes (no empty record after
    a line of exactly LINE_LIMIT bytes, as smtpd made)."""
    pieces, rest = divmod(length, LINE_LIMIT)
    if pieces and not rest:
        pieces, rest = pieces - 1, LINE_LIMIT
    return pieces * record_size(LINE_LIMIT) + record_size(rest)


def header_kept(held: int, length: int, continued: bool) -> int:
    """How much of a header line mime_state keeps, `held` bytes of its header held already:
    smtpd's pieces of LINE_LIMIT are appended (a continuation line after a newline) only while
    the header is under HEADER_LIMIT; the header's first piece always."""
    if continued and held >= HEADER_LIMIT:
        return 0
    first = min(length, LINE_LIMIT)
    held += first + continued
    rest = length - first
    if held >= HEADER_LIMIT or not rest:
        return first
    more = min(rest, -(-(HEADER_LIMIT - held) // LINE_LIMIT) * LINE_LIMIT)  # whole pieces while under it
    return first + more


def body_records(buf: bytes | bytearray, start: int, end: int, unstuff: bool) -> int:
    """The records of the whole lines buf[start:end] (its last byte a LF, `start` a line's start,
    the line before it ended by a LF), counted without a loop over every line: each line is its
    text, line end and stuffed dot dropped, and two bytes, but for the lines of 128 bytes or more
    (LONG_LINE), counted one by one. Runs of more than MAX_CR_RUN CRs before a LF count as that."""
    lines = buf.count(b"\n", start, end)
    crs = 0
    for run in range(1, MAX_CR_RUN + 1):
        found = buf.count(b"\r" * run + b"\n", start, end)
        if not found:
            break
        crs += found
    stuffed = unstuff and (buf.count(b"\n.", start, end) + (buf[start] == 0x2E))
    total = (end - start) - lines - crs - stuffed + 2 * lines
    for long in LONG_LINE.finditer(buf, start, end):
        length = long.end() - long.start()
        tail = buf[max(long.start(), long.end() - MAX_CR_RUN) : long.end()]
        trailing = len(tail) - len(tail.rstrip(b"\r"))
        dot = unstuff and buf[long.start()] == 0x2E
        total += line_records(length, trailing, dot, True) - (length - trailing - dot + 2)
    return total


class QueueFileSize:
    """A message's queue file as it arrives, fed in contiguous ranges of the bytes as sent (a body
    is seen in pieces: what is dropped past the bound, then the rest). `saved` is what the bytes
    fed exceed the queue file by (negative where the file is the larger, as it mostly is)."""

    __slots__ = (
        "content",
        "cut",
        "dropping",
        "eight_bit",
        "envelope",
        "exact",
        "fed",
        "head",
        "held",
        "in_headers",
        "length",
        "line_crs",
        "mailbox_lines",
        "resent",
        "seen",
        "unstuff",
    )

    def __init__(self, envelope: Envelope, unstuff: bool) -> None:
        self.envelope = envelope
        self.unstuff = unstuff  # DATA: a line's leading dot is dropped (BDAT: kept)
        self.fed = 0
        self.content = 0  # the bytes of the message's own records so far
        self.exact = 0  # lines read one by one
        self.length = 0  # the line in progress: bytes so far, CRs at its end, its first bytes
        self.line_crs = 0
        self.head = bytearray()
        self.mailbox_lines = True  # From_ lines may still come (the content's first lines)
        self.in_headers = True
        self.held = 0  # bytes of the header in progress that cleanup holds
        self.cut = False  # cleanup_out_header() cut the header in progress: its further lines are not written
        self.dropping = False  # the header in progress is one cleanup leaves out
        self.seen: set[str] = set()
        self.resent = False
        self.eight_bit = False  # a Content-Transfer-Encoding of 8bit or binary in the headers

    def feed(self, buf: bytes | bytearray, start: int = 0, end: int | None = None) -> None:
        end = len(buf) if end is None else end
        self.fed += max(0, end - start)
        position = start
        while position < end:
            if not (self.length or self.in_headers or self.mailbox_lines) and (
                    position == 0 or buf[position - 1] == 0x0A):
                last = buf.rfind(b"\n", position, end)
                if last >= 0:  # whole lines of the body, at once
                    self.content += body_records(buf, position, last + 1, self.unstuff)
                    position = last + 1
                    continue
            newline = buf.find(b"\n", position, end)
            stop = end if newline < 0 else newline
            if stop > position:
                if len(self.head) < 80:
                    self.head += buf[position : min(stop, position + 80 - len(self.head))]
                piece = buf[max(position, stop - MAX_CR_RUN) : stop]
                crs = len(piece) - len(piece.rstrip(b"\r"))
                self.line_crs = min(MAX_CR_RUN, self.line_crs + crs if crs == stop - position else crs)
                self.length += stop - position
            if newline < 0:
                return
            self._line()
            position = newline + 1

    def _line(self) -> None:
        """A whole line read one by one: a From_ line, a header, or the body's."""
        head, length, crs = bytes(self.head), self.length, self.line_crs
        self.head, self.length, self.line_crs = bytearray(), 0, 0
        self.exact += 1
        if self.exact > EXACT_LINES and (self.mailbox_lines or self.in_headers):
            self.mailbox_lines = False  # past the lines read one by one, as if the body began
            self._headers_end()
        if self.mailbox_lines:
            if _FROM_LINE.match(head):  # smtpd writes it as a header of its own, never unstuffed
                self.seen.add("x-mailbox-line")
                self.content += header_records(length - crs + 16)
                return
            self.mailbox_lines = False
            if head[:1] in (b" ", b"\t"):  # an empty record first: the headers end there
                self.content += record_size(0)
                self._headers_end()
        stuffed = self.unstuff and head[:1] == b"."
        if self.in_headers and self._header_line(head[1:] if stuffed else head, length - crs - stuffed):
            return
        self.content += line_records(length, crs, stuffed, True)

    def _header_line(self, text: bytes, length: int) -> bool:
        """A line of the header section (`text` its first bytes, `length` its own, line end
        dropped): counted as cleanup keeps it; False when it ends the section and is the body's."""
        if not length:
            self._headers_end()
            return False  # the blank line: counted as any line
        continued = text[:1] in (b" ", b"\t")
        if continued and self.seen:
            kept = header_kept(self.held, length, True)
            offset = self.held + 1
            self.held += kept + 1 if kept else 0
        elif (name := _HEADER_NAME.match(text)) is not None and not continued:
            label = name.group().rstrip(b": \t").decode("ascii").lower()
            self.dropping = label in DROPPED_HEADERS
            self.seen.add(label)
            self.resent = self.resent or label in RESENT_HEADERS
            if label == "content-transfer-encoding":
                self.eight_bit = self.eight_bit or text[name.end() :].strip().lower() in (b"8bit", b"binary")
            kept = self.held = header_kept(0, length, False)
            offset, self.cut = 0, False
        else:  # a line that is no header: cleanup puts the blank line before it
            self._headers_end()
            self.content += record_size(0)
            return False
        if kept and not self.dropping and not self.cut:
            # cleanup_out_header(): a line past HEADER_LIMIT ends the header, cut there unless it
            # starts past nine tenths of it ("nice cut": the line goes)
            if offset + kept > HEADER_LIMIT:
                self.cut = True
                kept = 0 if offset > 0.9 * HEADER_LIMIT else HEADER_LIMIT - offset
            if kept:
                self.content += header_records(kept)
        return True

    def _headers_end(self) -> None:
        """The header section ends (the blank line is the caller's to count)."""
        self.in_headers = False
        self.dropping = False
        self.content += self.envelope.added_headers(self.seen, self.resent)

    def total(self) -> int:
        """The queue file's size if the message ended here."""
        content = self.content
        if self.length:  # a last line without its LF (a BDAT message may end so)
            content += line_records(self.length, self.line_crs, self.unstuff and self.head[:1] == b".", False)
        if self.in_headers:
            content += self.envelope.added_headers(self.seen, self.resent)
        extracted = 2 + 2 + (record_size(13) if self.envelope.body or self.eight_bit else 0)
        return self.envelope.records() + content + extracted

    @property
    def saved(self) -> int:
        return self.fed - self.total()
