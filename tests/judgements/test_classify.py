"""HELO identity, subject templates and relay-probe signatures: pure classification."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaypot.judgements.classify import (
    HELO_CLASSES,
    classify_helo,
    peer_match,
    probe_signature,
    public_name_problem,
    subject_template,
)

OURS = frozenset({"bps-pc9.local.mynet", "mail.example.com"})
OUR_IPS = frozenset({"82.155.248.223"})


@pytest.mark.parametrize("name,cls", [
    # the field report's identities
    ("localhost", "impersonation"),
    ("user-3i39rqqo1r", "non_fqdn"),
    ("premier-ksxhhv6", "non_fqdn"),
    ("mta101", "non_fqdn"),
    ("msg-g09pmirpcam", "non_fqdn"),
    ("82.155.248.223", "impersonation"),  # the scanner greets with the sensor's own address
    # fully qualified names
    ("mail.example.org", "fqdn"),
    ("MX1.Example.ORG", "fqdn"),
    ("mx1.example.org.", "fqdn"),  # a trailing dot (the absolute form)
    ("smtp.mail.co.uk", "fqdn"),
    ("bücher.de", "fqdn"),  # an IDN, in U-labels
    ("xn--bcher-kva.de", "fqdn"),  # the same in A-labels
    ("192.168.1.1.nip.io", "fqdn"),
    # not fully qualified
    ("host.local", "non_fqdn"),
    ("desktop.lan", "non_fqdn"),
    ("pc.localdomain", "non_fqdn"),
    ("bps-pc9.local.mynet", "impersonation"),  # our own name
    ("other.local.mynet", "non_fqdn"),  # an unknown TLD is not a public suffix
    ("co.uk", "non_fqdn"),  # a public suffix itself
    ("com", "non_fqdn"),
    # address literals (RFC 5321 §4.1.3)
    ("[203.0.113.7]", "address_literal"),
    ("[IPv6:2001:db8::7]", "address_literal"),
    ("[ipv6:2001:DB8::7]", "address_literal"),
    ("[127.0.0.1]", "impersonation"),
    ("[82.155.248.223]", "impersonation"),
    # bare addresses, which RFC 5321 does not allow as a domain
    ("203.0.113.7", "bare_ip"),
    ("2001:db8::7", "bare_ip"),
    # invalid
    ("", "invalid"),
    ("   ", "invalid"),
    ("a_b.example.org", "invalid"),  # underscore
    ('"quoted.example.org"', "invalid"),  # quotes
    ("mail.example.org:25", "invalid"),  # a port
    ("[203.0.113]", "invalid"),
    ("[IPv6:nonsense]", "invalid"),
    ("[mail.example.org]", "invalid"),
    ("exa mple.org", "invalid"),
    ("-lead.example.org", "invalid"),
    ("a..b.example.org", "invalid"),
    ("x" * 64 + ".example.org", "invalid"),  # a label over 63
    ("a." * 130 + "org", "invalid"),  # over 253
    ("1.2.3.4.5", "invalid"),
    (None, "missing"),
])
def test_helo_classes(name, cls):
    """Each shape gets its class."""
    assert classify_helo(name, OURS, OUR_IPS).cls == cls


def test_impersonation_keeps_its_syntax_class():
    """An impersonation is still an FQDN or a literal by syntax: the syntax policy needs that."""
    assert classify_helo("mail.example.com", OURS, OUR_IPS).syntax == "fqdn"
    assert classify_helo("[82.155.248.223]", OURS, OUR_IPS).syntax == "address_literal"
    assert classify_helo("localhost", OURS, OUR_IPS).syntax == "non_fqdn"


@given(st.text(max_size=300))
def test_any_text_gets_exactly_one_class(name):
    """Classification never raises and always lands in one of the seven classes."""
    identity = classify_helo(name, OURS, OUR_IPS)
    assert identity.cls in HELO_CLASSES and identity.syntax in HELO_CLASSES


@pytest.mark.parametrize("helo,peer,expected", [
    ("[203.0.113.7]", "203.0.113.7", True),
    ("203.0.113.7", "203.0.113.7", True),
    ("[203.0.113.8]", "203.0.113.7", False),
    ("[IPv6:2001:db8:0::7]", "2001:db8::7", True),
    ("mail.example.org", "203.0.113.7", None),
    (None, "203.0.113.7", None),
])
def test_peer_match(helo, peer, expected):
    """An address literal or bare IP either names the client's own address or another one."""
    assert peer_match(helo, peer) is expected


