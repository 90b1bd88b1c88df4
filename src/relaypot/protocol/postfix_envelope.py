"""MAIL, RCPT and VRFY arguments as Postfix 3.7's smtpd reads them, followed from its source: the
command's words (smtpd_token), the address pulled out of its word (smtpd.c extract_addr, with the
RFC 822 parser of global/tok822_parse.c), the checks trivial-rewrite's resolver makes of it
(resolve.c: the domain a local address routes to, a host name or an address literal), and the
ESMTP parameters in mail_cmd's and rcpt_cmd's order. The differential test drives this against
the real server ([addresses] grammar = "postfix").

Pure: the argument in; out the reply key refusing it (or ""), the address in Postfix's internal
form (what its replies name) and the parameters.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from relaypot.protocol.postfix_syntax import valid_hostname, valid_mailhost_literal, words

# ---------------------------------------------------------------------------- the RFC 822 parser

OPERATORS = "|%!()<>@,;:\\\".[]"  # tok822_opchar: RFC 822's specials, and | % !
ATOM, QSTRING, DOMLIT, COMMENT, ADDR, STARTGRP = "atom", "qstring", "domlit", "comment", "addr", "startgrp"
WORDS = (ATOM, QSTRING, DOMLIT)
_BLANKS = " \t\r\n"


class _Token:
    """A token in the parser's doubly linked list (a new one links to itself; the list's two ends
    are tokens of kind "")."""

    __slots__ = ("inside", "kind", "next", "prev", "text")

    def __init__(self, kind: str, text: str = "") -> None:
        self.kind, self.text = kind, text
        self.prev: _Token = self
        self.next: _Token = self
        self.inside: list[_Token] = []  # an ADDR's tokens


def _collect(text: str, i: int, stop: Callable[[str], bool]) -> tuple[str, int]:
    """COLLECT(): characters up to `stop`, a backslash taking the next one as it is; blanks as spaces."""
    out = []
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 1
            if i >= len(text):
                break
            c = text[i]
        elif stop(c):
            break
        out.append(" " if c in _BLANKS else c)
        i += 1
    return "".join(out), i


def scan(text: str) -> list[_Token]:
    """tok822_scan(): atoms, quoted strings, domain literals, comments and one-character operators."""
    found: list[_Token] = []
    i = 0
    while i < len(text):
        c = text[i]
        i += 1
        if c in _BLANKS:
            continue
        if c == "(":
            start, level = i - 1, 1
            while i < len(text):
                ch = text[i]
                i += 1
                if ch == "(":
                    level += 1
                elif ch == ")":
                    level -= 1
                    if not level:
                        break
                elif ch == "\\":
                    if i >= len(text):
                        break
                    i += 1
            found.append(_Token(COMMENT, text[start:i]))
        elif c in "[\"":
            body, i = _collect(text, i, (lambda ch: ch == "]") if c == "[" else (lambda ch: ch == '"'))
            i += i < len(text)  # the closing ] or "
            found.append(_Token(DOMLIT if c == "[" else QSTRING, body))
        elif c != "\\" and c in OPERATORS:
            found.append(_Token(c))
        else:
            body, i = _collect(text, i - 1, lambda ch: ch in _BLANKS or ch in OPERATORS)
            # tok822_quote_atom(): an atom holding an escaped operator or blank is a quoted string
            quoted = any(ch == " " or ord(ch) < 32 or ord(ch) == 127 or ch in OPERATORS for ch in body)
            found.append(_Token(QSTRING if quoted else ATOM, body))
    return found


def _group(left: _Token, right: _Token, comma: bool) -> _Token:
    """tok822_group(): the tokens between left and right become one ADDR (a comma before it)."""
    first = left.next
    if left is not right and first is not right:
        group = _Token(ADDR)
        token = first
        while token is not right:
            group.inside.append(token)
            token = token.next
        _link(left, group)
        _link(group, right)
        if comma:
            sync = _Token(",")
            _link(left, sync)
            _link(sync, group)
    return left


def _link(a: _Token, b: _Token) -> None:
    a.next, b.prev = b, a


def _move_before(token: _Token, right: _Token) -> _Token:
    """Unlink a comment and put it before `right`; returns what preceded it."""
    prev, after = token.prev, token.next
    _link(prev, after)
    _link(right.prev, token)
    _link(token, right)
    return prev


def parse(text: str) -> list[_Token]:
    """tok822_parse(): the tokens, right to left, grouped into addresses as Postfix groups them
    (a word after a word without an operator between starts another address)."""
    head, tail = _Token(""), _Token("")
    previous = head
    for token in scan(text):
        _link(previous, token)
        previous = token
    _link(previous, tail)
    do_word, do_group = 1, 2
    state, right, tp = do_word, tail, tail.prev
    while tp.kind:
        kind = tp.kind
        if kind == COMMENT:
            prev = _move_before(tp, right)
            right, tp = tp, prev
            continue
        if kind == ";":
            right = _group(tp, right, True)
            state = do_group | do_word
        elif kind == ":" and state & do_group:
            tp.kind = STARTGRP
            _group(tp, right, False)
            while tp.kind and tp.kind != ",":
                tp = tp.prev
            right = tp
            continue
        elif kind == ">":
            right = _group(tp, right, True)
            while tp.kind and tp.kind != "<":
                if tp.kind == COMMENT:
                    prev = _move_before(tp, right)
                    right, tp = tp, prev
                    continue
                tp = tp.prev
            _group(tp, right, False)
            while tp.kind and tp.kind not in (">", ";", ",", ":"):  # over the phrase before <
                tp = tp.prev
            right = tp
            state |= do_word
            continue
        elif kind in WORDS:
            if not state & do_word:
                right = _group(tp, right, True).next
            state &= ~do_word
        elif kind == ",":
            right = _group(tp, right, False)
            state |= do_word
        else:
            state |= do_word
        tp = tp.prev
    _group(head, right, False)
    found, token = [], head.next
    while token is not tail:
        found.append(token)
        token = token.next
    return found


def internal(tokens: list[_Token]) -> str:
    """tok822_internalize() of an address: its tokens' texts, quotes off, no spaces added."""
    out = []
    for token in tokens:
        if token.kind == ADDR:
            out.append(internal(token.inside))
        elif token.kind == DOMLIT:
            out.append(f"[{token.text}]")
        elif token.kind == STARTGRP:
            out.append(":")
        elif token.kind in (ATOM, QSTRING, COMMENT):
            out.append(token.text)
        else:
            out.append(token.kind)
    return "".join(out)


