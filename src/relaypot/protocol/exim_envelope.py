"""MAIL, RCPT and VRFY read as Exim 4.96 reads them ([addresses] grammar = "exim"): pure.

A port of what smtp_in.c and parse.c do with the argument: ESMTP options taken off the end
(extract_option, smtp_in.c), then parse_extract_address (parse.c): RFC 822 words, comments,
phrases before a route-addr, source routes dropped, "domain literals not allowed" inside <> (a
bare address takes any printable literal: parse.c reads it as a message-id's), and Exim's own
error texts ("malformed address: X may not follow Y"). What the session does with the result is
`read_mail`'s and `read_rcpt`'s reply key; the texts are the persona's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from relaypot.protocol.commands import C_SPACE

MAX_ADDRESS = 256  # EXIM_EMAILADDR_MAX
_SPECIAL = frozenset(' ()<>@,;:\\".[]\x7f')
MAIL_OPTIONS = ("SIZE", "BODY", "AUTH", "PRDR", "RET", "ENVID", "SMTPUTF8")  # env_mail_type_list
_NEEDS_VALUE = frozenset({"SIZE", "BODY", "AUTH", "RET", "ENVID"})
INT_MAX = 2**31 - 1


def _special(c: str) -> bool:
    """mac_iscntrl_or_special; the end of the string ("") is special too, as C's NUL is."""
    return c == "" or c < " " or c in _SPECIAL


def _alnum(c: str) -> bool:
    return c != "" and c.isascii() and c.isalnum()


def _comment_end(s: str, i: int) -> int:
    """Past the comment opening at s[i] ("("): nested comments and quoted pairs within, to its
    ")" or the end of the string."""
    level = 1
    i += 1
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            i += 1
        elif c == "(":
            level += 1
        elif c == ")":
            level -= 1
            if level <= 0:
                return i + 1
        i += 1
    return i


class _Parser:
    """parse.c's reader over one string; `at(i)` is "" past its end, as C reads its NUL."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.last_comment = 0  # last_comment_position

    def at(self, i: int) -> str:
        return self.s[i] if i < len(self.s) else ""

    def skip_comment(self, i: int) -> int:
        self.last_comment = i
        while True:
            while self.at(i) != "" and self.at(i) in C_SPACE:
                i += 1
            if self.at(i) != "(":
                return i
            i = _comment_end(self.s, i)

    def local_part(self, i: int, allow_null: bool) -> tuple[int, str, str]:
        """read_local_part: (position, the local part, error or "")."""
        out: list[str] = []
        while True:
            i = self.skip_comment(i)
            start = len(out)
            if self.at(i) == '"':
                out.append('"')
                i += 1
                while (c := self.at(i)) != "" and c != '"':
                    out.append(c)
                    if c == "\\" and self.at(i + 1) != "":
                        i += 1
                        out.append(self.at(i))
                    i += 1
                if self.at(i) != '"':
                    return i, "".join(out), "unmatched doublequote in local part"
                out.append('"')
                i += 1
            else:
                while not _special(c := self.at(i)) or c == "\\":
                    out.append(c)
                    i += 1
                    if c == "\\" and self.at(i) != "":
                        out.append(self.at(i))
                        i += 1
            i = self.skip_comment(i)
            if len(out) == start and self.at(i) != ".":
                if not out and not allow_null:
                    return i, "", "missing or malformed local part"
                return i, "".join(out), ""
            if self.at(i) != ".":
                return i, "".join(out), ""
            while self.at(i) == ".":
                out.append(".")
                i += 1

    def domain(self, i: int, message_id_literal: bool) -> tuple[int, str, str]:
        """read_domain (domain literals not allowed, strip_trailing_dot off, no UTF-8 domains)."""
        i = self.skip_comment(i)
        if self.at(i) == "[":
            out = ["["]
            i += 1
            if self.s[i:i + 5].lower() in ("ipv6:", "ipv4:"):
                out.append(self.s[i:i + 5])
                i += 5
            if message_id_literal:
                while (c := self.at(i)) != "" and ("!" <= c <= "Z" or "^" <= c <= "~"):
                    out.append(c)
                    i += 1
            else:
                while (c := self.at(i)) != "" and (c in ".:" or c in "0123456789abcdefABCDEF"):
                    out.append(c)
                    i += 1
            error = ""
            if self.at(i) == "]":
                out.append("]")
                i += 1
            else:
                error = "malformed domain literal"
            if not message_id_literal:
                error = "domain literals not allowed"
            return self.skip_comment(i), "" if error else "".join(out), error
        out = []
        while True:
            start = len(out)
            if self.at(i) != "-":
                while _alnum(c := self.at(i)) or c == "-":
                    out.append(c)
                    i += 1
            i = self.skip_comment(i)
            if len(out) == start:
                return i, "", "domain missing or malformed"
            if self.at(i) != ".":
                return i, "".join(out), ""
            out.append(".")
            i = self.skip_comment(i + 1)

    def route(self, i: int) -> tuple[int, str]:
        """read_route: past the source route ("@a,@b:"), which is dropped; (position, error)."""
        commas = False
        while self.at(i) == "@":
            i, domain, error = self.domain(i + 1, False)
            if not domain:
                return i, error
            if self.at(i) != ",":
                break
            i += 1
            commas = True
            i = self.skip_comment(i)
        if self.at(i) != ":":
            return i, "colon expected after route list" if commas else "no local part"
        return self.skip_comment(i + 1), ""

    def addr_spec(self, i: int, term: str) -> tuple[int, str, str, bool]:
        """read_addr_spec: (position, address, error, has a domain)."""
        i, local, error = self.local_part(i, False)
        if error or self.at(i) == term:
            return i, local, error, False
        if self.at(i) != "@":
            return i, local, f'"@" or "." expected after "{local}"', False
        i, domain, error = self.domain(i + 1, False)
        return i, f"{local}@{domain}", error, True


class Groups:
    """parse_allow_group and parse_found_group: a header's address list may hold RFC 822 groups
    ("name: a, b;"), a group's name is passed over and its ";" ends it (verify = header_syntax)."""

    __slots__ = ("allowed", "found")

    def __init__(self) -> None:
        self.allowed = True
        self.found = False


