"""Expiry as a change of items: the sweep that moves items past their expiry date to their
workflow's expired state, as system events (no actor) with the reason.

A workflow names its expired state (`"expired": true` on the state); the sweep takes the
workflow's own transition that leads there from the item's state, so the workflow decides
from where an item may expire. An item whose workflow has no expired state, or no way to it
from where the item is (a received lot not yet in quarantine, a rejected one), is left as it
is and reported: its expiry date alone already keeps it from being dispensed, consumed or
shipped (`rules.refuse_if_expired`).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.events import service as events_service
from qtrack.events.service import Entry
from qtrack.items import counts, on_hand, repository, rules, statements, writes
from qtrack.items.models import Item
from qtrack.items.service import ExpiryStates


@dataclass(frozen=True)
class ExpiredItem:
    """An item the sweep moved to its expired state."""

    code: str
    type: str
    expiry_on: date
    before: str
    after: str
    event_id: int
    item_id: int = 0
    type_id: int = 0
    location_id: int | None = None


@dataclass(frozen=True)
class LeftItem:
    """An item past its expiry date that the sweep could not move, and why."""

    code: str
    type: str
    expiry_on: date
    status: str
    why: str
    item_id: int = 0
    type_id: int = 0
    location_id: int | None = None


@dataclass
class SweepBatch:
    """What one batch of the sweep did."""

    expired: list[ExpiredItem] = field(default_factory=list)
    left: list[LeftItem] = field(default_factory=list)


def reason_of(expiry_on: date) -> str:
    """The reason a sweep's event gives."""
    return f"Past its expiry date ({expiry_on.isoformat()})"


async def due_ids(
    session: AsyncSession, states: ExpiryStates, *, today: date, after_id: int, limit: int
) -> list[int]:
    """Ids of live items past their expiry date and not in an expired state, after
    `after_id`, in id order (the order the sweep locks them in)."""
    pair = tuple_(Item.type_id, Item.status)
    stmt = (
        select(Item.id)
        .where(
            Item.archived.is_(False),
            Item.expiry_on < today,
            Item.id > after_id,
            pair.not_in(sorted(states.expired)) if states.expired else true(),
            pair.not_in(sorted(states.done)) if states.done else true(),
        )
        .order_by(Item.id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def expire_items(session: AsyncSession, *, ids: list[int], today: date) -> SweepBatch:
    """Move these items, if still due (checked again under their row locks), to their
    workflow's expired state: one system event each, through the one recording point.

    The rows are locked in id order, so two sweeps at once take turns: the second finds the
    first's items expired already and leaves them (never a second event)."""
    batch = SweepBatch()
    if not ids:
        return batch
    rows = list(await session.execute(statements.LOCK_BY_IDS, {"ids": ids}))
    moving: list[tuple[Any, str, str]] = []  # (row, transition, expired state)
    for row in rows:
        if row.archived or not rules.is_past(row.expiry_on, today):
            continue  # archived, or its date was corrected meanwhile
        definition = await rules.definition_for(session, row)
        state = definition.state(row.status)
        expired = definition.expired_state
        if expired is not None and row.status == expired.key:
            continue  # expired already (by another sweep, or by hand)
        if state is not None and state.terminal:
            continue  # used up meanwhile
        if expired is None:
            batch.left.append(_left(row, "its workflow has no expired state"))
            continue
        way = next(
            (t for t in definition.transitions_from(row.status) if t.to == expired.key), None
        )
        if way is None:
            why = f"its workflow has no way from '{row.status}' to '{expired.key}'"
            batch.left.append(_left(row, why))
            continue
        moving.append((row, way.name, expired.key))
    if not moving:
        return batch
    entries: list[Entry] = [
        writes.entry(
            row,
            "status_changed",
            before={"status": row.status},
            after={"status": to, "transition": name},
            reason=reason_of(row.expiry_on),
        )
        for row, name, to in moving
    ]
    recorded = await events_service.record(session, None, entries)
    await session.execute(
        statements.SET_STATUS,
        [
            {**writes.head(event), "new_status": to, "new_version": row.version + 1}
            for (row, _, to), event in zip(moving, recorded, strict=True)
        ],
    )
    # Last, and in key order: each counter row once, as every change of many items writes
    # them, so that the sweep and other changes cannot deadlock on them.
    deltas: defaultdict[tuple[int, str, int], int] = defaultdict(int)
    for row, _, to in moving:
        shard = counts.shard_of(row.id)
        deltas[(row.type_id, row.status, shard)] -= 1
        deltas[(row.type_id, to, shard)] += 1
    for (type_id, status, shard), delta in sorted(deltas.items()):
        await counts.bump_status(session, type_id, status, delta, shard=shard)
    # An expired lot is stock no more: on-hand and its levels follow, as for any change.
    stock: defaultdict[tuple[int, int | None], Decimal] = defaultdict(Decimal)
    for row, _, to in moving:
        gone = await on_hand.counted(session, row) - await on_hand.counted(session, row, to)
        if gone:
            stock[(row.type_id, row.location_id)] -= gone
    await on_hand.changed(session, dict(stock))
    batch.expired = [
        ExpiredItem(
            row.code,
            row.type_key,
            row.expiry_on,
            row.status,
            to,
            event.id,
            item_id=row.id,
            type_id=row.type_id,
            location_id=row.location_id,
        )
        for (row, _, to), event in zip(moving, recorded, strict=True)
    ]
    return batch


def _left(row: Any, why: str) -> LeftItem:
    return LeftItem(
        row.code,
        row.type_key,
        row.expiry_on,
        row.status,
        why,
        item_id=row.id,
        type_id=row.type_id,
        location_id=row.location_id,
    )


async def first_to_expire(
    session: AsyncSession,
    states: ExpiryStates,
    *,
    today: date,
    type_id: int | None = None,
    gtin: str | None = None,
    location_ids: Any = None,
    exclude_id: int | None = None,
    limit: int = 10,
) -> list[Any]:
    """First expired, first out: live lots of a type or GTIN (at these locations: a select of
    ids, or None for anywhere) that can be used now, not expired and not empty, the one that
    expires first first (those without a date last). Rows of `repository.item_rows()`."""
    if not states.usable:
        return []
    stmt = repository.item_rows().where(
        Item.archived.is_(False),
        or_(Item.expiry_on.is_(None), Item.expiry_on >= today),
        tuple_(Item.type_id, Item.status).in_(sorted(states.usable)),
        or_(Item.quantity.is_(None), Item.quantity > 0),
    )
    if type_id is not None:
        stmt = stmt.where(Item.type_id == type_id)
    if gtin is not None:
        stmt = stmt.where(Item.gtin == gtin)
    if location_ids is not None:
        stmt = stmt.where(Item.location_id.in_(location_ids))
    if exclude_id is not None:
        stmt = stmt.where(Item.id != exclude_id)
    stmt = stmt.order_by(Item.expiry_on.is_(None), Item.expiry_on, Item.id).limit(limit)
    return list((await session.execute(stmt)).all())
