"""Postfix's smtpd_recipient_overshoot_limit (1000): the recipients past smtpd_recipient_limit
(1000) are refused `452 4.5.3 Error: too many recipients`, and the first 1000 of them in a
transaction are no errors (smtpd.c rcpt_cmd returns 0 for them), so a bot that sends 1,025
recipients meets no tar pit. Captured from the real Postfix 3.7.11 on this machine
(tests/postfix_server.py, 2026-12-07), recipients sent in one write and the replies timed as they
came: 1000 accepted and 1012 refused, the 2011th reply and each after it a second late (the
eleventh and twelfth counted errors, then a NOOP: smtpd_soft_error_limit 10); 1000 accepted and
1003 refused, then a NOOP, all at once; after RSET the overshoot starts over."""

from __future__ import annotations

from support import Driver, make_session

OK, TOO_MANY = b"250 2.1.5 Ok\r\n", b"452 4.5.3 Error: too many recipients\r\n"


def pipelined(recipients: int, then: bytes = b"NOOP\r\n") -> Driver:
    driver = Driver(make_session("postfix", relay="closed"))
    driver.feed(b"EHLO client.example.org\r\n").feed(b"MAIL FROM:<a@client.example.org>\r\n")
    driver.feed(b"".join(b"RCPT TO:<postmaster+%d@mail.example.com>\r\n" % n for n in range(recipients)) + then)
    return driver


def test_the_first_thousand_recipients_past_the_limit_are_no_errors():
    driver = pipelined(2003)
    replies = driver.replies[3:]
    assert [reply.data for reply in replies] == [OK] * 1000 + [TOO_MANY] * 1003 + [b"250 2.0.0 Ok\r\n"]
    assert not any(reply.delay for reply in replies)
    assert driver.closed is None


def test_past_the_overshoot_each_refusal_is_an_error_and_the_tar_pit_begins():
    replies = pipelined(2012).replies[3:]
    assert [reply.data for reply in replies] == [OK] * 1000 + [TOO_MANY] * 1012 + [b"250 2.0.0 Ok\r\n"]
    late = [n for n, reply in enumerate(replies) if reply.delay >= 0.9]
    assert late == [2010, 2011, 2012]  # the 11th and 12th counted errors, then the NOOP


def test_rset_starts_the_overshoot_over():
    driver = pipelined(1990, then=b"RSET\r\nMAIL FROM:<a@client.example.org>\r\n")
    driver.feed(b"".join(b"RCPT TO:<postmaster+%d@mail.example.com>\r\n" % n for n in range(1990)) + b"NOOP\r\n")
    assert not any(reply.delay for reply in driver.replies)
    assert driver.replies[-1].data == b"250 2.0.0 Ok\r\n"
