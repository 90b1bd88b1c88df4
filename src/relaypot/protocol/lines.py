"""How a command line is read before its verb ([lines]): pure, the line's bytes in, what was read out.

The session turns what this returns into replies and records (h11's readers return events the
same way): a violation to record, a reply key that answers the line instead of a verb, or the
verb, the word as sent and the argument.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from relaypot.personas.model import LineRules
from relaypot.protocol.commands import decode

_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class ReadLine:
    binary: str = ""  # why the line is not plain text ("" when it is): a `binary` violation
    refusal: str = ""  # a reply key answering the line instead of a verb ("" when there is a verb)
    verb: str = ""  # upper-cased
    sent: str = ""  # the first word as the client wrote it
    argument: str = ""
    forbidden: bool = False  # the server answers command.forbidden and hangs up


def without_ending(line: bytes) -> tuple[bytes, str]:
    """The line without its ending, and what was wrong with that ending ("" when nothing):
    a CRLF-only persona takes LFs as part of the line."""
    if line[-2:] == b"\r\n":
        stripped = line[:-2]
        return stripped, "bare LF inside a command line" if b"\n" in stripped else ""
    return line.rstrip(b"\n"), "command line ended by a bare LF" if line[-1:] == b"\n" else ""


def read_line(stripped: bytes, rules: LineRules) -> ReadLine:
    """What the persona's server reads in a command line (its ending taken off)."""
    if rules.strip_trailing_cr:
        stripped = stripped.rstrip(b"\r")  # Postfix drops every CR before the LF
    binary = found = _binary(stripped)
    if found == "NUL byte" and rules.nul_ends_command:
        # Postfix checks the whole line's UTF-8, then reads it as a C string: up to the NUL.
        if rules.reject_invalid_utf8 and not (stripped.isascii() or _is_utf8(stripped)):
            return ReadLine(binary, "command.bad_bytes", argument=decode(stripped))
        stripped = stripped.split(b"\x00", 1)[0]
        found = _binary(stripped)
    if rules.skip_leading_blanks:
        stripped = stripped.lstrip(b" \t")  # the first word is the verb, wherever it starts
    if not stripped or stripped.isspace():
        return ReadLine(binary, "command.bad_syntax" if rules.reject_empty else "command.unknown")
    if found and rules.reject_invalid_utf8 and found != "control bytes":
        return ReadLine(binary, "command.bad_bytes", argument=decode(stripped))
    text = decode(stripped)
    sent, _, argument = text.partition(" ")
    if "\t" in sent:  # some clients separate with a TAB; real servers accept it
        sent, _, argument = text.partition("\t")
    verb = sent.upper()
    forbidden = (bool(rules.forbidden_verbs) and verb in rules.forbidden_verbs) or (
        rules.forbid_nonalpha_first and not stripped[:1].isalpha())
    return ReadLine(binary, "", verb, sent, argument.strip(" \t"), forbidden)


def _binary(line: bytes) -> str:
    """Why a command line is not plain text, or "" when it is (UTF-8 text is fine)."""
    if line.isascii() and not _CONTROL.search(line):
        return ""
    if b"\x00" in line:
        return "NUL byte"
    if not line.isascii() and not _is_utf8(line):
        return "invalid UTF-8"
    if _CONTROL.search(line):
        return "control bytes"
    return ""


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False
