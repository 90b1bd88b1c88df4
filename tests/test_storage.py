"""The message store and the message summary."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaypot.storage.messages import MessageStore
from relaypot.storage.summary import summarize


def test_messages_are_stored_once_by_content(tmp_path):
    """The same bytes twice are one file; the path names the SHA-256."""
    store = MessageStore(tmp_path / "messages", 10_000)
    first = store.store(b"Subject: a\r\n\r\nbody\r\n")
    second = store.store(b"Subject: a\r\n\r\nbody\r\n")
    sha = hashlib.sha256(b"Subject: a\r\n\r\nbody\r\n").hexdigest()
    assert first.sha256 == second.sha256 == sha
    assert first.path == f"messages/{sha[:2]}/{sha}.eml"
    assert (tmp_path / first.path).read_bytes() == b"Subject: a\r\n\r\nbody\r\n"
    assert store.used == len(b"Subject: a\r\n\r\nbody\r\n")


def test_a_crash_cut_copy_is_replaced(tmp_path):
    """A short file left by a crash under the final name is rewritten by the next copy."""
    store = MessageStore(tmp_path / "messages", 10_000)
    body = b"Subject: b\r\n\r\n" + b"x" * 500
    sha = hashlib.sha256(body).hexdigest()
    (tmp_path / "messages" / sha[:2]).mkdir(parents=True)
    (tmp_path / "messages" / sha[:2] / f"{sha}.eml").write_bytes(body[:100])
    stored = store.store(body)
    assert not stored.refused
    assert (tmp_path / stored.path).read_bytes() == body


def test_the_byte_budget_refuses_new_messages_but_not_copies(tmp_path):
    """Past max_bytes a new message is refused (the persona's 452); an already stored one is fine."""
    store = MessageStore(tmp_path / "messages", 100)
    kept = store.store(b"x" * 80)
    assert not kept.refused
    refused = store.store(b"y" * 80)
    assert refused.refused and "full" in refused.refused
    assert not (tmp_path / refused.path).exists()
    assert not store.store(b"x" * 80).refused
    assert MessageStore(tmp_path / "messages", 100).used == 80


def test_summary_of_a_plain_message():
    summary = summarize(b"Subject: =?utf-8?q?caf=C3=A9?=\r\nFrom: a@b\r\nTo: c@d\r\n"
                        b"Date: Sun, 07 Dec 08 19:24:09 GMT\r\nMessage-ID: <1@x>\r\n\r\n"
                        b"see http://evil.example/a?b=1. and https://x.example/\r\n")
    assert summary == {"subject": "café", "header_from": "a@b", "header_to": "c@d",
                       "date": "Sun, 07 Dec 08 19:24:09 GMT", "message_id": "<1@x>", "attachments": [],
                       "urls": ["http://evil.example/a?b=1", "https://x.example/"],
                       "excerpt": "see http://evil.example/a?b=1. and https://x.example/",
                       "body_sha256": hashlib.sha256(b"see http://evil.example/a?b=1. and https://x.example/\n")
                       .hexdigest()}


def test_summary_of_a_multipart_message_with_an_attachment():
    raw = (b"Subject: invoice\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
           b"--XX\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           b"aHR0cDovL2hpZGRlbi5leGFtcGxlL3Bhdw==\r\n"
           b"--XX\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=\"inv.zip\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--XX--\r\n")
    summary = summarize(raw)
    assert summary["urls"] == ["http://hidden.example/paw"]
    assert summary["excerpt"] == "http://hidden.example/paw"
    assert summary["attachments"] == [{"filename": "inv.zip", "content_type": "application/zip", "size": 4,
                                       "sha256": hashlib.sha256(b"PK\x03\x04").hexdigest()}]


@pytest.mark.parametrize("disposition", [
    'attachment; filename="salary_\u202efdp.exe"'.encode(),  # raw UTF-8 (RFC 6532)
    b"attachment; filename*=utf-8''salary_%E2%80%AEfdp.exe",  # RFC 2231
    b'attachment; filename="=?utf-8?b?c2FsYXJ5X+KArmZkcC5leGU=?="',  # RFC 2047, as mailers write it
])
def test_an_attachment_name_in_utf8_is_kept_as_sent(disposition):
    """The bidi override in salary_<U+202E>fdp.exe is the finding: never replaced, never lost."""
    raw = (b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           b"Content-Type: application/octet-stream\r\nContent-Disposition: " + disposition
           + b"\r\n\r\nMZ\r\n--b--\r\n")
    [attachment] = summarize(raw)["attachments"]
    assert attachment["filename"] == "salary_\u202efdp.exe"


def test_summary_survives_garbage():
    """Broken headers, bad encodings and binary bodies give a summary, not an exception."""
    for raw in (b"", b"\xff\xfe\x00", b"Subject: =?x-unknown?q?zz?=\r\n\r\n",
                b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n\xff",
                b"Content-Transfer-Encoding: base64\r\n\r\n!!!!"):
        assert isinstance(summarize(raw), dict)


@given(st.integers(min_value=0, max_value=5000))
def test_rows_go_in_statements_of_a_few_sizes_only(count):
    """Every row once, in order, in statements of CHUNK_SIZES rows: a batch never prepares a
    statement of a new size (each size is a compiled program the driver keeps)."""
    from relaypot.storage.database import CHUNK_SIZES, chunks

    slices = chunks(count)
    assert [i for start, end in slices for i in range(start, end)] == list(range(count))
    assert {end - start for start, end in slices} <= set(CHUNK_SIZES)
    assert len(slices) <= count // CHUNK_SIZES[0] + 3 + 4 + 9  # the remainder: at most 3 + 4 + 9 statements
