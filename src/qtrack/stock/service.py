"""Stock use cases: on-hand kept in step with every change, levels, their states and alerts.

On-hand of an item type is the sum of the quantities of its live lots (quantity-tracked
types) or the number of its live items, where live means not archived and in a state that
is not done with (`items.on_hand` says which). The items' write path hands every change's
deltas to `apply` in the same transaction, right before the commit; nothing here ever counts
items.

States of a level (on the type overall, or at a location and everything under it):
  out  nothing left (on-hand ≤ 0) or below the minimum level
  low  otherwise at or below the reorder level
  ok   above it
An alert is raised for each level the state falls through (ok→low: low; low→out: out; ok→out:
low, when there is a reorder level, and out) and cleared when it gets better than what the
alert warned of (the out alert at low or ok, the low alert at ok): what is open always matches
where stock is.
So a crossing alerts once, however many scans follow. Every change of a type's stock locks
the type's total row first (one upsert, rows in key order), which serializes the evaluation
of its levels: two concurrent dispenses cannot both see "ok" and both miss the crossing.
"""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from qtrack.alerts import service as alerts_service
from qtrack.categories import service as categories_service
from qtrack.core.clock import utcnow
from qtrack.core.prepared import PreparedSelect
from qtrack.item_types import service as item_types_service
from qtrack.item_types.models import QUANTITY, ItemType
from qtrack.locations import service as locations_service
from qtrack.locations.models import Location
from qtrack.stock.models import EVERYWHERE, StockOnHand
from qtrack.stock.schemas import StockRead

# How bad a state is: an alert is raised when this goes up.
RANK: dict[str | None, int] = {None: 0, "ok": 0, "low": 1, "out": 2}
ALERT_KINDS = {"low": "stock_low", "out": "stock_out"}
_ZERO = Decimal(0)

# (type id, location id or None) -> how much more (or less) is on hand there.
Deltas = Mapping[tuple[int, int | None], Decimal]

_RETURNED: dict[str, Any] = {
    "type_id": Integer,
    "location_id": Integer,
    "on_hand": QUANTITY,
    "minimum_level": QUANTITY,
    "reorder_level": QUANTITY,
    "state": String,
    "local_levels": Integer,
}
_upserts: dict[int, PreparedSelect] = {}


def _upsert(n: int) -> PreparedSelect:
    """The upsert of n rows that adds deltas and returns each row with its levels, as text
    (the same SQL on both databases), built once per row count; through the driver in the
    change's transaction on PostgreSQL (core/prepared.py)."""
    stmt = _upserts.get(n)
    if stmt is None:
        values = ", ".join(f"(:t{i}, :l{i}, :d{i}, 0)" for i in range(n))
        # Numbered placeholders only, never a value.
        sql = "INSERT INTO stock_on_hand (type_id, location_id, on_hand, local_levels) VALUES "
        sql += values
        statement = (
            text(
                sql + " ON CONFLICT (type_id, location_id)"
                " DO UPDATE SET on_hand = stock_on_hand.on_hand + excluded.on_hand"
                " RETURNING type_id, location_id, on_hand, minimum_level, reorder_level,"
                " state, local_levels"
            )
            .bindparams(*[bindparam(f"d{i}", type_=QUANTITY) for i in range(n)])
            .columns(**_RETURNED)
        )
        stmt = PreparedSelect(statement)
        _upserts[n] = stmt
    return stmt


def state_of(on_hand: Decimal, minimum: Decimal | None, reorder: Decimal | None) -> str | None:
    """The state of a level: out, low, ok; None without levels."""
    if minimum is None and reorder is None:
        return None
    if on_hand <= 0 or (minimum is not None and on_hand < minimum):
        return "out"
    if reorder is not None and on_hand <= reorder:
        return "low"
    return "ok"


