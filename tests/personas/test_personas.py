"""Personas: their contract with the session, their validation, and the fidelity checks a capture
cannot express (conformance to each real server by aspect: tests/personas/test_conformance.py)."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from relaypot.errors import PersonaError
from relaypot.personas import model
from relaypot.protocol.listener import ListenerContext
from relaypot.protocol.logins import LoginPolicy
from relaypot.protocol.session import Session
from relaypot.protocol.transcript import render, scripted
from relaypot.vocabulary import VERBS
from support import POSTFIX_REFERENCE, REFERENCE, Driver, expected_from_reference, normalize, unesc

SESSION_SOURCE = Path(model.__file__).parents[1] / "protocol" / "session.py"


def play(persona: model.Persona, conversation: dict, client: Callable[[str], bytes] = unesc,
         relay: str = "open", logins: LoginPolicy | None = None, service: str = "",
         tls_available: bool = True) -> Driver:
    """Send the reference conversation's client bytes (each entry through `client`) through a
    sans-IO session, as the reference's listener on 127.0.0.1:2600; the Driver holds the replies."""
    context = ListenerContext(persona, "mail.example.com", "mail.example.com", tls_available=tls_available,
                              clock=lambda: 1.0, rng=random.Random(0), logins=logins or LoginPolicy())
    implicit = service == "submissions"
    driver = Driver(Session(context, "127.0.0.1", 40000, "127.0.0.1", 2600, "127.0.0.1:2600", relay=relay,
                            service=service, tls_active=implicit))
    for direction, text in conversation["exchange"]:
        if direction == "C":
            driver.feed(client(text))
    return driver


def converse(persona: model.Persona, conversation: dict, relay: str = "open") -> tuple[bytes, list[float]]:
    """The reference conversation through a sans-IO session: (its replies, their delays)."""
    driver = play(persona, conversation, relay=relay)
    return normalize(driver.wire), [reply.delay for reply in driver.replies]




def test_postfix_failure_delay_matches_the_reference_timing():
    """Where the real server took about 2 s to refuse a login, the persona's reply carries that delay."""
    conversation = next(c for c in POSTFIX_REFERENCE if c["name"] == "auth_login_wrong")
    times = conversation["t_ms"]
    real_delay = (times[-3] - times[-4]) / 1000  # the 535 came this long after the password
    _, delays = converse(model.load("postfix"), conversation)
    assert real_delay == pytest.approx(2.0, abs=0.1)
    assert max(delays) == 2.0


