"""The recipient judgement (protocol/recipients.py): Postfix's rules, as data, with hypothesis."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relaypot.personas import model
from relaypot.protocol.recipients import LOCAL, RELAY, UNKNOWN_USER, RecipientTable, local_domains, unquoted

POSTFIX = RecipientTable(
    local_domains=local_domains(("{hostname}", "localhost.{parent}", "localhost"), "mail.example.com"),
    users=frozenset({"root", "postmaster"}), extension="+", routed_is_relay=True, own_address_literals=True,
)
EXCHANGE = RecipientTable(local_domains=local_domains(("{hostname}", "{parent}"), "mail.example.com"), users=None)

local_parts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=20)
far_domains = st.from_regex(r"\A[a-z]{1,10}\.(net|org|test)\Z")


def test_the_persona_patterns_fill_in_host_and_parent():
    assert POSTFIX.local_domains == {"mail.example.com", "localhost.example.com", "localhost"}
    assert local_domains(("{hostname}", "{parent}"), "mx", ("Example.ORG.",)) == {"mx", "example.org"}


@given(local_parts, far_domains)
def test_a_recipient_outside_the_local_domains_is_a_relay_for_any_persona(user, domain):
    for table in (POSTFIX, EXCHANGE):
        assert table.judge(f"{user}@{domain}") == RELAY
        assert table.judge(f'"{user}@{domain}"') == RELAY  # quotes do not hide the domain


@given(local_parts, st.sampled_from(["{user}%{domain}", "{domain}!{user}", "{user}@{domain}"]), far_domains)
def test_a_local_part_that_still_routes_is_a_relay_on_postfix_only(user, form, domain):
    address = form.format(user=user, domain=domain) + "@mail.example.com"
    assert POSTFIX.judge(address) == RELAY
    assert EXCHANGE.judge(address) == LOCAL  # IIS takes relaytest%contoso.net@its-domain (S1)


@given(st.sampled_from(["root", "Postmaster+tag"]), st.sampled_from(["localhost", "mail.example.com"]),
       st.sampled_from(["{user}%{host}", "{host}!{user}", "{user}%{host}%{host}"]))
def test_a_route_through_this_host_is_resolved_again(user, host, form):
    """Postfix's trivial-rewrite takes this host's domain off and reads the local part again
    (captured: "root%localhost@mail.example.com" is 250 2.1.5 Ok, address_forms.json)."""
    assert POSTFIX.judge(form.format(user=user, host=host) + "@mail.example.com") == LOCAL
    assert POSTFIX.judge(form.format(user="nosuchuser", host=host) + "@localhost") == UNKNOWN_USER


@given(local_parts)
def test_users_are_found_without_case_or_tag_and_others_are_unknown(tag):
    assert POSTFIX.judge(f"ROOT+{tag}@Mail.Example.COM.") == LOCAL
    assert POSTFIX.judge(f"Postmaster+{tag}") == LOCAL  # a bare local part is local
    assert POSTFIX.judge(f"x{tag}@localhost") == UNKNOWN_USER
    assert EXCHANGE.judge(f"x{tag}@example.com") == LOCAL  # no directory lookup


def test_only_the_address_the_client_reached_is_a_local_literal():
    assert POSTFIX.judge("root@[192.0.2.1]", "192.0.2.1") == LOCAL
    assert POSTFIX.judge("root@[IPv6:2001:DB8::1]", "2001:db8::1") == LOCAL
    assert POSTFIX.judge("root@[192.0.2.9]", "192.0.2.1") == RELAY
    assert POSTFIX.judge("root@[not an address]", "192.0.2.1") == RELAY
    assert EXCHANGE.judge("root@[192.0.2.1]", "192.0.2.1") == RELAY


def test_unquoted_takes_quotes_and_their_escapes_off():
    assert unquoted('"relaytest@far.test"@[127.0.0.1]') == "relaytest@far.test@[127.0.0.1]"
    assert unquoted('"a\\"b"@c') == 'a"b@c'
    assert unquoted("plain@c") == "plain@c"


@given(st.text(max_size=60))
def test_any_text_gets_a_verdict(address):
    assert POSTFIX.judge(address, "192.0.2.1") in (LOCAL, UNKNOWN_USER, RELAY)
    assert EXCHANGE.judge(address) in (LOCAL, RELAY)


def test_every_persona_refuses_relay_in_its_own_words():
    """Any listener may be closed, so every persona has rcpt.relay_denied; one with a user list
    has rcpt.unknown_user."""
    for name in model.bundled():
        persona = model.load(name)
        assert "rcpt.relay_denied" in persona.replies
        if persona.recipients.users is not None:
            assert "rcpt.unknown_user" in persona.replies
