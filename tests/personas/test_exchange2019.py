"""The exchange2019 persona against its cited sources (docs/exchange2019-sources.md): no Exchange
can run here, so each test pins what a source shows byte for byte (A: Microsoft's transcript E1,
the protocol log E2) or what the transport's code says (B: E5), through a sans-IO session."""

from __future__ import annotations

import base64
import random
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaypot.personas import model
from relaypot.protocol import exchange_envelope, ntlm
from relaypot.protocol.listener import ListenerContext
from relaypot.protocol.message_id import internet_message_id
from relaypot.protocol.session import Session
from support import Driver

PERSONA = model.load("exchange2019")
HOST = "mail1.fabrikam.com"


def driver(relay: str = "closed", tls_active: bool = False, tls_available: bool = True) -> Driver:
    context = ListenerContext(PERSONA, HOST, HOST, tls_available=tls_available, clock=lambda: 1_700_000_000.0,
                              rng=random.Random(7))
    return Driver(Session(context, "172.16.0.5", 40000, "172.16.0.1", 25, "172.16.0.1:25", relay=relay,
                          tls_active=tls_active))


def said(d: Driver) -> list[bytes]:
    return [reply.data for reply in d.replies]


E1_EHLO = (b"250-mail1.fabrikam.com Hello [172.16.0.5]\r\n250-SIZE 37748736\r\n250-PIPELINING\r\n250-DSN\r\n"
           b"250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-X-ANONYMOUSTLS\r\n250-AUTH NTLM\r\n"
           b"250-X-EXPS GSSAPI NTLM\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n")


def test_banner_and_ehlo_are_microsofts_transcript_with_exchange_2019s_smtputf8():
    """E1 byte for byte (its Exchange 2016 list), SMTPUTF8 before XRDST as E3's Exchange 2019 lists it."""
    d = driver()
    d.feed(b"EHLO contoso.com\r\n")
    banner, ehlo = said(d)
    assert banner.startswith(b"220 mail1.fabrikam.com Microsoft ESMTP MAIL Service ready at ")
    assert banner.endswith(b" +0000\r\n") and b"ready at Tue, 14 Nov 2023 22:13:20 +0000" in banner
    assert ehlo == E1_EHLO + b"250-SMTPUTF8\r\n250 XRDST\r\n"


def test_after_starttls_the_list_loses_tls_and_auth_gains_login():
    """E2: the second EHLO of a Default Frontend session, after "220 2.0.0 SMTP server ready"."""
    d = driver()
    d.feed(b"EHLO contoso.com\r\nSTARTTLS\r\n")
    assert said(d)[-1] == b"220 2.0.0 SMTP server ready\r\n" and d.tls_requested == 1
    d.replies.clear()
    d.feed(b"EHLO contoso.com\r\nSTARTTLS\r\n")
    assert said(d) == [
        b"250-mail1.fabrikam.com Hello [172.16.0.5]\r\n250-SIZE 37748736\r\n250-PIPELINING\r\n250-DSN\r\n"
        b"250-ENHANCEDSTATUSCODES\r\n250-AUTH NTLM LOGIN\r\n250-X-EXPS GSSAPI NTLM\r\n250-8BITMIME\r\n"
        b"250-BINARYMIME\r\n250-CHUNKING\r\n250-SMTPUTF8\r\n250 XRDST\r\n",
        b"503 5.5.2 Only one STARTTLS command can be issued per session\r\n",
    ]


def test_x_anonymoustls_starts_tls_as_starttls_does():
    """SmtpInSession.CreateSmtpCommand (E5): X-ANONYMOUSTLS is a StarttlsSmtpCommand too."""
    d = driver()
    d.feed(b"EHLO contoso.com\r\nX-ANONYMOUSTLS\r\n")
    assert said(d)[-1] == b"220 2.0.0 SMTP server ready\r\n" and d.tls_requested == 1


