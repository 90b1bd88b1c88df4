"""The SMTP vocabulary: the verbs relaypot can answer and how a reply is framed (RFC 5321 §4.2).

Below everything else in protocol/ and below personas/: a persona names verbs from this list and
its replies are framed by these functions. Standard library only.
"""

from __future__ import annotations

# Verbs the session knows how to answer. A persona lists the subset its server implements;
# the rest get the persona's `command.unknown` reply.
KNOWN_VERBS = frozenset(
    {"HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "EXPN",
     "HELP", "ETRN", "TURN", "ATRN", "STARTTLS", "AUTH", "XEXCH50", "X-LINK2STATE"}
)


def frame_text(code: int, lines: list[str]) -> str:
    """`250-first`, `250-…`, `250 last` joined by CRLF; attacker text cannot add a line."""
    if len(lines) == 1:
        line = lines[0]
        if "\r" in line or "\n" in line:
            line = line.replace("\r", " ").replace("\n", " ")
        return f"{code} {line}"
    last = len(lines) - 1
    out = []
    for i, line in enumerate(lines):
        # A CR or LF inside echoed attacker text would forge an extra reply line.
        if "\r" in line or "\n" in line:
            line = line.replace("\r", " ").replace("\n", " ")
        out.append(f"{code}{' ' if i == last else '-'}{line}")
    return "\r\n".join(out)


def wire(text: str) -> bytes:
    """A reply's bytes: its text and the final CRLF; echoed undecodable bytes go back as they came."""
    return (text + "\r\n").encode("utf-8", "surrogateescape") if text else b""