@pytest.mark.parametrize("name", model.bundled())
def test_every_reply_key_the_session_uses_exists_in_every_persona(name):
    """A key the session or a module it is split into names in source must be in every persona
    that implements the verb."""
    persona = model.load(name)
    used = {key for path in SESSION_SOURCE.parent.glob("*.py")
            for key in re.findall(r'"((?:[a-z0-9-]+)\.[a-z_]+)"', path.read_text())}
    used = {k for k in used if k.split(".")[0] in {
        "greeting", "helo", "ehlo", "mail", "rcpt", "data", "bdat", "rset", "noop", "quit", "vrfy", "expn",
        "help", "etrn", "turn", "atrn", "starttls", "auth", "xexch50", "x-link2state", "xclient", "xforward",
        "command", "session"}}
    verbs_of = {"x-link2state": "X-LINK2STATE"}
    needed = set()
    for key in used:
        prefix = key.split(".")[0]
        verb = verbs_of.get(prefix, prefix.upper())
        if prefix in ("command", "session") or verb in persona.verbs:
            needed.add(key)
    if not persona.auth.mechanisms:  # AUTH never advertised: every AUTH is auth.not_available
        needed = {key for key in needed if not key.startswith("auth.")} | {"auth.not_available"}
    optional = {key for verb in VERBS.values() for key in verb.optional_keys} | {
        "command.too_long", "command.forbidden", "auth.empty_prompt", "auth.ntlm_prompt", "auth.challenge",
        # turned on by [lines] verb_grammar = "exim" and [errors]' Exim counters
        "command.nul", "command.unexpected_argument", "session.too_many_unknown", "session.too_many_nonmail",
        "session.lost_input", "data.lost_input", "session.sync_error", "help.tls_active", "session.reply_too_long",
        # turned on by [lines] verb_grammar = "opensmtpd" and refuse_pipelining
        "command.wiz", "command.pipelining",
        # a timeout inside a message worded apart, where the persona's server does (Exim, Sendmail)
        "session.timeout_data",
        # turned on by [message] bdat_error_state (Postfix's chunk refused by the size it names)
        "bdat.too_big",
        # turned on by [message] max_hops, max_header_bytes, max_line_length, header_grammar
        "data.too_many_hops", "data.headers_too_large", "data.line_too_long", "data.malformed", "data.header_syntax",
        "data.header_not_crlf",  # turned on by [message] chunked_header_crlf (Exim under CHUNKING)
        "rcpt.aliased", "data.delivering",  # turned on by [recipients] send_queue (Sendmail's verbose mode)
        "rcpt.too_many_bad",  # turned on by [recipients] bad_rcpt_limit (Debian Exim's ACL)
        "mail.invalid_sender",  # turned on by [addresses] grammar = "sendmail" (a program or file as sender)
        # turned on by [server] greet_pause, [sequence] stuffing_checked, [lines] open_proxy_verbs
        # and [addresses] grammar = "sendmail"
        "helo.stuffing", "data.stuffing", "session.rejecting", "command.open_proxy", "rcpt.sender_unqualified",
        "rcpt.sender_unresolved",
        "auth.bad_mechanism_name", "auth.initial_unexpected",  # [auth] mechanism_name_checked, server_first_initial
        "auth.response_too_long",  # [auth] response_max_length with response_too_long = "refuse" (Postfix)
        "mail.non_printable", "rcpt.non_printable",  # [addresses] grammar = "sendmail"
        "mail.envid_too_long",  # [addresses] grammar = "opensmtpd"
        "help.unknown", "data.nul", "data.bare_cr", "data.bare_lf", "etrn.queue_group", "etrn.unknown_queue",
        *(f"{verb}.{key}" for verb in ("mail", "rcpt") for key in (
            "missing_value", "size_invalid", "duplicate", "bad_xtext", "no_host", "bad_host", "bad_route",
            "no_user", "bad_ret", "bad_notify", "bad_orcpt")),
        *model.SERVICE_REPLY_KEYS}
    assert needed - optional <= persona.replies.keys()
    assert persona.required_keys() <= persona.replies.keys()


def test_exchange_ehlo_is_the_field_reports_list_without_its_tells():
    """The EHLO list is the seed's, minus honeyd's stray "}" after XEXCH50; every line ends in CRLF."""
    transcript = scripted(model.load("exchange2000"), "bps-pc9.local.mynet", client_ip="82.155.248.223")
    ehlo = transcript[2][1]
    assert ehlo == (
        b"250-bps-pc9.local.mynet Hello [82.155.248.223]\r\n250-TURN\r\n250-ATRN\r\n250-SIZE\r\n250-ETRN\r\n"
        b"250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-8bitmime\r\n250-BINARYMIME\r\n"
        b"250-CHUNKING\r\n250-VRFY\r\n250-X-EXPS GSSAPI NTLM LOGIN\r\n250-X-EXPS=LOGIN\r\n"
        b"250-AUTH GSSAPI NTLM LOGIN\r\n250-AUTH=LOGIN\r\n250-X-LINK2STATE\r\n250-XEXCH50\r\n250 OK\r\n"
    )
    every = b"".join(data for direction, data in transcript if direction == "S")
    assert b"}" not in every and b"Sender ok" not in every
    assert all(line.endswith(b"\r") for line in every.split(b"\n")[:-1])


