"""MAIL, RCPT, VRFY and EXPN read as Sendmail 8.17.1.9 with Debian's sendmail.cf reads them
([addresses] grammar = "sendmail"): pure.

A port of what the captures and the differential test reach (tests/reference/sendmail/):
srvrsmtp.c's skipword() (the word, a colon, then the path), the address as prescan() delimits it
(up to a blank outside <>, quotes and comments; unbalanced brackets, over-long tokens refused),
parseaddr()'s refusals that need no DNS, the ESMTP parameters of mail_esmtp_args() and
rcpt_esmtp_args(), the sender checks the rulesets make at RCPT under FEATURE(delay_checks) that
need no DNS (a sender without a domain, or with one no DNS can hold), and VRFY's and EXPN's
address lists (sendtolist(), printvrfyaddr()). Replies name the address as the client wrote it
("<alice@example.org>... Sender ok"), shortened and 7-bit as Sendmail keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

from relaypot.protocol.commands import C_SPACE, C_SPACE_BYTES
from relaypot.protocol.opensmtpd_envelope import valid_domainpart  # res_hnok(): what a DNS name may be

MAX_SHORT = 203  # conf.h MAXSHORTSTR: what shortenstring() leaves of an echoed command
MAXNAME = 256  # conf.h: the longest token prescan() takes

_ATOM = re.compile(r"[!#$%&'*+\-/0-9=?A-Z^_`a-z{|}~]+")  # isatom(): an RFC 822 atom
BODY_TYPES = frozenset({"7BIT", "8BITMIME"})


@dataclass(frozen=True, slots=True)
class SendmailPath:
    refusal: str  # a reply key, "" when taken
    address: str = ""  # the address without its brackets ("" for <>)
    shown: str = ""  # the address as written, or what a refusal names ({argument})
    reason: str = ""  # the rest of a refusal's text ({reason})
    parameters: dict[str, str] | None = None  # None: refused before the path was read


def shorten(text: str, limit: int = MAX_SHORT) -> str:
    """shortenstring(): a text of `limit` bytes or more keeps its head and tail around "...",
    counted in bytes (a character cut in two is kept as the bytes that are left)."""
    data = text.encode("utf-8", "surrogateescape")
    if len(data) < limit:
        return text
    half = (limit - 3) // 2
    return (data[:half] + b"..." + data[-half:]).decode("utf-8", "surrogateescape")


def _word(argument: str) -> tuple[str, str]:
    """skipword()'s word (up to a colon or a blank) and what follows it."""
    text = argument.lstrip(C_SPACE)
    end = 0
    while end < len(text) and text[end] != ":" and text[end] not in C_SPACE:
        end += 1
    return text[:end], text[end:]


def first_word(argument: str) -> str:
    """What skipword()'s refusal names: the first word, up to a colon or a blank (it writes a NUL
    there before it finds the argument wanting), 7-bit as the address in it is kept."""
    return seven_bit(_word(argument)[0])


def skipword(argument: str, word: str) -> str | None:
    """The text after "WORD:" and its blanks, or None where the argument is no "WORD: path"."""
    name, rest = _word(argument)
    rest = rest.lstrip(C_SPACE)
    if not rest.startswith(":"):
        return None
    rest = rest[1:].lstrip(C_SPACE)
    if not rest or name.lower() != word:
        return None
    return rest


PSBUFSIZE = MAXNAME + 1000  # sendmail.h (MAXNAME + MAXATOM): the buffer prescan() keeps tokens in
NOCHAR = -1

# prescan()'s character types (ExtTokenTab once sendmail.cf's OperatorChars ".:%@!^/[]+" and its
# DELIMCHARS "()<>,;" are made operators; blanks and parentheses stay blanks) and state table
_OPR, _ATM, _QST, _SPC = 0, 1, 2, 3
_TYPES = bytes(_SPC if byte in b" \t\n\v\f\r()" else _QST if byte == 0x22
               else _OPR if byte in b".:%@!^/[]+<>,;" else _ATM for byte in range(256))
_META, _BREAK = 0o20, 0o40  # a character not kept; one that ends the token
_STATES = (  # [state][type], as StateTab (types ONE and ILL: none in this table)
    (_OPR | _BREAK, _ATM | _BREAK, _QST | _BREAK, _SPC | _META | _BREAK),
    (_OPR | _BREAK, _ATM, _QST | _BREAK, _SPC | _META | _BREAK),
    (_QST, _QST, _OPR, _QST),
    (_OPR, _ATM, _QST, _SPC | _META),
)


