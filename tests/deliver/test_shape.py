"""What a probe looks like and how it is sent on (deliver/shape.py, deliver/received.py): pure."""

from __future__ import annotations

import re
from datetime import UTC
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaypot.deliver.received import Hop, received
from relaypot.deliver.shape import lines_of, shape_problem, split_message, subject_and_body, wire_form
from relaypot.judgements.classify import delivery_signature

PROBE = b"Subject: Super webscan open relay check succeded, hostname = 192.0.2.1\r\n\r\nok\r\n"


@pytest.mark.parametrize("raw,problem", [
    (PROBE, None),
    (b"Subject: relay test\nContent-Type: text/plain; charset=utf-8\n\nh\xc3\xa9\n", None),
    (b"Subject: relay test\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nok=20\r\n", None),
    (PROBE + b"x" * 5000, "larger than deliver_max_bytes"),
    (b"Subject: relay test\r\n\r\n\x00\r\n", "control bytes"),
    (b"Subject: relay test\r\n\r\n\x1b[31m\r\n", "control bytes"),
    (b"Subject: relay test\r\n\r\n\xff\xfe\r\n", "not UTF-8"),
    (b"Subject: relay test\r\n\r\n" + b"a" * 999 + b"\r\n", "a line longer than 998 bytes"),
    (b"Subject: relay test\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B--\r\n", "multipart"),
    (b"Subject: relay test\r\nContent-Type: text/html\r\n\r\nok\r\n", "Content-Type text/html"),
    (b"Subject: relay test\r\nContent-Type: application/octet-stream\r\n\r\nok\r\n", "Content-Type application"),
    (b"Subject: relay test\r\nContent-Disposition: attachment; filename=x.txt\r\n\r\nok\r\n", "an attachment"),
    (b"Subject: relay test\r\nContent-Transfer-Encoding: base64\r\n\r\nb2s=\r\n", "Content-Transfer-Encoding base64"),
    (b"Subject: relay test\r\n\r\n<a href='https://x.example/'>go</a>\r\n", "HTML"),
    (b"Subject: relay test\r\n\r\n<HTML><BODY>x</BODY></HTML>\r\n", "HTML"),
    (b"Subject: relay test\r\n\r\n<img src=https://x.example/p.png>\r\n", "HTML"),
])
def test_only_short_plain_text_is_probe_shaped(raw, problem):
    found = shape_problem(raw, 4096)
    assert (found is None) if problem is None else (found is not None and problem in found), found


def test_generic_wording_counts_only_in_the_subject_a_tools_own_text_anywhere():
    assert delivery_signature("open relay test", "hello", ()) is not None
    assert delivery_signature("Invoice", "please run an open relay test", ()) is None
    assert delivery_signature("Invoice", "please check our proxy checker", ()) is None
    assert delivery_signature("hi", "Super webscan open relay check succeded, hostname = 1.2.3.4", ()) is not None
    assert delivery_signature("test 203.0.113.9", "", ("203.0.113.9",)) is not None
    assert delivery_signature("hello", "hostname = 203.0.113.9", ("203.0.113.9",)) is None


def test_subject_is_unfolded_and_the_body_is_text():
    assert subject_and_body(b"Subject: open\r\n relay test\r\n\r\nbody\r\n") == ("open relay test", "body\r\n")
    assert split_message(b"\r\nbody") == (b"", b"body")
    assert split_message(b"A: b\r\n\r\n") == (b"A: b", b"")


messages = st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=30),
                    max_size=12).flatmap(lambda lines: st.lists(st.sampled_from(["\r\n", "\n", "\r"]),
                                                                min_size=len(lines), max_size=len(lines))
                                         .map(lambda ends: "".join(a + b for a, b in zip(lines, ends, strict=True))))


@given(messages)
def test_the_wire_form_is_every_line_crlf_and_dot_stuffed(text):
    raw = text.encode()
    wire = wire_form(raw, "Received: from a ([192.0.2.1])\r\n\tby b with SMTP; now")
    assert wire.endswith(b"\r\n") and b"\r\n.\r\n" not in b"\r\n" + wire
    lines = wire[:-2].split(b"\r\n")
    assert all(b"\r" not in line and b"\n" not in line for line in lines)
    unstuffed = [line[1:] if line.startswith(b".") else line for line in lines[2:]]
    assert unstuffed == lines_of(raw)