def test_login_only_over_tls_ntlm_in_clear():
    d = driver()
    d.feed(b"EHLO contoso.com\r\nAUTH LOGIN\r\n")
    assert said(d)[-1] == b"504 5.7.4 Unrecognized authentication type\r\n"
    assert d.replies[-1].delay == 5.0  # a 5xx: the tar pit
    d.feed(b"AUTH NTLM\r\n")
    assert said(d)[-1] == b"334 NTLM supported\r\n" and d.replies[-1].delay == 0.0
    secure = driver(tls_active=True)
    secure.feed(b"EHLO contoso.com\r\nAUTH LOGIN\r\n")
    assert said(secure)[-1] == b"334 VXNlcm5hbWU6\r\n"


def test_ntlm_challenge_names_windows_server_2019_its_forest_and_its_clock():
    """E8: VERSION 10.0.17763, NTLMSSP revision 15; E3/E4: DNS_Tree_Name; MsvAvTimestamp as a FILETIME."""
    d = driver()
    negotiate = base64.b64encode(b"NTLMSSP\0" + struct.pack("<II", 1, 0x00088207) + bytes(16)).decode()
    d.feed(f"EHLO contoso.com\r\nAUTH NTLM {negotiate}\r\n".encode())
    reply = said(d)[-1]
    assert reply.startswith(b"334 ")
    blob = base64.b64decode(reply[4:].strip())
    assert ntlm.message_type(blob) == 2
    flags = struct.unpack_from("<I", blob, 20)[0]
    assert flags & ntlm.NEGOTIATE_VERSION
    assert blob[48:56] == struct.pack("<BBH3xB", 10, 0, 17763, 15)
    info_len, _, info_offset = struct.unpack_from("<HHI", blob, 40)
    info = blob[info_offset:info_offset + info_len]
    pairs, at = {}, 0
    while at < len(info):
        kind, size = struct.unpack_from("<HH", info, at)
        pairs[kind] = info[at + 4:at + 4 + size]
        at += 4 + size
    assert pairs[5].decode("utf-16-le") == "fabrikam.com" and pairs[3].decode("utf-16-le") == HOST
    assert struct.unpack("<Q", pairs[7])[0] == (1_700_000_000 + 11644473600) * 10_000_000
    assert list(pairs)[-1] == 0  # MsvAvEOL last


def test_help_vrfy_expn_and_the_tar_pit():
    """E5: HELP's two lines; VRFY and EXPN "not supported", each held the TarpitInterval (5 s) as an
    unknown command is; a 2xx to a mail command is never held."""
    d = driver()
    d.feed(b"EHLO contoso.com\r\nHELP\r\nVRFY root\r\nEXPN staff\r\nNOOP\r\nXRDST\r\n")
    assert said(d)[2:] == [
        b"214-This server supports the following commands:\r\n"
        b"214 HELO EHLO STARTTLS RCPT DATA RSET MAIL QUIT HELP AUTH BDAT\r\n",
        b"252 2.1.5 Cannot VRFY user\r\n",
        b"502 5.3.3 Command not implemented\r\n",
        b"250 2.0.0 OK\r\n",
        b"500 5.3.3 Unrecognized command\r\n",
    ]
    assert [reply.delay for reply in d.replies[2:]] == [0.0, 5.0, 5.0, 0.0, 5.0]


def test_the_sixth_protocol_error_is_answered_too_many_errors_in_its_place():
    """IsMaxProtocolErrorsExceeded (E5): more than MaxProtocolErrors (5, E7) closes the session,
    the 421 replacing the sixth refusal and held as it would have been."""
    d = driver()
    d.feed(b"FOO\r\nMAIL FROM:<a@contoso.com>\r\nBAR\r\nRCPT TO:<b@fabrikam.com>\r\nDATA\r\nBAZ\r\nNOOP\r\n")
    assert said(d)[1:] == [
        b"500 5.3.3 Unrecognized command\r\n", b"503 5.5.2 Send hello first\r\n",
        b"500 5.3.3 Unrecognized command\r\n", b"503 5.5.2 Need mail command\r\n",
        b"503 5.5.2 Need mail command\r\n",
        b"421 4.7.0 Too many errors on this connection, closing transmission channel\r\n",
    ]
    assert d.replies[-1].delay == 5.0 and d.closed == "limit"