async def apply(session: AsyncSession, deltas: Deltas) -> None:
    """Add what a change did to on-hand (per type and direct location; None: no location),
    and evaluate the levels it touches: each state that changes raises or clears alerts.
    Called last in the change's transaction, by the items' write path only."""
    rows: dict[tuple[int, int], Decimal] = {}
    for (type_id, location_id), delta in deltas.items():
        if not delta:
            continue
        # The total row is written (and so locked) even when a move leaves it unchanged.
        rows[(type_id, EVERYWHERE)] = rows.get((type_id, EVERYWHERE), _ZERO) + delta
        if location_id is not None:
            rows[(type_id, location_id)] = rows.get((type_id, location_id), _ZERO) + delta
    if not rows:
        return
    keys = sorted(rows)  # key order: concurrent changes lock shared rows in one order
    params: dict[str, Any] = {}
    for i, (type_id, location_id) in enumerate(keys):
        params[f"t{i}"], params[f"l{i}"], params[f"d{i}"] = type_id, location_id, rows[keys[i]]
    returned = await _upsert(len(keys)).all_locked(session, params)
    for row in returned:
        if row.location_id != EVERYWHERE:
            continue
        if rows[(row.type_id, EVERYWHERE)]:
            await _evaluate(
                session, row.type_id, EVERYWHERE, row.on_hand,
                row.minimum_level, row.reorder_level, row.state,
            )  # fmt: skip
        if row.local_levels:
            moved = [loc for (t, loc) in keys if t == row.type_id and loc != EVERYWHERE]
            await _evaluate_local(session, row.type_id, moved)


async def _evaluate_local(session: AsyncSession, type_id: int, location_ids: list[int]) -> None:
    """Evaluate the type's levels at the changed locations and every location above them."""
    paths = await session.scalars(select(Location.path).where(Location.id.in_(location_ids)))
    above = {i for path in paths for i in locations_service.path_ids(path)}
    if not above:
        return
    levels = await session.execute(
        select(
            StockOnHand.location_id,
            StockOnHand.minimum_level,
            StockOnHand.reorder_level,
            StockOnHand.state,
        )
        .where(
            StockOnHand.type_id == type_id,
            StockOnHand.location_id.in_(above),
            or_(StockOnHand.minimum_level.is_not(None), StockOnHand.reorder_level.is_not(None)),
        )
        .order_by(StockOnHand.location_id)
    )
    for level in levels.all():
        on_hand = await subtree_on_hand(session, type_id, level.location_id)
        await _evaluate(
            session, type_id, level.location_id, on_hand,
            level.minimum_level, level.reorder_level, level.state,
        )  # fmt: skip


async def subtree_on_hand(session: AsyncSession, type_id: int, location_id: int) -> Decimal:
    """What is on hand of a type at a location and everything under it (EVERYWHERE: all)."""
    if location_id == EVERYWHERE:
        total = await session.scalar(
            select(StockOnHand.on_hand).where(
                StockOnHand.type_id == type_id, StockOnHand.location_id == EVERYWHERE
            )
        )
        return total or _ZERO
    top = aliased(Location)
    total = await session.scalar(
        select(func.sum(StockOnHand.on_hand))
        .join(Location, Location.id == StockOnHand.location_id)
        .join(top, top.id == location_id)
        .where(
            StockOnHand.type_id == type_id,
            StockOnHand.location_id != EVERYWHERE,
            Location.path.startswith(top.path),
        )
    )
    return Decimal(total or 0)


async def _evaluate(
    session: AsyncSession,
    type_id: int,
    location_id: int,
    on_hand: Decimal,
    minimum: Decimal | None,
    reorder: Decimal | None,
    old: str | None,
) -> None:
    """Store a level's new state if it changed, and raise or clear its alerts."""
    new = state_of(on_hand, minimum, reorder)
    if new == old:
        return
    await session.execute(
        update(StockOnHand)
        .where(StockOnHand.type_id == type_id, StockOnHand.location_id == location_id)
        .values(state=new)
    )
    subject, where = await _subject(session, type_id, location_id)
    stale = [kind for state, kind in ALERT_KINDS.items() if RANK[state] > RANK[new]]
    if stale:
        await alerts_service.clear_alerts(session, subject, stale)
    name, unit = where
    amount = f"{_plain(on_hand)} {unit}"
    # Every level the stock fell through alerts, so that what is open always matches where
    # stock is: straight from ok to out raises the low alert too (when there is a reorder
    # level), which stays open when a delivery brings it back to low.
    crossed = [
        state
        for state in ALERT_KINDS
        if RANK[old] < RANK[state] <= RANK[new] and (state != "low" or reorder is not None)
    ]
    for state in crossed:
        if state == "out":
            limit = f" (minimum {_plain(minimum)})" if minimum else ""
            message = f"{name} is out of stock: {amount} on hand{limit}"
        else:
            message = f"{name} is low on stock: {amount} on hand (reorder at {_plain(reorder)})"
        await alerts_service.raise_alert(
            session, ALERT_KINDS[state], subject, message, type_id=type_id,
            location_id=location_id or None,
            data={
                "state": new, "previous_state": old, "on_hand": str(_plain(on_hand)),
                "minimum_level": _text(minimum), "reorder_level": _text(reorder),
            },
        )  # fmt: skip