WHEN = 1_764_900_000.0  # Fri,  5 Dec 2025 02:00:00 UTC


def test_postfix_writes_its_received_line_as_smtpd_does():
    hop = Hop("scanner.example", "EHLO", "192.0.2.7", "mail.example.com", queue_id="4ABCDEF123",
              recipients=("drop@box.example",))
    assert received("postfix", hop, WHEN, UTC, "Postfix") == (
        "Received: from scanner.example (unknown [192.0.2.7])\r\n"
        "\tby mail.example.com (Postfix) with ESMTP id 4ABCDEF123\r\n"
        "\tfor <drop@box.example>; Fri,  5 Dec 2025 02:00:00 +0000 (UTC)")
    two = Hop("", "HELO", "2001:db8::7", "mail.example.com", tls=True, recipients=("a@x.example", "b@x.example"))
    assert received("postfix", two, WHEN, ZoneInfo("Europe/Berlin"), "Postfix") == (
        "Received: from unknown (unknown [IPv6:2001:db8::7])\r\n"
        "\tby mail.example.com (Postfix) with SMTP;\r\n"
        "\tFri,  5 Dec 2025 03:00:00 +0100 (CET)")
    secure = Hop("h", "EHLO", "::ffff:192.0.2.9", "m", tls=True, authenticated=True, recipients=('"odd x"@y.example',))
    line = received("postfix", secure, WHEN, UTC, "Postfix")
    assert "(unknown [192.0.2.9])" in line and "with ESMTPSA" in line and 'for <"odd x"@y.example>' in line


def test_the_windows_smtp_service_writes_its_own():
    hop = Hop("web.example", "EHLO", "192.0.2.7", "EXCH.example.com")
    assert received("smtpsvc", hop, WHEN, UTC, "Microsoft SMTPSVC(5.0.2195.5329)") == (
        "Received: from web.example ([192.0.2.7]) by EXCH.example.com with Microsoft SMTPSVC(5.0.2195.5329);\r\n"
        "\t Fri, 5 Dec 2025 02:00:00 +0000")


def test_exchange_2013_and_later_write_theirs_folded_at_78_columns():
    """The shape of public headers (deliver/received.py): client address in parentheses, the
    server's name and address, the TLS version and suite where TLS carried it, the build, the
    front end, the date without a leading zero; folded at spaces, continuation lines one space in."""
    hop = Hop("[127.0.0.1]", "EHLO", "10.174.177.71", "kwepemg500008.china.huawei.com", tls=True,
              server_ip="7.202.181.45")
    line = received("exchange2013", hop, WHEN, ZoneInfo("Asia/Shanghai"), "15.2.1544.11")
    assert line == (
        "Received: from [127.0.0.1] (10.174.177.71) by kwepemg500008.china.huawei.com\r\n"
        " (7.202.181.45) with Microsoft SMTP Server (version=TLS1_2,\r\n"
        " cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.2.1544.11 via Frontend\r\n"
        " Transport; Fri, 5 Dec 2025 10:00:00 +0800")
    plain = received("exchange2013", Hop("", "HELO", "192.0.2.7", "ex01.fabrikam.com", server_ip="192.0.2.1"), WHEN,
                     UTC, "15.2.1544.4")
    assert plain.replace("\r\n", "") == ("Received: from [192.0.2.7] (192.0.2.7) by ex01.fabrikam.com (192.0.2.1) "
                                         "with Microsoft SMTP Server id 15.2.1544.4 via Frontend Transport; Fri, 5 "
                                         "Dec 2025 02:00:00 +0000")
    assert all(len(part) <= 78 for part in line.split("\r\n"))


@given(st.text(max_size=80), st.sampled_from(["postfix", "smtpsvc", "exchange2013", "rfc5321"]))
def test_no_attacker_text_can_start_a_header_of_its_own(helo, style):
    line = received(style, Hop(helo, "EHLO", "192.0.2.1", "m.example", recipients=(helo + "@x.example",)), WHEN,
                    UTC, "")
    assert re.fullmatch(r"Received: [\x21-\x7e ]*(\r\n[\t ][\x21-\x7e ]*)*", line), line
