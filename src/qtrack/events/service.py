"""Recording events, reading history, and proving the chains are intact."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.principal import Principal
from qtrack.core.clock import utcnow
from qtrack.events.chain import canonical_fields, event_hash, jsonable
from qtrack.events.models import Event
from qtrack.items.models import Item


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


def _fields_of(event: Event) -> dict[str, Any]:
    return canonical_fields(
        item_id=event.item_id,
        seq=event.seq,
        kind=event.type,
        actor_id=event.actor_id,
        token_id=event.token_id,
        client_event_id=event.client_event_id,
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        location_id=event.location_id,
        before=event.before,
        after=event.after,
        reason=event.reason,
        signed_by_id=event.signed_by_id,
        signature_meaning=event.signature_meaning,
        signed_at=event.signed_at,
        latitude=event.latitude,
        longitude=event.longitude,
        prev_hash=event.prev_hash,
    )


def append(
    session: AsyncSession,
    *,
    item: Item,
    kind: str,
    actor: Principal | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
    signature: Signature | None = None,
    context: EventContext | None = None,
) -> Event:
    """Add the item's next event to the session and move the item's chain head.

    The caller holds the item's row lock (or just created the item), so the sequence number
    and previous hash cannot race; the (item_id, seq) unique key guards it anyway.
    """
    ctx = context or EventContext()
    event = Event(
        **_columns(
            item_id=item.id,
            head=(item.event_count, item.last_event_hash),
            location_id=item.location_id,
            kind=kind,
            actor=actor,
            before=before,
            after=after,
            reason=reason,
            signature=signature,
            context=ctx,
            occurred_at=ctx.occurred_at,
        )
    )
    item.event_count = event.seq
    item.last_event_hash = event.hash
    session.add(event)
    return event


def _columns(
    *,
    item_id: int,
    head: tuple[int, str | None],
    location_id: int | None,
    kind: str,
    actor: Principal | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str | None,
    signature: Signature | None,
    context: EventContext,
    occurred_at: datetime | None,
) -> dict[str, Any]:
    """The next event's columns after the chain head `(event_count, last_event_hash)`, its
    hash included: what `append` and `record` both write.

    The one point every change is recorded through. The change feed needs nothing more
    here: its position (`txid`) is a column default the database fills in on the same
    INSERT (events/feed.py), so the scan path gets no second statement.
    """
    values: dict[str, Any] = {
        "item_id": item_id,
        "seq": head[0] + 1,
        "type": kind,
        "actor_id": actor.user.id if actor else None,
        "token_id": actor.token_id if actor else None,
        "client_event_id": context.client_event_id,
        "occurred_at": occurred_at,
        "recorded_at": utcnow(),
        "location_id": location_id,
        "before": jsonable(before or {}),
        "after": jsonable(after or {}),
        "reason": reason,
        "signed_by_id": signature.user_id if signature else None,
        "signature_meaning": signature.meaning if signature else None,
        "signed_at": signature.signed_at if signature else None,
        "latitude": context.latitude,
        "longitude": context.longitude,
        "prev_hash": head[1],
    }
    fields = dict(values)
    fields["kind"] = fields.pop("type")
    values["hash"] = event_hash(canonical_fields(**fields))
    return values


@dataclass(frozen=True)
class Recorded:
    """An event written by `record`: what it says, as stored (times in UTC)."""

    id: int
    seq: int
    kind: str
    client_event_id: str | None
    occurred_at: datetime | None
    recorded_at: datetime
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str | None
    signature: Signature | None
    prev_hash: str | None
    hash: str


_event: Table = Event.__table__  # type: ignore[assignment]
_INSERT_EVENT = insert(_event).returning(_event.c.id)


async def record(
    session: AsyncSession,
    *,
    item_id: int,
    head: tuple[int, str | None],
    location_id: int | None,
    kind: str,
    actor: Principal | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
    signature: Signature | None = None,
    context: EventContext | None = None,
) -> Recorded:
    """Insert the item's next event with one Core statement (the scan paths' `append`): the
    same content and hash, for a caller that holds the item's row lock, read its chain head
    `(event_count, last_event_hash)`, and moves the head itself."""
    ctx = context or EventContext()
    occurred_at = ctx.occurred_at.astimezone(UTC) if ctx.occurred_at else None
    values = _columns(
        item_id=item_id,
        head=head,
        location_id=location_id,
        kind=kind,
        actor=actor,
        before=before,
        after=after,
        reason=reason,
        signature=signature,
        context=ctx,
        occurred_at=occurred_at,
    )
    event_id = (await session.execute(_INSERT_EVENT, values)).scalar_one()
    return Recorded(
        id=event_id,
        seq=values["seq"],
        kind=kind,
        client_event_id=ctx.client_event_id,
        occurred_at=occurred_at,
        recorded_at=values["recorded_at"],
        before=values["before"],
        after=values["after"],
        reason=reason,
        signature=signature,
        prev_hash=head[1],
        hash=values["hash"],
    )


async def last_status_actor(session: AsyncSession, item_id: int) -> int | None:
    """Who made the item's most recent status change (or created it, if none since)."""
    return await session.scalar(
        select(Event.actor_id)
        .where(Event.item_id == item_id, Event.type.in_(("status_changed", "created")))
        .order_by(Event.seq.desc())
        .limit(1)
    )


