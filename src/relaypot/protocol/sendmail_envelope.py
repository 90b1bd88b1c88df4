"""MAIL, RCPT, VRFY and EXPN read as Sendmail 8.17.1.9 with Debian's sendmail.cf reads them
([addresses] grammar = "sendmail"): pure.

A port of what the captures reach (tests/reference/sendmail/): srvrsmtp.c's skipword() (the
word, a colon, then the path), the address as prescan() delimits it (up to a blank outside <>,
quotes and comments; an unbalanced "<" refused), the ESMTP parameters of mail_esmtp_args() and
rcpt_esmtp_args(), and the one sender check the rulesets make at RCPT under
FEATURE(delay_checks) that needs no DNS: a sender without a domain. Replies name the address as
the client wrote it ("<alice@example.org>... Sender ok").
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_SHORT = 203  # conf.h MAXSHORTSTR: what shortenstring() leaves of an echoed command
BLANKS = " \t\n\v\f\r"

MAIL_PARAMETERS = frozenset({"SIZE", "BODY", "ENVID", "RET", "AUTH", "BY", "SMTPUTF8"})
RCPT_PARAMETERS = frozenset({"NOTIFY", "ORCPT"})
BODY_TYPES = frozenset({"7BIT", "8BITMIME"})


@dataclass(frozen=True, slots=True)
class SendmailPath:
    refusal: str  # a reply key, "" when taken
    address: str = ""  # the address without its brackets ("" for <>)
    shown: str = ""  # the address as written, or what a refusal names ({argument})
    reason: str = ""  # the rest of a refusal's text ({reason})
    parameters: dict[str, str] | None = None  # None: refused before the path was read


def shorten(text: str, limit: int = MAX_SHORT) -> str:
    """shortenstring(): a text longer than `limit` keeps its head and tail around "..."."""
    if len(text) <= limit:
        return text
    half = (limit - 3) // 2
    return f"{text[:half]}...{text[-half:]}"


def skipword(argument: str, word: str) -> str | None:
    """The text after "WORD:" and its blanks, or None where the argument is no "WORD: path"."""
    text = argument.lstrip(BLANKS)
    end = 0
    while end < len(text) and text[end] != ":" and text[end] not in BLANKS:
        end += 1
    name, rest = text[:end], text[end:].lstrip(BLANKS)
    if not rest.startswith(":"):
        return None
    rest = rest[1:].lstrip(BLANKS)
    if not rest or name.lower() != word:
        return None
    return rest


def split_address(text: str) -> tuple[str, str, str]:
    """(the address as written, the parameters after it, the reason it is refused or ""): the
    address ends at a blank outside <>, quotes and parentheses (prescan with ' ' as delimiter)."""
    depth = comment = 0
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif comment:
            comment += {"(": 1, ")": -1}.get(char, 0)
        elif char == "(":
            comment = 1
        elif char == "<":
            depth += 1
        elif char == ">":
            if depth == 0:
                return text[:index + 1], "", "Unbalanced '>'"
            depth -= 1
        elif char in BLANKS and depth == 0:
            return text[:index], text[index:].strip(BLANKS), ""
    if quoted:
        return text, "", "Unbalanced '\"'"
    if depth:
        return text, "", "Unbalanced '<'"
    if comment:
        return text, "", "Unbalanced '('"
    return text, "", ""


def bare(shown: str) -> str:
    """The address inside its angle brackets, if it has them."""
    start, end = shown.find("<"), shown.rfind(">")
    return shown[start + 1:end].strip(BLANKS) if start >= 0 and end > start else shown


def parameters(text: str, command: str) -> tuple[dict[str, str], str, str]:
    """(the parameters, a refusal key, what it names): KEY=VALUE words in mail_esmtp_args' and
    rcpt_esmtp_args' order of checks."""
    found: dict[str, str] = {}
    known = MAIL_PARAMETERS if command == "mail" else RCPT_PARAMETERS
    for word in text.split():
        name, equals, value = word.partition("=")
        upper = name.upper()
        if upper not in known:
            return found, f"{command}.unsupported_option", name
        if upper in ("SIZE", "BODY", "ENVID", "ORCPT", "NOTIFY", "BY") and not equals:
            return found, f"{command}.missing_value", name.upper() if upper != "BODY" else "BODY"
        if upper == "BODY" and value.upper() not in BODY_TYPES:
            return found, "mail.bad_body", value
        found[upper] = value
    return found, "", ""


def size_of(value: str) -> int:
    """strtol(): leading digits (after blanks and a sign), 0 where there are none."""
    text = value.lstrip(BLANKS)
    sign = -1 if text[:1] == "-" else 1
    text = text[1:] if text[:1] in "+-" else text
    digits = ""
    for char in text:
        if not ("0" <= char <= "9"):
            break
        digits += char
    return sign * int(digits) if digits else 0


def read_mail(argument: str, size_limit: int) -> SendmailPath:
    rest = skipword(argument, "from")
    if rest is None:
        return SendmailPath("mail.syntax", shown=shorten(argument.lstrip(BLANKS)))
    shown, tail, unbalanced = split_address(rest)
    if unbalanced:
        return SendmailPath("mail.bad_address", shown=shown, reason=unbalanced)
    found, refusal, named = parameters(tail, "mail")
    address = bare(shown)
    if refusal:
        return SendmailPath(refusal, address, named, parameters=found)
    if size_limit and size_of(found.get("SIZE", "0")) > size_limit:
        return SendmailPath("mail.too_big", address, shown, parameters=found)
    return SendmailPath("", address, shown, parameters=found)


def read_rcpt(argument: str) -> SendmailPath:
    rest = skipword(argument, "to")
    if rest is None:
        return SendmailPath("rcpt.syntax", shown=shorten(argument.lstrip(BLANKS)))
    shown, tail, unbalanced = split_address(rest)
    if unbalanced:
        return SendmailPath("rcpt.bad_address", shown=shown, reason=unbalanced)
    address = bare(shown)
    if not address:
        return SendmailPath("rcpt.bad_address", shown=shown, reason="User address required")
    found, refusal, named = parameters(tail, "rcpt")
    if refusal:
        return SendmailPath(refusal, address, named, parameters=found)
    return SendmailPath("", address, shown, parameters=found)


def sender_unqualified(sender: str | None) -> bool:
    """The delayed check_mail at RCPT: a sender other than <> must have a domain."""
    return bool(sender) and "@" not in (sender or "").strip('"')


def vrfy_target(argument: str, hostname: str) -> tuple[str, str]:
    """(the local user VRFY or EXPN asks about, or "" for a remote address; the address a 252
    names for a remote one)."""
    shown = argument.strip(BLANKS)
    address = bare(shown)
    local_part, at, domain = address.rpartition("@")
    if not at:
        return address, ""
    if domain.lower().rstrip(".") in (hostname.lower(), "localhost"):
        return local_part, ""
    return "", f"<{address}>"