def test_helo_without_a_name_is_taken_a_bad_name_is_not():
    """RequireEHLODomain is off by default (E5, E7); IsValidHeloDomain: E1's failure response."""
    d = driver()
    d.feed(b"HELO\r\nEHLO\r\nEHLO bad..example\r\nHELO [192.0.2.1]\r\n")
    assert said(d)[1:] == [
        b"250 mail1.fabrikam.com Hello [172.16.0.5]\r\n",
        E1_EHLO + b"250-SMTPUTF8\r\n250 XRDST\r\n",
        b"501 5.5.4 Invalid domain name\r\n",
        b"250 mail1.fabrikam.com Hello [172.16.0.5]\r\n",
    ]


def test_a_message_is_queued_under_its_own_message_id():
    """E1: "250 2.6.0 <c89b4fcc-...@mail1.fabrikam.com> [InternalId=5111011082268, Hostname=...]
    Queued mail for delivery"; Util.PatchHeaders (E5): the message's Message-ID where it has one."""
    d = driver()
    d.feed(b"EHLO contoso.com\r\nMAIL FROM:<chris@contoso.com>\r\nRCPT TO:<kate@fabrikam.com> "
           b"NOTIFY=success,failure\r\nDATA\r\n")
    assert said(d)[2:] == [b"250 2.1.0 Sender OK\r\n", b"250 2.1.5 Recipient OK\r\n",
                           b"354 Start mail input; end with <CRLF>.<CRLF>\r\n"]
    d.feed(b"Subject: test\r\nMessage-ID:\r\n <abc.123@contoso.com>\r\n\r\nThis is a test message.\r\n.\r\n")
    first = said(d)[-1]
    assert first.startswith(b"250 2.6.0 <abc.123@contoso.com> [InternalId=")
    assert first.endswith(b", Hostname=mail1.fabrikam.com] Queued mail for delivery\r\n")
    internal = int(first.split(b"InternalId=")[1].split(b",")[0])
    d.feed(b"MAIL FROM:<chris@contoso.com>\r\nRCPT TO:<kate@fabrikam.com>\r\nDATA\r\nSubject: x\r\n\r\nx\r\n.\r\n")
    second = said(d)[-1]
    generated = second.split(b" ")[2]
    assert generated.startswith(b"<") and generated.endswith(b"@mail1.fabrikam.com>") and len(generated) == 1 + 36 + 20
    assert 10**12 <= internal < int(second.split(b"InternalId=")[1].split(b",")[0]) < 10**13


@pytest.mark.parametrize("header,shown", [
    (b"Message-ID: <a@b>", "<a@b>"),
    (b"message-id:a@b", "<a@b>"),  # bracketed as GetBracketedString does
    (b"Message-ID: <a@b>\r\nMessage-ID: <c@d>", "<a@b>"),  # the first
    (b"Message-ID: <\xc3\xa9@b>", None),  # not ASCII: never echoed
    (b"Message-ID: <a\x07@b>", None),  # a control byte: never echoed
    (b"X: y", None),
])
def test_message_ids_a_client_chose_are_echoed_only_when_printable(header, shown):
    got = internet_message_id(header + b"\r\n\r\nbody\r\nMessage-ID: <late@x>\r\n", "h.example", random.Random(1))
    if shown is None:
        assert got.endswith("@h.example>") and len(got) == len("<00000000-0000-4000-8000-000000000000@h.example>")
    else:
        assert got == shown


def test_relay_is_refused_in_exchange_2019s_words_and_local_users_all_exist():
    d = driver()
    d.feed(b"EHLO contoso.com\r\nMAIL FROM:<a@contoso.com>\r\nRCPT TO:<x@example.net>\r\n"
           b"RCPT TO:<nobody-at-all@fabrikam.com>\r\n")
    assert said(d)[2:] == [b"250 2.1.0 Sender OK\r\n",
                           b"550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain\r\n",
                           b"250 2.1.5 Recipient OK\r\n"]
    assert d.replies[3].delay == 5.0
    opened = driver(relay="open")
    opened.feed(b"EHLO contoso.com\r\nMAIL FROM:<a@contoso.com>\r\nRCPT TO:<x@example.net>\r\n")
    assert said(opened)[-1] == b"250 2.1.5 Recipient OK\r\n"


