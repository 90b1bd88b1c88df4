"""The field report's exchanges (../shared/seeds), replayed over real sockets against exchange2000."""

from __future__ import annotations

import socket

from support import fetch, read_replies, read_reply

SEED_EHLO = [
    "TURN", "ATRN", "SIZE", "ETRN", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "8bitmime", "BINARYMIME",
    "CHUNKING", "VRFY", "X-EXPS GSSAPI NTLM LOGIN", "X-EXPS=LOGIN", "AUTH GSSAPI NTLM LOGIN", "AUTH=LOGIN",
    "X-LINK2STATE", "XEXCH50",
]


def converse(address: tuple[str, int], lines: list[bytes]) -> list[bytes]:
    """Lockstep: send each line, read its reply; returns [banner, reply, ...]."""
    with socket.create_connection(address) as sock:
        replies = [read_reply(sock)]
        for line in lines:
            sock.sendall(line)
            if line.startswith(b"DATA"):
                replies.append(read_reply(sock))
                continue
            replies.append(read_reply(sock))
    return replies


def test_seed_ehlo_localhost_gets_the_exchange_list(sensor_factory):
    """`EHLO localhost` gets the seed's list exactly (without honeyd's tells) and is recorded as EHLO."""
    sensor = sensor_factory(smtp__hostname="bps-pc9.local.mynet")
    banner, ehlo, _ = converse(sensor.address, [b"EHLO localhost\r\n", b"QUIT\r\n"])
    assert banner.startswith(b"220 bps-pc9.local.mynet Microsoft ESMTP MAIL Service, Version: 5.0.2195.5329 ready at  ")
    lines = ehlo.decode().split("\r\n")[:-1]
    assert lines[0] == "250-bps-pc9.local.mynet Hello [127.0.0.1]"
    assert [line[4:] for line in lines[1:-1]] == SEED_EHLO
    assert lines[-1] == "250 OK"
    helo = sensor.wait_for("smtp.helo")[0].event
    assert (helo.verb, helo.hostname) == ("EHLO", "localhost")


def test_seed_spammer_message(sensor_factory):
    """The seed's MAIL/RCPT/DATA of "Hello, I'm a spammer!" is accepted with IIS's texts and recorded."""
    sensor = sensor_factory(smtp__hostname="bps-pc9.local.mynet")
    body = (b"From: from@domain.com\r\nTo: realTO@domain.com\r\nSubject: BC_82.155.126.2\r\n"
            b"Date: Sun, 07 Dec 08 19:24:09 GMT\r\n\r\nHello, I'm a spammer!\r\n.\r\n")
    replies = converse(sensor.address, [b"HELO localhost\r\n", b"MAIL FROM: from@domain.com\r\n",
                                        b"RCPT TO: to@domain.com\r\n", b"DATA\r\n", body, b"QUIT\r\n"])
    assert replies[1] == b"250 bps-pc9.local.mynet Hello [127.0.0.1]\r\n"
    assert replies[2] == b"250 2.1.0 from@domain.com....Sender OK\r\n"
    assert replies[3] == b"250 2.1.5 to@domain.com\r\n"
    assert replies[4] == b"354 Start mail input; end with <CRLF>.<CRLF>\r\n"
    assert replies[5].startswith(b"250 2.6.0 <bpspc9") and replies[5].endswith(
        b"@bps-pc9.local.mynet> Queued mail for delivery\r\n")
    assert replies[6] == b"221 2.0.0 bps-pc9.local.mynet Service closing transmission channel\r\n"
    message = sensor.wait_for("smtp.message")[0].event
    assert (message.mail_from, message.rcpt_to, message.subject, message.header_to, message.date) == (
        "from@domain.com", ("to@domain.com",), "BC_82.155.126.2", "realTO@domain.com", "Sun, 07 Dec 08 19:24:09 GMT")
    stored = (sensor.data_dir / message.path).read_bytes()
    assert stored.endswith(b"Hello, I'm a spammer!\r\n")


def test_seed_open_relay_scanner_three_times(sensor):
    """The scanner's HELO with a bare IP and its "Super webscan" probe, three times: each one kept."""
    probe = (b"Subject: Super webscan open relay check succeded, hostname = 82.155.248.223\r\n\r\n"
             b"open relay check\r\n.\r\n")
    for _ in range(3):
        with socket.create_connection(sensor.address) as sock:
            read_reply(sock)
            sock.sendall(b"HELO 82.155.248.223\r\nMAIL FROM:<scan@webscan.example>\r\n"
                         b"RCPT TO:<drop@box.example>\r\nDATA\r\n")
            replies = read_replies(sock, 4)
            assert b"354 Start mail input" in replies
            sock.sendall(probe + b"QUIT\r\n")
            read_replies(sock, 2)
    messages = sensor.wait_for("smtp.message", 3)
    assert [m.event.subject for m in messages] == [
        "Super webscan open relay check succeded, hostname = 82.155.248.223"] * 3
    assert len({m.event.sha256 for m in messages}) == 1  # stored once, recorded three times
    helos = [r.event.hostname for r in sensor.wait_for("smtp.helo", 3)]
    assert helos == ["82.155.248.223"] * 3
    sensor.stop()
    assert fetch(sensor.store_url, "SELECT count(*), count(DISTINCT session_id) FROM messages") == [(3, 3)]
    assert fetch(sensor.store_url, "SELECT DISTINCT helo_verb, helo FROM sessions") == [("HELO", "82.155.248.223")]
