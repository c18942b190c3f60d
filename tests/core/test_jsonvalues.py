"""core/jsonvalues.json_safe: what free-form JSON qtrack can keep."""

import pytest

from qtrack.core.db import json_text
from qtrack.core.jsonvalues import MAX_DEPTH, json_safe


def _lists(levels: int) -> list[object]:
    """`levels` arrays, each inside the one before."""
    value: list[object] = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({"n": 2**63}, "64 bits"),
        ({"n": [-(2**63) - 1]}, "64 bits"),
        ({"x": float("nan")}, "finite"),
        ({"x": {"y": float("-inf")}}, "finite"),
        ({"text": "a\ud800b"}, "surrogate"),
        ({"key\udfff": 1}, "surrogate"),
        ({"deep": _lists(MAX_DEPTH)}, "nested"),  # the object is a level too
    ],
)
def test_what_cannot_be_kept_is_refused(value: object, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        json_safe(value)


def test_what_can_be_kept_is_given_back_as_it_is_and_orjson_writes_it() -> None:
    value = {
        "n": [2**63 - 1, -(2**63), 1.5, True, None],
        "text": "Grüße 東京 🙂",
        "deep": _lists(MAX_DEPTH - 1),
    }
    assert json_safe(value) is value
    json_text(value)  # the JSON columns' writer takes it
