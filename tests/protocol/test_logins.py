"""Which logins [deception] lets in (protocol/logins.py): rules, negation, the Nth attempt, CRAM-MD5."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaypot.protocol.logins import LoginPolicy, parse_rule

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-@", min_size=1, max_size=16)
passwords = st.text(max_size=24).filter(lambda p: "\x00" not in p)


def cram(password: str, challenge: bytes) -> bytes:
    return hmac.new(password.encode(), challenge, hashlib.md5).hexdigest().encode()


@given(names, passwords)
def test_no_rules_and_no_attempt_count_accept_nothing(user, password):
    assert not LoginPolicy().decide("192.0.2.1", user, password)


@given(names, passwords)
def test_the_first_matching_rule_decides_and_bang_refuses(user, password):
    policy = LoginPolicy(("!root:*", "*:*"))
    assert policy.decide("192.0.2.1", user, password) == (user != "root")


def test_globs_match_whole_names_and_passwords_are_exact():
    policy = LoginPolicy(("admin*:*", "info:123456"))
    assert policy.decide("192.0.2.1", "admin", "x") and policy.decide("192.0.2.1", "administrator", "")
    assert policy.decide("192.0.2.1", "info", "123456")
    assert not policy.decide("192.0.2.1", "info", "1234567")
    assert not policy.decide("192.0.2.1", "info", "123456 ")
    assert not policy.decide("192.0.2.1", "Info", "123456")  # "exact": a server that compares names as sent
    assert not policy.decide("192.0.2.1", "xadmin", "x")


@pytest.mark.parametrize("user", ["root", "ROOT", "Root", "rOoT"])
def test_dovecot_folds_names_so_a_refusing_rule_keeps_every_spelling_out(user):
    """Dovecot's default auth_username_format is %Lu: ROOT logs in as root."""
    policy = LoginPolicy(("!root:*", "*:*"), user_names="lowercase")
    assert not policy.decide("192.0.2.1", user, "x")
    assert policy.decide("192.0.2.1", "Admin", "x")
    counted = LoginPolicy(("!Root:*",), accept_attempt=1, user_names="lowercase")
    assert not counted.decide("192.0.2.1", user, "x")  # the count never lets a refused account in
    assert counted.decide("192.0.2.1", "Info", "Secret") and counted.decide("192.0.2.1", "INFO", "Secret")
    assert not counted.decide("192.0.2.1", "info", "secret")  # the password is still exact


@pytest.mark.parametrize("user", ["administrator", "Administrator", "CORP\\Administrator",
                                  "administrator@corp.example", "corp.example\\ADMINISTRATOR"])
def test_windows_names_one_account_however_it_is_written(user):
    policy = LoginPolicy(("!administrator:*", "*:*"), user_names="windows")
    assert not policy.decide("192.0.2.1", user, "x")
    assert policy.decide("192.0.2.1", "CORP\\backup", "x")


def test_the_nth_attempt_of_a_source_gets_in_and_keeps_that_account():
    policy = LoginPolicy(("!root:*",), accept_attempt=3)
    assert not policy.decide("192.0.2.1", "a", "1")
    assert not policy.decide("192.0.2.2", "a", "1")  # another source counts for itself
    assert not policy.decide("192.0.2.1", "b", "2")
    assert policy.decide("192.0.2.1", "c", "3")  # the third
    assert policy.decide("192.0.2.1", "c", "3")  # the account stays
    assert not policy.decide("192.0.2.1", "c", "4")  # its password is "3" now
    assert not policy.decide("192.0.2.1", "d", "3")
    assert not policy.decide("192.0.2.1", "root", "x")  # a refusing rule wins over the count
    assert policy.decide("192.0.2.2", "z", "z") is False  # the second source's second attempt


@given(passwords, st.binary(min_size=8, max_size=40))
def test_cram_md5_is_checked_against_a_concrete_password(password, challenge):
    policy = LoginPolicy((f"info:{password}",) if not set(password) & set("*?[") else ("info:*",))
    assert policy.decide("192.0.2.1", "info", None, (challenge, cram(password, challenge)))
    assert not LoginPolicy(("info:other",)).decide("192.0.2.1", "info", None, (challenge, cram("other!", challenge)))


@pytest.mark.parametrize("text", ["admin", ":secret", "!", ""])
def test_a_rule_without_user_and_password_is_refused(text):
    with pytest.raises(ValueError, match="USER:PASSWORD"):
        parse_rule(text)