def test_exchange_grade_a_lines():
    """Replies Microsoft documents byte for byte (KB Q304897, MS-SMTPNTLM, a 5.0.2195.5329 capture)."""
    text = render(scripted(model.load("exchange2000"), "jd.acme.local"))
    for line in ("S: 252 2.1.5 Cannot VRFY user, but will take message for <postmaster@jd.acme.local>",
                 "S: 250 2.1.0 alice@example.org....Sender OK",
                 "S: 535 5.7.3 Authentication unsuccessful"):
        assert line in text


def test_every_persona_cites_its_sources():
    """A persona says where its texts come from."""
    for name in model.bundled():
        assert model.load(name).source


@pytest.mark.parametrize("mutation,message", [
    (lambda raw: raw["replies"].pop("mail.ok"), "is missing mail.ok"),
    (lambda raw: raw["replies"].__setitem__("mail.ok", "ok"), "must start with a reply code"),
    (lambda raw: raw["replies"].__setitem__("mail.ok", "250 {secret}"), "unknown placeholder {secret}"),
    (lambda raw: raw["replies"].__setitem__("help.ok", ["214 a", "250 b"]), "every line must start with '214 '"),
    (lambda raw: raw["lines"].__setitem__("ending", "cr"), "[lines] ending must be one of lf, crlf"),
    (lambda raw: raw["lines"].__setitem__("bogus", 1), "[lines] has unknown key 'bogus'"),
    (lambda raw: raw["lines"].__setitem__("max_length", True), "[lines] max_length must be int"),
    (lambda raw: raw.setdefault("errors", {}).__setitem__("junk_verbs", "NOOP"),
     "[errors] junk_verbs must be a list of strings"),
    (lambda raw: raw["server"].__setitem__("queue_id", "qmail"), "[server] queue_id must be one of postfix, "
                                                                  "exchange"),
    (lambda raw: raw.__setitem__("behaviour", {}), "unknown table [behaviour]"),
    # A switch on needs its reply: the refusal is data, not a reply key's mere presence.
    (lambda raw: raw["sequence"].__setitem__("refuse_etrn_in_transaction", True), "is missing etrn.in_transaction"),
    (lambda raw: raw["auth"].__setitem__("ntlm_version", [5, 0]), "[auth] ntlm_version must be [major, minor, build]"),
    (lambda raw: raw["persona"]["verbs"].append("FROB"), "unknown verbs ['FROB']"),
    (lambda raw: raw["replies"].pop("rcpt.relay_denied"), "is missing rcpt.relay_denied"),
    (lambda raw: raw["recipients"].__setitem__("users", ["root"]), "is missing rcpt.unknown_user"),
    (lambda raw: raw["recipients"].__setitem__("users", "root"), "[recipients] users must be a list of names"),
    (lambda raw: raw["recipients"].__setitem__("relay", "open"), "[recipients] has unknown key 'relay'"),
    (lambda raw: raw["recipients"].__setitem__("extension", "+-"), "extension must be one character"),
    (lambda raw: raw.setdefault("errors", {}).__setitem__("slowdowns", ["HELO EHLO"]),
     "[errors] slowdowns entries are \"VERB VERB:N\""),
    (lambda raw: raw.setdefault("errors", {}).__setitem__("slowdowns", ["NOOP:0"]), "N at least 1"),
    (lambda raw: raw.setdefault("errors", {}).update(slowdowns=["NOOP:20"], slowdowns_deferred=["VRFY"]),
     "slowdowns_deferred names 'VRFY', which no slowdowns group has"),
])
def test_invalid_personas_are_refused_with_file_and_key(mutation, message):
    """A broken persona file is named, with the table and key at fault."""
    import tomllib

    path = model.DATA_DIR / "exchange2000.toml"
    raw = tomllib.loads(path.read_text())
    mutation(raw)
    with pytest.raises(PersonaError, match=re.escape(message)) as info:
        model.parse(raw, path)
    assert str(path) in str(info.value)