@dataclass(frozen=True, slots=True)
class Scanned:
    end: int  # where the address ends: the delimiter's offset, or the end of the text
    refusal: str = ""  # prescan()'s: "bad_address", "token_too_long" or "prescan_too_long"
    reason: str = ""  # bad_address's words ("Unbalanced '<'")
    # the address's tokens (comments gone, a quoted string one token)
    tokens: tuple[bytes, ...] = field(default=(), compare=False)


def prescan(data: bytes, delimiter: int, start: int = 0) -> Scanned:
    """prescan() on an address and what follows it (a command's parameters, a list's other
    addresses), as Sendmail 8.17 runs it under QuickAbort: its first refusal ends the command.
    The address ends at `delimiter` (a blank for MAIL and RCPT, a comma for a VRFY list) outside
    quotes, comments and angle brackets (a backslash does not keep it; a comma inside brackets
    is "Unbalanced '<'" unless a route); a token of more than MAXNAME bytes is refused, and the
    tokens' buffer may not fill ("Address too long"). A refusal names everything from the
    address on (e_to is the text, not a copy cut at the delimiter). `start`: where the address
    begins in `data`; Scanned.end counts from the start of `data` too."""
    bslash = route = False
    comment = angle = 0
    state = _ATM
    used, count, p, c = 0, len(data), start, NOCHAR
    tokens: list[bytes] = []
    while True:
        token = bytearray()
        while True:
            if c != NOCHAR and not bslash:
                if used + len(token) >= PSBUFSIZE - 5:
                    return Scanned(count, "prescan_too_long")
                token.append(0x7F if c == 0xFF else c)  # !ALLOW_255
            c = data[p] if p < count else 0
            p += 1
            if c == 0:
                if state == _QST:
                    return Scanned(count, "bad_address", "Unbalanced '\"'")
                if comment > 0:
                    return Scanned(count, "bad_address", "Unbalanced '('")
                if angle > 0:
                    return Scanned(count, "bad_address", "Unbalanced '<'")
                break
            if c == delimiter and comment <= 0 and state != _QST:
                if angle <= 0:
                    break
                if delimiter == 0x2C and not route:  # "special case for better error management"
                    return Scanned(count, "bad_address", "Unbalanced '<'")
            if bslash:
                bslash = False
                if comment > 0:
                    c = NOCHAR
                    continue
                if c != 0x21 or state == _QST:  # a "\!" loses its backslash
                    if used + len(token) >= PSBUFSIZE - 5:
                        return Scanned(count, "prescan_too_long")
                    token.append(0x5C)
                    continue
            if c == 0x5C:
                bslash = True
            elif state == _QST:
                pass
            elif c == 0x28:  # (
                comment += 1
                c = NOCHAR
            elif c == 0x29:  # )
                if comment <= 0:
                    return Scanned(count, "bad_address", "Unbalanced ')'")
                comment -= 1
            elif comment > 0:
                c = NOCHAR
            elif c == 0x3C:  # <
                angle += 1
                after = p
                while after < count and data[after] in C_SPACE_BYTES:
                    after += 1
                route = data[after:after + 1] == b"@"
            elif c == 0x3E:  # >
                if angle <= 0:
                    return Scanned(count, "bad_address", "Unbalanced '>'")
                angle -= 1
                route = False
            elif delimiter == 0x20 and c in C_SPACE_BYTES:
                c = 0x20
            if c == NOCHAR:
                continue
            if c == delimiter and angle <= 0 and state != _QST:
                break
            moved = _STATES[state][_TYPES[c]]
            state = moved & 0o17
            if moved & _META:
                c = NOCHAR
            if moved & _BREAK:
                break
        if token:
            if used + len(token) >= PSBUFSIZE - 5:
                return Scanned(count, "prescan_too_long")
            used += len(token) + 1
            if len(token) > MAXNAME:
                return Scanned(count, "token_too_long")
            tokens.append(bytes(token))
        if c == 0 or (c == delimiter and angle <= 0):
            return Scanned(p - 1, tokens=tuple(tokens))


