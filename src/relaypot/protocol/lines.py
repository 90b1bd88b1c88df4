"""How a command line is read before its verb ([lines]): pure, the line's bytes in, what was read out.

The session turns what this returns into replies and records (h11's readers return events the
same way): a violation to record, a reply key that answers the line instead of a verb, or the
verb, the word as sent and the argument.
"""

from __future__ import annotations

import re

from relaypot.personas.model import LineRules
from relaypot.protocol.commands import C_SPACE, C_SPACE_BYTES, decode

_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# Postfix's is_header() of the first word: printable ASCII but no blank and no colon, then a colon
_HEADER_LABEL = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")


# What read_line returns, a plain tuple (one is made for every command line):
#   binary     why the line is not plain text ("" when it is): a `binary` violation
#   refusal    a reply key answering the line instead of a verb ("" when there is a verb)
#   verb       upper-cased
#   sent       the first word as the client wrote it
#   argument
#   forbidden  the server answers command.forbidden and hangs up
ReadLine = tuple[str, str, str, str, str, bool]


def read_line(stripped: bytes, rules: LineRules) -> ReadLine:
    """What the persona's server reads in a command line (its ending taken off by the session,
    which records a bare LF)."""
    if rules.verb_grammar == "exim":
        return _exim_line(stripped)
    if rules.verb_grammar == "opensmtpd":
        return _opensmtpd_line(stripped)
    if rules.verb_grammar == "sendmail":
        return _sendmail_line(stripped)
    if rules.strip_trailing_cr:
        stripped = stripped.rstrip(b"\r")  # Postfix drops every CR before the LF
    binary = found = "" if stripped.isascii() and not _CONTROL.search(stripped) else _binary(stripped)
    if found == "NUL byte" and rules.nul_ends_command:
        # Postfix checks the whole line's UTF-8, then reads it as a C string: up to the NUL.
        if rules.reject_invalid_utf8 and not (stripped.isascii() or _is_utf8(stripped)):
            return binary, "command.bad_bytes", "", "", decode(stripped), False
        stripped = stripped.split(b"\x00", 1)[0]
        found = _binary(stripped)
    if rules.skip_leading_blanks:
        # smtpd_token(): the C locale's white space (a VT and an FF too) before the verb is skipped,
        # and ends it (measured: "\x0bNOOP" and "NOOP\x0c" are NOOP to the real Postfix)
        stripped = stripped.lstrip(C_SPACE_BYTES)
    if not stripped or stripped.isspace():
        return binary, "command.bad_syntax" if rules.reject_empty else "command.unknown", "", "", "", False
    if found and rules.reject_invalid_utf8 and found != "control bytes":
        return binary, "command.bad_bytes", "", "", decode(stripped), False
    text = decode(stripped)
    if rules.skip_leading_blanks:
        sent, argument = _first_word(text)
        return binary, "", sent.upper(), sent, argument.strip(C_SPACE), _forbidden(rules, sent.upper(), stripped)
    sent, _, argument = text.partition(" ")
    if "\t" in sent:  # some clients separate with a TAB; real servers accept it
        sent, _, argument = text.partition("\t")
    verb = sent.upper()
    return binary, "", verb, sent, argument.strip(" \t"), _forbidden(rules, verb, stripped)


def _first_word(text: str) -> tuple[str, str]:
    """The verb up to the C locale's white space, and the rest after it."""
    for n, c in enumerate(text):
        if c in C_SPACE:
            return text[:n], text[n:].lstrip(C_SPACE)
    return text, ""


def _forbidden(rules: LineRules, verb: str, stripped: bytes) -> bool:
    """Postfix's smtpd_forbidden_commands: the verb, a first byte that is no letter, a header label."""
    return (bool(rules.forbidden_verbs) and verb in rules.forbidden_verbs) or (
        rules.forbid_nonalpha_first and not stripped[:1].isalpha()) or (
        rules.forbid_header_verb and _HEADER_LABEL.match(stripped) is not None)


# smtp_in.c's cmd_list, in its order: (name as matched, verb, takes an argument)
_EXIM_COMMANDS = (("rset", "RSET", False), ("helo", "HELO", True), ("ehlo", "EHLO", True), ("auth", "AUTH", True),
                  ("starttls", "STARTTLS", False), ("mail from:", "MAIL", True), ("rcpt to:", "RCPT", True),
                  ("data", "DATA", False), ("bdat", "BDAT", True), ("quit", "QUIT", False), ("noop", "NOOP", True),
                  ("etrn", "ETRN", True), ("vrfy", "VRFY", True), ("expn", "EXPN", True), ("help", "HELP", True))