def test_unknown_persona_names_the_bundled_ones():
    with pytest.raises(PersonaError, match="bundled personas: exchange2000, exchange2016, exchange2019, exim, "
                                           "exim-tls-auth, opensmtpd, opensmtpd-tls-auth, postfix, sendmail, "
                                           "sendmail-tls-auth"):
        model.load("qmail")


def test_a_variant_extends_a_bundled_persona_table_by_table(tmp_path):
    """[persona] extends: the base's tables, the variant's keys over them; a base that is no bundled
    persona, or a chain that comes back to itself, is refused with the file's name."""
    base, variant = model.load("exim"), model.load("exim-tls-auth")
    assert variant.replies["greeting"] == base.replies["greeting"]  # from the base
    assert variant.replies["auth.failed"].text == "535 Incorrect authentication data"  # its own
    assert base.auth.mechanisms == () and variant.auth.mechanisms == ("PLAIN", "LOGIN", "CRAM-MD5")
    assert variant.lines == base.lines and variant.name == "exim-tls-auth"
    mine = tmp_path / "mine.toml"
    mine.write_text('[persona]\nextends = "postfix"\nname = "mine"\nsummary = "s"\nsource = "s"\n'
                    '[replies]\ngreeting = "220 {hostname} ESMTP"\n')
    loaded = model.load(str(mine))
    assert loaded.name == "mine" and loaded.replies["greeting"].render({"hostname": "h"})[0] == "220 h ESMTP"
    assert loaded.replies["mail.ok"] == model.load("postfix").replies["mail.ok"]
    mine.write_text('[persona]\nextends = "qmail"\nname = "mine"\n')
    with pytest.raises(PersonaError, match=r"mine\.toml: \[persona\] extends must name a bundled persona"):
        model.load(str(mine))


def test_persona_file_by_path(tmp_path):
    """A persona can be a file of the user's own."""
    custom = tmp_path / "mine.toml"
    custom.write_text((model.DATA_DIR / "postfix.toml").read_text().replace('name = "postfix"', 'name = "mine"'))
    assert model.load(str(custom)).name == "mine"


POSTFIX_ERRORS = json.loads((REFERENCE / "postfix" / "errors.json").read_text())


def test_exchange_never_slows_down_or_hangs_up_for_errors():
    """IIS 5 has no error accounting (persona notes: S14, Security Advisory 842851)."""
    conversation = next(c for c in POSTFIX_ERRORS if c["name"] == "errors_unknown")
    _got, delays = converse(model.load("exchange2000"), conversation)
    assert len(delays) == 2 + 22 and not any(delays)  # banner, HELO, and every FOO answered at once


POSTFIX_RECIPIENTS = json.loads((REFERENCE / "postfix" / "recipients.json").read_text())


def test_an_open_listener_differs_from_the_real_server_only_at_relay_refusals():
    """The open view is no identity: nmap's sixteen relay forms are each taken, nothing else changes."""
    changed = {c["name"] for c in POSTFIX_RECIPIENTS
               if expected_from_reference(c, "open") != expected_from_reference(c, "closed")}
    relay_forms = {f"rcpt_relay_{n}" for n in range(1, 17)}
    assert changed == relay_forms | {"rcpt_literal_other", "rcpt_parent_domain", "rcpt_far", "vrfy_far",
                                     "vrfy_routed", "rcpt_mixed", "rcpt_only_refused"}
    unknown = next(c for c in POSTFIX_RECIPIENTS if c["name"] == "rcpt_unknown")
    assert b"User unknown in local recipient table" in expected_from_reference(unknown, "open")
    only_relay = next(c for c in POSTFIX_RECIPIENTS if c["name"] == "rcpt_only_refused")
    replies = [reply.data for reply in play(model.load("postfix"), only_relay, relay="open").replies[2:]]
    assert replies == [b"250 2.1.0 Ok\r\n", b"250 2.1.5 Ok\r\n", b"354 End data with <CR><LF>.<CR><LF>\r\n"]


