"""`record(..., along=...)`: statements run with one event (its item's head, its counts) write
what they would write one after another, on PostgreSQL as one statement with the INSERT."""

import pytest
from sqlalchemy import bindparam, select, text, update
from sqlalchemy.exc import IntegrityError

from qtrack.accounts.principal import Principal
from qtrack.core.db import Database
from qtrack.events import service as events_service
from qtrack.events.models import Event
from qtrack.events.service import Entry
from qtrack.items import counts, create, statements
from qtrack.items.models import Item
from qtrack.items.schemas import ItemCreate
from tests.factories.accounts import create_user


async def _status_counts(db: Database, type_id: int) -> dict[str, int]:
    async with db.session_scope("read") as session:
        rows = await session.execute(
            text("SELECT status, sum(count) FROM status_count WHERE type_id = :t GROUP BY status"),
            {"t": type_id},
        )
        return {status: int(n) for status, n in rows}


async def test_the_event_the_head_and_the_counts_in_one_go(db: Database) -> None:
    user = await create_user(db, "along", "admin")
    actor = Principal(user=user, permissions=frozenset(), via="cli")
    async with db.session_scope() as session:
        (item,) = await create.register_items(
            session, specs=[ItemCreate(type="material")], actor=actor, settings=db.settings
        )
    async with db.session_scope("read") as session:
        registered = await session.get(Item, item.id)
        assert registered is not None
        type_id, status, shard = registered.type_id, registered.status, counts.shard_of(item.id)
    before_counts = await _status_counts(db, type_id)
    seen: list[events_service.Recorded] = []

    def along(recorded: events_service.Recorded) -> list[events_service.Along]:
        seen.append(recorded)
        change = counts.status_change(session, type_id, status, "quarantine", shard=shard)
        assert change is not None
        return [
            (
                statements.SET_STATUS,
                {
                    "item_id": recorded.item_id,
                    "new_status": "quarantine",
                    "new_version": 2,
                    "new_event_count": recorded.seq,
                    "new_last_event_hash": recorded.hash,
                    "new_updated_at": recorded.recorded_at,
                },
            ),
            change,
        ]

    async with db.session_scope() as session:
        entry = Entry(
            item_id=item.id,
            head=(1, item.event.hash),
            location_id=None,
            kind="status_changed",
            before={"status": status},
            after={"status": "quarantine"},
        )
        (recorded,) = await events_service.record(session, actor, [entry], along=along)

    assert [(r.seq, r.hash) for r in seen] == [(recorded.seq, recorded.hash)]
    async with db.session_scope("read") as session:
        event = await session.get(Event, recorded.id)
        stored = await session.get(Item, item.id)
    assert event is not None
    assert stored is not None
    assert (event.item_id, event.seq, event.hash, event.prev_hash) == (
        item.id,
        2,
        recorded.hash,
        item.event.hash,
    )
    assert (stored.status, stored.version, stored.event_count, stored.last_event_hash) == (
        "quarantine",
        2,
        2,
        recorded.hash,
    )
    after_counts = await _status_counts(db, type_id)
    assert after_counts.get(status, 0) == before_counts.get(status, 0) - 1
    assert after_counts.get("quarantine", 0) == before_counts.get("quarantine", 0) + 1


async def test_a_failing_statement_along_writes_no_event(db: Database) -> None:
    user = await create_user(db, "along2", "admin")
    actor = Principal(user=user, permissions=frozenset(), via="cli")
    async with db.session_scope() as session:
        (item,) = await create.register_items(
            session, specs=[ItemCreate(type="material")], actor=actor, settings=db.settings
        )
    # A state that is no value (the column is NOT NULL): the item's UPDATE fails, and with it
    # the whole change.
    broken = (
        update(Item).where(Item.id == bindparam("item_id")).values(status=bindparam("new_status"))
    )
    entry = Entry(item_id=item.id, head=(1, item.event.hash), location_id=None, kind="edited")
    with pytest.raises(IntegrityError):
        async with db.session_scope() as session:
            await events_service.record(
                session,
                actor,
                [entry],
                along=lambda r: [(broken, {"item_id": r.item_id, "new_status": None})],
            )
    async with db.session_scope("read") as session:
        events = (await session.scalars(select(Event.seq).where(Event.item_id == item.id))).all()
    assert list(events) == [1]


async def test_along_takes_one_event(db: Database) -> None:
    user = await create_user(db, "along3", "admin")
    actor = Principal(user=user, permissions=frozenset(), via="cli")
    entry = Entry(item_id=1, head=(0, None), location_id=None, kind="edited")
    async with db.session_scope() as session:
        with pytest.raises(ValueError, match="one event"):
            await events_service.record(session, actor, [entry, entry], along=lambda r: [])