def test_bdat_chunks_are_acknowledged_as_the_transport_says():
    d = driver()
    d.feed(b"EHLO contoso.com\r\nMAIL FROM:<a@contoso.com>\r\nRCPT TO:<b@fabrikam.com>\r\n"
           b"BDAT 5\r\nab\r\ncBDAT 3 LAST\r\nx\r\n")
    assert said(d)[4] == b"250 2.6.0 CHUNK received OK, 5 octets\r\n"
    assert said(d)[5].startswith(b"250 2.6.0 <") and said(d)[5].endswith(b"Queued mail for delivery\r\n")


def test_a_bare_lf_does_not_end_a_command_line():
    """NetworkBuffer.FindLine (E5): only CR LF ends a line."""
    d = driver()
    d.feed(b"NOOP\nNOOP\r\n")
    assert said(d)[1:] == [b"500 5.3.3 Unrecognized command\r\n"]


def test_xexch50_is_refused_in_its_order_and_gssapi_and_exps_login_are_unknown():
    """Xexch50SmtpCommand (E5): HELO, MAIL and RCPT checked first, then "504 5.7.1 Not authorized";
    AuthSmtpCommand: GSSAPI only for a bridgehead's X-EXPS or with EnableAuthGSSAPI (neither on a
    front end), LOGIN never by X-EXPS: each "504 5.7.4 Unrecognized authentication type"."""
    d = driver(tls_active=True)
    d.feed(b"XEXCH50 10 2\r\nEHLO contoso.com\r\nXEXCH50 10 2\r\nMAIL FROM:<a@contoso.com>\r\n"
           b"XEXCH50 10 2\r\nRCPT TO:<b@fabrikam.com>\r\nXEXCH50 10 2\r\n")
    assert [said(d)[i] for i in (1, 3, 5, 7)] == [
        b"503 5.5.2 Send hello first\r\n", b"503 5.5.2 Need mail command\r\n",
        b"503 5.5.2 Need rcpt command\r\n", b"504 5.7.1 Not authorized\r\n"]
    assert [e.violation for e in d.of("smtp.violation")].count("xexch50") == 4
    d.feed(b"X-EXPS GSSAPI\r\n")  # in a transaction: BadCommandSequence, checked before the mechanism
    assert said(d)[-1] == b"503 5.5.1 Bad sequence of commands\r\n" and d.closed is None
    d.feed(b"RSET\r\nX-EXPS GSSAPI\r\n")  # the sixth protocol error
    assert said(d)[-1] == b"421 4.7.0 Too many errors on this connection, closing transmission channel\r\n"
    assert d.closed == "limit"
    fresh = driver(tls_active=True)
    fresh.feed(b"EHLO contoso.com\r\nX-EXPS GSSAPI\r\nAUTH GSSAPI\r\nX-EXPS LOGIN\r\nAUTH LOGIN\r\n")
    assert said(fresh)[2:] == [b"504 5.7.4 Unrecognized authentication type\r\n"] * 3 + [b"334 VXNlcm5hbWU6\r\n"]


def test_the_201st_recipient_is_too_many():
    """MaxRecipientsPerMessage, 200 on a front-end connector (E7): TooManyRecipients (E5) past it."""
    d = driver()
    d.feed(b"EHLO contoso.com\r\nMAIL FROM:<a@contoso.com>\r\n"
           + b"".join(b"RCPT TO:<u%d@fabrikam.com>\r\n" % n for n in range(201)))
    assert said(d)[-2:] == [b"250 2.1.5 Recipient OK\r\n", b"452 4.5.3 Too many recipients\r\n"]
    assert said(d).count(b"250 2.1.5 Recipient OK\r\n") == 200