def _exchange_replies(lines: list[bytes], relay: str = "closed", hostname: str = "mail.example.com",
                      default_domain: str = "") -> list[bytes]:
    context = ListenerContext(model.load("exchange2000"), hostname, default_domain or hostname, clock=lambda: 1.0,
                              rng=random.Random(0))
    driver = Driver(Session(context, "192.0.2.7", 40000, "192.0.2.1", 25, "192.0.2.1:25", relay=relay))
    driver.feed(b"EHLO client.example.org\r\n")
    driver.replies.clear()
    for line in lines:
        driver.feed(line + b"\r\n")
    return [reply.data for reply in driver.replies]


def test_exchange_refuses_relay_in_its_own_words_and_takes_every_local_user():
    """KB Q304897 (S1): "550 5.7.1 Unable to relay for relaytest@contoso.net"; any user of a local
    domain is taken (no directory lookup), "%" is no routing, a bare name gets the default domain;
    VRFY is 252 for anyone (S5)."""
    replies = _exchange_replies([
        b"MAIL FROM:<spamtest@contoso.net>", b"RCPT TO:<relaytest@contoso.net>",
        b"RCPT TO:<nosuchuser@mail.example.com>", b"RCPT TO:<anyone@example.com>",
        b"RCPT TO:<relaytest%contoso.net>", b"RCPT TO:<relaytest%contoso.net@mail.example.com>",
        b"VRFY nosuchuser",
    ])
    assert replies == [
        b"250 2.1.0 spamtest@contoso.net....Sender OK\r\n",
        b"550 5.7.1 Unable to relay for relaytest@contoso.net\r\n",
        b"250 2.1.5 nosuchuser@mail.example.com\r\n",
        b"250 2.1.5 anyone@example.com\r\n",
        b"250 2.1.5 relaytest%contoso.net@mail.example.com\r\n",
        b"250 2.1.5 relaytest%contoso.net@mail.example.com\r\n",
        b"252 2.1.5 Cannot VRFY user, but will take message for <nosuchuser@mail.example.com>\r\n",
    ]
    opened = _exchange_replies([b"MAIL FROM:<spamtest@contoso.net>", b"RCPT TO:<relaytest@contoso.net>"], "open")
    assert opened[1] == b"250 2.1.5 relaytest@contoso.net\r\n"


@pytest.mark.parametrize("relay", ["open", "closed"])
def test_exchange_answers_kb_q304897_with_the_organisations_default_domain(relay):
    """KB Q304897 (S1), server northwindtraders.com's: a bare local part gets the default domain, a
    quoted one too whatever its quotes hold (test 7), and that reply ends in a space, in either
    policy: the address is local."""
    replies = _exchange_replies([b"MAIL FROM:<spamtest>", b'rcpt to: <"nobody@mail-contoso.org">',
                                 b"RCPT TO:<relaytest%contoso.net>"], relay, "mail.northwindtraders.com",
                                default_domain="northwindtraders.com")
    assert replies == [
        b"250 2.1.0 spamtest@northwindtraders.com....Sender OK\r\n",
        b'250 2.1.5 "nobody@mail-contoso.org"@northwindtraders.com \r\n',
        b"250 2.1.5 relaytest%contoso.net@northwindtraders.com\r\n",
    ]


def test_exchange_default_domain_is_the_host_name_unless_set(sensor_factory):
    """[smtp] default_domain over a real socket; unset, the host name, as the captured 5.0.2195
    servers answer (S5: <users@jd.acme.local>)."""
    import smtplib

    for options, domain in (({}, "mail.example.com"), ({"smtp__default_domain": "example.com"}, "example.com")):
        sensor = sensor_factory(smtp__relay="closed", **options)
        with smtplib.SMTP(*sensor.address, timeout=10) as client:
            client.ehlo("client.example.org")
            assert client.mail("spamtest") == (250, f"2.1.0 spamtest@{domain}....Sender OK".encode())
            assert client.verify("users") == (252, f"2.1.5 Cannot VRFY user, but will take message for "
                                                   f"<users@{domain}>".encode())