def _plain(value: Decimal | None) -> Decimal:
    return Decimal(format((value or _ZERO).normalize(), "f"))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(_plain(value))


async def _subject(
    session: AsyncSession, type_id: int, location_id: int
) -> tuple[str, tuple[str, str]]:
    """An alert's subject ("stock:GAUZE", "stock:GAUZE@WARD-A") and how its message names
    the place and the unit."""
    item_type = await session.get_one(ItemType, type_id)
    if location_id == EVERYWHERE:
        return f"stock:{item_type.key}", (item_type.name, item_type.unit)
    location = await session.get_one(Location, location_id)
    return (
        f"stock:{item_type.key}@{location.code}",
        (f"{item_type.name} at {location.name}", item_type.unit),
    )


async def _lock_total(session: AsyncSession, type_id: int) -> Any:
    """The type's total row, made if missing and locked (as every change of its stock does)."""
    (row,) = await _upsert(1).all_locked(session, {"t0": type_id, "l0": EVERYWHERE, "d0": _ZERO})
    return row


async def set_levels(
    session: AsyncSession,
    *,
    type_key: str,
    location: str | None,
    minimum_level: Decimal | None,
    reorder_level: Decimal | None,
) -> StockRead:
    """Set (or with both None remove) the levels of an item type overall or at a location;
    the new state raises or clears alerts as a change of stock would."""
    item_type = await item_types_service.get_item_type(session, type_key)
    place = await locations_service.get_by_code(session, location) if location else None
    total = await _lock_total(session, item_type.id)
    location_id = place.id if place is not None else EVERYWHERE
    if place is None:
        row = total
    else:
        params = {"t0": item_type.id, "l0": location_id, "d0": _ZERO}
        (row,) = await _upsert(1).all_locked(session, params)
        had = row.minimum_level is not None or row.reorder_level is not None
        has = minimum_level is not None or reorder_level is not None
        if had != has:
            await session.execute(
                update(StockOnHand)
                .where(StockOnHand.type_id == item_type.id, StockOnHand.location_id == EVERYWHERE)
                .values(local_levels=StockOnHand.local_levels + (1 if has else -1))
            )
    await session.execute(
        update(StockOnHand)
        .where(StockOnHand.type_id == item_type.id, StockOnHand.location_id == location_id)
        .values(
            minimum_level=minimum_level, reorder_level=reorder_level, levels_updated_at=utcnow()
        )
    )
    on_hand = await subtree_on_hand(session, item_type.id, location_id)
    await _evaluate(
        session, item_type.id, location_id, on_hand, minimum_level, reorder_level, row.state
    )
    (read,) = [
        r
        for r in await list_stock(session, type_key=item_type.key, with_unset=True)
        if r.location == (place.code if place is not None else None)
    ]
    return read


