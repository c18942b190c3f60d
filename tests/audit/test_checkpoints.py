"""Making checkpoints: the heads at a cutoff, writes in flight, checkpoints made at once."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from qtrack.audit import heads
from qtrack.audit import service as audit_service
from qtrack.audit.models import Checkpoint
from qtrack.core.db import Database
from qtrack.core.state import AppState
from qtrack.history import service as history_service
from qtrack.jobs import registry
from qtrack.jobs import service as jobs_service
from qtrack.jobs.runner import Runner
from tests.audit.history import append_event, edit_in, seed_into
from tests.conftest import make_settings


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(make_settings(database_url), pooled=False)
    yield database
    await database.dispose()


async def _checkpoint(db: Database) -> Checkpoint:
    async with db.session_scope() as session:
        return await audit_service.create_checkpoint(session, db.settings)


async def test_heads_from_the_items_agree_with_heads_from_the_events(db: Database) -> None:
    codes = await seed_into(db, lots=3, events=1)
    await edit_in(db, codes[0], 2)
    await edit_in(db, codes[2], 1)
    async with db.session_scope() as session:  # settling takes a lock: a transaction
        last = await heads.settled_last_event_id(session)
        assert last == 9
        # At every cutoff, the item rows corrected for later events give what the events
        # alone say: the two ways the checkpoint and its verification read the past.
        for cutoff in range(last + 1):
            from_items, _ = await heads.heads_at(session, cutoff, after_item=0, limit=100)
            from_events = await heads.recomputed_heads(session, cutoff, after_item=0, limit=100)
            assert from_items == from_events, cutoff
        at_4, _ = await heads.heads_at(session, 4, after_item=0, limit=100)
    assert [(h.item_id, h.seq) for h in at_4] == [(1, 2), (2, 1), (3, 1)]


async def test_only_moved_heads_are_recorded_again(db: Database) -> None:
    codes = await seed_into(db, lots=3)
    first = await _checkpoint(db)
    second = await _checkpoint(db)
    await edit_in(db, codes[1], 1)
    third = await _checkpoint(db)
    assert [(c.id, c.events, c.items, c.changed) for c in (first, second, third)] == [
        (1, 9, 3, 3),
        (2, 9, 3, 0),
        (3, 10, 3, 1),
    ]
    assert second.heads_digest == first.heads_digest != third.heads_digest
    assert (second.prev_hash, third.prev_hash) == (first.hash, second.hash)
    async with db.session_scope("read") as session:
        rows = await audit_service.recorded_heads(session, 3, after_item=0, limit=10)
    assert [(h.item_id, h.seq) for h in rows] == [(2, 4)]


@pytest.mark.postgres_only
async def test_two_checkpoints_at_once_chain_one_after_the_other(db: Database) -> None:
    await seed_into(db, lots=2)
    made = await asyncio.gather(_checkpoint(db), _checkpoint(db))
    first, second = sorted(made, key=lambda c: c.id)
    assert (first.id, second.id, second.prev_hash) == (1, 2, first.hash)


@pytest.mark.postgres_only
async def test_a_checkpoint_waits_for_events_in_flight(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(heads, "SETTLE_TIMEOUT_MS", 20_000)  # a busy test machine is slow
    codes = await seed_into(db, lots=2)
    async with db.session_scope() as writer:
        await append_event(writer, codes[0], after={"late": 1})
        await writer.flush()  # the event has its id, but is not committed
        making = asyncio.create_task(_checkpoint(db))
        await asyncio.sleep(0.5)
        assert not making.done()
    checkpoint = await asyncio.wait_for(making, 10)
    # Counted, not skipped: a lower id committing after the checkpoint would have been lost.
    assert (checkpoint.events, checkpoint.last_event_id) == (7, 7)


@pytest.mark.postgres_only
async def test_a_checkpoint_gives_up_on_a_write_that_stays_open(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(heads, "SETTLE_TIMEOUT_MS", 200)
    codes = await seed_into(db, lots=1)
    async with db.session_scope() as writer:
        await append_event(writer, codes[0], after={"late": 1})
        await writer.flush()
        with pytest.raises(heads.HistoryBusy) as refused:
            await _checkpoint(db)
        assert (refused.value.status_code, refused.value.code) == (503, "history_busy")
    async with db.session_scope("read") as session:
        assert await audit_service.latest(session) is None
        assert await history_service.count_events(session) == 4


async def test_the_hourly_job_signs_a_checkpoint(app: FastAPI) -> None:
    state: AppState = app.state.qtrack
    await seed_into(state.db, lots=2)
    assert "audit.checkpoint" in {s.name for s in registry.schedules()}
    runner = Runner(state, kind="worker", concurrency=1)
    async with state.db.session_scope() as session:
        await jobs_service.enqueue(session, "audit.checkpoint")
    assert await runner.run_until_idle() >= 1
    async with state.db.session_scope("read") as session:
        latest = await audit_service.latest(session)
    assert latest is not None
    assert (latest.events, latest.items) == (6, 2)