# ---------------------------------------------------------------------------- extract_addr


# The common word, <local@domain> of atoms and dots: one address, its own internal form. The RFC
# 822 parser is for the rest (tests/protocol/test_readers.py checks both agree).
_PLAIN_PATH = re.compile(r"<([A-Za-z0-9._+-]+@[A-Za-z0-9.-]+|)>")


def extract_address(word: str) -> tuple[int, str]:
    """(how many addresses the word holds, the last one in internal form): extract_addr()."""
    plain = _PLAIN_PATH.fullmatch(word)
    if plain is not None:
        return (1 if plain.group(1) else 0), plain.group(1)
    return parsed_address(word)


def parsed_address(word: str) -> tuple[int, str]:
    """extract_addr() by Postfix's RFC 822 parser, whatever the word."""
    text = word[1:-1] if word[:1] == "<" and word[-1:] == ">" else word
    if text[:1] == "@" and ":" in text:  # a source route is dropped
        text = text[text.index(":") + 1:]
    found = [token for token in parse(text) if token.kind == ADDR]
    return len(found), internal(found[-1].inside) if found else ""


def resolves(address: str, smtputf8: bool, is_local: Callable[[str], bool], hostname: str) -> bool:
    """False where trivial-rewrite's resolver marks the address an error (smtpd_check_addr): the
    domain it finally routes to is no host name and no address literal, a non-ASCII domain
    without SMTPUTF8, or a recipient that starts with "-"."""
    if not address:
        return True
    addr, saved = address, None
    final: str | None = None
    for _ in range(len(address) + 100):
        if addr.endswith(".") and "@" in addr and addr[-2:-1] not in (".", "@"):
            addr = addr[:-1]
        if "@" in addr:
            local, _, domain = addr.rpartition("@")
            if domain and not is_local(domain):
                final = domain
                break
            addr, saved = local, domain
        if "@" in addr or "!" in addr or "%" in addr:
            addr = _rewrite(addr, hostname)
            continue
        if not addr:
            addr = "MAILER-DAEMON"
            continue
        if saved is None:
            addr = f"{addr}@{hostname}"
            continue
        break
    if final is None:
        final = saved if saved is not None else hostname
        recipient = f"{addr}@{final}"
    else:
        recipient = addr
    if final.startswith("["):
        valid = valid_mailhost_literal(final)
    elif not final.isascii():
        try:
            valid = smtputf8 and valid_hostname(final.encode("idna").decode("ascii"))
        except UnicodeError:
            valid = False
    else:
        valid = valid_hostname(final)
    return valid and not recipient.startswith("-")


