"""protocol/framing.py's line reading where a server cuts an over-long line (`split`, Exim's
smtp_read_command): whatever the client sends, in whatever pieces it arrives, the same lines and
cuts come out, and nothing is lost or read twice."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relaypot.protocol.framing import Framer

MAX = 64


def read_all(chunks: list[bytes]) -> list[tuple[bytes, int]]:
    """Each line (or cut-off piece, as (b"", its size)) in order, fed `chunks` one by one."""
    framer = Framer(MAX, crlf_only=False, lf_data_end=True, keep=MAX * 2, split=True)
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
