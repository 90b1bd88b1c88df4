"""Tells a client can measure rather than read (issue 26 items 3, 5, 6 and 13), each checked side
by side: the real Postfix 3.7.11 (tests/postfix_server.py, its Dovecot listener and its
submissions service) and the postfix persona (a plain listener and a 465 one) must look the same
to `openssl s_client` and to a raw socket. TLS: one session ticket after a full handshake and
none after a resumption; a reset when plain text follows "220 Ready to start TLS" (or reaches
465) and an alert, then a FIN, for a broken record; one record per TLS 1.0 CBC reply, no empty
fragment before it. Volume: the 101st concurrent client waits for its banner; the 101st
transaction in a row without a message waits a second for its first recipient."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
import warnings

import pytest

from postfix_server import PostfixServer
from support import RunningSensor, handshake_in_memory, read_replies, read_reply, require
from tls_observations import read_until_closed

pytestmark = pytest.mark.slow  # a real Postfix and Dovecot start and stop


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """{"postfix"|"persona": (STARTTLS port, 465 port)}"""
    with PostfixServer() as postfix:
        persona = RunningSensor(tmp_path_factory.mktemp("tls"), smtp__persona="postfix",
                                smtp__listen=["127.0.0.1:0", "127.0.0.1:0,service=submissions"])
        try:
            yield {"postfix": (postfix.ports["sasl"], postfix.ports["submissions"]),
                   "persona": (persona.bound[0][1], persona.bound[1][1])}
        finally:
            persona.stop()


def _tickets(port: int, starttls: bool, sessions) -> list[tuple[int, bool]]:
    """(NewSessionTickets seen, resumed) for a full handshake, then one resuming its session."""
    openssl = require("openssl")
    found = []
    for args in (["-sess_out", str(sessions)], ["-sess_in", str(sessions)]):
        process = subprocess.Popen([openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-msg", *args,
                                    *(["-starttls", "smtp"] if starttls else [])],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.0)  # the tickets come after the handshake: QUIT only once they are read
        out, _ = process.communicate("QUIT\n", timeout=20)
        found.append((out.count("NewSessionTicket"), "Reused, TLSv1.3" in out))
    return found


@pytest.mark.parametrize("starttls", [True, False], ids=["starttls", "465"])
def test_one_ticket_after_a_handshake_and_none_after_a_resumption(servers, tmp_path, starttls):
    seen = {name: _tickets(ports[0] if starttls else ports[1], starttls, tmp_path / f"{name}.session")
            for name, ports in servers.items()}
    assert seen["postfix"] == [(1, False), (0, True)], seen  # what the real server does here
    assert seen["persona"] == seen["postfix"]


def _close_after(port: int, starttls: bool, payload: bytes) -> tuple[bytes, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        if starttls:
            read_reply(sock)
            sock.sendall(b"EHLO client.example.org\r\n")
            read_reply(sock)
            sock.sendall(b"STARTTLS\r\n")
            assert read_reply(sock).startswith(b"220 ")
        sock.sendall(payload)
        data, end = read_until_closed(sock, 5)
        return data, {"closed": "FIN", "reset": "RST"}.get(end, end)


@pytest.mark.parametrize("starttls", [True, False], ids=["starttls", "465"])
@pytest.mark.parametrize("payload", [b"EHLO client.example.org\r\n", b"GET / HTTP/1.0\r\n\r\n",
                                     b"\x16\x03\x01\x00\x05hello"], ids=["smtp", "http", "broken-record"])
def test_what_is_no_tls_handshake_ends_the_connection_as_on_the_real_server(servers, starttls, payload):
    real = _close_after(servers["postfix"][0 if starttls else 1], starttls, payload)
    assert real[1] == ("FIN" if payload.startswith(b"\x16") else "RST")  # OpenSSL read only a header
    assert _close_after(servers["persona"][0 if starttls else 1], starttls, payload) == real


def _records_of_a_tls10_reply(port: int) -> list[int]:
    """The lengths of the application-data records carrying the reply to EHLO over TLS 1.0 with a
    CBC suite, read off the wire."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("AES128-SHA:@SECLEVEL=0")
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        read_reply(sock)
        sock.sendall(b"EHLO client.example.org\r\n")
        read_reply(sock)
        sock.sendall(b"STARTTLS\r\n")
        read_reply(sock)
        handshake_in_memory(sock, tls, incoming, outgoing)
        tls.write(b"EHLO client.example.org\r\n")
        sock.sendall(outgoing.read())
        time.sleep(0.3)
        wire = sock.recv(65536)
    lengths, at = [], 0
    while at + 5 <= len(wire):
        kind, length = wire[at], int.from_bytes(wire[at + 3:at + 5], "big")
        if kind == 23:
            lengths.append(length)
        at += 5 + length
    return lengths