def extract_address(mailbox: str, allow_null: bool,
                    groups: Groups | None = None) -> tuple[str | None, str, bool]:
    """parse_extract_address for an SMTP argument, or (with `groups`) for an address of a
    header's list: (the address or None, the error, whether it has a domain)."""
    p = _Parser(mailbox)
    i = 0
    while True:  # RESTART: again after a group's name
        i = p.skip_comment(i)
        start = i
        i, address, error = p.local_part(i, True)
        if error:
            return None, error, False
        c = p.at(i)
        if c == "@" or c == "<":
            break
        if c == "" or c == ";":
            if not address:
                if groups is not None and groups.found and c == ";":
                    groups.found, groups.allowed = False, True
                return None, "empty address", False
            return _finish(p, i, address, start, p.last_comment, False, groups)
        while p.at(i) != "<" and not (groups is not None and groups.allowed and p.at(i) == ":"):
            i, address, error = p.local_part(i, False)  # a phrase before a route-addr
            if error:
                return None, f'{error} (expected word or "<")', False
        if p.at(i) != ":" or groups is None:
            break
        groups.found, groups.allowed = True, False  # a group's name: passed over
        i += 1
    has_domain = False
    if p.at(i) == "<":
        i += 1
        start = i
        i = p.skip_comment(i)
        routed = False
        if p.at(i) == "@":
            i, error = p.route(i)
            if error:
                return None, error, False
            routed = True
        if allow_null and not routed and p.at(i) == ">":
            address = ""
        else:
            i, address, error, has_domain = p.addr_spec(i, ">")
            if error:
                return None, error, False
            if routed and not has_domain:
                return None, "domain missing in source-routed address", False
        end = i
        i += 1
        if p.at(i - 1) != ">":
            if p.at(i - 1) == "":
                return None, "'>' missing at end of address", False
            return None, f"malformed address: {mailbox[i - 1:i + 31]} may not follow {mailbox[:i - 1]}", False
        i = p.skip_comment(i)
        return _finish(p, i, address, start, end, has_domain, groups)
    if not address:  # "@route:local@domain" without brackets
        i, error = p.route(i)
        if error:
            return None, error, False
        i, address, error, has_domain = p.addr_spec(i, "")
        if error:
            return None, error, False
        if not has_domain:
            return None, "domain missing in source-routed address", False
        return _finish(p, i, address, start, p.last_comment, True, groups)
    i, domain, error = p.domain(i + 1, True)
    if not domain:
        return None, error, False
    return _finish(p, i, f"{address}@{domain}", start, p.last_comment, True, groups)


def _finish(p: _Parser, i: int, address: str, start: int, end: int, has_domain: bool,
            groups: Groups | None = None) -> tuple[str | None, str, bool]:
    if p.at(i) != "" and groups is not None and groups.found and p.at(i) == ";":
        groups.found, groups.allowed = False, True  # the group ends with this address
    elif p.at(i) != "":
        return None, f"malformed address: {p.s[i:i + 32]} may not follow {p.s[:i]}", False
    while end > 0 and p.s[end - 1] in C_SPACE:
        end -= 1
    if end - start > MAX_ADDRESS:
        return None, f"address is ridiculously long: {address[:64]}...", False
    return address, "", has_domain