def test_a_client_whose_refusal_is_held_waits_for_its_next_banner():
    """SmtpInSession (E5): a refusal marks the client's ClientData bad until its tar pit ends
    (DelayResponseCompleted's MarkGood); a connection it opens meanwhile gets its banner only after
    the TarpitInterval ("Tarpit for '00:00:05' due to 'IP discredited'")."""
    now = [1_700_000_000.0]
    context = ListenerContext(PERSONA, HOST, HOST, tls_available=True, clock=lambda: now[0], rng=random.Random(7))

    def connect(client: str) -> Driver:
        return Driver(Session(context, client, 40000, "172.16.0.1", 25, "172.16.0.1:25", relay="closed"))

    first = connect("192.0.2.9")
    assert first.replies[0].delay == 0.0
    first.feed(b"FOO\r\n")
    assert first.replies[-1].delay == 5.0
    now[0] += 1
    assert connect("192.0.2.9").replies[0].delay == 5.0  # discredited while FOO's reply is held
    assert connect("192.0.2.10").replies[0].delay == 0.0  # another client is not
    now[0] += 5
    assert connect("192.0.2.9").replies[0].delay == 0.0  # the held reply went: good again


def test_mail_and_rcpt_without_their_keyword_or_their_address():
    """MailSmtpCommandParser and RcptSmtpCommandParser (E5): no FROM:/TO: is UnrecognizedParameter,
    nothing after it InvalidSenderAddress / InvalidAddress."""
    d = driver()
    d.feed(b"EHLO contoso.com\r\nMAIL <a@contoso.com>\r\nMAIL FROM:\r\nMAIL FROM:<a@contoso.com>\r\n"
           b"RCPT <b@fabrikam.com>\r\nRCPT TO:\r\n")
    assert said(d)[2:] == [b"501 5.5.4 Unrecognized parameter\r\n", b"501 5.1.7 Invalid address\r\n",
                           b"250 2.1.0 Sender OK\r\n", b"501 5.5.4 Unrecognized parameter\r\n",
                           b"501 5.1.3 Invalid address\r\n"]


def test_exchange2016_is_exchange2019_without_smtputf8_on_windows_server_2016():
    """E1 (Microsoft's Exchange 2016 transcript) byte for byte, E4's Product_Version 10.0.14393;
    the rest is exchange2019's."""
    persona = model.load("exchange2016")
    context = ListenerContext(persona, HOST, HOST, tls_available=True, clock=lambda: 1_700_000_000.0,
                              rng=random.Random(7))
    d = Driver(Session(context, "172.16.0.5", 40000, "172.16.0.1", 25, "172.16.0.1:25", relay="closed"))
    d.feed(b"EHLO contoso.com\r\nVRFY root\r\n")
    assert said(d)[1] == E1_EHLO + b"250 XRDST\r\n"
    assert said(d)[2] == b"252 2.1.5 Cannot VRFY user\r\n" and d.replies[2].delay == 5.0
    assert persona.ntlm_identity(HOST).version == (10, 0, 14393)
    assert persona.stack == PERSONA.stack and persona.tls == PERSONA.tls


def test_the_command_that_passed_the_limit_is_recorded_with_the_421_it_got():
    d = driver()
    d.feed(b"A\r\nB\r\nC\r\nD\r\nE\r\nF\r\n")
    commands = d.of("smtp.command")
    assert [c.reply_code for c in commands] == [500] * 5 + [421]
    assert commands[-1].reply.startswith("421 4.7.0 Too many errors")


