"""What a server judges in a whole message (relaypot.protocol.content), as the real servers
showed it (tests/reference/<persona>/content.json, played by tests/personas/test_conformance.py):
here the rules' edges, and the readings no capture pins down."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relaypot.personas import model
from relaypot.personas.model import MessageRules
from relaypot.protocol.content import header_bytes, judge, longest_line, opensmtpd_header_section
from support import Driver, make_session


def received(count: int, name: bytes = b"Received") -> bytes:
    return b"".join(name + b": from relay%d.example.net\r\n\tby mx.example.net\r\n" % n for n in range(count))


def test_hops_are_the_received_headers_of_the_header_section_in_any_case():
    rules = MessageRules(max_hops=48)
    assert judge(received(48) + b"Subject: x\r\n\r\nbody\r\n", rules) is None
    assert judge(received(49) + b"Subject: x\r\n\r\nbody\r\n", rules) == ("data.too_many_hops", {})
    assert judge(received(49, b"rEcEiVeD") + b"\r\n", rules) == ("data.too_many_hops", {})
    assert judge(received(49, b"Received ") + b"\r\n", rules) == ("data.too_many_hops", {})  # blanks before the colon
    assert judge(b"Subject: x\r\n\r\n" + received(49), rules) is None  # in the body: no hop
    assert judge(received(49, b"X-Received") + b"\r\n", rules) is None


def test_a_header_section_as_sendmail_counts_it():
    """Each line end one byte, the line that ends the section counted too, NULs not at all."""
    head = b"Subject: " + b"s" * 88 + b"\r\n"  # 99 bytes, 98 counted
    assert header_bytes(head * 3 + b"\r\nbody\r\n") == 3 * 98 + 1
    assert header_bytes(head + b"body line\r\nmore\r\n") == 98 + 10
    assert header_bytes(b"X: a\x00b\r\n\r\n") == 6 + 1
    assert header_bytes(head + b" folded on\r\n\r\n") == 98 + 11 + 1
    rules = MessageRules(max_header_bytes=32768)
    exactly = b"X: " + b"y" * (32768 - 1 - 4) + b"\r\n\r\n"  # 32767 + the blank line's 1
    assert header_bytes(exactly) == 32768 and judge(exactly, rules) is None
    assert judge(b"X: y" + exactly[3:], rules) == ("data.headers_too_large", {})


def test_the_longest_line_is_named_its_line_end_aside():
    rules = MessageRules(max_line_length=998)
    assert judge(b"Subject: x\r\n\r\n" + b"x" * 998 + b"\r\n", rules) is None
    assert judge(b"Subject: x\r\n\r\n" + b"x" * 999 + b"\n" + b"y" * 1500, rules) == (
        "data.line_too_long", {"length": "1500"})


def test_opensmtpd_refuses_what_its_parser_cannot_read_and_counts_hops_to_its_limit():
    assert opensmtpd_header_section(b"hello world\r\n", 99) == "data.malformed"
    assert opensmtpd_header_section(b"Subject: x\r\nhello world\r\n", 99) == "data.malformed"
    assert opensmtpd_header_section(b" folded\r\nSubject: x\r\n\r\nbody\r\n", 99) == "data.malformed"
    assert opensmtpd_header_section(b"not a header: but a colon\r\n\r\nhello\r\n", 99) == ""
    assert opensmtpd_header_section(b"\r\nhello world\r\n", 99) == ""  # a blank line first: a body
    assert opensmtpd_header_section(b"", 99) == ""
    assert opensmtpd_header_section(received(99) + b"\r\n", 99) == ""
    assert opensmtpd_header_section(received(100) + b"\r\n", 99) == "data.too_many_hops"
    # the first error wins: a loop before a malformed line is a loop
    assert opensmtpd_header_section(received(100) + b"junk\r\n", 99) == "data.too_many_hops"


@given(st.lists(st.sampled_from([b"Subject: x", b"Received: a", b"received : b", b" cont", b"\tcont", b"",
                                 b"body", b"X-Y: z", b"\x00", b"a" * 1000]), max_size=12),
       st.sampled_from([b"\r\n", b"\n"]))
def test_personas_without_content_rules_take_every_message(lines, ending):
    """exchange2000 and exchange2019 judge nothing by content: no body is refused for it."""
    body = ending.join(lines) + ending
    for name in ("exchange2000", "exchange2019"):
        assert judge(body, model.load(name).message) is None


def test_a_message_refused_for_its_content_is_kept_and_the_session_goes_on():
    """The session says the persona's refusal, keeps the message as sent (a fragment), records no
    message, and takes the next transaction."""
    postfix = model.load("postfix")
    assert postfix.message.max_hops == 48
    d = Driver(make_session("postfix"))
    d.feed(b"EHLO a.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<postmaster@mail.example.com>\r\nDATA\r\n")
    message = received(49) + b"Subject: loop\r\n\r\nbody\r\n"
    d.feed(message + b".\r\n")
    assert d.replies[-1].data == b"554 5.4.0 Error: too many hops\r\n" and not d.delivered
    assert [(k.what, k.reason, k.data) for k in d.kept] == [("message", "too_many_hops", message)]
    d.feed(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<postmaster@mail.example.com>\r\nDATA\r\n"
           b"Subject: fine\r\n\r\nbody\r\n.\r\n")
    assert d.replies[-1].data.startswith(b"250 2.0.0 Ok: queued as ") and len(d.delivered) == 1


def test_exim_judges_a_bdat_message_too():
    d = Driver(make_session("exim"))
    d.feed(b"EHLO a.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<postmaster@mail.example.com>\r\n")
    body = b"Subject: x\r\n\r\n" + b"z" * 1200 + b"\r\n"
    d.feed(b"BDAT %d LAST\r\n" % len(body) + body)
    assert d.replies[-1].data == b"550 maximum allowed line length is 998 octets, got 1200\r\n"
    assert not d.delivered and d.kept[0].reason == "line_too_long"



def test_exims_header_syntax_reads_address_lists_as_verify_check_headers_does():
    """Captured on the real Exim (content.json: unqualified, no address, a broken angle, an
    unqualified Reply-To refused; a group, a quoted comma, two addresses, an empty From: taken);
    here the readings around them: groups ending in ";", comments, folded lists, names in any case."""
    rules = model.load("exim").message

    def verdict(header: bytes) -> str:
        found = judge(header + b"\r\nSubject: x\r\n\r\nbody\r\n", rules)
        return found[0] if found else "taken"

    for header in (b"To: Team: a@b.example, c@d.example;", b"Cc: Team: a@b.example;, d@e.example",
                   b"From: (a comment) a@b.example", b"To: a@b.example,\r\n\tc@d.example", b"fROM: <a@b.example>",
                   b'To: "x, y" <a@b.example>, "z" <c@d.example>', b"X-From: root", b"Subject: root",
                   b"Bcc: a@b.example, (a comment alone: an empty address)"):
        assert verdict(header) == "taken", header
    for header in (b"To: a@b.example, root", b"from: root", b"Sender: <a@b.example",
                   b"To: a@b.example\r\n\t, John Smith"):
        assert verdict(header) == "data.header_syntax", header


@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from([b"\r\n", b"\n", b"\r"])), max_size=8),
       st.integers(0, 20))
def test_the_longest_line_is_found_as_a_line_by_line_count_finds_it(lines, limit):
    body = b"".join(b"x" * length + ending for length, ending in lines)
    naive = max((len(line[:-1] if line.endswith(b"\r") else line) for line in body.split(b"\n")[:-1]), default=0)
    naive = max(naive, len(body.rsplit(b"\n", 1)[-1]))  # an unterminated last line, as it is
    found = longest_line(body, limit)
    assert found == naive if naive > limit else found <= limit


BUNDLED = [model.load(name) for name in model.bundled()]


@given(st.lists(st.sampled_from([b"From:", b"To:", b"Received:", b" ", b"\t", b"\r\n", b"\n", b"<", b">", b'"', b"(",
                                 b")", b",", b";", b":", b"@", b"\\", b"a", b"\x00", b"\xff", b"."]), max_size=40)
       .map(b"".join))
def test_any_message_is_judged_without_error_and_refused_only_in_the_personas_own_words(body):
    for persona in BUNDLED:
        found = judge(body, persona.message)
        assert found is None or found[0] in persona.replies
