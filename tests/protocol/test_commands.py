"""Command-line and path parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaypot.protocol.commands import BAD_ADDRESS, SYNTAX, Path, parse_path
from support import Driver, make_session


@pytest.mark.parametrize("line,expected", [
    (b"MAIL FROM:<a@b>", ("MAIL", "FROM:<a@b>")),
    (b"ehlo  client.example.org ", ("EHLO", "client.example.org")),
    (b"QUIT", ("QUIT", "")),
    (b"HELO\tx", ("HELO", "x")),
    (b"VRFY \xff\xfe", ("VRFY", "\udcff\udcfe")),
])
def test_a_command_line_is_split_into_verb_and_argument(line, expected):
    """The verb is upper-cased; the argument is kept as sent (undecodable bytes included, spaces
    and a TAB around it trimmed), as the session's smtp.command record shows."""
    d = Driver(make_session("exchange2000")).feed(line + b"\r\n")
    command = d.of("smtp.command")[0]
    assert (command.verb, command.argument) == expected


@pytest.mark.parametrize("argument,bracketless,expected", [
    ("FROM:<alice@example.org>", True, Path("alice@example.org", {}, True)),
    ("from: <alice@example.org> SIZE=100 BODY=8BITMIME", True,
     Path("alice@example.org", {"SIZE": "100", "BODY": "8BITMIME"}, True)),
    ("FROM:<>", True, Path("", {}, True)),
    ("FROM:alice@example.org", True, Path("alice@example.org", {}, False)),
    ("FROM:alice@example.org", False, BAD_ADDRESS),
    ("FROM:<@relay.example:bob@example.net>", True, Path("bob@example.net", {}, True)),
    ('FROM:<"odd>name"@example.org>', True, Path('"odd>name"@example.org', {}, True)),
    ("alice@example.org", True, SYNTAX),
    ("FROM:<aaaa", True, BAD_ADDRESS),
    ("FROM:<a b@c>", True, BAD_ADDRESS),
    ("FROM:<a\x01b@c>", True, BAD_ADDRESS),
    ("FROM:", True, BAD_ADDRESS),  # the keyword, and no address after it
])
def test_parse_path(argument, bracketless, expected):
    """Paths with and without brackets, parameters, source routes, quoted parts, and broken ones."""
    assert parse_path(argument, "FROM", bracketless) == expected


@given(st.text(max_size=200))
def test_parse_path_never_raises(argument):
    """Any argument parses to a Path or an error tag."""
    result = parse_path(argument, "TO", True)
    assert isinstance(result, Path) or result in (SYNTAX, BAD_ADDRESS)



def test_every_verb_has_one_row_and_a_method_that_answers_it():
    """vocabulary.VERBS is the one table of verbs: the session's handlers, the persona contract's
    reply keys and the sequence all come from it."""
    from relaypot.protocol.session import _HANDLERS, Session
    from relaypot.protocol.states import refusal_table
    from relaypot.vocabulary import KNOWN_VERBS, VERBS

    assert set(_HANDLERS) == set(VERBS) == KNOWN_VERBS
    for name, verb in VERBS.items():
        if verb.reply:  # answered with its one reply whatever follows: no method of its own
            assert not verb.handler and verb.reply_keys == {verb.reply}, name
            from relaypot.personas import model
            from support import make_session

            persona = next(p for p in model.bundled() if name in model.load(p).verbs)
            session = make_session(persona=persona)
            code = _HANDLERS[name](session, "anything", out := [])
            reply = session.replies[verb.reply]  # Sendmail's name the line ({line}: none read here)
            assert code == reply.code and out[0].data == reply.render({**session._placeholders(), "line": ""})[1]
        else:
            assert _HANDLERS[name] is getattr(Session, verb.handler)
        assert set(verb.refused.values()) <= verb.reply_keys, name  # a refusal's reply is the verb's own key
    table = refusal_table(mail_before_helo=False, auth_before_helo=False)
    assert table[("MAIL", "connected")] == "mail.need_helo" and table[("AUTH", "connected")] == "auth.not_available"
    relaxed = refusal_table(mail_before_helo=True, auth_before_helo=True)
    assert ("MAIL", "connected") not in relaxed and ("AUTH", "connected") not in relaxed
    assert len(table) == sum(len(v.refused) for v in VERBS.values())