def invalid_address(address: bytes) -> tuple[str, str]:
    """invalidaddr() on an address as delimited: ("too_long", its first 255 bytes) for one of more
    ("Address ... too long (255 bytes max)"), ("eight_bit", the address) for one holding a byte of
    0x80-0x9F ("8-bit character in mailbox address"); each such byte before the cut is named "?".
    ("", "") for neither. Captured: tests/reference/sendmail/bytes.json."""
    marked = bytes(0x3F if 0x80 <= byte <= 0x9F else byte for byte in address[:MAXNAME])
    if len(address) > MAXNAME - 1:
        return "too_long", marked[:MAXNAME - 1].decode("utf-8", "surrogateescape")
    if marked != address:
        return "eight_bit", marked.decode("utf-8", "surrogateescape")
    return "", ""


def refusal_values(refusal: str, named: str) -> dict[str, str]:
    """The {argument} (and {reason}) of an address refusal naming `named`: a 553 names e_to
    shortened; "8-bit character" and "non-printable character" name the address whole, "too
    long" both."""
    if refusal in ("eight_bit", "non_printable"):
        return {"argument": named}
    if refusal == "too_long":
        return {"argument": shorten(named), "reason": named}
    return {"argument": shorten(named)}


def seven_bit(text: str) -> str:
    """An address as Sendmail without EAI keeps it: each byte's high bit dropped ("jöhn" is
    "jC6hn")."""
    if text.isascii():
        return text
    return bytes(byte & 0x7F for byte in text.encode("utf-8", "surrogateescape")).decode("ascii")


def bare(shown: str) -> str:
    """The address inside its angle brackets (nested ones too), if it has them; after a null "<>",
    the bracketed address that follows ("<><root>" is root: ruleset 3's innermost item), or the
    whole, which after_null() tells apart."""
    if shown.startswith("<>"):
        rest = shown[2:]
        return bare(rest) if "<" in rest else (shown if rest.strip(C_SPACE) else "")
    close = shown.rfind(">")
    opened = shown.rfind("<", 0, close) if close > 0 else -1
    if opened > 0 and ">" in shown[:opened]:
        # of several bracketed addresses the last is the address (ruleset 3's "strip excess on
        # left", RFC 733's heuristic: "<a@b>,<root@here>" is root; captured, address_forms.json)
        shown = shown[opened:close + 1]
    while True:
        start, end = shown.find("<"), shown.rfind(">")
        if not (start >= 0 and end > start):
            return shown
        shown = shown[start + 1:end].strip(C_SPACE)


LONG_MAX = 2**63 - 1


def xtext_ok(text: str) -> bool:
    """xtextok(): printable ASCII but "=", each "+" followed by two hex digits."""
    index = 0
    while index < len(text):
        char = text[index]
        if char == "+":
            pair = text[index + 1:index + 3]
            if len(pair) < 2 or not all(c in "0123456789abcdefABCDEF" for c in pair):
                return False
            index += 3
            continue
        if not "!" <= char <= "~" or char == "=":
            return False
        index += 1
    return True


# MAIL parameters the envelope keeps once read, a refused MAIL's too, until RSET, HELO or the
# message (CLEAR_STATE): the next MAIL naming one again is refused as a duplicate
ENVELOPE_PARAMETERS = frozenset({"ENVID", "RET", "AUTH"})


MAX_SMTP_ARGS = 20  # conf.h MAXSMTPARGS: the address and the parameters a command may have, less one


def esmtp_words(text: str) -> list[tuple[str, str | None]]:
    """parse_esmtp_args()'s (keyword, value or None) pairs, byte by byte as it reads them: a
    keyword is ASCII letters, digits and "-"; "=" starts a value, which ends at a space, a
    control character or another "="; whatever ended the word is skipped, whatever it is (so
    "A.B=1" is the keyword A, then B=1; "SIZE=1=5" is SIZE=1, then 5). A NUL ends the line."""
    data = text.encode("utf-8", "surrogateescape").split(b"\0", 1)[0]
    words: list[tuple[str, str | None]] = []
    i, end = 0, len(data)
    while i < end:
        while i < end and data[i] in C_SPACE_BYTES:
            i += 1
        if i >= end:
            break
        start = i
        while i < end and (data[i] in _KEYWORD_BYTES):
            i += 1
        keyword, value = data[start:i], None
        if i < end and data[i] == _EQUALS:
            i += 1
            begin = i
            while i < end and data[i] != 0x20 and not (data[i] < 0x20 or data[i] == 0x7F) and data[i] != _EQUALS:
                i += 1
            value = data[begin:i]
        i += 1  # the byte that ended the word, overwritten by a NUL
        words.append((keyword.decode("ascii"), None if value is None else value.decode("utf-8", "surrogateescape")))
    return words


_KEYWORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")
_EQUALS = ord("=")


def parameters(text: str, command: str, kept: frozenset[str] = frozenset()) -> tuple[dict[str, str], str, str]:
    """(the parameters, a refusal key, what it names): the words parse_esmtp_args() finds,
    checked as mail_esmtp_args() and rcpt_esmtp_args() check them, in order; the first refusal
    wins, and the eighteenth parameter is one too many. `kept`: ENVELOPE_PARAMETERS an earlier
    MAIL of this envelope set."""
    found: dict[str, str] = dict.fromkeys(kept, "")
    for count, (name, value) in enumerate(esmtp_words(text), start=2):  # args[0] is the address
        upper = name.upper()
        refusal, named = _parameter(command, upper, value, found)
        if refusal:
            if refusal == "mail.bad_ret":
                found[upper] = value or ""  # EF_RET_PARAM is set before the value is looked at
            return _own(found, kept), refusal, name if named is None else named  # BODY= names ""
        found[upper] = value or ""
        if count >= MAX_SMTP_ARGS - 1:
            return _own(found, kept), f"{command}.too_many_parameters", ""
    return _own(found, kept), "", ""


def _own(found: dict[str, str], kept: frozenset[str]) -> dict[str, str]:
    """The parameters this command named: an earlier MAIL's stand in `found` only to be found
    again (naming one again is refused before it could replace it)."""
    return found if not kept else {name: value for name, value in found.items() if name not in kept}


def _parameter(command: str, name: str, value: str | None, found: dict[str, str]) -> tuple[str, str | None]:
    """(a refusal key or "", what it names: None for the keyword as written)."""
    key = f"{command}.{{}}"
    if command == "mail" and name == "SIZE":
        if value is None:
            return key.format("missing_value"), "SIZE"
        size = size_of(value)
        if size > LONG_MAX:
            return "mail.size_overflow", None
        return ("mail.size_invalid", None) if size < 0 else ("", "")
    if command == "mail" and name == "BODY":
        if value is None:
            return "mail.missing_value", "BODY"
        return ("", "") if value.upper() in BODY_TYPES else ("mail.bad_body", value)
    if command == "mail" and name in ("ENVID", "RET", "AUTH"):
        if value is None:
            return "mail.missing_value", "AUTH=" if name == "AUTH" else name
        if name == "RET":
            if name in found:
                return "mail.duplicate", name
            return ("", "") if value.upper() in ("HDRS", "FULL") else ("mail.bad_ret", value)
        if name == "ENVID" and not xtext_ok(value):
            return "mail.bad_xtext", name
        if name in found:
            return "mail.duplicate", name
        if name == "AUTH" and not xtext_ok(value.split(" ", 1)[0]):
            return "mail.bad_xtext", name
        return "", ""
    if command == "mail" and name == "BY":
        return ("mail.missing_value", name) if value is None else ("", "")
    if command == "rcpt" and name == "NOTIFY":
        if value is None:
            return "rcpt.missing_value", name
        if value.upper() == "NEVER":
            return "", ""
        for item in value.split(","):
            if item.upper() not in ("SUCCESS", "FAILURE", "DELAY"):
                return "rcpt.bad_notify", item
        return "", ""
    if command == "rcpt" and name == "ORCPT":
        if value is None:
            return "rcpt.missing_value", name
        if name in found:
            return "rcpt.duplicate", name
        kind, semicolon, address = value.partition(";")
        if not semicolon or not _ATOM.fullmatch(kind) or not xtext_ok(address):
            return "rcpt.bad_orcpt", None
        return "", ""
    return f"{command}.unsupported_option", None


def size_of(value: str) -> int:
    """strtol(): leading digits (after blanks and a sign), 0 where there are none."""
    text = value.lstrip(C_SPACE)
    sign = -1 if text[:1] == "-" else 1
    text = text[1:] if text[:1] in "+-" else text
    digits = ""
    for char in text:
        if not ("0" <= char <= "9"):
            break
        digits += char
    return sign * int(digits) if digits else 0


