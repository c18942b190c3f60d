"""The sync cursor: where a device's copy stands, opaque to the device.

It holds, as base64 of a small JSON object: the protocol version, when it was issued, the
kinds the caller could see when the sync began, the change feed position (items), a
`(updated_at, id)` mark per table kind, and, during a first sync, how far the snapshot has
come (kind index, last id).
"""

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from qtrack.core.errors import BadRequest, QtrackError
from qtrack.core.pagination import InvalidCursor, decode_cursor, encode_cursor

VERSION = 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SyncCursorInvalid(BadRequest):
    code = "sync_cursor_invalid"
    message = "The sync cursor is not one the server issued: sync again from the start"


class SyncResyncRequired(QtrackError):
    status_code = 410
    code = "sync_resync_required"
    message = "The sync cursor can no longer be read on: sync again from the start"


def micros(value: datetime) -> int:
    """A time as whole microseconds since 1970 (exact, unlike a float)."""
    return (value - EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    """The time `micros` gave."""
    return EPOCH + timedelta(microseconds=value)


@dataclass(frozen=True)
class Cursor:
    """A position in the sync: see the module's docstring."""

    issued_at: int  # seconds since 1970
    kinds: tuple[str, ...]
    feed: tuple[int, int]
    marks: dict[str, tuple[int, int]]  # table kind -> (updated_at in micros, id)
    snapshot: tuple[int, int] | None  # (index in kinds, last id sent), None once done

    def encode(self) -> str:
        """The opaque text a client sends back as `since`."""
        return encode_cursor(
            {
                "v": VERSION,
                "t": self.issued_at,
                "k": list(self.kinds),
                "f": list(self.feed),
                "m": {name: list(mark) for name, mark in self.marks.items()},
                "s": list(self.snapshot) if self.snapshot is not None else None,
            }
        )

    def but(self, **changes: Any) -> "Cursor":
        """A copy with these fields changed."""
        return replace(self, **changes)


def _ints(value: Any, size: int) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or len(value) != size
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        raise SyncCursorInvalid()
    return tuple(value)


def decode(text: str) -> Cursor:
    """The cursor a client sent; 400 sync_cursor_invalid for anything we did not issue,
    410 sync_resync_required for one of an older protocol."""
    try:
        value = decode_cursor(text)
    except InvalidCursor as exc:
        raise SyncCursorInvalid() from exc
    if not isinstance(value, dict) or set(value) != {"v", "t", "k", "f", "m", "s"}:
        raise SyncCursorInvalid()
    if value["v"] != VERSION:
        raise SyncResyncRequired(details={"reason": "protocol"})
    kinds, marks = value["k"], value["m"]
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise SyncCursorInvalid()
    if not isinstance(marks, dict):
        raise SyncCursorInvalid()
    (issued_at,) = _ints([value["t"]], 1)
    txid, event_id = _ints(value["f"], 2)
    snapshot = None
    if value["s"] is not None:
        index, after = _ints(value["s"], 2)
        if index >= len(kinds):
            raise SyncCursorInvalid()
        snapshot = (index, after)
    checked: dict[str, tuple[int, int]] = {}
    for name, mark in marks.items():
        at, row_id = _ints(mark, 2)
        checked[name] = (at, row_id)
    return Cursor(issued_at, tuple(kinds), (txid, event_id), checked, snapshot)
