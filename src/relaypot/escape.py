"""Make attacker-controlled text safe where it lands: a terminal, a log line, a spreadsheet, JSON, SQL.

The ground floor: standard library only, so everything that logs or writes may use it."""

from __future__ import annotations

import logging
import re
import unicodedata


def terminal(text: str | None, limit: int = 200) -> str:
    """Printable text only: control characters (ESC sequences, CR, BEL, bidi overrides) become \\x.. escapes.

    A terminal must never interpret bytes an attacker chose: `\\x1b]0;...` retitles windows,
    `\\x1b[2J` clears the screen, U+202E reverses what follows.
    """
    if text is None:
        return "-"
    out = []
    for ch in text[:limit]:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte kept by surrogateescape
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    if len(text) > limit:
        out.append("…")
    return "".join(out)


def log_error(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line for a log message: its type and message, whitespace folded, cut
    at `limit`. What else it holds (a driver's message can quote a value an attacker sent) is
    escaped by LogFormatter, with the rest of the line."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:limit]


class LogFormatter(logging.Formatter):
    """Log lines a terminal shows as they are: a message or a traceback quoting attacker text can
    neither move the cursor nor forge a line (a message's own line breaks are escaped too; a
    traceback keeps its lines, each escaped)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = terminal(record.message, 10_000)
        return super().formatMessage(record)

    def formatException(self, ei) -> str:  # logging's own name and signature
        return _each_line(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _each_line(super().formatStack(stack_info))


def _each_line(text: str) -> str:
    return "\n".join(terminal(line, 10_000) for line in text.split("\n"))


def visible(text: str) -> str:
    """`terminal` without its backslash doubling or length cut: every character a terminal acts on
    or hides (C0 and C1 controls, DEL, format and separator characters, an undecodable byte)
    shown as a \\x.. or \\u.... escape, everything else as it is. For output that may reach a
    terminal by a pipe (`relaypot export … | head`), where a reader still wants the values."""
    if text.isascii() and text.isprintable():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...), +cmd|...),
# also after leading blanks, which spreadsheets skip.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_BLANKS = " \t\r\n\x0b\x0c\xa0\u3000"


def spreadsheet(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: a formula character first, or after blanks, gets a
    quote in front (OWASP's CSV injection advice)."""
    if isinstance(value, str) and (value.startswith(_FORMULA_START)
                                   or value.lstrip(_BLANKS).startswith(_FORMULA_START)):
        return "'" + value
    return value


# What JSON encoders leave raw but a terminal acts on or hides: DEL, the C1 controls (U+009B is a
# CSI, like ESC [), and the format characters (Cf: bidi overrides that reorder what follows,
# zero-width characters) and line/paragraph separators (Zl, Zp). A superset of those categories as
# of Unicode 15 (tests/test_events.py checks it against the running Python's database).
INVISIBLE = re.compile(
    "[\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


def _u_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # JSON writes an astral character as a surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def escape_invisible_text(text: str) -> str:
    """JSON text with every INVISIBLE character \\u-escaped (the same JSON value, shown safely)."""
    return INVISIBLE.sub(_u_escape, text)


def escape_invisible(encoded: bytes) -> bytes:
    """`escape_invisible_text` for UTF-8 JSON bytes; ASCII without DEL (nearly every record) passes as is."""
    if encoded.isascii() and b"\x7f" not in encoded:
        return encoded
    return escape_invisible_text(encoded.decode("utf-8")).encode("utf-8")


def clean_text(text: str) -> str:
    """Attacker text decoded with surrogateescape holds lone surrogates; JSON and SQL want valid UTF-8."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
