"""The terminal report's cells: wrapped between words, never cut inside one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relaypot.render import text

WORDS = st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=12), min_size=1, max_size=40)


@given(WORDS, st.integers(min_value=12, max_value=60))
def test_a_long_cell_wraps_between_words_and_is_cut_only_at_one(words, width):
    lines = text._cell(" ".join(words), width)
    assert 1 <= len(lines) <= text.CELL_LINES
    assert all(len(line) <= width for line in lines)
    shown = " ".join(lines).removesuffix("…").split()
    assert shown == words[: len(shown)]  # whole words, in order; what is left out is left out whole
    if len(shown) < len(words):
        assert lines[-1].endswith("…")


def test_the_report_table_shows_the_whole_probe_subject():
    lines = text.table(["family", "example"], [("Super webscan", "Super webscan open relay check succeded, "
                                                                  "hostname = 127.0.0.1")], [14, 31])
    assert lines[2:] == ["Super webscan   Super webscan open relay check",
                         "                succeded, hostname = 127.0.0.1"]
