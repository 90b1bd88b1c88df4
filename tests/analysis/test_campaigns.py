"""Campaigns: copies of one message sent to many recipients, each with its own headers."""

from __future__ import annotations

import json
import smtplib

from relaypot.storage.summary import summarize
from support import fetch, relaypot

BODY = "Dear friend,\r\n\r\nCheap   watches at http://watches.example/buy today.\r\n"


def copy(n: int, body: str = BODY, attachment: str | None = None) -> str:
    headers = (f"From: seller@bulk.example\r\nTo: victim{n}@example.net\r\nSubject: Offer {n}\r\n"
               f"Date: Sun, 07 Dec 2008 19:2{n}:09 +0000\r\nMessage-ID: <{n}.{n * 7}@bulk.example>\r\n")
    if attachment is None:
        return headers + "\r\n" + body
    return (headers + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            + body + "--XX\r\nContent-Type: application/octet-stream; name=a.bin\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + attachment + "\r\n--XX--\r\n")


def test_the_body_hash_ignores_headers_and_whitespace_but_not_text_or_attachments():
    """Copies differing in headers or in runs of spaces share a body hash; other text, or another
    attachment, does not."""
    def body(message: str) -> str:
        return summarize(message.encode())["body_sha256"]

    assert body(copy(1)) == body(copy(2)) == body(copy(3, BODY.replace("   ", " ").replace("\r\n", "\n")))
    assert body(copy(1)) != body(copy(1, BODY.replace("Cheap", "Fine")))
    assert body(copy(1, attachment="AAAA")) == body(copy(2, attachment="AAAA"))
    assert body(copy(1, attachment="AAAA")) != body(copy(1, attachment="BBBB"))


def test_identical_bodies_to_different_recipients_are_one_campaign(sensor_factory):
    """Four copies of one body, each with its own To, Date and Message-ID (four different
    messages byte for byte), are one campaign of four messages and four distinct messages."""
    sensor = sensor_factory(smtp__persona="postfix")
    for n in range(4):
        with smtplib.SMTP(*sensor.address, timeout=10) as client:
            client.sendmail("seller@bulk.example", [f"victim{n}@example.net"], copy(n))
    sensor.stop()
    result = relaypot("report", "--format", "json", "--data-dir", str(sensor.data_dir))
    campaigns = json.loads(result.stdout)["spam"]["campaigns_by_body"]
    assert len(campaigns) == 1
    assert {k: campaigns[0][k] for k in ("messages", "distinct_messages", "sources")} == {
        "messages": 4, "distinct_messages": 4, "sources": 1}
    # The exact hashes stay a fact of their own.
    assert len(set(fetch(sensor.store_url, "SELECT sha256 FROM messages"))) == 4
