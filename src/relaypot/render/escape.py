"""Make attacker-controlled text safe where it lands: a terminal, a log line, a spreadsheet."""

from __future__ import annotations

import logging
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

    def formatException(self, ei) -> str:  # noqa: ANN001 (logging's own signature)
        return _each_line(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _each_line(super().formatStack(stack_info))


def _each_line(text: str) -> str:
    return "\n".join(terminal(line, 10_000) for line in text.split("\n"))


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...), +cmd|...).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: a leading formula character gets a quote (OWASP)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