# ------------------------------------------------------------------ ESMTP options

def extract_option(data: str) -> tuple[str, str, str, bool] | None:
    """smtp_in.c's extract_option: the last option of `data`: (what is left before it, its name,
    its value, whether it had "="), or None. An option without "=" has its name as its value."""
    v = len(data) - 1
    while v > 0 and data[v] in C_SPACE:
        v -= 1
    data = data[:v + 1]
    while v > 0 and data[v] != "=" and data[v] not in C_SPACE:
        if data[v] == '"':  # a space inside a quoted local part is not an option's start
            v -= 1
            while v > 0 and data[v] != '"':
                v -= 1
            if v <= 0:
                return None
        v -= 1
    if v <= 0:
        return None
    if data[v] == "=":
        n = v
        while n > 0 and data[n - 1].isascii() and data[n - 1].isalpha():
            n -= 1
        if n <= 0 or data[n - 1] not in C_SPACE:
            return None
        return data[:n - 1], data[n:v], data[v + 1:], True
    return data[:v], data[v + 1:], data[v + 1:], False


def strtoul_size(value: str) -> int | None:
    """SIZE's value as Ustrtoul reads it (leading blanks, a sign, then digits to the end), capped
    at INT_MAX; None where something else follows."""
    match = re.fullmatch(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)", value)  # ASCII digits, as strtoul reads
    if match is None:
        return None
    return min(strtoul(match.group(1), match.group(2)), INT_MAX)  # a minus negates into ULONG_MAX's range


ULONG_MAX = 2**64 - 1


def strtoul(sign: str, digits: str) -> int:
    """strtoul()'s unsigned long of a sign and ASCII digits: saturated at ULONG_MAX, a minus
    negating modulo 2**64. Any number of digits: int() never sees more than ULONG_MAX has (past
    Python's 4300-digit guard it would raise)."""
    digits = digits.lstrip("0")
    if len(digits) > len(str(ULONG_MAX)) or int(digits or "0") > ULONG_MAX:
        return ULONG_MAX
    number = int(digits or "0")
    return -number % 2**64 if sign == "-" else number


_BDAT_SIZE = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)[ \t\n\v\f\r]*")  # sscanf's "%u %n"


def bdat_argument(data: str) -> tuple[int | None, bool]:
    """BDAT's argument as smtp_in.c reads it: sscanf(data, "%u %n") (white space, a sign, ASCII
    digits, strtoul's unsigned long, which saturates and negates, cast to an unsigned int), then
    LAST only where all that is left is "LAST" in any case ("3 LAST x" and "3 LASTX" are a chunk
    that is not the last, "3LAST" the last). (None, False) where no number comes first."""
    match = _BDAT_SIZE.match(data)
    if match is None:
        return None, False
    return strtoul(match.group(1), match.group(2)) % 2**32, data[match.end():].upper() == "LAST"


_XTEXT = re.compile(r"(?:[!-*,-<>-~]|\+[0-9A-F]{2})*")


@dataclass(frozen=True, slots=True)
class EximPath:
    refusal: str  # a reply key, "" when taken
    address: str = ""  # as the server names it (postmaster qualified)
    argument: str = ""  # the argument as its error reply repeats it
    reason: str = ""  # parse.c's error text
    parameters: dict[str, str] | None = None
    has_domain: bool = True


def read_mail(data: str, esmtp: bool, size_limit: int) -> EximPath:
    """MAIL FROM as smtp_in.c reads it after "mail from:" and its blanks."""
    if not data:
        return EximPath("mail.missing_address")
    parameters: dict[str, str] = {}
    size = 0
    while esmtp:
        found = extract_option(data)
        if found is None:
            break
        rest, name, value, equals = found
        upper = name.upper()
        if upper not in MAIL_OPTIONS:
            # put back (value[-1] = '=', name[-1] = ' '): the address reading fails on it, and
            # the blank before it, a tab too, is a space from now on
            data = f"{rest} {name}={value}" if equals else f"{rest} {name}"
            break
        if upper in _NEEDS_VALUE and value == "":
            data = rest  # smtp_in.c leaves the option cut off and stops looking
            break
        if upper == "SIZE":
            number = strtoul_size(value)
            if number is None:  # arg_error: the loop stops, the option left cut off
                data = rest
                break
            size = number
        elif upper == "BODY":
            if value.upper() not in ("8BITMIME", "7BIT"):
                return EximPath("mail.bad_body")
        elif upper == "AUTH":
            if value != "<>" and not _XTEXT.fullmatch(value):
                return EximPath("mail.bad_auth")
        elif upper == "SMTPUTF8":
            return EximPath("mail.smtputf8_unadvertised")
        parameters[upper] = value if equals else ""
        data = rest
    address, reason, has_domain = extract_address(data, True)
    if address is None:
        return EximPath("mail.bad_address", argument=data, reason=reason)
    if size_limit and size > size_limit:
        return EximPath("mail.too_big", address, data, parameters=parameters)
    if address and not has_domain:
        return EximPath("mail.unqualified", address, data, parameters=parameters)
    return EximPath("", address, data, parameters=parameters)


