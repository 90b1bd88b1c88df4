"""AUTH exchanges (RFC 4954): capture what the client sends for PLAIN, LOGIN, CRAM-MD5, NTLM, GSSAPI.

Every exchange that gets as far as credentials ends "rejected" here, with the persona's 535; the
session may then accept it instead ([deception] accept_logins, protocol/logins.py). Credentials
are kept exactly as sent, decoded, never case-folded.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from relaypot.events import Auth
from relaypot.personas.model import AuthRules, NtlmIdentity
from relaypot.protocol import ntlm
from relaypot.protocol.commands import C_SPACE, C_SPACE_BYTES, decode
from relaypot.protocol.logins import LoginPolicy


@dataclass(frozen=True, slots=True)
class AuthStep:
    """The next reply of an exchange: a prompt (`done` False) or the end with its event."""

    reply_key: str
    values: dict[str, str] | None = None
    done: bool = False
    event: Auth | None = None


_DIGEST_USERNAME = re.compile(rb'username="((?:[^"\\]|\\.)*)"')


SERVER_FIRST = frozenset({"CRAM-MD5", "DIGEST-MD5"})  # the server's challenge comes before any response
# [auth] split_at_nul: the prompts of Debian's template authenticators, one per item (server_prompts
# ":" for PLAIN, "Username:: : Password::" for LOGIN)
PROMPTS = {"PLAIN": ("auth.plain_prompt",), "LOGIN": ("auth.username_prompt", "auth.password_prompt")}


def _nul_items(data: bytes, prompted: bool = False) -> list[bytes]:
    """The items between NULs, as auth_read_input() (an initial response) and auth_prompt() (a
    prompt's answer) take them: a NUL at the end starts no item; no data at all is no item, or
    one empty item where it answers a prompt."""
    if not data:
        return [b""] if prompted else []
    items = data.split(b"\x00")
    return items[:-1] if data.endswith(b"\x00") else items


# whole quanta of the alphabet, padding only in the last (RFC 4648 §4)
_QUANTA = re.compile(rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def strict_b64decode(text: bytes) -> bytes:
    """Base64 as Dovecot and Cyrus SASL read it: whole quanta, padding only at the end (both
    refuse "==" after a whole quantum, which Python's decoder takes; captured: auth.json
    auth_plain_extra_padding)."""
    if _QUANTA.fullmatch(text) is None:
        raise binascii.Error("not base64 in whole quanta")
    return base64.b64decode(text)


def exim_b64decode(text: bytes) -> bytes:
    """base64.c b64decode(): the string to its first NUL, white space anywhere skipped, the rest
    whole quanta (captured: a response split by a space or a tab logs in)."""
    return strict_b64decode(text.split(b"\x00", 1)[0].translate(None, C_SPACE_BYTES))


BASE64_READERS: dict[str, Callable[[bytes], bytes]] = {"strict": strict_b64decode, "exim": exim_b64decode}


@dataclass(slots=True)
class AuthContext:
    hostname: str
    ntlm_identity: NtlmIdentity
    random_bytes: Callable[[int], bytes]
    now: Callable[[], float]
    cram_style: str = "dovecot"  # [auth] cram_challenge
    username_chars: frozenset[str] | None = None
    login_username_max: int = 0  # [auth] login_username_max
    split_at_nul: bool = False  # [auth] split_at_nul: Exim's plaintext driver
    base64_reader: Callable[[bytes], bytes] = strict_b64decode  # [auth] base64


def b64decode(text: bytes, initial: bool = False, reader: Callable[[bytes], bytes] = strict_b64decode) -> bytes:
    """A response in base64 (RFC 4954 §4), as `reader` reads it; `=` alone is an empty initial
    response (a continuation line says nothing by being empty, and "=" there is no base64:
    Dovecot refuses it)."""
    if text == b"=" and initial:
        return b""
    return reader(text)


@dataclass(slots=True)
class AuthExchange:
    """One AUTH command and its continuation lines."""

    mechanism: str
    advertised: bool
    context: AuthContext
    raw: list[bytes] = field(default_factory=list)
    username: str | None = None
    challenge: bytes = b""
    stage: int = 0
    digest: tuple[bytes, bytes] | None = None  # CRAM-MD5: (challenge, the client's hex HMAC)
    items: list[bytes] = field(default_factory=list)  # [auth] split_at_nul: the items read so far
    replies: list[str] = field(default_factory=list)  # the texts of the replies after the command's own

    def start(self, initial: bytes | None) -> AuthStep:
        if initial is not None:
            self.raw.append(initial)
        mech = self.mechanism
        if mech == "CRAM-MD5":
            self.challenge = cram_challenge(self.context.cram_style, self.context.random_bytes(16),
                                            self.context.now(), self.context.hostname)
            return AuthStep("auth.challenge", {"challenge": base64.b64encode(self.challenge).decode()})
        if mech == "DIGEST-MD5":
            # RFC 2831 §2.1.1, in Cyrus SASL's words and order (Sendmail's, captured): a random nonce
            nonce = base64.b64encode(self.context.random_bytes(32)).decode()
            self.challenge = (f'nonce="{nonce}",realm="{self.context.hostname}",qop="auth,auth-int,auth-conf",'
                              'cipher="rc4-40,rc4-56,rc4,des,3des",maxbuf=8192,charset=utf-8,'
                              'algorithm=md5-sess').encode()
            return AuthStep("auth.challenge", {"challenge": base64.b64encode(self.challenge).decode()})
        if self.context.split_at_nul and mech in PROMPTS:
            return self._items_start(initial)
        if mech == "LOGIN" and initial == b"=":
            initial = None  # an empty initial response (RFC 4954 §4): Dovecot asks for the name
        if initial is None:
            prompt = {
                "PLAIN": "auth.plain_prompt",
                "LOGIN": "auth.username_prompt",
                "NTLM": "auth.ntlm_prompt",
                "GSSAPI": "auth.empty_prompt",
            }[mech]
            return AuthStep(prompt)
        return self._response(initial, initial=True)

    def _items_start(self, initial: bytes | None) -> AuthStep:
        """Exim's plaintext driver (auths/plaintext.c): an initial response gives the first items
        ("=" one empty item); a prompt is sent for each item still missing."""
        if initial == b"=":
            self.items = [b""]
        elif initial is not None:
            try:
                self.items = _nul_items(self.context.base64_reader(initial))
            except (binascii.Error, ValueError):
                return self._end("malformed", "auth.bad_base64", values={"argument": decode(initial)})
        return self._items_next()

    def _items_response(self, line: bytes) -> AuthStep:
        """A prompt's answer (auth_prompt()): decoded, its items added, even an empty one."""
        try:
            data = self.context.base64_reader(line)
        except (binascii.Error, ValueError):
            return self._end("malformed", "auth.bad_base64", values={"argument": decode(line)})
        self.items += _nul_items(data, prompted=True)
        return self._items_next()

    def _items_next(self) -> AuthStep:
        prompts = PROMPTS[self.mechanism]
        if len(self.items) < len(prompts):
            return AuthStep(prompts[len(self.items)])
        # the template's server_condition: PLAIN checks $auth2/$auth3, LOGIN $auth1/$auth2
        user, password = (1, 2) if self.mechanism == "PLAIN" else (0, 1)
        found = [decode(item) for item in self.items]
        self.username = found[user] if len(found) > user else None
        return self._end("rejected", "auth.failed", password=found[password] if len(found) > password else None,
                         authzid=(found[0] or None) if self.mechanism == "PLAIN" else None)

    def unexpected_initial(self, initial: bytes) -> AuthStep:
        """An initial response to a mechanism where the server speaks first (CRAM-MD5, DIGEST-MD5):
        Cyrus SASL fails the exchange at once (Sendmail: 535), or cannot decode it (501)."""
        self.raw.append(initial)
        try:
            data = b64decode(initial, initial=True, reader=self.context.base64_reader)
        except (binascii.Error, ValueError):
            return self._end("malformed", "auth.bad_base64", values={"argument": decode(initial)})
        return self._end("rejected", "auth.failed", response=decode(data))

    def respond(self, line: bytes) -> AuthStep:
        """A continuation line, CRLF already removed."""
        self.raw.append(line)
        if line == b"*":
            # RFC 4954 §4: "*" cancels the exchange.
            return self._end("aborted", "auth.aborted")
        if self.context.split_at_nul and self.mechanism in PROMPTS:
            return self._items_response(line)
        return self._response(line)

    def too_long(self, how: str) -> AuthStep:
        """A response line past the server's bound ([auth] response_too_long; the session keeps
        its head): Postfix's own refusal, or Exim's bad base64."""
        if how == "refuse":
            return self._end("malformed", "auth.response_too_long")
        return self._end("malformed", "auth.bad_base64_continued", values={"argument": ""})

    def refused_initial(self, initial: bytes) -> AuthStep:
        """An initial response to a mechanism where the server speaks first, refused unread
        (Exim's cram_md5 server: UNEXPECTED, "553 Initial data not expected")."""
        self.raw.append(initial)
        return self._end("malformed", "auth.initial_unexpected")

    def abandon(self) -> Auth:
        """The client went away mid-exchange: keep what it had sent."""
        return self._event("abandoned", 0)

    def _response(self, line: bytes, initial: bool = False) -> AuthStep:
        try:
            data = b64decode(line, initial, self.context.base64_reader)
        except (binascii.Error, ValueError):
            # Postfix says which: "... in initial response" or "... in continued response".
            return self._end("malformed", "auth.bad_base64" if initial else "auth.bad_base64_continued",
                             values={"argument": decode(line)})  # Sendmail names what it could not decode
        mech = self.mechanism
        if mech == "PLAIN":
            return self._plain(data)
        if mech == "LOGIN":
            if self.stage == 0:
                self.stage = 1
                self.username = decode(data)
                allowed = self.context.username_chars
                if allowed is not None and not (self.username and set(self.username) <= allowed):
                    # Dovecot refuses such a name, or none, at once (auth_username_chars).
                    return self._end("rejected", "auth.failed")
                if 0 < self.context.login_username_max < len(data):
                    return self._end("rejected", "auth.failed")  # Cyrus SASL: too long to be anyone's
                return AuthStep("auth.password_prompt")
            return self._end("rejected", "auth.failed", password=decode(data))
        if mech == "CRAM-MD5":
            user, _, digest = data.rpartition(b" ")
            self.username = decode(user)
            self.digest = (self.challenge, digest)
            # hashcat -m 10200 input: $cram_md5$<base64 challenge>$<base64 response>
            response = f"$cram_md5${base64.b64encode(self.challenge).decode()}${base64.b64encode(data).decode()}"
            return self._end("rejected", "auth.failed", response=response)
        if mech == "NTLM":
            return self._ntlm(data)
        if mech == "DIGEST-MD5":  # the digest-response: who it is, and the response to crack
            found = _DIGEST_USERNAME.search(data)
            self.username = decode(found.group(1)) if found else None
            return self._end("rejected", "auth.failed", response=decode(data))
        # GSSAPI: a Kerberos token we cannot accept; keep it.
        return self._end("rejected", "auth.failed")

    def _plain(self, data: bytes) -> AuthStep:
        parts = data.split(b"\x00")
        if len(parts) != 3:
            return self._end("malformed", "auth.failed", response=decode(data))
        authzid, user, password = (decode(p) for p in parts)
        self.username = user
        return self._end("rejected", "auth.failed", password=password, authzid=authzid or None)

    def _ntlm(self, data: bytes) -> AuthStep:
        try:
            kind = ntlm.message_type(data)
            if kind == 1 and self.stage == 0:
                self.stage = 1
                self.challenge = self.context.random_bytes(8)
                blob = ntlm.challenge(self.context.ntlm_identity, ntlm.negotiate_flags(data), self.challenge,
                                      self.context.now())
                return AuthStep("auth.challenge", {"challenge": base64.b64encode(blob).decode()})
            if kind == 3 and self.stage == 1:
                message = ntlm.authenticate(data)
        except (ntlm.NtlmError, ValueError) as exc:
            return self._end("malformed", "auth.failed", response=str(exc))
        else:
            if kind != 3 or self.stage != 1:
                return self._end("malformed", "auth.failed", response=f"unexpected NTLM message type {kind}")
        self.username = message.user
        return self._end(
            "rejected",
            "auth.failed",
            authzid=f"{message.domain}\\{message.user}@{message.workstation}",
            response=message.hashcat(self.challenge),
        )

    def _end(self, outcome: str, reply_key: str, password: str | None = None,
             authzid: str | None = None, response: str | None = None,
             values: dict[str, str] | None = None) -> AuthStep:
        event = self._event(outcome, 0, password, authzid, response)
        return AuthStep(reply_key, values, True, event)

    def _event(self, outcome: str, code: int, password: str | None = None,
               authzid: str | None = None, response: str | None = None) -> Auth:
        return Auth(
            mechanism=self.mechanism,
            advertised=self.advertised,
            outcome=outcome,
            username=self.username,
            password=password,
            authzid=authzid,
            response=response,
            raw_responses=tuple(self.raw),
            reply_code=code,
        )


def capture_unsupported(mechanism: str, initial: bytes | None) -> Auth:
    """AUTH with a mechanism the persona does not offer: refused, but keep any credentials sent inline."""
    username = password = authzid = response = None
    if initial:
        try:
            data = b64decode(initial)
        except (binascii.Error, ValueError):
            data = None
        if data is not None:
            parts = data.split(b"\x00")
            if mechanism == "PLAIN" and len(parts) == 3:
                authzid = decode(parts[0]) or None
                username, password = decode(parts[1]), decode(parts[2])
            elif mechanism == "LOGIN":
                username = decode(data)
            else:
                response = decode(data)
    return Auth(
        mechanism=mechanism,
        advertised=False,
        outcome="unsupported",
        username=username,
        password=password,
        authzid=authzid,
        response=response,
        raw_responses=(initial,) if initial else (),
    )


CYRUS_TIME_MODULUS = 0xFFFFFF  # cram.c gettime(): "the bottom bits are really the only random ones"


def cram_challenge(style: str, random: bytes, now: float, hostname: str) -> bytes:
    """RFC 2195: the challenge is a msg-id, each SASL implementation its own: Dovecot's
    <16 digits.time@host> (mech-cram-md5.c: each digit a random byte mod 10); Cyrus SASL's
    <a random 32-bit number.time mod 0xFFFFFF@host> (cram.c randomdigits(), gettime()); Exim's
    <pid.time@host> (auths/cram_md5.c: the receiving process's id, here a plausible one)."""
    if style == "cyrus":
        number = int.from_bytes(random[:4], "big")
        return f"<{number}.{int(now) % CYRUS_TIME_MODULUS}@{hostname}>".encode()
    if style == "exim":
        pid = 300 + int.from_bytes(random[:4], "big") % 99_700
        return f"<{pid}.{int(now)}@{hostname}>".encode()
    digits = "".join(str(byte % 10) for byte in random[:16])
    return f"<{digits}.{int(now)}@{hostname}>".encode()


_SASL_NAME = re.compile(r"[A-Za-z0-9_-]*")  # what smtp_in.c lets a mechanism name hold (RFC 4422 §3.1's, any case)


def opening(argument: str, authenticated: bool, in_transaction: bool,
            rules: AuthRules) -> tuple[str, str, bytes | None, str]:
    """An AUTH command read: (its mechanism, the reply key refusing it before any exchange begins
    or "", the initial response sent with it, the mechanism as a refusal names it)."""
    words = argument.split()
    name, rest = _mechanism_word(argument)
    if rules.rest_is_initial:  # Sendmail, Exim: the rest of the line is the response
        words = [word for word in (name, rest) if word]
    mechanism = words[0].upper() if words else ""
    initial = words[1].encode("utf-8", "surrogateescape") if len(words) > 1 else None
    shown = words[0] if words else ""
    if rules.mechanism_shown_bytes:
        shown = shown.encode("utf-8", "surrogateescape")[:rules.mechanism_shown_bytes].decode(
            "utf-8", "surrogateescape")
    return mechanism, refusal(len(words), authenticated, in_transaction, rules, name), initial, shown


def _mechanism_word(argument: str) -> tuple[str, str]:
    """(the mechanism, the rest after its blanks, as sent): the name runs to the first blank, or
    to the end of the line where a character outside ASCII comes first (Sendmail's loop stops
    there without cutting the line; Exim refuses such a name before it matters)."""
    text = argument.lstrip(C_SPACE)
    for i, char in enumerate(text):
        if not char.isascii():
            return text, ""
        if char in C_SPACE:
            return text[:i], text[i:].lstrip(C_SPACE)
    return text, ""


def refusal(words: int, authenticated: bool, in_transaction: bool, rules: AuthRules, name: str = "") -> str:
    """The reply key refusing an AUTH command of `words` words, the first `name`, before any
    exchange begins, or "" to begin one; in Postfix's order (smtpd_sasl_auth_cmd), or with a
    login looked at before the transaction (Exim's smtp_in.c, Exchange's)."""
    if rules.mechanism_first and not words:
        return "auth.missing_mechanism"
    order = [(in_transaction and rules.refuse_in_transaction, "auth.in_transaction"),
             (authenticated and rules.refuse_after_login, "auth.already_authenticated")]
    if rules.mechanism_first or rules.login_before_transaction:
        order.reverse()
    for applies, key in order:
        if applies:
            return key
    if rules.mechanism_name_checked and not _SASL_NAME.fullmatch(name):
        return "auth.bad_mechanism_name"
    if not 1 <= words <= 2:  # a mechanism, and at most one initial response
        return "auth.missing_mechanism"
    return ""


def _foreign_authzid(event: Auth, exchange: AuthExchange, rules: AuthRules) -> bool:
    if not (rules.authzid_must_match and exchange.mechanism == "PLAIN" and event.authzid):
        return False
    fold = str.lower if rules.user_names == "lowercase" else str
    return fold(event.authzid) != fold(event.username or "")


def settle(step: AuthStep, exchange: AuthExchange, logins: LoginPolicy, client_ip: str,
           rules: AuthRules) -> tuple[str, Auth | None, float]:
    """A step's reply key, record and delay as the persona gives them: a login [deception] lets
    in becomes auth.ok (its record "accepted"); a persona with one text for bad base64, initial
    or continued, uses it for both; a failure waits [auth] failure_delay."""
    key, event = step.reply_key, step.event
    if event is not None and event.outcome == "rejected" and not _foreign_authzid(event, exchange, rules) and \
            logins.admits(client_ip, event.username, event.password, exchange.digest):
        key, event = "auth.ok", replace(event, outcome="accepted")
    elif key == "auth.bad_base64_continued" and not rules.bad_base64_continued:
        key = "auth.bad_base64"
    return key, event, rules.failure_delay if key == "auth.failed" else 0.0
