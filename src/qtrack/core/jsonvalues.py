"""Free-form JSON a client sends and qtrack keeps: what it may hold.

A request's body is read by Python's JSON reader, which takes integers of any size and the
non-standard NaN, Infinity and -Infinity. qtrack cannot keep those: PostgreSQL's `json`
refuses NaN, orjson (the answers, an event's hash) refuses integers beyond 64 bits. A field
of type `JsonObject` refuses them as a 422 naming the field, where they were a 500.
"""

import math
from typing import Annotated, Any

from pydantic import AfterValidator

_INT64 = range(-(2**63), 2**63)


def json_safe(value: Any) -> Any:
    """The value as it is, when every number in it is an integer of 64 bits or a finite
    number; ValueError otherwise."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int) and item not in _INT64:
            raise ValueError("integers must fit in 64 bits (from -2^63 to 2^63 - 1)")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError("numbers must be finite (not NaN or Infinity)")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(json_safe)]
