"""The page's cells, pure: what an attacker's text looks like there, and what a wide table drops."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from relaypot.render import charts, html


def test_an_override_is_marked_and_the_same_text_typed_by_hand_is_not():
    assert html.e("salary_\u202efdp.exe") == (
        'salary_<mark class="esc" title="U+202E RIGHT-TO-LEFT OVERRIDE">\\u202e</mark>fdp.exe')
    assert html.e("salary_\\u202efdp.exe") == "salary_\\u202efdp.exe"  # typed: plain text
    assert html.e("\x1b[31mRED\x07") == ('<mark class="esc" title="U+001B ESCAPE">\\x1b</mark>[31mRED'
                                        '<mark class="esc" title="U+0007 BELL">\\x07</mark>')
    assert html.a("x\u202ey\"<") == "x\\u202ey&quot;&lt;"  # an attribute: escaped, no markup


@given(st.text())
def test_no_cell_carries_a_character_a_reader_cannot_see(text):
    """Controls, format characters (bidi, zero-width), separators, surrogates, private use."""
    shown = html.e(text) + html.a(text)
    assert not [ch for ch in shown if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")]


def test_chart_labels_show_escapes_as_the_text_report_does():
    assert charts._label("\u202eEVIL") == "\\u202eEVIL"
    assert charts._label("evil\x1b]0;x\x07") == "evil\\x1b]0;x\\x07"


def test_a_column_empty_in_every_row_is_left_out_and_hashes_are_abbreviated():
    digest = "ab" * 32
    page = html.table(["source", "OS", "sha256"], [("127.0.0.1", None, html.digest(digest)),
                                                   ("127.0.0.2", "-", html.digest(digest))])
    assert "<th>OS</th>" not in page and "<th>source</th>" in page
    assert f'<abbr title="{digest}">{digest[:12]}…</abbr>' in page
    kept = html.table(["source", "OS"], [("127.0.0.1", None), ("127.0.0.2", "Linux")])
    assert "<th>OS</th>" in kept and "<td>-</td>" in kept


def test_a_first_to_last_span_and_a_host_name_wrap_only_between_parts():
    same_day = html.seen("2026-11-30T05:43:21.1Z", "2026-11-30T07:10:00.0Z")
    assert '<span class="i">2026-11-30 05:43</span>–<span class="i">07:10 UTC</span>' in same_day
    assert "2026-12-01 07:10 UTC" in html.seen("2026-11-30T05:43:21.1Z", "2026-12-01T07:10:00.0Z")
    assert html.dns_name("a-b.dynamic.example") == "a-b.<wbr>dynamic.<wbr>example"
    assert html.dns_name(None) == "-"


def test_values_that_are_not_what_they_look_like_are_named():
    from relaypot.render import words

    assert (words.shape(""), words.shape("EHLO QUIT")) == ("(no command)", "EHLO QUIT")
    assert (words.verb(""), words.verb("TlRMTVNT")) == ("(blank line)", "TlRMTVNT")
    assert (words.password(None, "NTLM"), words.password(""), words.password("x")) == ("(NTLM)", "(empty)", "x")
