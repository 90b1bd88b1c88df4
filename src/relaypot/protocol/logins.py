"""Which logins the honeypot lets in ([deception] accept_logins, accept_attempt), as Cowrie's
userdb does for SSH: a login an attacker believes in shows what the account was wanted for.

Rules are `USER:PASSWORD`, each side a glob (`*` any run, `?` one character), tried in order;
the first that matches decides; a rule starting with `!` refuses (`!root:*` before `*:*` keeps
root out). With accept_attempt N, a source's Nth failed login is accepted whatever it was (a
rule that refuses still refuses), and from then on that source's account is that user with that
password, as a real account's would be. Nothing here is I/O: a session asks, the listener keeps
the counts.

User names are compared as the persona's server compares them (the persona's `[auth]
user_names`): Dovecot folds them to lower case (its default auth_username_format is %Lu), so
`!root:*` keeps out ROOT and Root too; Windows also ignores a DOMAIN\\ prefix and an @domain
suffix (CORP\\Administrator and administrator@corp.example are one account). Passwords are
compared exactly, as every server does.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from dataclasses import dataclass
from fnmatch import fnmatchcase

from relaypot.personas.model import UserNames

MAX_SOURCES = 65536  # sources whose attempts are counted; the oldest are forgotten first


@dataclass(frozen=True, slots=True)
class Rule:
    accept: bool
    user: str
    password: str

    def matches(self, user: str, password: str | None) -> bool:
        """`password` None: the client proved a password without sending it (CRAM-MD5, where
        `matches_digest` decides); only a rule taking any password can match then."""
        if not fnmatchcase(user, self.user):
            return False
        if password is None:
            return self.password == "*"
        return fnmatchcase(password, self.password)


def account(user: str, style: UserNames = "exact") -> str:
    """The account a login names, as the server compares it."""
    if style == "exact":
        return user
    if style == "windows":
        user = user.rpartition("\\")[2]
        user = user.partition("@")[0] or user
    return user.lower()


def parse_rule(text: str) -> Rule:
    """`admin:*`, `info:123456`, `!root:*`; ValueError names what is wrong."""
    accept = not text.startswith("!")
    body = text if accept else text[1:]
    user, sep, password = body.partition(":")
    if not sep or not user:
        raise ValueError(f"{text!r} is not USER:PASSWORD (globs allowed, ! in front refuses)")
    return Rule(accept, user, password)


class LoginPolicy:
    def __init__(self, rules: tuple[str, ...] = (), accept_attempt: int = 0, user_names: UserNames = "exact") -> None:
        self.user_names = user_names
        self.rules = tuple(_for(parse_rule(rule), user_names) for rule in rules)
        self.accept_attempt = accept_attempt
        self._attempts: OrderedDict[str, int] = OrderedDict()
        self._granted: dict[str, tuple[str, str | None]] = {}  # source → the account it was given

    @property
    def enabled(self) -> bool:
        return bool(self.rules) or self.accept_attempt > 0

    def admits(self, source: str, user: str | None, password: str | None,
               digest: tuple[bytes, bytes] | None) -> bool:
        """Does [deception] let this login in? Only one that proved a password: PLAIN and LOGIN
        send it, CRAM-MD5 its HMAC (`digest`); NTLM and GSSAPI never get in."""
        if not self.enabled or user is None or (password is None and digest is None):
            return False
        return self.decide(source, user, password, digest)

    def decide(self, source: str, user: str, password: str | None,
               digest: tuple[bytes, bytes] | None = None) -> bool:
        """Is this login accepted? `digest` (challenge, HMAC-MD5 response) stands in for the
        password of a CRAM-MD5 login. Every call with a user counts as one attempt."""
        if not self.enabled:
            return False
        user = account(user, self.user_names)
        for rule in self.rules:
            if rule.matches(user, password) or (digest is not None and _digest_matches(rule, user, *digest)):
                if rule.accept:
                    return True
                return False  # refused by rule, whatever the count says
        granted = self._granted.get(source)
        if granted is not None:
            granted_user, granted_password = granted
            if granted_user != user:
                return False
            if password is not None:
                return granted_password == password
            if digest is not None and granted_password is not None:
                return _hmac_ok(granted_password, *digest)
            return granted_password is None  # granted to a CRAM-MD5 login: the same user again
        if not self.accept_attempt:
            return False
        count = self._attempts.pop(source, 0) + 1
        if count >= self.accept_attempt:
            if len(self._granted) >= MAX_SOURCES:
                self._granted.pop(next(iter(self._granted)))
            self._granted[source] = (user, password)
            return True
        self._attempts[source] = count
        if len(self._attempts) > MAX_SOURCES:
            self._attempts.popitem(last=False)
        return False


def _for(rule: Rule, style: UserNames) -> Rule:
    """A rule whose user glob is written as the server compares names (lower case where it folds)."""
    return rule if style == "exact" else Rule(rule.accept, rule.user.lower(), rule.password)


def _digest_matches(rule: Rule, user: str, challenge: bytes, response: bytes) -> bool:
    """CRAM-MD5 (RFC 2195): a rule with one concrete password is checked by computing the HMAC."""
    if not fnmatchcase(user, rule.user) or any(ch in rule.password for ch in "*?["):
        return False
    return _hmac_ok(rule.password, challenge, response)


def _hmac_ok(password: str, challenge: bytes, response: bytes) -> bool:
    expected = hmac.new(password.encode("utf-8", "surrogateescape"), challenge, hashlib.md5).hexdigest()
    return hmac.compare_digest(expected.encode(), response)
