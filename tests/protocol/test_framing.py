"""protocol/framing.py's line reading where a server cuts an over-long line (`split`, Exim's
smtp_read_command): whatever the client sends, in whatever pieces it arrives, the same lines and
cuts come out, and nothing is lost or read twice."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relaypot.protocol.framing import Framer

MAX = 64


def read_all(chunks: list[bytes], long_lines: str = "split") -> list[tuple[bytes, int]]:
    """Each line (or cut-off piece, as (its kept bytes, its size)) in order, fed `chunks` one by one."""
    framer = Framer(MAX, crlf_only=False, lf_data_end=True, keep=MAX * 2, long_lines=long_lines)
    seen: list[tuple[bytes, int]] = []
    for chunk in chunks:
        framer.feed(chunk)
        while True:
            line, too_long = framer.next_line()
            if line is None:
                break
            if too_long:
                kept, _digest = framer.overlong()
                seen.append((kept, too_long))
            else:
                seen.append((line, 0))
        framer.compact()
    return seen


LINES = st.lists(st.one_of(st.binary(max_size=MAX - 2).map(lambda b: b.replace(b"\n", b"") + b"\r\n"),
                           st.integers(MAX - 2, 4 * MAX).map(lambda n: b"x" * n + b"\r\n")), max_size=8)


@given(LINES, st.data())
def test_the_lines_do_not_depend_on_how_the_bytes_arrive(lines, data):
    wire = b"".join(lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    chunks = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    seen = read_all(chunks)
    assert seen == read_all([wire])
    assert b"".join(piece for piece, _ in seen) == wire  # every byte once: the kept piece is all of a cut
    for piece, cut in seen:
        assert (cut == MAX + 1 and len(piece) == MAX + 1) or (cut == 0 and piece.endswith(b"\n")
                                                               and len(piece.rstrip(b"\n")) <= MAX)


def test_a_line_of_the_buffers_size_is_a_line_and_one_byte_more_is_cut():
    assert read_all([b"a" * (MAX - 1) + b"\r\n"]) == [(b"a" * (MAX - 1) + b"\r\n", 0)]
    assert read_all([b"a" * MAX + b"\r\n"]) == [(b"a" * MAX + b"\r", MAX + 1), (b"\n", 0)]
    assert read_all([b"a" * MAX + b"NOOP\n"]) == [(b"a" * MAX + b"N", MAX + 1), (b"OOP\n", 0)]


@given(LINES, st.data())
def test_pieces_do_not_depend_on_how_the_bytes_arrive_and_lose_nothing(lines, data):
    """`piece` (Sendmail's sfgets()): a line of more than MAX bytes, its end included, is read in
    pieces of MAX bytes, each a line of its own; nothing is cut off as over-long."""
    wire = b"".join(lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    chunks = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    seen = read_all(chunks, "piece")
    assert seen == read_all([wire], "piece")
    assert b"".join(piece for piece, _ in seen) == wire
    for piece, cut in seen:
        assert cut == 0 and (len(piece) == MAX or (piece.endswith(b"\n") and len(piece) <= MAX))


def test_a_piece_is_the_buffers_size_its_line_end_included():
    assert read_all([b"a" * (MAX - 2) + b"\r\n"], "piece") == [(b"a" * (MAX - 2) + b"\r\n", 0)]
    assert read_all([b"a" * (MAX - 1) + b"\r\n"], "piece") == [(b"a" * (MAX - 1) + b"\r", 0), (b"\n", 0)]
    assert read_all([b"a" * MAX], "piece") == [(b"a" * MAX, 0)]  # a full buffer is a line, its end not waited for


def test_a_new_bound_applies_to_the_next_line():
    framer = Framer(MAX, crlf_only=False, lf_data_end=True, keep=MAX * 2, long_lines="reject")
    framer.feed(b"a" * (MAX + 10) + b"\r\n" + b"b" * (MAX + 10) + b"\r\n")
    assert framer.next_line() == (Framer.TOO_LONG, MAX + 12)
    framer.bound(2 * MAX, "reject")
    assert framer.next_line() == (b"b" * (MAX + 10) + b"\r\n", 0)
