"""Proving the chains are intact: every hash recomputed, every link and every head checked."""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.events import partitions
from qtrack.events.chain import canonical_fields, event_hash
from qtrack.events.models import Event
from qtrack.items.models import Item


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
    # Items whose first events were archived (a detached partition): their chains go on from
    # where the archive summary says they ended.
    archived = await partitions.archived_chains(session)
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
                start = archived.get(event.item_id, _UNARCHIVED)
                expected_seq, expected_prev = start.next_seq, start.last_hash
                if start.problem is not None:
                    report.broken.append(
                        f"item {heads.get(event.item_id, ('?',))[0]}: {start.problem}"
                    )
            report.events += 1
            code = heads.get(event.item_id, ("?",))[0]
            where = f"item {code}: event #{event.id} (seq {event.seq})"
            if report.broken and len(report.broken) >= stop_after:
                return report
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
        if item_id in seen:
            continue
        if item_id in archived:  # every event it has is archived
            chain = archived[item_id]
            if chain.problem is not None:
                report.broken.append(f"item {code}: {chain.problem}")
            else:
                close_item(item_id, chain.next_seq - 1, chain.last_hash)
            continue
        report.broken.append(f"item {code}: the item says {count} events, none are stored")
    return report


_UNARCHIVED = partitions.ArchivedChain(1, None)


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
    events = list(rows.scalars())
    archived = _UNARCHIVED
    if (events[0].seq if events else item.event_count + 1) != 1:
        # Its first events may be in a detached partition: the archive summary says where
        # they ended (asked only then, so a plain chain costs one query).
        found = await partitions.archived_chains(session, [item_id])
        archived = found.get(item_id, _UNARCHIVED)
        if archived.problem is not None:
            return ItemChain(archived.next_seq - 1, archived.next_seq, archived.problem)
    expected_prev: str | None = archived.last_hash
    seen = archived.next_seq - 1
    for event in events:
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
