"""A reply's bytes as a persona's server writes them (relaypot.vocabulary): Sendmail's 7-bit
output, Postfix's printable refusals; their captures are in tests/protocol/test_sendmail.py and
tests/reference/postfix/params.json."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relaypot.vocabulary import printable_bytes, seven_bit_bytes


@given(st.binary(max_size=40))
def test_seven_bit_replies_never_hold_a_line_break_the_client_chose(data):
    made = seven_bit_bytes(data)
    assert made.isascii() and made.count(b"\n") == data.count(b"\n") and made.count(b"\r") == data.count(b"\r")
    assert all(new == old & 0x7F or new == 0x20 for old, new in zip(data, made))


@given(st.binary(max_size=40))
def test_a_printable_reply_keeps_its_length_and_no_control_character(data):
    """Postfix's printable(text, ' ') on a refusal ([server] printable_replies)."""
    made = printable_bytes(data)
    assert len(made) == len(data) and not any(byte < 0x20 or byte == 0x7F for byte in made)
    assert all(old == new for old, new in zip(data, made) if 0x20 <= old != 0x7F)