def test_a_tls10_cbc_reply_has_no_empty_fragment_before_it(servers):
    real = _records_of_a_tls10_reply(servers["postfix"][0])
    assert len(real) == 1, real  # Postfix keeps OpenSSL's DONT_INSERT_EMPTY_FRAGMENTS
    assert _records_of_a_tls10_reply(servers["persona"][0]) == real


def _greeted(sock: socket.socket, wait: float) -> bytes:
    sock.settimeout(wait)
    try:
        return sock.recv(512)
    except TimeoutError:
        return b""


def test_the_101st_concurrent_client_waits_unanswered_until_a_session_ends(servers):
    """Postfix's default_process_limit (100 smtpd processes per service): a 101st concurrent client
    gets no banner until a session ends, then it does (50 per address: three addresses)."""
    for name, (port, _) in servers.items():
        held = []
        try:
            for n in range(100):
                sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                                source_address=(f"127.0.0.{2 + n // 50}", 0))
                held.append(sock)
                assert sock.recv(512).startswith(b"220 "), (name, n)
            late = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.4", 0))
            held.append(late)
            assert _greeted(late, 1.5) == b"", name  # in the backlog: not a byte
            held[0].sendall(b"QUIT\r\n")
            held[0].recv(512)
            assert _greeted(late, 5).startswith(b"220 "), name  # a session ended: its turn
        finally:
            for sock in held:
                sock.close()


def _transactions_without_a_message(sock: socket.socket, count: int) -> list[bool]:
    """MAIL, RCPT, RSET `count` times: whether each RCPT's reply came a second late."""
    slow = []
    for _ in range(count):
        sock.sendall(b"MAIL FROM:<a@client.example.org>\r\n")
        read_reply(sock)
        began = time.monotonic()
        sock.sendall(b"RCPT TO:<root@mail.example.com>\r\n")
        assert read_reply(sock).startswith(b"250 ")
        slow.append(time.monotonic() - began >= 0.9)
        sock.sendall(b"RSET\r\n")
        read_reply(sock)
    return slow


def _session(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    read_reply(sock)
    sock.sendall(b"EHLO client.example.org\r\n")
    read_reply(sock)
    return sock


def test_the_101st_transaction_without_a_message_waits_a_second_and_a_message_ends_that(servers):
    """Postfix's in_flow_delay: opening a queue file (the first accepted RCPT) takes one of 100
    flow tokens; the queue manager refills them when a message is queued. 40 transactions per
    connection keep under smtpd_junk_command_limit (RSET is "junk")."""
    for name, (port, _) in servers.items():
        slow = []
        for _ in range(3):
            with _session(port) as sock:
                slow += _transactions_without_a_message(sock, 34)
        assert slow == [False] * 100 + [True] * 2, name
        with _session(port) as sock:
            sock.sendall(b"MAIL FROM:<a@client.example.org>\r\nRCPT TO:<root@mail.example.com>\r\nDATA\r\n")
            read_replies(sock, 3)
            sock.sendall(b"Subject: x\r\n\r\nx\r\n.\r\n")
            assert b"queued as" in read_reply(sock)
            time.sleep(0.5)  # the queue manager wakes
            assert _transactions_without_a_message(sock, 2) == [False, False], name