def address_tokens(address: str) -> list[str]:
    """prescan()'s tokens of an address (comments gone, a quoted string one token); the address
    whole where prescan() refuses it."""
    scan = prescan(address.encode("utf-8", "surrogateescape"), 0)
    if scan.refusal:
        return [address]
    return [token.decode("utf-8", "surrogateescape") for token in scan.tokens]


def _atom(token: str) -> bool:
    return _TYPES[ord(token[0]) & 0xFF] != _OPR


def joined(tokens: list[str]) -> str:
    """cataddr(): the tokens as one address, two words in a row joined by a dot (BlankSub)."""
    text = ""
    for n, token in enumerate(tokens):
        if n and _atom(token) and _atom(tokens[n - 1]):
            text += "."
        text += token
    return text


def _rewritten(tokens: list[str], find: Callable[[list[str]], int | None]) -> list[str]:
    """One rule "R@ ... $+ → $2" of ruleset 3: repeated while it matches; `find` gives where the
    rest ($2) starts."""
    while tokens[:1] == ["@"] and (rest := find(tokens)) is not None:
        tokens = tokens[rest:]
    return tokens


def _after_first(tokens: list[str], separator: list[str], start: int) -> int | None:
    """Where the text after the first `separator` at or past `start` begins, if a token follows
    it ("$+ SEP $+": the first match is the shortest)."""
    width = len(separator)
    for at in range(start, len(tokens) - width):
        if tokens[at:at + width] == separator:
            return at + width
    return None


def strip_route(address: str) -> str:
    """Ruleset 3's "strip route address <@a,@b,@c:user@d> -> <user@d>" (proto.m4, Sendmail 8.17,
    without _USE_DEPRECATED_ROUTE_ADDR_): "@ $+ , $+" keeps what follows the first comma past
    the first host, "@ [ $* ] : $+" and "@ $+ : $+" what follows the first colon, each rule
    repeated while it matches, in that order. So "@a,b:c@d" is "b:c@d" and "@a:b,c@d" "c@d"
    (captured from the real Sendmail: tests/reference/sendmail/routes.json). The address as
    written where no rule matched (not a route, or one with no address after it: "@a")."""
    tokens = address_tokens(address) if address.startswith("@") else []
    if tokens[:1] != ["@"]:
        return address
    stripped = _rewritten(tokens, lambda t: _after_first(t, [","], 2))
    stripped = _rewritten(stripped, lambda t: _after_first(t, ["]", ":"], 2) if t[1:2] == ["["] else None)
    stripped = _rewritten(stripped, lambda t: _after_first(t, [":"], 2))
    return address if stripped == tokens else joined(stripped)


def canonical(address: str) -> str:
    """The address as ruleset 3 leaves it for the recipient checks: its route stripped, comments
    and blanks gone, two words in a row joined by a dot ("a@ mail.example.com" and
    "a@mail.example.com(c)" are a@mail.example.com: captured, tests/reference/sendmail/
    address_forms.json)."""
    return joined(address_tokens(strip_route(address)))


def escaped_routing(address: str) -> str:
    """An escaped "@", "%" or "!" is a plain character of its word to Sendmail's rulesets, no
    route: for the recipient checks it is made one that routes nowhere ("a\\@b@here" is the
    unknown user a_b here, not a relay: captured, address_forms.json)."""
    return _ESCAPED_ROUTING.sub("_", address) if "\\" in address else address


_ESCAPED_ROUTING = re.compile(r"\\[@%!]")


def _focus(tokens: list[str]) -> int | None:
    """Where ruleset 3 focuses an address on its domain ("$+ @ $+", then "move gaze right"): the
    last "@" with a token before it and one after it."""
    found = [n for n in range(1, len(tokens) - 1) if tokens[n] == "@"]
    return found[-1] if found else None


FORWARDING = frozenset("@%!")  # class O: the operators that route a local part elsewhere