def _exim_line(line: bytes) -> ReadLine:
    """smtp_read_command: trailing white space dropped, a NUL anywhere refused (command.nul), a
    verb matched by prefix and followed by a space or the end ("mail from:" and "rcpt to:" by
    their colon), its argument after any white space; a verb that takes none refuses one
    (command.unexpected_argument). An unmatched line has no verb: command.unknown."""
    binary = "" if line.isascii() and not _CONTROL.search(line) else _binary(line)
    line = line.rstrip(C_SPACE_BYTES)
    if b"\x00" in line:
        return binary, "command.nul", "", "", decode(line), False
    lowered = line[:10].lower()
    for name, verb, takes_argument in _EXIM_COMMANDS:
        size = len(name)
        if lowered.startswith(name.encode()) and (name[-1] == ":" or line[size:size + 1] in (b"", b" ")):
            argument = decode(line[size:].lstrip(C_SPACE_BYTES))
            if argument and not takes_argument:
                return binary, "command.unexpected_argument", verb, verb, argument, False
            return binary, "", verb, decode(line[:size]), argument, False
    return binary, "", "", decode(line.split(b" ", 1)[0]), decode(line), False


# smtp_session.c's commands[]: the name as matched (without case), the verb, takes no argument
_SMTPD_COMMANDS = {"HELO": ("HELO", False), "EHLO": ("EHLO", False), "STARTTLS": ("STARTTLS", False),
                   "AUTH": ("AUTH", False), "MAIL FROM": ("MAIL", False), "RCPT TO": ("RCPT", False),
                   "DATA": ("DATA", True), "RSET": ("RSET", True), "QUIT": ("QUIT", True), "NOOP": ("NOOP", True),
                   "HELP": ("HELP", True), "WIZ": ("WIZ", True)}
SMTPD_CMD_MAX = 2048  # s->cmd is char[LINE_MAX]: a longer command line ends the session


def _opensmtpd_line(line: bytes) -> ReadLine:
    """smtp_command(): the line read as a C string (up to a NUL); "mail from:" and "rcpt to:"
    split at their colon, any other verb at the first space; the verb matched whole, without
    case. A verb that takes no argument refuses even an empty one ("NOOP "); a HELO or EHLO with
    an empty one has the argument " ", which no domain check passes (smtp_check_helo gets "", not
    NULL). WIZ answers command.wiz."""
    binary = "" if line.isascii() and not _CONTROL.search(line) else _binary(line)
    line = line.split(b"\x00", 1)[0]
    if len(line) >= SMTPD_CMD_MAX:
        return binary, "command.too_long", "", "", decode(line[:64]), False
    text = decode(line)
    lowered = text[:10].lower()
    separator = ":" if lowered.startswith(("mail from:", "rcpt to:")) else " "
    name, found, rest = text.partition(separator)
    argument = rest.lstrip(" \t\n\v\f\r") if found else None
    verb, takes_none = _SMTPD_COMMANDS.get(name.upper(), ("", False))
    if not verb:
        return binary, "", "", name, text, False
    if takes_none and argument is not None:
        return binary, "command.unexpected_argument", verb, name, argument, False
    if verb == "WIZ":
        return binary, "command.wiz", verb, name, "", False
    if argument == "" and verb in ("HELO", "EHLO"):
        argument = " "
    return binary, "", verb, name, argument or "", False


def _sendmail_line(line: bytes) -> ReadLine:
    """srvrsmtp.c's command loop: the line a C string (up to a NUL), white space before the verb
    skipped, the verb up to the next white space (a CR before the line's CR LF too), its argument
    after any more white space. The session echoes the whole line in command.unknown ({line})."""
    binary = "" if line.isascii() and not _CONTROL.search(line) else _binary(line)
    line = line.split(b"\x00", 1)[0].lstrip(C_SPACE_BYTES)
    end = 0
    while end < len(line) and line[end:end + 1] not in C_SPACE_BYTES:
        end += 1
    sent = decode(line[:end])
    return binary, "", sent.upper(), sent, decode(line[end:].lstrip(C_SPACE_BYTES)), False


def _binary(line: bytes) -> str:
    """Why a command line is not plain text, or "" when it is (UTF-8 text is fine)."""
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