def test_relay_policy_auth_refuses_until_a_login_succeeds():
    """Policy "auth" refuses relay as "closed" does while the session has not authenticated."""
    replies = _exchange_replies([b"MAIL FROM:<a@b.example>", b"RCPT TO:<victim@example.net>"], "auth")
    assert replies[1] == b"550 5.7.1 Unable to relay for victim@example.net\r\n"


def test_operator_domains_and_users_are_local_too():
    """[smtp] domains are delivered for (their unknown users refused), [smtp] local_users exist."""
    context = ListenerContext(model.load("postfix"), "mail.example.com", "mail.example.com", clock=lambda: 1.0,
                              rng=random.Random(0), domains=("example.org",), users=("Info",))
    driver = Driver(Session(context, "192.0.2.7", 40000, "192.0.2.1", 25, "192.0.2.1:25", relay="closed"))
    driver.feed(b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n")
    driver.replies.clear()
    driver.feed(b"RCPT TO:<info@example.org>\r\nRCPT TO:<info@mail.example.com>\r\nRCPT TO:<sales@example.org>\r\n"
                b"RCPT TO:<root@[192.0.2.1]>\r\nRCPT TO:<root@[192.0.2.9]>\r\n")
    assert [r.data for r in driver.replies] == [
        b"250 2.1.5 Ok\r\n", b"250 2.1.5 Ok\r\n",
        b"550 5.1.1 <sales@example.org>: Recipient address rejected: User unknown in local recipient table\r\n",
        b"250 2.1.5 Ok\r\n", b"454 4.7.1 <root@[192.0.2.9]>: Relay access denied\r\n",
    ]


POSTFIX_AUTH = json.loads((REFERENCE / "postfix" / "auth.json").read_text())


def test_a_closed_listener_does_not_relay_even_after_a_login():
    conversation = next(c for c in POSTFIX_AUTH if c["name"] == "auth_then_relay")
    driver = play(model.load("postfix"), conversation, relay="closed", logins=LoginPolicy(("user:secret",)))
    assert driver.replies[-2].data == b"454 4.7.1 <victim@example.net>: Relay access denied\r\n"


def test_without_accepted_logins_every_login_fails_as_before():
    conversation = next(c for c in POSTFIX_AUTH if c["name"] == "auth_success")
    driver = play(model.load("postfix"), conversation)
    assert driver.replies[-2].data == b"535 5.7.8 Error: authentication failed: (reason unavailable)\r\n"
    assert [e.outcome for e in driver.of("smtp.auth")] == ["rejected"]


def test_a_service_the_persona_lacks_is_refused_when_the_persona_loads():
    import tomllib

    raw = tomllib.loads((model.DATA_DIR / "postfix.toml").read_text())
    del raw["services"]["submission"]["replies"]["session.tls_required"]
    with pytest.raises(PersonaError, match=re.escape("services.submission.replies] is missing session.tls_required")):
        model.parse(raw, model.DATA_DIR / "postfix.toml")


def test_an_unknown_persona_key_is_refused_by_name(tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text('[persona]\nextends = "postfix"\nname = "mine"\nversion = "1.0"\n')
    with pytest.raises(model.PersonaError, match=r"\[persona\] has unknown key 'version'; known: .*versions"):
        model.load(str(mine))
    mine.write_text('[persona]\nextends = "postfix"\nname = "mine"\nknown_tells = "one"\n')
    with pytest.raises(model.PersonaError, match=r"known_tells must be a list of strings"):
        model.load(str(mine))
