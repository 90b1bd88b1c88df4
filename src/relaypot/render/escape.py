"""Make attacker-controlled text safe where it lands: a terminal, a log line."""

from __future__ import annotations

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
