"""End-of-data detection, dot-unstuffing and smuggling signs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaypot.protocol.data import LfSize, find_end, line_ending_violations, unstuff


@pytest.mark.parametrize("buf,lf_end,expected", [
    (b".\r\n", False, (0, 3, b".\r\n")),
    (b"a\r\n.\r\nQUIT\r\n", False, (3, 6, b"\r\n.\r\n")),
    (b"a\n.\nX", False, 5),
    (b"a\n.\nX", True, (2, 4, b"\n.\n")),
    (b"a\r\n.\nX", True, (3, 5, b"\r\n.\n")),
    (b"a\n.\r\nX", True, (2, 5, b"\n.\r\n")),
    (b"a\r\n.", True, 2),
    # Postfix drops every CR before an LF: ".<CR><CR><LF>" is a "." line (captured: sequence.json)
    (b"a\r\n.\r\r\nX", True, (3, 7, b"\r\n.\r\r\n")),
    (b".\r\r\nX", True, (0, 4, b".\r\r\n")),
    (b"a\r\n.\r\r\nX", False, 8),
    (b"a\r\n.\r\r", True, 2),  # the read ended in the CRs: look again
    (b"a\r\n.\rx\r\n", True, 8),
])
def test_find_end(buf, lf_end, expected):
    """Each end marker, and where to resume scanning when it is not (yet) there."""
    assert find_end(bytearray(buf), 0, lf_end) == expected


@given(body=st.lists(st.sampled_from([b"line", b".dot", b"..", b"", b"x.y", b"\x00\xff"]), max_size=30),
       cut=st.integers(min_value=0, max_value=400), lf_end=st.booleans())
def test_marker_is_found_wherever_the_read_boundary_falls(body, cut, lf_end):
    """Feeding a stuffed body in two reads finds the same end as one read, and unstuffing restores it."""
    lines = [(b"." + line if line.startswith(b".") else line) for line in body]
    stuffed = b"".join(line + b"\r\n" for line in lines) + b".\r\nNEXT"
    cut = min(cut, len(stuffed))
    buf = bytearray(stuffed[:cut])
    scanned = find_end(buf, 0, lf_end)
    if isinstance(scanned, int):
        buf += stuffed[cut:]
        found = find_end(buf, scanned, lf_end)
    else:
        found = scanned
    assert found == find_end(bytearray(stuffed), 0, lf_end)
    body_end, resume, _ = found
    assert stuffed[resume:] == b"NEXT"
    assert unstuff(stuffed[:body_end]) == b"".join(line + b"\r\n" for line in body)


def test_unstuff():
    """RFC 5321 §4.5.2: one leading dot is removed from each line that has one."""
    assert unstuff(b"..a\r\n.b\r\nc.\r\n") == b".a\r\nb\r\nc.\r\n"


def test_line_ending_violations():
    """Bare LFs and LF-based end sequences are named."""
    assert line_ending_violations(b"a\r\nb\r\n", b"\r\n.\r\n") == []
    found = dict(line_ending_violations(b"a\nb\n.\nc\r\n", b"\r\n.\r\n"))
    assert found == {"bare_lf": "3 bare LF in the message body", "smuggling": "the body holds <LF>.<LF>"}
    assert ("smuggling", "data ended by <CR><LF>.<LF>") in line_ending_violations(b"a\r\n", b"\r\n.\n")


@given(st.lists(st.sampled_from([b"\r", b"\n", b".", b"x"]), max_size=40).map(b"".join),
       st.lists(st.integers(0, 40), max_size=6), st.booleans())
def test_a_size_counted_in_pieces_is_the_size_counted_whole(body, cuts, unstuffed):
    """LfSize sees a body in contiguous ranges (dropped past the bound, then the rest): however it
    is cut, it saves one byte per CRLF and, unstuffed, one per stuffed dot (a "." after a line
    start: the body's start or a LF), as counting the whole body at once does."""
    counter = LfSize(unstuffed)
    start = 0
    for cut in sorted(min(c, len(body)) for c in cuts) + [len(body)]:
        counter.feed(body, start, cut)
        start = cut
    expected = body.count(b"\r\n") + ((b"\n" + body).count(b"\n..") if unstuffed else 0)
    assert counter.saved == expected