async def list_stock(
    session: AsyncSession,
    *,
    low: bool = False,
    category: str | None = None,
    type_key: str | None = None,
    with_unset: bool = False,
) -> list[StockRead]:
    """On-hand, levels and state of every item type, and of each location where levels are
    set; critical types first, then out before low before ok. `low`: only those low or out.
    `with_unset`: location rows without levels too (a level just removed)."""
    types_filter: list[Any] = []
    if category is not None:
        types_filter.append(
            ItemType.category_id.in_(await categories_service.subtree_select(session, category))
        )
    if type_key is not None:
        types_filter.append(ItemType.key == type_key)
    categories = await _category_keys(session)
    # Columns, not ORM objects: the list is read on every dashboard and /stock request.
    overall = (
        select(*_TYPE_COLUMNS, StockOnHand.on_hand, *_LEVEL_COLUMNS, literal(None).label("code"))
        .select_from(ItemType)
        .outerjoin(
            StockOnHand,
            and_(StockOnHand.type_id == ItemType.id, StockOnHand.location_id == EVERYWHERE),
        )
        .where(*types_filter)
    )
    if low:
        overall = overall.where(StockOnHand.state.in_(("low", "out")))
    levelled_filter = [*types_filter, StockOnHand.location_id != EVERYWHERE]
    if low:
        levelled_filter.append(StockOnHand.state.in_(("low", "out")))
    elif not with_unset:
        levelled_filter.append(
            or_(StockOnHand.minimum_level.is_not(None), StockOnHand.reorder_level.is_not(None))
        )
    else:
        levelled_filter.append(
            or_(
                StockOnHand.minimum_level.is_not(None),
                StockOnHand.reorder_level.is_not(None),
                StockOnHand.levels_updated_at.is_not(None),
            )
        )
    levelled = (
        select(
            *_TYPE_COLUMNS, StockOnHand.location_id, *_LEVEL_COLUMNS, Location.code.label("code")
        )
        .join(StockOnHand, StockOnHand.type_id == ItemType.id)
        .join(Location, Location.id == StockOnHand.location_id)
        .where(*levelled_filter)
    )
    reads: list[tuple[Any, StockRead]] = []
    for row in await session.execute(overall):
        reads.append((_rank(row), _read(row, categories, row.on_hand)))
    local = (await session.execute(levelled)).all()
    if local:
        # What is on hand at each of those locations and under them: one grouped query over
        # the stock rows, never a query per row (nor a count of items).
        below, place = aliased(StockOnHand), aliased(Location)
        sums = await session.execute(
            select(StockOnHand.type_id, StockOnHand.location_id, func.sum(below.on_hand))
            .select_from(ItemType)
            .join(StockOnHand, StockOnHand.type_id == ItemType.id)
            .join(Location, Location.id == StockOnHand.location_id)
            .join(
                below,
                and_(below.type_id == StockOnHand.type_id, below.location_id != EVERYWHERE),
            )
            .join(
                place,
                and_(place.id == below.location_id, place.path.startswith(Location.path)),
            )
            .where(*levelled_filter)
            .group_by(StockOnHand.type_id, StockOnHand.location_id)
        )
        subtree = {(t, loc): Decimal(total or 0) for t, loc, total in sums}
        for at in local:
            on_hand = subtree.get((at.type_id, at.location_id), _ZERO)
            reads.append((_rank(at), _read(at, categories, on_hand)))
    reads.sort(key=lambda pair: pair[0])
    return [read for _, read in reads]


_TYPE_COLUMNS = (
    ItemType.id.label("type_id"),
    ItemType.key,
    ItemType.name,
    ItemType.category_id,
    ItemType.critical,
    ItemType.unit,
)
_LEVEL_COLUMNS = (StockOnHand.minimum_level, StockOnHand.reorder_level, StockOnHand.state)


def _rank(row: Any) -> tuple[bool, int, str, str]:
    """Critical types first, then out, low, ok, no levels; by type, then location."""
    return (not row.critical, RANK_ORDER[row.state], row.key, row.code or "")


RANK_ORDER: dict[str | None, int] = {"out": 0, "low": 1, "ok": 2, None: 3}


async def _category_keys(session: AsyncSession) -> dict[int, str]:
    every = await categories_service.list_categories(session, include_archived=True)
    return {c.id: c.key for c in every}


def _read(row: Any, categories: dict[int, str], on_hand: Decimal | None) -> StockRead:
    return StockRead(
        type=row.key,
        type_name=row.name,
        category=categories.get(row.category_id) if row.category_id else None,
        critical=row.critical,
        unit=row.unit,
        location=row.code,
        on_hand=on_hand if on_hand is not None else _ZERO,
        minimum_level=row.minimum_level,
        reorder_level=row.reorder_level,
        state=row.state,
    )
