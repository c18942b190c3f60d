"""Cursor pagination: opaque cursors over a unique, ordered key; at most 200 rows a page."""

import base64
import binascii
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel

from qtrack.core.errors import BadRequest

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50

T = TypeVar("T")

PageLimit = Annotated[
    int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Rows per page (max {MAX_PAGE_SIZE})")
]
PageCursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page")
]


class InvalidCursor(BadRequest):
    code, message = "invalid_cursor", "The cursor is not valid"


class Page(BaseModel, Generic[T]):
    """One page of results and the cursor of the next, null on the last page."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(value: Any) -> str:
    """An opaque cursor for the last row's key."""
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    """The key a cursor stands for; 400 invalid_cursor when it was not made by us."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise InvalidCursor() from exc


def decode_key_cursor(cursor: str | None, value_type: type | None = None) -> list[Any] | None:
    """The (sort value, id) pair a keyset cursor stands for, or None for the first page; the
    sort value must be a `value_type` when one is given."""
    if cursor is None:
        return None
    value = decode_cursor(cursor)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or (value_type is not None and not isinstance(value[0], value_type))
        or not isinstance(value[1], int)
        or isinstance(value[1], bool)
    ):
        raise InvalidCursor()
    return value


def decode_int_cursor(cursor: str | None) -> int | None:
    """The integer id a cursor stands for, or None for the first page."""
    if cursor is None:
        return None
    value = decode_cursor(cursor)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidCursor()
    return value