@dataclass
class ChainReport:
    """What `qtrack audit verify` found."""

    events: int = 0
    items: int = 0
    broken: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.broken


async def verify_chains(
    session: AsyncSession, *, batch: int = 5000, stop_after: int = 1
) -> ChainReport:
    """Walk every item's chain in order and recompute each hash; report the first breaks."""
    report = ChainReport()
    heads = {
        row.id: (row.code, row.event_count, row.last_event_hash)
        for row in (
            await session.execute(
                select(Item.id, Item.code, Item.event_count, Item.last_event_hash)
            )
        )
    }
    current_item: int | None = None
    expected_seq, expected_prev = 1, None
    last_key: tuple[int, int] = (-1, 0)

    def close_item(item_id: int, seq_seen: int, last_hash: str | None) -> None:
        code, count, head = heads.get(item_id, ("?", None, None))
        if count != seq_seen or head != last_hash:
            report.broken.append(
                f"item {code}: the item says {count} events ending {str(head)[:12]}, "
                f"the chain has {seq_seen} ending {str(last_hash)[:12]}"
            )

    last_hash: str | None = None
    seen: set[int] = set()
    while len(report.broken) < stop_after:
        stmt = (
            select(Event)
            .where(tuple_(Event.item_id, Event.seq) > tuple_(last_key[0], last_key[1]))
            .order_by(Event.item_id, Event.seq)
            .limit(batch)
        )
        rows = (await session.scalars(stmt)).all()
        if not rows:
            break
        for event in rows:
            if event.item_id != current_item:
                seen.add(event.item_id)
                if current_item is not None:
                    close_item(current_item, expected_seq - 1, last_hash)
                current_item = event.item_id
                report.items += 1
                expected_seq, expected_prev = 1, None
            report.events += 1
            code = heads.get(event.item_id, ("?",))[0]
            where = f"item {code}: event #{event.id} (seq {event.seq})"
            if event.seq != expected_seq:
                report.broken.append(f"{where}: expected seq {expected_seq}; events are missing")
            elif event.prev_hash != expected_prev:
                report.broken.append(f"{where} does not link to the event before it")
            elif event_hash(_fields_of(event)) != event.hash:
                report.broken.append(f"{where} was altered: its hash does not match its content")
            if report.broken and len(report.broken) >= stop_after:
                return report
            expected_seq, expected_prev, last_hash = event.seq + 1, event.hash, event.hash
            last_key = (event.item_id, event.seq)
        session.expunge_all()
    if current_item is not None and len(report.broken) < stop_after:
        close_item(current_item, expected_seq - 1, last_hash)
    for item_id, (code, count, _) in heads.items():
        if len(report.broken) >= stop_after:
            break
        if item_id not in seen:
            report.broken.append(f"item {code}: the item says {count} events, none are stored")
    return report


@dataclass(frozen=True)
class ItemChain:
    """What checking one item's chain found: how many events, and the first break if any."""

    events: int
    broken_at: int | None = None  # the position (seq) of the first event that fails
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_at is None


async def verify_item_chain(session: AsyncSession, item_id: int) -> ItemChain:
    """Recompute every hash of one item's chain from its first event; say where it breaks."""
    # The item is usually in the session already (the page loaded it): no query for it then.
    item = await session.get(Item, item_id)
    if item is None:
        return ItemChain(events=0, broken_at=1, problem="the item does not exist")
    rows = await session.execute(select(Event).where(Event.item_id == item_id).order_by(Event.seq))
    expected_prev: str | None = None
    seen = 0
    for event in rows.scalars():
        seen += 1
        if event.seq != seen:
            return ItemChain(seen - 1, seen, "it is missing")
        if event.prev_hash != expected_prev:
            return ItemChain(seen, seen, "it does not link to the event before it")
        if event_hash(_fields_of(event)) != event.hash:
            return ItemChain(seen, seen, "it was altered after it was recorded")
        expected_prev = event.hash
    if item.event_count > seen:
        return ItemChain(seen, seen + 1, "it and any later events are missing")
    if item.event_count != seen or item.last_event_hash != expected_prev:
        return ItemChain(seen, seen, "the item's record of its last event does not match it")
    return ItemChain(seen)


async def count_events(session: AsyncSession) -> int:
    """How many events exist."""
    return int(await session.scalar(select(func.count()).select_from(Event)) or 0)