@pytest.mark.parametrize("subject,template", [
    ("BC_82.155.126.2", "BC_<ip>"),
    ("Super webscan open relay check succeded, hostname = 82.155.248.223",
     "Super webscan open relay check succeded, hostname = <ip>"),
    ("Invoice 4711  for bob@x.org", "Invoice <n> for <email>"),
    ("ref 0xdeadbeefcafe and a1b2c3d4e5", "ref <hex> and <hex>"),
    ("Cheap meds", "Cheap meds"),
])
def test_subject_template(subject, template):
    assert subject_template(subject) == template


def test_probe_signatures():
    """The field report's scanner text is a known family; naming the sensor is a probe; prose is not."""
    assert probe_signature("Super webscan open relay check succeded, hostname = 82.155.248.223", ()) == (
        "Super webscan", "super-webscan")
    assert probe_signature("SUPER WEBSCAN OPEN RELAY CHECK SUCCEEDED", ()) == ("Super webscan", "super-webscan")
    assert probe_signature("Relay test from 1.2.3.4", ())[0] == "generic relay test"
    assert probe_signature("server 82.155.248.223 works", ("82.155.248.223",)) == (
        "names the sensor", "names 82.155.248.223")
    assert probe_signature("server 182.155.248.223 works", ("82.155.248.223",)) is None
    assert probe_signature("see 82.155.248.2234", ("82.155.248.223",)) is None
    assert probe_signature("via mx.example.com.evil.net", ("mx.example.com",)) is None
    assert probe_signature("Hello, I'm a spammer!", ("82.155.248.223", "mail.example.com")) is None


def _probe_by_regex_alone(text: str, targets: tuple[str, ...]) -> tuple[str, str] | None:
    """probe_signature without its substring pre-filter: what the pre-filter must never change."""
    from relaypot.judgements.classify import _naming, signatures

    for signature in signatures():
        if signature.pattern.search(text):
            return signature.family, signature.name
    for target in targets:
        if target and _naming(target).search(text):
            return "names the sensor", f"names {target}"
    return None


def _fragments() -> st.SearchStrategy[str]:
    from relaypot.judgements.classify import signatures

    examples = [e for s in signatures() for e in s.examples]
    words = ["relay", "open relay", "check", "test", "proxy", "socks", "webscan", "Mail.Example.COM",
             "82.155.248.223", "182.155.248.2234", " ", "_", "-", ".", "\n"]
    return st.one_of(st.sampled_from(examples), st.sampled_from(words), st.text(max_size=12))


@given(st.lists(_fragments(), max_size=8), st.lists(st.booleans(), max_size=8))
def test_the_keyword_prefilter_never_changes_a_verdict(fragments, upper):
    """Keywords are necessary for a signature (and a target's name for naming it): skipping the
    regular expressions without them gives the same answer as running them all."""
    text = " ".join(f.upper() if i < len(upper) and upper[i] else f for i, f in enumerate(fragments))
    targets = ("82.155.248.223", "mail.example.com")
    assert probe_signature(text, targets) == _probe_by_regex_alone(text, targets)


def test_every_signature_matches_its_examples_which_hold_a_keyword():
    """A signature's examples match it, and each holds one of its keywords (the SQL pre-filter)."""
    from relaypot.judgements.classify import signatures

    for signature in signatures():
        assert signature.examples and signature.keywords, signature.name
        for example in signature.examples:
            assert signature.pattern.search(example), (signature.name, example)
            assert any(k in example.lower() for k in signature.keywords), (signature.name, example)


@pytest.mark.parametrize(("name", "problem"), [
    ("mx1.relaypot-test.net", None), ("mail.google.com", None), ("MX.Example.ORG.", "documentation"),
    ("mail.example.com", "documentation"), ("vm", "single label"), ("localhost", "single label"),
    ("host.lan", "special-use"), ("mail.corp", "special-use"), ("10.0.0.1", "IP address"), ("::1", "IP address"),
    ("co.uk", "public suffix itself"), ("a..b", "not a domain name"), ("mx.invalid", "special-use"),
])
def test_a_public_mail_server_name_is_a_name_under_a_public_suffix_and_not_a_documentation_one(name, problem):
    found = public_name_problem(name)
    assert (found is None) if problem is None else (problem in found), found
