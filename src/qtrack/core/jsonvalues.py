"""Free-form JSON a client sends and qtrack keeps: what it may hold.

A request's body is read by Python's JSON reader, which takes integers of any size, the
non-standard NaN, Infinity and -Infinity, unpaired surrogates (`"\\ud800"`) and any depth.
qtrack cannot keep those: PostgreSQL's `json` refuses NaN, and orjson (the JSON columns, the
answers, an event's hash) refuses integers beyond 64 bits, text that is not UTF-8 and more
than 255 levels. A field of type `JsonObject` refuses them as a 422 naming the field, where
they were a 500; a pushed offline change holding them is refused as invalid (`sync.push`).
"""

import math
from typing import Annotated, Any

from pydantic import AfterValidator

_INT64 = range(-(2**63), 2**63)
# Arrays and objects inside one another: orjson writes at most 255 levels.
MAX_DEPTH = 128


def encodable(text: str) -> bool:
    """Whether the text can be written as UTF-8 (stored, sent as JSON)."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:  # an unpaired surrogate, which JSON's reader takes from "\ud800"
        return False
    return True


def json_safe(value: Any) -> Any:
    """The value as it is, when qtrack can keep it as JSON (a JSON column, written by orjson;
    an answer; an event's hash): every number an integer of 64 bits or a finite number, every
    string (keys too) UTF-8, at most `MAX_DEPTH` levels deep. ValueError otherwise."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int) and item not in _INT64:
            raise ValueError("integers must fit in 64 bits (from -2^63 to 2^63 - 1)")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError("numbers must be finite (not NaN or Infinity)")
        if isinstance(item, str) and not encodable(item):
            raise ValueError("text must be valid Unicode (no unpaired surrogates)")
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise ValueError(f"arrays and objects may be nested at most {MAX_DEPTH} deep")
            if isinstance(item, dict):
                stack.extend((key, depth + 1) for key in item)
                stack.extend((element, depth + 1) for element in item.values())
            else:
                stack.extend((element, depth + 1) for element in item)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(json_safe)]