def address_refusal(address: str, recipient: bool) -> str:
    """What parseaddr() and the rulesets refuse in an address without DNS: the reply key's
    ending, "" when taken. A route is read as ruleset 3 strips it (strip_route); an address
    written "<@>" is list syntax to parseaddr(), one a route leaves as "@" an unknown user."""
    if address == "@":
        return "list_syntax"
    routed = strip_route(address)
    if routed == "@":
        return ""
    tokens = address_tokens(routed)
    if routed.startswith("@"):  # no address after the route: "@a", "@a:"; "@:c@d" has one too many
        return "bad_route" if _focus(tokens) is not None else "no_user"
    focus = _focus(tokens)
    if focus is not None and ":" in tokens[focus + 1:] and not _literal(tokens[focus + 1:]):
        return "host_colon"
    local_part, at, domain = routed.rpartition("@")
    if at and not domain and "!" in local_part:
        return "bad_route"  # a UUCP path with an empty host
    if at and not domain and focus is not None:
        return "bad_route_host"  # a@b@: "Invalid route address" with 5.1.2
    if "@" in local_part.replace('\\@', "") and '"' not in local_part:
        return "bad_route"  # user@host@host, after a route too
    if at and not domain:
        return "no_host"
    if at and (".." in domain or domain.startswith(".")):
        return "bad_host"
    if any(token == "," and after not in FORWARDING for token, after in pairwise(tokens)):
        return "bad_route"  # "comma only allowed before @" (a,b@c)
    return ""


def _literal(domain: list[str]) -> bool:
    """A domain that starts as a literal ("[IPv6:::1]", Parse0's "[host1]:[host2]"): Parse0 takes
    it before it looks for a colon."""
    return domain[:1] == ["["] and "]" in domain


def _path(argument: str, command: str) -> SendmailPath | tuple[str, str, str]:
    """The start MAIL and RCPT share: skipword(), prescan() up to a blank, invalidaddr(), then the
    address as written (7-bit, and shortened as e_to names it). A refusal, or (the address in its
    brackets, as shown, the text after it)."""
    rest = skipword(argument, "from" if command == "mail" else "to")
    if rest is None:
        return SendmailPath(f"{command}.syntax", shown=shorten(first_word(argument)))
    data = rest.encode("utf-8", "surrogateescape")
    scan = prescan(data, 0x20)
    if scan.refusal:
        return SendmailPath(f"{command}.{scan.refusal}", shown=shorten(seven_bit(rest)), reason=scan.reason)
    invalid, named = invalid_address(data[:scan.end])
    if invalid:
        values = refusal_values(invalid, named)
        return SendmailPath(f"{command}.{invalid}", shown=values["argument"], reason=values.get("reason", ""))
    written = seven_bit(data[:scan.end].decode("utf-8", "surrogateescape"))
    tail = data[scan.end:].decode("utf-8", "surrogateescape").strip(C_SPACE)
    return bare(written), shorten(written), tail


_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # not the blanks: prescan() reads a tab as a blank


def non_printable(address: str, is_local: Callable[[str], bool] | None = None) -> str:
    """What "Syntax error in mailbox address "..." (non-printable character)" names, or "" for an
    address with no control character in it: the address with "?" for each, a recipient at one
    of the server's own domains (or at none) by its local part alone, unquoted, as the local
    mailer's user. (Captured from the real Sendmail: tests/reference/sendmail/params.json.)"""
    if not _CONTROL.search(address):
        return ""
    local, at, domain = address.rpartition("@")
    if is_local is not None and (not at or is_local(domain)):
        address = (local if at else address).replace('"', "")
    return _CONTROL.sub("?", address)


def read_mail(argument: str, size_limit: int, kept: frozenset[str] = frozenset()) -> SendmailPath:
    read = _path(argument, "mail")
    if isinstance(read, SendmailPath):
        return read
    address, shown, tail = read
    bad = address_refusal(address, recipient=False)  # setsender() reads the path first
    if bad:
        return SendmailPath(f"mail.{bad}", address, shown, parameters={})
    if named := non_printable(address):
        return SendmailPath("mail.non_printable", address, named, parameters={})
    found, refusal, named = parameters(tail, "mail", kept)
    if refusal:
        return SendmailPath(refusal, address, named, parameters=found)
    if size_limit and size_of(found.get("SIZE", "0")) > size_limit:
        return SendmailPath("mail.too_big", address, shown, parameters=found)
    return SendmailPath("", address, shown, parameters=found)


def after_null(written: str) -> bool:
    """An address written "<>" and more with no bracketed address in it ("<>root", "<>a@b.example"):
    ruleset 3 keeps the null address "<>" and the rest makes it no user. (Captured: RCPT says "550
    5.1.1 <>root... User unknown" after the parameters are read; a sender so written passes MAIL and
    is refused at RCPT as one without a domain, named empty: tests/protocol/test_sendmail.py.)"""
    rest = written[2:] if written.startswith("<>") else ""
    return bool(rest.strip(C_SPACE)) and "<" not in rest


