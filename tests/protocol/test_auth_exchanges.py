"""AUTH as each server's SASL reads it (relaypot.protocol.auth), pure logic: Exim's rules
(smtp_in.c AUTH_CMD, auths/plaintext.c, base64.c), whose captures are tests/reference/
exim-tls-auth/auth.json and auth_tls.json (played by tests/personas/test_conformance.py)."""

from __future__ import annotations

import base64
import binascii
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaypot.personas import model
from relaypot.protocol.auth import AuthContext, AuthExchange, exim_b64decode, opening, refusal, strict_b64decode

EXIM_RULES = model.load("exim-tls-auth").auth
POSTFIX_RULES = model.load("postfix").auth
SENDMAIL_RULES = model.load("sendmail-tls-auth").auth
C_SPACE = " \t\n\v\f\r"


def exchange(mechanism: str) -> AuthExchange:
    rng = random.Random(1)
    context = AuthContext("mail.example.com", model.load("exim-tls-auth").ntlm_identity("mail.example.com"),
                          lambda n: rng.getrandbits(8 * n).to_bytes(n, "big"), lambda: 1.0, cram_style="exim",
                          split_at_nul=True)
    return AuthExchange(mechanism, True, context)


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


@given(st.text(min_size=1, max_size=30).filter(lambda name: not any(c in C_SPACE for c in name)))
def test_a_mechanism_name_holds_only_what_exims_loop_lets_through(name):
    """isalnum() in the C locale, "-" or "_": anything else is a 501, whatever follows."""
    exims = all(c.isascii() and (c.isalnum() or c in "-_") for c in name)
    _mechanism, refused, _initial, _shown = opening(f"{name} AHVzZXIAeA==", False, False, EXIM_RULES)
    assert (refused == "auth.bad_mechanism_name") != exims
    assert opening(name, False, False, POSTFIX_RULES)[1] != "auth.bad_mechanism_name"  # Postfix's SASL decides


def test_exim_looks_at_a_login_before_the_transaction_and_postfix_the_other_way():
    assert refusal(2, True, True, EXIM_RULES) == "auth.already_authenticated"
    assert refusal(2, True, True, SENDMAIL_RULES) == "auth.already_authenticated"  # srvrsmtp.c
    assert refusal(2, True, True, POSTFIX_RULES) == "auth.in_transaction"
    assert refusal(2, False, True, EXIM_RULES) == "auth.in_transaction"
    # the order comes first: a bad name in a transaction is refused for the transaction
    assert refusal(2, False, True, EXIM_RULES, "PL@IN") == "auth.in_transaction"


def test_all_after_the_mechanism_is_the_initial_response_as_sent():
    assert opening("PLAIN  AHVz ZXIA  x", False, False, EXIM_RULES)[2] == b"AHVz ZXIA  x"
    # Sendmail keeps the blanks at the end (its base64 decoder then refuses them: captured)
    assert opening("PLAIN AHVz ", False, False, SENDMAIL_RULES)[2] == b"AHVz "
    assert opening("PLAIN AHVz ", False, False, POSTFIX_RULES)[2] == b"AHVz"


@pytest.mark.parametrize(("argument", "mechanism", "initial", "shown"), [
    ("PLAIN x", "PLAIN", b"x", "PLAIN"),
    # a byte outside ASCII before any blank: Sendmail's loop stops there, the line uncut
    ("PLÄIN x", "PLÄIN X", None, "PLÄIN x"),
    # named in at most 32 bytes ("%.32s"), a character cut in two kept as its first byte
    ("X" * 31 + "Ä", "X" * 31 + "Ä", None, "X" * 31 + "\udcc3"),
])
def test_sendmails_mechanism_word(argument, mechanism, initial, shown):
    assert opening(argument, False, False, SENDMAIL_RULES) == (mechanism, "", initial, shown)


@given(st.binary(max_size=60), st.lists(st.tuples(st.integers(0, 100), st.sampled_from(C_SPACE)), max_size=6))
def test_exims_base64_skips_white_space_anywhere(data, spaces):
    text = bytearray(b64(data))
    for at, space in spaces:
        text.insert(at % (len(text) + 1), ord(space))
    assert exim_b64decode(bytes(text)) == data


@pytest.mark.parametrize("text", [b"AHVzZXIAd3Jvbmc", b"AA=", b"AA==AA", b"=", b"A\xc3\x84AA", b"AHVzZXIAd3Jvbmc= x",
                                  b"AHVzZXIAc2VjcmV0==", b"AHVzZXIAcw==ZWNyZXQ=", b"AHVzZXIA--__"])
def test_exims_base64_still_wants_whole_quanta_of_its_alphabet(text):
    """(captured: auth_tls.json auth_plain_extra_padding, _inner_padding, _urlsafe are "501 Invalid
    base64 data", where Python's own decoder takes the first)"""
    with pytest.raises((binascii.Error, ValueError)):
        exim_b64decode(text)


def test_exims_base64_ends_at_a_nul_as_a_c_string_does():
    assert exim_b64decode(b"AHVzZXIAc2VjcmV0\x00!!!") == b"\x00user\x00secret"


@given(st.binary(max_size=60))
def test_strict_base64_takes_what_python_writes_and_no_padding_after_a_whole_quantum(data):
    assert strict_b64decode(b64(data)) == data
    for extra in (b"=", b"==", b" ", b"\t"):
        with pytest.raises((binascii.Error, ValueError)):
            strict_b64decode(b64(data) + extra)


@pytest.mark.parametrize(("lines", "replies", "username", "password"), [
    # the initial response holds both items: no prompt at all
    ([b"user\0secret"], [], "user", "secret"),
    # a NUL at the end starts no item: the password is still asked for
    ([b"user\0", b"secret"], ["auth.password_prompt"], "user", "secret"),
    # a prompt's answer with both items answers the second prompt too
    ([None, b"user\0secret"], ["auth.username_prompt"], "user", "secret"),
    # an empty answer is an empty item
    ([None, b"", b"secret"], ["auth.username_prompt", "auth.password_prompt"], "", "secret"),
])
def test_login_items_are_split_at_nuls_and_prompted_for_only_while_missing(lines, replies, username, password):
    login = exchange("LOGIN")
    initial, *answers = lines
    step = login.start(None if initial is None else b64(initial))
    said = []
    for answer in answers:
        said.append(step.reply_key)
        step = login.respond(b64(answer))
    assert said == replies and step.done and step.reply_key == "auth.failed"
    assert (step.event.username, step.event.password) == (username, password)


def test_an_equals_sign_is_one_empty_item_so_login_asks_for_the_password():
    assert exchange("LOGIN").start(b"=").reply_key == "auth.password_prompt"


def test_plain_takes_its_second_and_third_items_whatever_follows():
    step = exchange("PLAIN").start(b64(b"admin\0user\0secret\0x"))
    assert (step.event.authzid, step.event.username, step.event.password) == ("admin", "user", "secret")
    short = exchange("PLAIN").start(b64(b"user"))  # too few items: no password to check
    assert short.reply_key == "auth.failed" and short.event.password is None


def test_a_challenge_first_mechanism_refuses_an_initial_response_unread():
    step = exchange("CRAM-MD5").refused_initial(b"!!!")
    assert step.reply_key == "auth.initial_unexpected" and step.event.raw_responses == (b"!!!",)
