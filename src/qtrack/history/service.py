"""Histories as clients read them: one item's events, every event in order, recent ones."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.events.models import Event
from qtrack.events.schemas import EventRead
from qtrack.history.repository import event_rows, to_event_read


async def item_history(
    session: AsyncSession, item_id: int, *, before_seq: int | None = None, limit: int
) -> list[EventRead]:
    """An item's events, newest first, as read models (a container's include what was packed
    into it and taken out: its content_added and content_removed events)."""
    stmt = event_rows().where(Event.item_id == item_id).order_by(Event.seq.desc()).limit(limit)
    if before_seq is not None:
        stmt = stmt.where(Event.seq < before_seq)
    return [to_event_read(r) for r in (await session.execute(stmt)).all()]


async def feed(session: AsyncSession, *, after_id: int | None, limit: int) -> list[EventRead]:
    """Every item's events in the order they were recorded, as read models."""
    stmt = event_rows().order_by(Event.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(Event.id > after_id)
    return [to_event_read(r) for r in (await session.execute(stmt)).all()]


async def recent(session: AsyncSession, *, limit: int) -> list[EventRead]:
    """The latest events of any item, newest first."""
    stmt = event_rows().order_by(Event.id.desc()).limit(limit)
    return [to_event_read(r) for r in (await session.execute(stmt)).all()]


async def read_events(session: AsyncSession, ids: Sequence[int]) -> list[EventRead]:
    """Read models of events by id, in the order given."""
    rows = (await session.execute(event_rows().where(Event.id.in_(ids)))).all()
    by_id = {row[0].id: to_event_read(row) for row in rows}
    return [by_id[i] for i in ids]


async def count_events(session: AsyncSession) -> int:
    """How many events exist."""
    return int(await session.scalar(select(func.count()).select_from(Event)) or 0)
