"""Recording events: the one place an item's change is written to its hash chain.

`record` is the recording point: every change of an item (created, status_changed, moved,
packed, quantity_changed, edited, archived, and the container's content_added and
content_removed) is appended through it, in the caller's transaction. The caller holds the
item's row lock and read its chain head, and moves the head with its own update of the item.
Reading the log (histories, the feed, chain verification) is `qtrack.history`'s.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Executable, Table, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.principal import Principal
from qtrack.core.clock import utcnow
from qtrack.core.deferred import dialect_name
from qtrack.core.prepared import PreparedSelect
from qtrack.events.chain import canonical_fields, event_hash, jsonable
from qtrack.events.models import Event
from qtrack.events.schemas import EventRead


@dataclass(frozen=True)
class EventContext:
    """What the caller says about the circumstances of a change."""

    client_event_id: str | None = None
    occurred_at: datetime | None = None  # the device's clock
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class Signature:
    """An e-signature given for a change: who, meaning what, when."""

    user_id: int
    meaning: str
    signed_at: datetime


@dataclass(frozen=True)
class Entry:
    """One item's next event, before it is recorded: the item's chain head as read under its
    row lock, `(event_count, last_event_hash)`, and what the event says."""

    item_id: int
    head: tuple[int, str | None]
    location_id: int | None
    kind: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str | None = None
    signature: Signature | None = None
    context: EventContext = field(default_factory=EventContext)


@dataclass(frozen=True)
class Recorded:
    """An event written by `record`: what it says, as stored (times in UTC)."""

    id: int
    item_id: int
    seq: int
    kind: str
    location_id: int | None
    client_event_id: str | None
    occurred_at: datetime | None
    recorded_at: datetime
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str | None
    signature: Signature | None
    prev_hash: str | None
    hash: str


def event_values(
    entry: Entry, *, actor_id: int | None, token_id: int | None, recorded_at: datetime
) -> dict[str, Any]:
    """The event row for an entry, its hash included: what `record` inserts, and what the
    bulk loader copies for each imported item's `created` event."""
    ctx = entry.context
    signature = entry.signature
    occurred_at = ctx.occurred_at.astimezone(UTC) if ctx.occurred_at else None
    before = jsonable(entry.before or {})
    after = jsonable(entry.after or {})
    signed_by_id = signature.user_id if signature else None
    signature_meaning = signature.meaning if signature else None
    signed_at = signature.signed_at if signature else None
    item_id, seq, prev_hash = entry.item_id, entry.head[0] + 1, entry.head[1]
    hashed = event_hash(
        canonical_fields(
            item_id=item_id, seq=seq, kind=entry.kind, actor_id=actor_id, token_id=token_id,
            client_event_id=ctx.client_event_id, occurred_at=occurred_at,
            recorded_at=recorded_at, location_id=entry.location_id, before=before, after=after,
            reason=entry.reason, signed_by_id=signed_by_id, signature_meaning=signature_meaning,
            signed_at=signed_at, latitude=ctx.latitude, longitude=ctx.longitude,
            prev_hash=prev_hash,
        )
    )  # fmt: skip
    values: dict[str, Any] = {
        "item_id": item_id, "seq": seq, "type": entry.kind, "actor_id": actor_id,
        "token_id": token_id, "client_event_id": ctx.client_event_id, "occurred_at": occurred_at,
        "recorded_at": recorded_at, "location_id": entry.location_id, "before": before,
        "after": after, "reason": entry.reason, "signed_by_id": signed_by_id,
        "signature_meaning": signature_meaning, "signed_at": signed_at,
        "latitude": ctx.latitude, "longitude": ctx.longitude, "prev_hash": prev_hash,
        "hash": hashed,
    }  # fmt: skip
    return values


_event: Table = Event.__table__  # type: ignore[assignment]
# Built once: a prebuilt statement keeps its compiled form and cache key.
_INSERT_ONE = insert(_event).returning(_event.c.id)
_INSERT_MANY = insert(_event).returning(_event.c.id, sort_by_parameter_order=True)
# What `event_values` gives (every column but the id and the feed's position), as the
# insert's own parameters when the insert is one part of a larger statement (`_with_along`);
# prefixed, so that no other part's parameter meets them.
_EVENT_COLUMNS = tuple(c.name for c in _event.c if c.name not in ("id", "txid"))
_PREFIX = "event_"
_INSERT_PART = (
    insert(_event)
    .values({c: bindparam(_PREFIX + c, type_=_event.c[c].type) for c in _EVENT_COLUMNS})
    .returning(_event.c.id)
    .cte("recorded")
)
# A statement run along with an event, and its parameters (`record`'s `along`).
Along = tuple[Executable, dict[str, Any]]
# One combined statement per sequence of statements run along (they are prebuilt, so few).
_combined: dict[tuple[int, ...], tuple[PreparedSelect, tuple[Executable, ...]]] = {}