def test_addresses_as_the_transport_reads_them():
    """[addresses] grammar = "exchange" (E5: Parse821, RoutingAddress.IsValidAddress): blanks around
    the colon, a source route, a bracketless address and a quoted local part are taken; an address
    literal, a blank inside the address, <> as a recipient are not."""
    d = driver()
    d.feed(b"EHLO contoso.com\r\nMAIL FROM : <@relay.example,@r2.example:a@contoso.com> SIZE=100\r\n"
           b"RCPT TO:<u@[192.0.2.1]>\r\nRCPT TO:<>\r\nRCPT TO:<a b@fabrikam.com>\r\n"
           b"RCPT TO:b@fabrikam.com\r\nRCPT TO:<\"x y\"@fabrikam.com>\r\n")
    assert said(d)[2:] == [b"250 2.1.0 Sender OK\r\n", b"501 5.1.3 Invalid address\r\n",
                           b"501 5.1.3 Invalid address\r\n", b"501 5.1.3 Invalid address\r\n",
                           b"250 2.1.5 Recipient OK\r\n", b"250 2.1.5 Recipient OK\r\n"]
    d.feed(b"DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
    [message] = d.of("smtp.message")
    assert (message.mail_from, message.rcpt_to) == ("a@contoso.com", ("b@fabrikam.com", '"x y"@fabrikam.com'))


@pytest.mark.parametrize("written", ["<postmaster>", "PostMaster", "<postmaster@[192.0.2.1]>"])
def test_postmaster_alone_or_at_an_address_literal_is_the_servers_own(written: str):
    """IsAddressPostMaster (E5): rewritten to postmaster@ the connector's advertised domain. What the
    recipient check then makes of that address is not in the published code: relaypot judges it as
    any other (the host name is no accepted domain of the persona)."""
    read = exchange_envelope.read_rcpt("TO:" + written, HOST)
    assert (read.refusal, read.address) == ("", f"postmaster@{HOST}")


def test_a_null_sender_and_a_size_past_the_limit():
    d = driver()
    d.feed(b"EHLO contoso.com\r\nMAIL FROM:<> SIZE=99999999999\r\nMAIL FROM:<>\r\n")
    assert said(d)[2:] == [b"552 5.3.4 Message size exceeds fixed maximum message size\r\n",
                           b"250 2.1.0 Sender OK\r\n"]


@pytest.mark.parametrize(("address", "valid"), [
    ("a@b.example", True), ("<>", True), ("a.b@c", True), ('"a b"@c.example', True), ("a\\ b@c", True),
    ("a@[192.0.2.1]", False), (".a@c", False), ("a..b@c", False), ("a@", False), ("@c", False),
    ("a@b..c", False), ("a@b@c", False), ("a@" + "x" * 64 + ".example", False), ("a" * 316 + "@c", False),
])
def test_valid_address(address: str, valid: bool):
    assert exchange_envelope.valid_address(address) is valid


@pytest.mark.parametrize(("written", "address"), [
    ("<a@b>", "a@b"), ("a@b", "a@b"), ("<>", "<>"), ("<<>>", ""), ("<a@b", ""), ("<@x,@y:a@b>", "a@b"),
    ("<@x:a@b>", "a@b"), ("<a@b.>", "a@b"), ("< a@b >", "a@b"), ("@x", ""),
])
def test_trim_route(written: str, address: str):
    assert exchange_envelope.trim_route(written) == address


@given(st.text(alphabet=" \t:<>@[]()\"\\ab.,", max_size=30))
def test_reading_any_argument_gives_a_refusal_or_a_valid_address(argument: str):
    for read in (exchange_envelope.read_mail("FROM:" + argument), exchange_envelope.read_rcpt("TO:" + argument, HOST)):
        assert read.refusal or read.address == "" or exchange_envelope.valid_address(read.address)


@pytest.mark.parametrize(("line", "taken"), [
    (b"EHLO -dash-_under_.example", True),  # MimeAddressParser: "-" and "_" anywhere in a label
    (b"EHLO mail.example.com ", False),  # the argument as sent: a trailing blank is no domain character
    (b"EHLO   mail.example.com", True),  # leading blanks are trimmed
    (b"EHLO mail.example.", False),
    (b"EHLO " + b"x" * 63 + b".example", True), (b"EHLO " + b"x" * 64 + b".example", False),
    (b"EHLO [192.0.2.1]", True), (b"EHLO [192.0.2.256]", False), (b"EHLO [1.2.3]", False),
    (b"EHLO [IPv6:2001:db8::1]", True), (b"EHLO [IPv6:fe80::1%3]", True), (b"EHLO [IPv6:x]", False),
    (b"EHLO ::1", True), (b"EHLO 2001:db8::25", True),  # IPAddress.TryParse, bare
    (b"EHLO 0x7f.0.0.1", True), (b"EHLO a:b", False),
    ("EHLO münchen.example".encode(), True), ("HELO münchen.example".encode(), False),  # UTF-8: EHLO only
])
def test_helo_names_as_helo_smtp_command_parser_checks_them(line: bytes, taken: bool):
    d = driver()
    d.feed(line + b"\r\n")
    assert said(d)[-1].startswith(b"250") is taken
    assert said(d)[-1] == b"501 5.5.4 Invalid domain name\r\n" or taken


def test_exchange2016_takes_no_utf8_name_as_it_offers_no_smtputf8():
    context = ListenerContext(model.load("exchange2016"), HOST, HOST, tls_available=True, clock=lambda: 1.0,
                              rng=random.Random(7))
    d = Driver(Session(context, "172.16.0.5", 40000, "172.16.0.1", 25, "172.16.0.1:25"))
    d.feed("EHLO münchen.example\r\n".encode())
    assert said(d)[-1] == b"501 5.5.4 Invalid domain name\r\n"


@given(st.text(alphabet="ab1-_.:[]IPv6 %x", max_size=24))
def test_no_name_exchange_takes_has_a_blank_an_empty_label_or_a_stray_bracket(name: str):
    if exchange_envelope.valid_helo(name, True, True):
        assert " " not in name and ".." not in name and not name.endswith(".")
        assert name.count("[") == name.count("]") <= 1 and (not name.startswith("[") or name.endswith("]"))


def test_auth_naming_no_mechanism_is_unrecognized_before_hello_or_the_transaction_is_looked_at():
    """AuthSmtpCommand.InboundParseMechanism (E5): no mechanism is AuthUnrecognized first; then
    VerifyHelloReceived, then a login, then the transaction."""
    d = driver()
    d.feed(b"AUTH\r\nX-EXPS\r\nAUTH NTLM\r\nEHLO contoso.com\r\nMAIL FROM:<a@contoso.com>\r\nAUTH \r\nAUTH NTLM\r\n")
    unrecognized = b"504 5.7.4 Unrecognized authentication type\r\n"
    assert said(d)[1:4] == [unrecognized, unrecognized, b"503 5.5.2 Send hello first\r\n"]
    assert said(d)[5:] == [b"250 2.1.0 Sender OK\r\n", unrecognized, b"503 5.5.1 Bad sequence of commands\r\n"]


def test_a_command_line_is_read_up_to_32768_bytes_then_too_long_ends_the_session():
    """NetworkBuffer (E5): 32,768 bytes of command; relaypot's default line bound is as long."""
    d = driver()
    d.feed(b"EHLO contoso.com\r\nNOOP " + b"x" * 20_000 + b"\r\n")
    assert said(d)[-1] == b"250 2.0.0 OK\r\n"
    d.feed(b"NOOP " + b"x" * 40_000 + b"\r\n")
    assert said(d)[-1] == b"500 5.5.2 Command too long\r\n"
    assert d.closed


@given(st.one_of(st.text(alphabet="ab.@<> =-_\"[]\\:,\t", max_size=30),
                 st.builds(lambda lp, dom, b, tail: (f"<{lp}@{dom}>" if b else f"{lp}@{dom}") + tail,
                           st.from_regex(r"[a-z.!#-]{0,70}", fullmatch=True),
                           st.from_regex(r"[a-z0-9_.-]{0,300}", fullmatch=True), st.booleans(),
                           st.sampled_from(["", " ", " SIZE=1", "  x", "\tSIZE=1", " SIZE=1 BODY=7BIT"]))))
def test_the_plain_address_shortcut_reads_as_the_transports_steps(rest: str):
    """exchange_envelope reads a plain address by one expression; the port of the transport's
    steps must give the same answer for any argument."""
    for command in ("mail", "rcpt"):
        assert exchange_envelope._read(rest, command) == exchange_envelope._read_parsed(rest, command)
