"""An AUTH response line past the server's bound, and the line after it, as each real server
answered them on this machine (2026-12-06): EHLO, AUTH with the mechanism, one response line, then
NOOP on one connection to tests/postfix_server.py's SASL listener, tests/exim_server.py "tls-auth"
(in clear, where CRAM-MD5 is offered) and tests/sendmail_server.py "tls-auth" (from 127.0.0.2).
Postfix refuses a response past smtpd_sasl_response_limit (12288, a CR LF counted as one byte)
and skips the rest of its line; Exim's auth_get_data() keeps 16383 bytes before the LF, loses the
next and reads the rest as a command; Sendmail's sfgets() reads 12287 bytes, its line end
included, as the response and the rest as the next line, which MAXLINE does not spare.
(tests/reference/*/auth.json auth_login_long_line has a 20,000-byte line of each.)"""

from __future__ import annotations

import pytest

from support import Driver, make_session

A = b"A"
POSTFIX_TOO_LONG = b"500 5.5.6 SASL response limit exceeded\r\n"
POSTFIX_BAD_BASE64 = b"535 5.7.8 Error: authentication failed: Invalid base64 data in continued response\r\n"
POSTFIX_FAILED = b"535 5.7.8 Error: authentication failed: (reason unavailable)\r\n"
EXIM_BAD_BASE64 = b"501 Invalid base64 data\r\n"
EXIM_REST = b"500 unrecognized command\r\n"  # what is left of the line, read as a command
EXIM_FAILED = b"535 Incorrect authentication data\r\n"
SENDMAIL_EMPTY = b'500 5.5.1 Command unrecognized: ""\r\n'


def sendmail_undecodable(shown: bytes) -> bytes:
    return b"501 5.5.4 cannot decode AUTH parameter " + shown + b"\r\n"


CASES = [
    # Postfix: a username of NULs fails (Dovecot's auth_username_chars); one byte more is no base64
    ("postfix", "LOGIN", A * 12284 + b"\n", POSTFIX_FAILED, b"250 2.0.0 Ok\r\n"),
    ("postfix", "LOGIN", A * 12287 + b"\r\n", POSTFIX_BAD_BASE64, b"250 2.0.0 Ok\r\n"),
    ("postfix", "LOGIN", A * 12287 + b"\n", POSTFIX_BAD_BASE64, b"250 2.0.0 Ok\r\n"),
    ("postfix", "LOGIN", A * 12288 + b"\n", POSTFIX_TOO_LONG, b"250 2.0.0 Ok\r\n"),
    ("postfix", "LOGIN", A * 12288 + b"\r\n", POSTFIX_TOO_LONG, b"250 2.0.0 Ok\r\n"),
    ("postfix", "LOGIN", A * 12284 + b"\r\r\n", POSTFIX_FAILED, b"250 2.0.0 Ok\r\n"),
    ("postfix", "LOGIN", A * 12300 + b"NOOP\r\n", POSTFIX_TOO_LONG, b"250 2.0.0 Ok\r\n"),  # the rest skipped
    # Exim: white space is skipped by its base64, not by its bound (the CR counts)
    ("exim-tls-auth", "CRAM-MD5", A * 16380 + b"\r\n", EXIM_FAILED, b"250 OK\r\n"),
    ("exim-tls-auth", "CRAM-MD5", A * 16380 + b"  \r\n", EXIM_FAILED, b"250 OK\r\n"),
    ("exim-tls-auth", "CRAM-MD5", A * 16380 + b"   \r\n", EXIM_BAD_BASE64 + EXIM_REST, b"250 OK\r\n"),
    ("exim-tls-auth", "CRAM-MD5", A * 16380 + b"   \n", EXIM_FAILED, b"250 OK\r\n"),
    ("exim-tls-auth", "CRAM-MD5", A * 16380 + b"    \n", EXIM_BAD_BASE64 + EXIM_REST, b"250 OK\r\n"),
    ("exim-tls-auth", "CRAM-MD5", A * 16383 + b"\r\n", EXIM_BAD_BASE64 + EXIM_REST, b"250 OK\r\n"),
    ("exim-tls-auth", "CRAM-MD5", A * 16384 + b"NOOP\r\n", EXIM_BAD_BASE64 + b"250 OK\r\n", b"250 OK\r\n"),
    # Sendmail: a piece of a line keeps its CR; the rest of the line is an empty command. Cyrus
    # SASL's LOGIN fails a user name of more than 1024 bytes at once (9213 NULs here)
    ("sendmail-tls-auth", "LOGIN", A * 12284 + b"\r\n", b"535 5.7.0 authentication failed\r\n", b"250 2.0.0 OK\r\n"),
    ("sendmail-tls-auth", "LOGIN", A * 12285 + b"\r\n", sendmail_undecodable(A * 12285), b"250 2.0.0 OK\r\n"),
    # (the piece ends in the line's CR, echoed as it came)
    ("sendmail-tls-auth", "LOGIN", A * 12286 + b"\r\n", sendmail_undecodable(A * 12286 + b"\r") + SENDMAIL_EMPTY,
     b"250 2.0.0 OK\r\n"),
    ("sendmail-tls-auth", "LOGIN", A * 12287 + b"\r\n", sendmail_undecodable(A * 12287) + SENDMAIL_EMPTY,
     b"250 2.0.0 OK\r\n"),
]


