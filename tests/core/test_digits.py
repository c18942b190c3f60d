"""`core.digits.ascii_digits`: what `int()` can read from a whole number typed or sent."""

import re

from hypothesis import given
from hypothesis import strategies as st

from qtrack.core.digits import ascii_digits


@given(st.text(max_size=12) | st.from_regex(r"\A[0-9]{1,12}\Z"))
def test_ascii_digits_are_exactly_zero_to_nine(text: str) -> None:
    assert ascii_digits(text) == bool(re.fullmatch(r"[0-9]+", text, flags=re.ASCII))
    if ascii_digits(text):
        assert int(text) >= 0


def test_other_digits_are_not_numbers() -> None:
    # Each is a digit to str.isdigit(); int() refuses the first two, and the rest are no
    # number a person types for an id.
    for text in ("¹1", "²", "1²", "٣", "\uff11\uff12", "", " 1", "1_000", "+1", "-1"):
        assert not ascii_digits(text), text