def read_rcpt(argument: str, is_local: Callable[[str], bool] = lambda domain: False) -> SendmailPath:
    """`is_local`: whether a domain is the server's own (a refusal names a local user alone)."""
    read = _path(argument, "rcpt")
    if isinstance(read, SendmailPath):
        return read
    address, shown, tail = read
    if not address or after_null(shown):
        found, refusal, named = parameters(tail, "rcpt")  # an empty address is refused after its parameters
        if refusal:
            return SendmailPath(refusal, address, named, parameters=found)
        if address:
            return SendmailPath("rcpt.unknown_user", shown, shown, parameters=found)
        return SendmailPath("rcpt.bad_address", shown=shown, reason="User address required")
    bad = address_refusal(address, recipient=True)  # parseaddr() before the parameters
    if bad:
        return SendmailPath(f"rcpt.{bad}", address, shown, parameters={})
    if unprintable := non_printable(address, is_local):
        return SendmailPath("rcpt.non_printable", address, unprintable, parameters={})
    found, refusal, named = parameters(tail, "rcpt")
    if refusal:
        return SendmailPath(refusal, address, named, parameters=found)
    return SendmailPath("", address, shown, parameters=found)


def sender_refusal(sender: str | None, hostname: str = "") -> str:
    """The delayed check_mail at RCPT: a sender other than <> must have a domain ("unqualified"),
    not this host's loopback names (localhost, localhost.$m, [127.0.0.1], [IPv6:::1]: "local",
    proto.m4's "Real domain name required"; a trailing dot passes), and one that can resolve: a
    name no DNS can hold never does ("unresolved"; the persona looks nothing up, so any other
    name resolves). "" when the sender passes."""
    if not sender:
        return ""
    if after_null(sender):
        return "unqualified"  # "<>junk": no user, no domain
    _local_part, at, domain = strip_route(sender).strip('"').rpartition("@")
    if not at:
        return "unqualified"
    loopback = {"localhost", "[127.0.0.1]", "[ipv6:::1]", "[ipv6:0:0:0:0:0:0:0:1]"}
    if "." in hostname:
        loopback.add("localhost." + hostname.split(".", 1)[1].lower())
    if domain.lower() in loopback:
        return "local"
    domain = domain.rstrip(".")
    if domain.startswith("[") or not domain:
        return ""
    return "" if valid_domainpart(domain) else "unresolved"


@dataclass(frozen=True, slots=True)
class ListItem:
    text: str  # the address as delimited, or all from it on where prescan() refused it
    refusal: str = ""  # prescan()'s (Scanned.refusal)
    reason: str = ""


def address_list(argument: str, old_style: bool) -> tuple[list[ListItem], bool]:
    """sendtolist(): the addresses VRFY or EXPN names, each as prescan() delimits it, up to the
    first prescan() refuses (the list ends there: QuickAbort); and whether the session still reads
    lists old-style. An old-style list is split at blanks; a comma, semicolon, "<" or "(" makes the
    session's lists new-style (split at commas) from then on (recipient.c's heuristic)."""
    if any(char in argument for char in ",;<("):
        old_style = False
    data = argument.encode("utf-8", "surrogateescape")
    items: list[ListItem] = []
    at = 0
    while True:
        while at < len(data) and (data[at] in C_SPACE_BYTES or data[at] == 0x2C):
            at += 1
        if at >= len(data):
            return items, old_style
        scan = prescan(data, 0x20 if old_style else 0x2C, at)
        if scan.refusal:
            items.append(ListItem(data[at:].decode("utf-8", "surrogateescape"), scan.refusal, scan.reason))
            return items, old_style
        if stripped := data[at:scan.end].decode("utf-8", "surrogateescape").strip(C_SPACE):
            items.append(ListItem(stripped))
        at = scan.end + 1


@dataclass(frozen=True, slots=True)
class LookedUp:
    kind: str  # "remote", "alias", "user", "unknown" or "refused"
    text: str  # what printvrfyaddr() says after "2.1.5 ", or the address a refusal names
    reason: str = ""  # an unbalanced one's; a refused one's rcpt.* reply key ending


def through_this_host(local_part: str, is_local: Callable[[str], bool]) -> str:
    """A UUCP path "host!user" without the hops that name this host ("mail.example.com!root" is
    root here); quotes go with them. Anything else as it was."""
    path = local_part.replace('"', "").split("!")
    if len(path) < 2 or not all(path):
        return local_part
    while len(path) > 1 and is_local(path[0]):
        path = path[1:]
    return "!".join(path)


