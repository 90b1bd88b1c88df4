"""The pure readers the session is split into, one per persona table: fast, by example and by property."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaypot.errors import PersonaError
from relaypot.personas import model
from relaypot.protocol.accounting import SHAPE_TOKENS, ErrorAccount, Shape
from relaypot.protocol.commands import bdat_argument
from relaypot.protocol.envelope import Where, read_path, read_vrfy
from relaypot.protocol.lines import read_line
from relaypot.protocol.states import etrn_reading, gate, rset_refusal, starttls_refusal, trusted_verb_refusal

POSTFIX, EXCHANGE = model.load("postfix"), model.load("exchange2000")


@given(st.binary(max_size=200).filter(lambda b: b"\n" not in b))
def test_any_line_is_read_without_raising_and_a_verb_is_its_word_upper_cased(line):
    for persona in (POSTFIX, EXCHANGE):
        _binary, refusal, verb, sent, _argument, forbidden = read_line(line, persona.lines)
        assert verb == sent.upper()
        assert not (refusal and (verb or forbidden))  # a refusal answers the line alone


def test_postfix_reads_a_line_as_smtpd_does():
    rules = POSTFIX.lines
    assert read_line(b"NOOP\x00x", rules)[:3] == ("NUL byte", "", "NOOP")  # a C string: up to the NUL
    assert read_line(b"  noop", rules)[2] == "NOOP"  # blanks before the verb skipped
    assert read_line(b"", rules)[1] == "command.bad_syntax"
    assert read_line(b"GET / HTTP/1.0", rules)[5]  # forbidden
    assert read_line(b"\xff\xfe", rules)[:2] == ("invalid UTF-8", "command.bad_bytes")
    assert read_line(b"", EXCHANGE.lines)[1] == "command.unknown"


def test_postfix_counts_errors_and_junk_as_its_smtpd_loop():
    account = ErrorAccount(POSTFIX.errors)
    assert not any(account.answered("NOOP", 250) for _ in range(101))  # junk up to junk_limit is free
    assert account.errors == 0 and not account.answered("NOOP", 250) and account.errors == 1
    for _ in range(8):
        account.answered("FOO", 502)
    assert account.delay() == 0.0
    account.answered("FOO", 502)  # the 10th error: every reply waits from now on
    assert account.delay() == 1.0
    account.message_accepted()
    assert (account.errors, account.junk, account.delay()) == (0, 0, 0.0)
    silent = ErrorAccount(EXCHANGE.errors)  # IIS keeps no account at all
    assert not any(silent.answered("FOO", 500) for _ in range(1000)) and silent.errors == 0


@pytest.mark.parametrize("argument,read", [
    ("1000", (1000, False)), ("1000 LAST", (1000, True)), ("0 last", (0, True)), ("", (None, False)),
    ("-5", (None, False)), ("10 NOW", (None, False)), ("1 2 3", (None, False)), ("١٢", (None, False)),
])
def test_a_bdat_argument(argument, read):
    assert bdat_argument(argument) == read


LOCAL = Where(lambda domain: domain.lower() in ("x.example", "localhost"), "x.example")


def test_envelope_paths_as_each_server_reads_them():
    assert read_path("FROM:<a@[300.1.1.1]>", "mail", POSTFIX, "x.example", LOCAL).refusal == "mail.bad_address"
    assert read_path("FROM:<a@b.example> FOO=BAR", "mail", POSTFIX, "x.example", LOCAL).token == "FOO=BAR"
    assert read_path("FROM:<a@b.example> SIZE=99999999", "mail", POSTFIX, "x.example", LOCAL).refusal == "mail.too_big"
    assert read_path("FROM:<spamtest>", "mail", EXCHANGE, "x.example").address == "spamtest@x.example"
    assert read_path("TO:<>", "rcpt", POSTFIX, "x.example", LOCAL).path is None
    assert read_vrfy("John Smith", POSTFIX, "x.example", LOCAL) == ("vrfy.bad_address", "", "")
    assert read_vrfy("John Smith", EXCHANGE, "x.example") == ("", "John Smith@x.example", "John Smith")


def postfix(argument: str, command: str = "mail") -> tuple[str, str, str]:
    read = read_path(argument, command, POSTFIX, "x.example", LOCAL)
    return read.refusal, read.address, read.token


def test_postfix_reads_mail_and_rcpt_as_smtpd_does():
    """Each as the real Postfix 3.7.11 answered it (tests/personas/test_differential.py found them)."""
    assert postfix("FROM:<a@b.example>") == ("", "a@b.example", "")
    assert postfix("FROM: <a@b.example>") == ("", "a@b.example", "")  # a blank after the colon is fine
    assert postfix("FROM <a@b.example>")[0] == "mail.syntax"
    assert postfix("FROM:")[0] == "mail.syntax"
    assert postfix("FROM:<unclosed")[0] == "mail.bad_address"
    assert postfix("FROM:<>") == ("", "", "")
    assert postfix("FROM:<a@b.example>junk")[0] == "mail.bad_address"  # two addresses
    assert postfix("FROM:a.b@localhost> FOO AUTH=<>") == ("mail.unsupported_option", "a.b@localhost", "FOO")
    # no address: BODY=7BIT is read as one
    assert postfix("FROM: BODY=7BIT RET=HDRS AUTH")[::2] == ("mail.unsupported_option", "AUTH")
    assert postfix('FROM:<"a b"@b.example>')[1] == "a b@b.example"  # internal form: quotes off
    assert postfix("FROM:<@route.example:a@b.example>")[1] == "a@b.example"
    for refused, argument in [("mail.bad_size", "SIZE=1_000"), ("mail.bad_size", "SIZE=-1"),
                              ("mail.size_overflow", "SIZE=9223372036854775808"), ("mail.bad_ret", "RET=bogus"),
                              ("mail.bad_ret", "RET=FULL RET=HDRS"), ("mail.bad_envid", "ENVID="),
                              ("mail.bad_envid", "ENVID=a+2"), ("mail.unsupported_option", "SMTPUTF8=yes"),
                              ("mail.unsupported_option", "BODY=BINARYMIME"), ("mail.auth_twice", "AUTH=a AUTH=b"),
                              ("mail.unsupported_option", "SIZE"), ("mail.bad_size", "SIZE=")]:
        assert postfix(f"FROM:<a@b.example> {argument}")[0] == refused, argument
    for taken in ("SIZE=00001000", "ENVID=a+2Bb", "AUTH=a+zz", "BODY=8bitmime", "SMTPUTF8", "RET=full"):
        assert postfix(f"FROM:<a@b.example> {taken}")[0] == "", taken
    for bad in ("<a@-b.example>", "<a@b..example>", "<a@[300.1.1.1]>", "<a@127.0.0.1>", "<-a@b.example>", "<a@>"):
        assert postfix(f"FROM:{bad}")[0] == "mail.bad_address", bad
    assert postfix("FROM:<jöhn@bé.example>")[0] == "mail.bad_address"  # a non-ASCII domain without SMTPUTF8
    assert postfix("FROM:<jöhn@bé.example> SMTPUTF8")[0] == ""
    assert postfix("TO:<>", "rcpt")[0] == "rcpt.bad_address"
    assert postfix("TO:<a@b.example> NOTIFY=NEVER,SUCCESS", "rcpt")[0] == "rcpt.bad_notify"
    assert postfix("TO:<a@b.example> NOTIFY=success,failure", "rcpt")[0] == ""
    for bad in ("ORCPT=x", "ORCPT=rfc822;a+zz", "ORCPT=;a", "ORCPT=rfc822;a ORCPT=rfc822;b"):
        assert postfix(f"TO:<a@b.example> {bad}", "rcpt")[0] == "rcpt.bad_orcpt", bad
    assert postfix("TO:<a%b@localhost>", "rcpt")[:2] == ("", "a%b@localhost")
    assert postfix("TO:<a%b@-x@localhost>", "rcpt")[0] == "rcpt.bad_address"  # routes on to a bad domain


def test_postfix_reads_vrfy_as_smtpd_does():
    assert read_vrfy("x SMTPUTF8", POSTFIX, "x.example", LOCAL) == ("", "x", "x")
    assert read_vrfy("SMTPUTF8", POSTFIX, "x.example", LOCAL)[0] == "vrfy.missing_argument"
    assert read_vrfy("@example..org", POSTFIX, "x.example", LOCAL)[0] == "vrfy.bad_address"
    assert read_vrfy("<abuse>junk", POSTFIX, "x.example", LOCAL)[0] == "vrfy.bad_address"
    assert read_vrfy("<@route.example:@example.org.>", POSTFIX, "x.example", LOCAL)[1] == "@example.org."


def test_the_gate_before_a_verb_runs():
    submission = POSTFIX.services["submission"]
    refusals = {("MAIL", "connected"): "mail.need_helo", ("BDAT", "greeted"): "bdat.need_mail"}
    assert gate("MAIL", "connected", refusals, None, False) == ("mail.need_helo", True)
    assert gate("BDAT", "greeted", refusals, None, False) == ("", False)  # refused after its chunk
    assert gate("MAIL", "greeted", refusals, submission, False) == ("session.tls_required", False)
    assert gate("EHLO", "connected", refusals, submission, False) == ("", False)


def test_argument_refusals_as_each_server_judges_them():
    assert rset_refusal("x", POSTFIX.sequence) == "rset.syntax"  # Postfix: no argument
    assert rset_refusal("x", EXCHANGE.sequence) == ""
    assert etrn_reading("", "greeted", EXCHANGE.sequence) == ("etrn.missing_argument", "")
    assert etrn_reading("#x", "greeted", EXCHANGE.sequence) == ("", "#x")
    assert etrn_reading("x", "mail", POSTFIX.sequence) == ("etrn.in_transaction", "")
    assert etrn_reading("", "mail", POSTFIX.sequence) == ("etrn.in_transaction", "")  # the transaction first
    assert etrn_reading("x.example", "greeted", POSTFIX.sequence) == ("", "x.example")
    # Postfix's etrn_cmd: one word, a leading # or @ dropped, a host name or an address literal
    assert etrn_reading("#foo", "greeted", POSTFIX.sequence) == ("", "foo")
    assert etrn_reading("@[127.0.0.1]", "greeted", POSTFIX.sequence) == ("", "[127.0.0.1]")
    assert etrn_reading("a b", "greeted", POSTFIX.sequence) == ("etrn.missing_argument", "")
    for bad in ("#", "-a.example", "a..example", "127.0.0.1", "[300.1.1.1]", "a!b"):
        assert etrn_reading(bad, "greeted", POSTFIX.sequence) == ("etrn.bad_domain", ""), bad
    assert trusted_verb_refusal("XCLIENT", "", "greeted", POSTFIX.sequence) == "xclient.syntax"
    assert trusted_verb_refusal("XFORWARD", "NAME=x", "rcpt", POSTFIX.sequence) == "xforward.in_transaction"
    assert trusted_verb_refusal("XFORWARD", "NAME=x", "greeted", POSTFIX.sequence) == "xforward.refused"
    assert trusted_verb_refusal("XCLIENT", "", "rcpt", EXCHANGE.sequence) == "xclient.refused"
    assert starttls_refusal("x", False, True) == "starttls.syntax"
    assert starttls_refusal("", True, True) == "starttls.already_active"
    assert starttls_refusal("", False, False) == "starttls.unavailable"
    assert starttls_refusal("", False, True) == ""


@given(st.lists(st.sampled_from(["HELO", "MAIL", "RCPT", "NOOP", "xyzzy", "\x1b[31m"]), max_size=60))
def test_a_session_shape_is_bounded_and_runs_collapse(verbs):
    shape = Shape()
    for verb in verbs:
        shape.add(verb)
    tokens = str(shape).split(" ") if verbs else []
    assert len(tokens) <= SHAPE_TOKENS + 1
    assert all(a.rstrip("+") != b.rstrip("+") for a, b in itertools.pairwise(tokens))
    assert all(t.rstrip("+") in ("HELO", "MAIL", "RCPT", "NOOP", "?", "…") for t in tokens)
    if len(tokens) > SHAPE_TOKENS:
        assert tokens[-1] == "…"


@pytest.mark.parametrize("name,cls", list(model.TABLE_CLASSES.items()))
def test_every_table_reads_back_its_own_defaults_and_refuses_strangers(name, cls):
    defaults = cls()
    raw = {f.name: _toml(getattr(defaults, f.name)) for f in dataclasses.fields(cls)
           if getattr(defaults, f.name) is not None}
    convert = {"sysctls": dict, "option_layout": lambda v: tuple(tuple(g) for g in v)} if name == "stack" else (
        {"full_names": dict, "aliases": dict} if name == "recipients" else None)
    assert model.read_table(raw, cls, name, "test.toml", convert) == defaults
    with pytest.raises(PersonaError, match=rf"test\.toml: \[{name}\] has unknown key 'nonsense'"):
        model.read_table({"nonsense": 1}, cls, name, "test.toml")


def _toml(value):
    if isinstance(value, tuple):
        return [_toml(v) for v in value]
    return value


def test_postfix_reads_words_host_names_and_address_literals_as_its_source_does():
    from relaypot.protocol.postfix_syntax import valid_hostname, valid_mailhost_literal, words

    assert words("MAIL FROM:<a b@c> SIZE=1") == ["MAIL", "FROM:", "<a b@c>", "SIZE=1"]
    assert words('VRFY "John Smith" x') == ["VRFY", '"John Smith"', "x"]
    assert words("rcpt to:x") == ["rcpt", "to:", "x"]  # a word ends after "to:" / "from:"
    assert words("FROM :<a>") == ["FROM", ":<a>"]
    assert words("<a <b> c>d e") == ["<a <b> c>d", "e"]  # brackets nest
    assert words("<unclosed x") == ["<unclosed x"]
    assert words("  ") == []
    for good in ("a", "mail.example.com", "a_b.example", "x-y.example", "1a.example"):
        assert valid_hostname(good), good
    for bad in ("", "-a.example", "a-.example", "a..example", "example.", "127.0.0.1", "a!b", "jöhn.example",
                "a" * 64 + ".example", ("a" * 60 + ".") * 5):
        assert not valid_hostname(bad), bad
    for good in ("[127.0.0.1]", "[IPv6:::1]", "[ipv6:2001:db8::1]"):
        assert valid_mailhost_literal(good), good
    for bad in ("127.0.0.1", "[300.1.1.1]", "[::1]", "[127.0.0.1]x", "[1.2.3]"):
        assert not valid_mailhost_literal(bad), bad


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab@.:<>"()[]\\%!,; -+=é\t')), max_size=40),
       st.sampled_from(["mail", "rcpt"]))
def test_postfix_reading_takes_any_argument(text, command):
    """Whatever follows MAIL FROM: or RCPT TO:, Postfix's reading ends in a reply key, never an error,
    and an address it takes is one address Postfix could name."""
    refusal, address, _ = postfix(("FROM:" if command == "mail" else "TO:") + text, command)
    assert refusal == "" or refusal.startswith(command + ".")
    if not refusal:
        assert "\r" not in address and "\n" not in address


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab.-+_@<>:\" \tF")), max_size=24),
       st.lists(st.sampled_from(["SIZE=1", "BODY=7BIT", "X", "A=b:c", '"q"', "<p>"]), max_size=3))
def test_postfix_reading_shortcuts_agree_with_the_parser(path, parameters):
    """The plain-path and plain-argument shortcuts give what smtpd_token and the RFC 822 parser give."""
    from relaypot.protocol import postfix_envelope as pe
    from relaypot.protocol.postfix_syntax import words

    word = f"<{path}>"
    assert pe.extract_address(word) == pe.parsed_address(word)
    argument = " ".join([f"FROM:<{path}>", *parameters])
    assert pe._argument_words(argument, "from:")[0] == words(argument)


@pytest.mark.parametrize(("line", "verb", "argument", "forbidden"), [
    # measured from the real Postfix 3.7.11: smtpd_token() takes the C locale's white space
    (b"\x0bNOOP", "NOOP", "", False), (b"NOOP\x0c", "NOOP", "", False), (b"\rNOOP", "NOOP", "", False),
    (b"\x0c\x0bNOOP", "NOOP", "", False), (b"VRFY\x0croot", "VRFY", "root", False),
    (b"MAIL\x0bFROM:<a@client.example.org>", "MAIL", "FROM:<a@client.example.org>", False),
    (b"1NOOP", "1NOOP", "", True),  # regexp:{{/^[^A-Z]/ Thrash}}
])
def test_postfix_reads_the_verb_up_to_any_c_white_space(line, verb, argument, forbidden):
    read = read_line(line, model.load("postfix").lines)
    assert (read[2], read[4], read[5]) == (verb, argument, forbidden)