@pytest.mark.parametrize(("persona", "mechanism", "line", "answer", "noop"), CASES,
                         ids=[f"{case[0]}-{len(case[2])}-{case[2][-4:]!r}" for case in CASES])
def test_a_long_response_is_answered_as_the_real_server_answered_it(persona, mechanism, line, answer, noop):
    driver = Driver(make_session(persona, client_ip="127.0.0.2", relay="closed"))
    driver.feed(b"EHLO client.example.org\r\n")
    driver.feed(f"AUTH {mechanism}\r\n".encode())
    assert driver.replies[-1].data.startswith(b"334 ")
    before = len(driver.replies)
    driver.feed(line)
    assert b"".join(reply.data for reply in driver.replies[before:]) == answer
    before = len(driver.replies)
    driver.feed(b"NOOP\r\n")
    assert b"".join(reply.data for reply in driver.replies[before:]) == noop


def test_sendmail_spares_an_auth_command_the_bound_of_any_other():
    """MAXLINE (2048 bytes with the line end) ends the session for a longer command, but not for
    an AUTH command (srvrsmtp.c: SMTP AUTH requires accepting any length); a line longer than
    sfgets()'s buffer ends it after the first 12287 bytes, its end not waited for."""
    auth = Driver(make_session("sendmail-tls-auth", client_ip="127.0.0.2", relay="closed"))
    auth.feed(b"EHLO client.example.org\r\n")
    auth.feed(b"AUTH PLAIN " + A * 5000 + b"\r\n")
    assert auth.replies[-1].data == b"535 5.7.0 authentication failed\r\n"
    noop = Driver(make_session("sendmail-tls-auth", client_ip="127.0.0.2", relay="closed"))
    noop.feed(b"EHLO client.example.org\r\n")
    noop.feed(b"NOOP " + A * 2041 + b"\r\n")
    assert noop.replies[-1].data == b"250 2.0.0 OK\r\n"  # 2048 bytes with its CR LF
    noop.feed(b"NOOP " + A * 2042 + b"\r\n")
    assert noop.replies[-1].data.startswith(b"421 4.7.0 mail.example.com Command too long, possible attack")
    unended = Driver(make_session("sendmail-tls-auth", client_ip="127.0.0.2", relay="closed"))
    unended.feed(b"EHLO client.example.org\r\n")
    unended.feed(b"NOOP " + A * 12282)  # no line end yet: a full buffer is a line
    assert unended.replies[-1].data.startswith(b"421 4.7.0 mail.example.com Command too long")
