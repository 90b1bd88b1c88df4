"""ESMTP parameters checked as Postfix checks them (protocol/parameters.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relaypot.protocol.parameters import refusal

MAIL = frozenset({"SIZE", "BODY", "RET", "ENVID", "SMTPUTF8", "AUTH"})
RCPT = frozenset({"NOTIFY", "ORCPT"})


def test_each_parameter_is_checked_by_its_own_rule():
    assert refusal("mail", MAIL, ("SIZE=1000", "BODY=8bitmime", "RET=hdrs", "ENVID=x", "SMTPUTF8")) is None
    assert refusal("mail", MAIL, ("Foo=Bar",)) == ("mail.unsupported_option", "Foo=Bar")  # echoed as sent
    assert refusal("mail", MAIL, ("BODY=BINARYMIME",)) == ("mail.unsupported_option", "BODY=BINARYMIME")
    assert refusal("mail", MAIL, ("SIZE=1_000",)) == ("mail.bad_size", "SIZE=1_000")
    assert refusal("mail", MAIL, ("SIZE=\u0661",)) == ("mail.bad_size", "SIZE=\u0661")  # Arabic-Indic one
    assert refusal("mail", MAIL, ("RET=ALL",)) == ("mail.bad_ret", "RET=ALL")
    assert refusal("rcpt", RCPT, ("NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;a@b")) is None
    assert refusal("rcpt", RCPT, ("NOTIFY=NEVER",)) is None
    assert refusal("rcpt", RCPT, ("NOTIFY=NEVER,SUCCESS",)) == ("rcpt.bad_notify", "NOTIFY=NEVER,SUCCESS")
    assert refusal("rcpt", RCPT, ("SIZE=10",)) == ("rcpt.unsupported_option", "SIZE=10")
    assert refusal("mail", MAIL, ("SIZE=1", "FOO", "RET=x")) == ("mail.unsupported_option", "FOO")  # the first


@given(st.lists(st.text(max_size=30).filter(lambda t: t and not any(c.isspace() for c in t)), max_size=6))
def test_any_parameters_get_an_answer_never_an_exception(tokens):
    for command, taken in (("mail", MAIL), ("rcpt", RCPT)):
        found = refusal(command, taken, tuple(tokens))
        if found is not None:
            key, token = found
            assert key.partition(".")[0] in (command, "mail") and token in tokens
