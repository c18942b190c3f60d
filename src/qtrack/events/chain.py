"""The hash chain: each event's hash covers its canonical content and the previous hash.

Canonical content is JSON with sorted keys and no spaces, times as UTC ISO strings with
microseconds, numbers and dates as strings: the same bytes come back from SQLite and
PostgreSQL, so a chain written on one verifies anywhere.
"""

import functools
import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from qtrack.core.clock import json_time


def iso(value: datetime | None) -> str | None:
    """A timestamp as the chain writes it."""
    if value is None:
        return None
    return _iso(value)


_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@functools.lru_cache(maxsize=256)
def _iso(value: datetime) -> str:
    # Remembered: a registration or an import writes many events at one time (its
    # recorded_at), and writing the time is the dearest step of an event's content. Equal
    # datetimes are the same instant, so they have the same text whatever their zones.
    utc = value.astimezone(UTC)
    if utc.microsecond and utc.year >= 1000:
        # `json_time` (orjson) writes the same text in a fifth of strftime's time (0.8 against
        # 3.8 µs, on every change's new event); it leaves out a zero fraction, and strftime
        # does not pad a year before 1000 (tests/events/test_chain_iso.py).
        return json_time(utc)
    return utc.strftime(_FORMAT)


# Values that are their own JSON: returned at once (most of an event's values are).
_PLAIN = frozenset({str, int, bool, float, type(None)})


def jsonable(value: Any) -> Any:
    """Plain JSON values for before/after: Decimal and dates become strings."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, Decimal):
        return (
            format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
        )
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def event_hash(fields: dict[str, Any]) -> str:
    """SHA-256 of an event's canonical content (which includes prev_hash)."""
    canonical = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def canonical_fields(
    *,
    item_id: int,
    seq: int,
    kind: str,
    actor_id: int | None,
    token_id: int | None,
    client_event_id: str | None,
    occurred_at: datetime | None,
    recorded_at: datetime,
    location_id: int | None,
    before: dict[str, Any],
    after: dict[str, Any],
    reason: str | None,
    signed_by_id: int | None,
    signature_meaning: str | None,
    signed_at: datetime | None,
    latitude: float | None,
    longitude: float | None,
    prev_hash: str | None,
) -> dict[str, Any]:
    """Everything an event says, as the hash sees it."""
    return {
        "item_id": item_id,
        "seq": seq,
        "type": kind,
        "actor_id": actor_id,
        "token_id": token_id,
        "client_event_id": client_event_id,
        "occurred_at": iso(occurred_at),
        "recorded_at": iso(recorded_at),
        "location_id": location_id,
        "before": before,
        "after": after,
        "reason": reason,
        "signed_by_id": signed_by_id,
        "signature_meaning": signature_meaning,
        "signed_at": iso(signed_at),
        "latitude": latitude,
        "longitude": longitude,
        "prev_hash": prev_hash,
    }