def read_rcpt(data: str, esmtp: bool, hostname: str) -> EximPath:
    """RCPT TO as smtp_in.c reads it: DSN is not advertised, so every option is put back (a bare
    word's put back as "=word", the order smtp_in.c restores the two characters in)."""
    if not data:
        return EximPath("rcpt.missing_address")
    if esmtp:
        found = extract_option(data)
        if found is not None:
            rest, name, value, equals = found
            # name[-1] = ' ' then value[-1] = '=': without "=" those are the same byte, and the
            # blank before the option is a space from now on
            data = f"{rest} {name}={value}" if equals else f"{rest}={name}"
    return _recipient(data, hostname, "rcpt")


def read_vrfy(data: str, hostname: str) -> EximPath:
    """VRFY: parse errors are "501 <error>" (vrfy.bad_address); then as a recipient."""
    address, reason, has_domain = extract_address(data, False)
    if address is None:
        return EximPath("vrfy.bad_address", argument=data, reason=reason)
    return _qualified(address, has_domain, data, hostname, "vrfy")


def _recipient(data: str, hostname: str, command: str) -> EximPath:
    address, reason, has_domain = extract_address(data, False)
    if address is None:
        return EximPath(f"{command}.bad_address", argument=data, reason=reason)
    return _qualified(address, has_domain, data, hostname, command)


def _qualified(address: str, has_domain: bool, data: str, hostname: str, command: str) -> EximPath:
    """qualify_recipient: only postmaster may come without a domain (RFC 5321 §4.5.1)."""
    if has_domain:
        return EximPath("", address, data, parameters={})
    if address.lower() == "postmaster":
        return EximPath("", f"{address}@{hostname}", data, parameters={})
    return EximPath(f"{command}.unqualified", address, data, parameters={}, has_domain=False)


# Debian's CHECK_RCPT_LOCAL_LOCALPARTS and CHECK_RCPT_REMOTE_LOCALPARTS (acl_check_rcpt)
_RESTRICTED_LOCAL = re.compile(r"^[.]|^.*[@%!/|`#&?]")
_RESTRICTED_REMOTE = re.compile(r"^[./|]|^.*[@%!`#&?]|^.*/\.\./")


def restricted(local_part: str, local: bool) -> bool:
    return (_RESTRICTED_LOCAL if local else _RESTRICTED_REMOTE).search(local_part) is not None


def find_address_end(s: str) -> int:
    """parse_find_address_end: where the address starting `s` ends (a comma outside quotes,
    comments and angle brackets, or the end)."""
    routing = s[:1] == "@"
    open_ = 1 if routing else 0
    i = 0
    while i < len(s) and (s[i] != "," or open_ > 0):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            i += 2
            continue
        if c == '"':
            i += 1
            while i < len(s):
                if s[i] == "\\" and i + 1 < len(s):
                    i += 1
                elif s[i] == '"':
                    i += 1
                    break
                i += 1
            continue
        if c == "(":
            i = _comment_end(s, i)
            continue
        if c == "<":
            routing = s[i + 1 : i + 2] == "@"
            open_ = 2 if routing else 1
        elif c == ">" or (routing and c == ":"):
            open_ -= 1
        i += 1
    return i


def header_addresses_parse(value: str) -> bool:
    """verify_check_headers() for one From:, Sender:, Reply-To:, To:, Cc: or Bcc: header (its
    text after the colon): every address in its list parses and has a domain (a client may send
    no unqualified address); an empty one is no error."""
    groups = Groups()
    s = value.lstrip(C_SPACE)
    while s:
        end = find_address_end(s)
        address, error, has_domain = extract_address(s[:end], False, groups)
        if (address is None and error != "empty address") or (address is not None and not has_domain):
            return False
        s = s[end + 1 :].lstrip(C_SPACE)
    return True