def _rewrite(addr: str, origin: str) -> str:
    """rewrite_tree() in the local context: a source route dropped, a bang path or a percent hack
    made an @, or the origin appended; a trailing dot dropped."""
    if addr == "@":
        return ""
    if addr.startswith("@") and ":" in addr[:-1]:
        addr = addr[addr.index(":") + 1:]
    if "@" not in addr:
        if "!" in addr:
            host, _, user = addr.partition("!")
            addr = f"{user}@{host}"
        elif "%" in addr:
            user, _, host = addr.rpartition("%")
            addr = f"{user}@{host}"
        else:
            addr = f"{addr}@{origin}"
    if addr.endswith(".") and addr[-2:-1] not in (".", "@"):
        addr = addr[:-1]
    return addr


# ---------------------------------------------------------------------------- the commands


def _xtext(text: str) -> str | None:
    """xtext_unquote(): "+XX" hex pairs decoded; None for a broken one."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "+":
            pair = text[i + 1:i + 3]
            if len(pair) < 2 or any(c not in "0123456789abcdefABCDEF" for c in pair):
                return None
            out.append(chr(int(pair, 16)))
            i += 3
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _printable(text: str) -> bool:
    return bool(text) and all(" " <= c <= "~" for c in text)


def _digits(text: str) -> bool:
    """alldig(): one ASCII digit or more (str.isdigit() takes other scripts' digits too)."""
    return text.isascii() and text.isdigit()


OFF_T_MAX = 2**63 - 1
_NOTIFY = {"SUCCESS", "FAILURE", "DELAY"}


def mail_parameter_refusal(parameters: list[str], size_limit: int) -> tuple[str, str]:
    """mail_cmd's loop: (the reply key of the first parameter refused, that parameter) or ("", "")."""
    ret = envid = auth = False
    for word in parameters:
        upper = word.upper()
        if upper in ("BODY=8BITMIME", "BODY=7BIT", "SMTPUTF8"):
            continue
        if upper.startswith("SIZE="):
            if not _digits(word[5:]):
                return "mail.bad_size", word
            if int(word[5:]) > OFF_T_MAX:
                return "mail.size_overflow", word
        elif upper.startswith("AUTH="):
            if auth:
                return "mail.auth_twice", word
            auth = word[5:] != "<>"
        elif upper.startswith("RET="):
            if ret or upper[4:] not in ("FULL", "HDRS"):
                return "mail.bad_ret", word
            ret = True
        elif upper.startswith("ENVID="):
            decoded = _xtext(word[6:])
            if envid or decoded is None or not _printable(decoded):
                return "mail.bad_envid", word
            envid = True
        else:
            return "mail.unsupported_option", word
    return "", ""


def rcpt_parameter_refusal(parameters: list[str]) -> tuple[str, str]:
    """rcpt_cmd's loop: (the reply key of the first parameter refused, that parameter) or ("", "")."""
    notify = orcpt = False
    for word in parameters:
        upper = word.upper()
        if upper.startswith("NOTIFY="):
            names = {name for name in upper[7:].replace("\t", ",").replace(" ", ",").split(",") if name}
            good = names == {"NEVER"} or (bool(names) and names <= _NOTIFY)
            if notify or not good:
                return "rcpt.bad_notify", word
            notify = True
        elif upper.startswith("ORCPT="):
            kind, semicolon, coded = word[6:].partition(";")
            if orcpt or not semicolon or not kind or _xtext(coded) is None:
                return "rcpt.bad_orcpt", word
            orcpt = True
        else:
            return "rcpt.unsupported_option", word
    return "", ""


# FROM:<path> and plain parameters: the words smtpd_token() finds, without walking the text
_PLAIN_ARGUMENT = re.compile(r"((?i:FROM|TO):)(<[^<>\"\\\s]*>)((?:[ \t]+[^\s<>\"\\:]+)*)[ \t]*")


def _argument_words(argument: str, keyword: str) -> tuple[list[str], str]:
    """The words after the verb, and the refusal of a missing or misspelt FROM:/TO:."""
    plain = _PLAIN_ARGUMENT.fullmatch(argument)
    found = [plain.group(1), plain.group(2), *plain.group(3).split()] if plain is not None else words(argument)
    if len(found) < 2 or found[0].lower() != keyword:
        return found, "syntax"
    return found, ""


def _unbalanced(word: str) -> bool:
    """smtpd_token's SMTPD_TOK_ERROR: a <...> or "..." that never closes."""
    wanted: list[str] = []
    i = 0
    while i < len(word):
        c = word[i]
        if wanted:
            if c == "\\":
                i += 1
            elif c == wanted[-1]:
                wanted.pop()
            elif c == '"':
                wanted.append('"')
            elif c == "<" and wanted[-1] == ">":
                wanted.append(">")
        elif c in "<\"":
            wanted.append(">" if c == "<" else '"')
        elif c == "\\":
            i += 1
        i += 1
    return bool(wanted)


def read_envelope(argument: str, command: str, size_limit: int, is_local: Callable[[str], bool],
                  hostname: str, smtputf8: bool = False) -> tuple[str, str, list[str], str]:
    """MAIL ("mail") or RCPT ("rcpt"): (reply key or "", the address, its parameters, the word a
    refusal is about). `smtputf8`: the transaction's MAIL asked for SMTPUTF8 (for RCPT). A
    refusal of the syntax or the address comes with no address and no parameters."""
    found, refused = _argument_words(argument, "from:" if command == "mail" else "to:")
    if refused:
        return f"{command}.syntax", "", [], ""
    word, parameters = found[1], found[2:]
    if _PLAIN_PATH.fullmatch(word) is None and _unbalanced(word):
        return f"{command}.bad_address", "", [], ""
    if command == "mail":
        smtputf8 = any(p.upper() == "SMTPUTF8" for p in parameters)
    count, address = extract_address(word)
    if count > 1 or (command == "rcpt" and not address) or not resolves(address, smtputf8, is_local, hostname):
        return f"{command}.bad_address", "", [], ""
    if command == "mail":
        key, about = mail_parameter_refusal(parameters, size_limit)
        if not key and size_limit:
            size = next((p[5:] for p in parameters if p.upper().startswith("SIZE=")), "")
            if size and int(size) > size_limit:
                key = "mail.too_big"
    else:
        key, about = rcpt_parameter_refusal(parameters)
    return key, address, parameters, about


def read_vrfy(argument: str, is_local: Callable[[str], bool], hostname: str) -> tuple[str, str, str]:
    """VRFY: (reply key or "", the address, the text its 252 repeats): vrfy_cmd."""
    found = words(argument)
    smtputf8 = bool(found) and found[-1].upper() == "SMTPUTF8"  # "VRFY SMTPUTF8" names no one
    if smtputf8:
        found = found[:-1]
    if not found:
        return "vrfy.missing_argument", "", ""
    shown = " ".join(found)  # collapse_args()
    count, address = extract_address(shown)
    if count > 1 or not address or not resolves(address, smtputf8, is_local, hostname):
        return "vrfy.bad_address", "", ""
    return "", address, shown
