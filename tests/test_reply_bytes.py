"""A reply's bytes as a persona's server writes them (relaypot.vocabulary): Sendmail's 7-bit
output, Postfix's printable refusals; their captures are in tests/protocol/test_sendmail.py and
tests/reference/postfix/params.json."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relaypot.vocabulary import frame_text, printable_bytes, seven_bit_bytes

_LINE = st.binary(max_size=30).filter(lambda line: b"\r\n" not in line)


@given(st.lists(_LINE, min_size=1, max_size=4))
def test_a_seven_bit_reply_is_one_c_string_per_line(lines):
    """Sendmail's fmtmsg(): each line 7-bit and cut at its first NUL, its CR LF kept."""
    made = seven_bit_bytes(b"\r\n".join(lines) + b"\r\n")
    assert made.isascii() and b"\0" not in made
    assert made == b"".join(bytes(byte & 0x7F for byte in line).partition(b"\0")[0] + b"\r\n" for line in lines)


@given(st.lists(_LINE.filter(lambda line: line.isascii() and b"\0" not in line), min_size=1, max_size=4))
def test_a_seven_bit_reply_of_ascii_is_left_as_it_is(lines):
    data = b"\r\n".join(lines) + b"\r\n"
    assert seven_bit_bytes(data) == data


def test_seven_bit_bytes_make_line_breaks_and_ends_as_sendmail_does():
    """Captured (tests/reference/sendmail/bytes.json): 0x8D 0x8A are a CR LF, 0x80 ends the line."""
    assert seven_bit_bytes(b'504 5.3.0 HELP topic "\x8d\x8ax" unknown\r\n') == (
        b'504 5.3.0 HELP topic "\r\nx" unknown\r\n')
    assert seven_bit_bytes(b'500 5.5.1 Command unrecognized: "XYZ a\x80b"\r\n') == (
        b'500 5.5.1 Command unrecognized: "XYZ a\r\n')


def test_a_frame_keeps_a_bare_cr_only_where_asked():
    assert frame_text(500, ['x "a\rb"']) == '500 x "a b"'
    assert frame_text(500, ['x "a\rb"'], bare_cr=True) == '500 x "a\rb"'
    assert frame_text(250, ["a\nb", "c"], bare_cr=True) == "250-a b\r\n250 c"  # never a LF


@given(st.binary(max_size=40))
def test_a_printable_reply_keeps_its_length_and_no_control_character(data):
    """Postfix's printable(text, ' ') on a refusal ([server] printable_replies)."""
    made = printable_bytes(data)
    assert len(made) == len(data) and not any(byte < 0x20 or byte == 0x7F for byte in made)
    assert all(old == new for old, new in zip(data, made) if 0x20 <= old != 0x7F)