def look_up(element: str, hostname: str, aliases: dict[str, str], full_names: dict[str, str],
            exists: Callable[[str], bool], is_local: Callable[[str], bool], expand: bool) -> LookedUp:
    """One address of VRFY (`expand` False) or EXPN: a remote one named unchecked (a local
    "user%host" is user@host, a UUCP path "host!user" through another host is the path at this
    host), an alias bare under VRFY and followed to its user under EXPN, a local user with its
    full name; quotes and a "+detail" are dropped from a local part."""
    invalid, named = invalid_address(element.encode("utf-8", "surrogateescape"))
    if invalid:
        return LookedUp("refused", named, invalid)
    element = seven_bit(element)
    address = bare(element)
    refused = address_refusal(address, recipient=True)
    if refused:  # parseaddr()'s own refusals, as RCPT gets them
        return LookedUp("refused", element, refused)
    if unprintable := non_printable(address, is_local):  # hasctrlchar(), as at RCPT
        return LookedUp("refused", unprintable, "non_printable")
    address = canonical(address)  # a route: ruleset 3 keeps the address after it
    if address == "@":
        return LookedUp("unknown", element)
    if not address and ":" in element:
        return LookedUp("refused", element, "no_user")
    local_part, at, domain = address.rpartition("@")
    if not at:
        local_part = address
    elif not is_local(domain):
        return LookedUp("remote", f"<{local_part}@{domain[:-1] if domain.endswith('.') else domain}>")
    elif _quoted_word(local_part) and "@" in local_part:  # Parse0 dequotes "a@b"@here and reads a@b
        return look_up(local_part[1:-1], hostname, aliases, full_names, exists, is_local, expand)
    if "%" in local_part:  # the % hack: the part after the last % is a host
        user, _, host = local_part.rpartition("%")
        if not is_local(host):
            return LookedUp("remote", f"<{user}@{host}>")
        local_part = user
    local_part = through_this_host(local_part, is_local)
    if "!" in local_part and all(local_part.split("!")):  # a path through another host cannot be
        return LookedUp("remote", f"<{local_part}@{hostname}>")  # verified: named at this host
    name = local_part.replace('"', "").split("+", 1)[0].lower()
    if not expand and name in aliases:
        return LookedUp("alias", f"<{name}@{hostname}>")
    for _ in range(8):  # an alias leads to a user, or to another alias (a loop ends here)
        if name not in aliases or aliases[name] == name:
            break
        name = aliases[name]
    if not exists(name):
        return LookedUp("unknown", element)
    full = full_names.get(name, "")
    return LookedUp("user", f"{full} <{name}@{hostname}>" if full else f"<{name}@{hostname}>")


def _quoted_word(text: str) -> bool:
    """One quoted string and nothing else ("$-" of Parse0's dequote rule)."""
    return len(text) >= 2 and text[0] == text[-1] == '"' and '"' not in text[1:-1]


def local_mailer(local_part: str) -> str:
    """What Sendmail's local delivery would make of a local part that is no user (its quotes
    already taken off; a backslash keeps a character literal): "programs" for one starting with
    "|", "files" for "/", "includes" for ":include:" in any case; "" for a user. A client may
    name none of them: "Cannot mail directly to programs" at RCPT, "Invalid sender address" at
    MAIL (captured: tests/protocol/test_sendmail.py)."""
    if local_part.startswith("|"):
        return "programs"
    if local_part.startswith("/"):
        return "files"
    return "includes" if local_part[:9].lower() == ":include:" else ""


def canonical_sender(sender: str) -> str:
    """The sender as Sendmail's $&f names it in check_mail's refusals: comments gone, the words of
    an unquoted address joined by a dot (BlankSub), a quoted one's quotes taken off, and the
    trailing semicolons ruleset 3 strips ("strip trailing semi"). Captured: ";sleep 66;" is
    ";sleep.66", "a(comment)b" "a.b", "a b;;" "a.b" (tests/protocol/test_sendmail.py)."""
    if after_null(sender):
        return ""  # ruleset 3 made it the null address, and the rest nothing
    sender = strip_route(sender)
    if '"' in sender:
        shown = sender.replace('"', "")
    else:
        shown = ".".join(re.sub(r"\([^()]*\)", " ", sender).split())
    return shown.rstrip(";")