def _with_along(statements: Sequence[Executable]) -> PreparedSelect:
    """The event's INSERT with these statements as data-modifying CTEs (PostgreSQL): one
    statement, one round trip, answering the event's id; sent through the driver in the
    session's transaction (core/prepared.py)."""
    key = tuple(id(s) for s in statements)
    found = _combined.get(key)
    if found is None:
        parts = [s.cte(f"along_{i}") for i, s in enumerate(statements)]  # type: ignore[attr-defined]
        # The statements are kept with it: their ids stay theirs while the key exists.
        found = (PreparedSelect(select(_INSERT_PART.c.id).add_cte(*parts)), tuple(statements))
        _combined[key] = found
    return found[0]


def _along_params(row: dict[str, Any], along: Sequence[Along]) -> dict[str, Any]:
    params = {_PREFIX + c: row[c] for c in _EVENT_COLUMNS}
    for _, more in along:
        for name, value in more.items():
            if name in params and params[name] is not value and params[name] != value:
                raise ValueError(f"two statements run along an event both bind {name!r}")
            params[name] = value
    return params


def _recorded(event_id: int, row: dict[str, Any], entry: Entry, now: datetime) -> Recorded:
    return Recorded(
        id=event_id,
        item_id=row["item_id"],
        seq=row["seq"],
        kind=row["type"],
        location_id=row["location_id"],
        client_event_id=row["client_event_id"],
        occurred_at=row["occurred_at"],
        recorded_at=now,
        before=row["before"],
        after=row["after"],
        reason=row["reason"],
        signature=entry.signature,
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


async def record(
    session: AsyncSession,
    actor: Principal | None,
    entries: Sequence[Entry],
    *,
    recorded_at: datetime | None = None,
    along: Callable[[Recorded], Sequence[Along]] | None = None,
) -> list[Recorded]:
    """Append each entry as its item's next event, in one statement, in the caller's
    transaction; the events in the order given.

    The caller holds each item's row lock (or just created the item) and read its chain head
    under it, so the sequence number and the previous hash cannot race (the (item_id, seq)
    unique key guards it anyway); the caller then moves each item's head to the new event.
    (A registration gives `recorded_at`: it wrote its new items' heads already, from
    `event_values` with the same time.)

    `along` (one entry only) gives, from the event as it will be stored (its id aside), the
    statements the caller would run right after it: the item's head and state moved, the
    counts kept. On PostgreSQL they are sent with the INSERT as one statement, each a
    data-modifying CTE (one round trip for three on a change of state; the statements touch
    other tables than `event`, so running them in one snapshot changes nothing they do);
    elsewhere they run one after another, after it.

    The one point every change is recorded through. The change feed needs nothing more here:
    its position (`txid`) is a column default the database fills in on the same INSERT
    (events/feed.py), so the scan path gets no second statement."""
    if not entries:
        return []
    now = recorded_at or utcnow()
    actor_id = actor.user_id if actor else None
    token_id = actor.token_id if actor else None
    rows = [event_values(e, actor_id=actor_id, token_id=token_id, recorded_at=now) for e in entries]
    if along is not None:
        if len(rows) != 1:
            raise ValueError("statements run along one event only")
        pending = _recorded(0, rows[0], entries[0], now)
        statements = along(pending)
        if dialect_name(session) == "postgresql" and statements:
            combined = _with_along([s for s, _ in statements])
            params = _along_params(rows[0], statements)
            inserted = await combined.first_locked(session, params)
            if inserted is None:  # an INSERT … RETURNING answers its row
                raise RuntimeError("the event's INSERT answered no id")
            event_id = inserted.id
        else:
            event_id = (await session.execute(_INSERT_ONE, rows[0])).scalar_one()
            for statement, params in statements:
                await session.execute(statement, params)
        return [replace(pending, id=event_id)]
    if len(rows) == 1:
        ids = [(await session.execute(_INSERT_ONE, rows[0])).scalar_one()]
    else:
        ids = list((await session.execute(_INSERT_MANY, rows)).scalars())
    return [
        _recorded(event_id, row, entry, now)
        for event_id, row, entry in zip(ids, rows, entries, strict=True)
    ]


def read_of(
    recorded: Recorded, *, item_code: str, actor: str | None, location: str | None
) -> EventRead:
    """An event just recorded, as `EventRead` shows it (no re-read). Validated from a dict:
    in pydantic-core that costs less than half of `model_construct`'s field-by-field fill in
    Python (docs/benchmarks.md, issue 15)."""
    signature = recorded.signature
    return EventRead.model_validate(
        {
            "id": recorded.id,
            "item": item_code,
            "seq": recorded.seq,
            "type": recorded.kind,
            "actor": actor,
            "recorded_at": recorded.recorded_at,
            "occurred_at": recorded.occurred_at,
            "location": location,
            "before": recorded.before,
            "after": recorded.after,
            "reason": recorded.reason,
            # The signer is always the actor: an e-signature is given by whoever makes it.
            "signature": {"by": actor, "meaning": signature.meaning, "at": signature.signed_at}
            if signature
            else None,
            "client_event_id": recorded.client_event_id,
            "hash": recorded.hash,
            "prev_hash": recorded.prev_hash,
        }
    )


async def last_status_actor(session: AsyncSession, item_id: int) -> int | None:
    """Who made the item's most recent status change (or created it, if none since)."""
    return await session.scalar(
        select(Event.actor_id)
        .where(Event.item_id == item_id, Event.type.in_(("status_changed", "created")))
        .order_by(Event.seq.desc())
        .limit(1)
    )
