"""The change feed: every committed change once, in an order a cursor can follow, never a
rolled-back one, and never skipping one that commits late (overlapping transactions)."""

import asyncio
import base64
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.core.db import Database
from qtrack.core.errors import QtrackError
from qtrack.events import feed
from qtrack.events.models import Event
from qtrack.items.models import Item
from tests.audit.history import append_event
from tests.factories.accounts import AppLogin


async def _new_item(client: httpx.AsyncClient, who: AppLogin) -> int:
    response = await client.post("/api/v1/items", json={"type": "material"}, headers=who.headers)
    assert response.status_code == 201, response.text
    return int(response.json()["items"][0]["id"])


async def record(session: AsyncSession, item_id: int, reason: str) -> int:
    """Record one event for the item through the scan path's recording point, holding the
    item's row lock and moving its chain head, as the services do."""
    code = await session.scalar(select(Item.code).where(Item.id == item_id))
    assert code is not None
    recorded = await append_event(session, code, kind="observed", reason=reason)
    return recorded.id


async def read_all(
    db: Database, cursor: str | None = None, *, limit: int = 2
) -> tuple[list[feed.Change], str]:
    """Follow the feed page by page from `cursor` to its end."""
    seen: list[feed.Change] = []
    async with db.session_scope("read") as session:
        while True:
            page = await feed.read_changes(session, cursor, limit)
            seen.extend(page.changes)
            assert page.next_cursor, "a page always says where to read on"
            cursor = page.next_cursor
            if not page.has_more:
                return seen, cursor


async def wait_for_changes(
    db: Database, cursor: str | None, count: int, *, seconds: float = 60.0
) -> tuple[list[feed.Change], str]:
    """The changes after `cursor` once there are `count` of them, and the cursor after them.
    On PostgreSQL a change is readable once every transaction that began writing before it
    has ended, anywhere in the cluster (other test databases share it), so this may wait:
    a minute, for another test's migration in one long transaction on a busy machine."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        changes, end = await read_all(db, cursor, limit=100)
        if len(changes) >= count or loop.time() > deadline:
            return changes, end
        await asyncio.sleep(0.05)


async def test_a_cursor_follows_every_change_once_in_order(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    items = [await _new_item(client, admin) for _ in range(3)]
    async with db.session_scope() as session:
        await record(session, items[0], "second event of the first item")
    async with db.session_scope("read") as session:
        stored = list((await session.scalars(select(Event.id).order_by(Event.id))).all())
    await wait_for_changes(db, None, len(stored))
    changes, end = await read_all(db, limit=2)
    assert [c.event_id for c in changes] == stored  # one writer after another: id order
    assert len({c.position for c in changes}) == len(changes)
    assert [(c.item_id, c.kind) for c in changes][-1] == (items[0], "observed")
    # Reading on from the end gives nothing, and the same cursor back.
    async with db.session_scope("read") as session:
        page = await feed.read_changes(session, end, 10)
        assert (page.changes, page.next_cursor, page.has_more) == ([], end, False)
        assert await feed.latest_cursor(session) == end
    async with db.session_scope() as session:
        newer = await record(session, items[1], "after the end")
    more, _ = await wait_for_changes(db, end, 1)
    assert [c.event_id for c in more] == [newer]


async def test_a_rolled_back_change_never_appears(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    item = await _new_item(client, admin)
    _, start = await wait_for_changes(db, None, 1)

    class Refused(Exception):
        pass

    async def rolled_back() -> None:
        async with db.session_scope() as session:
            await record(session, item, "rolled back")
            raise Refused

    with pytest.raises(Refused):
        await rolled_back()
    async with db.session_scope() as session:
        kept = await record(session, item, "kept")
    changes, _ = await wait_for_changes(db, start, 1)
    assert [(c.event_id, c.reason) for c in changes] == [(kept, "kept")]


async def test_an_uncommitted_change_is_not_read_until_it_commits(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    item = await _new_item(client, admin)
    _, start = await wait_for_changes(db, None, 1)
    async with db.sessionmaker("write")() as writer:
        event_id = await record(writer, item, "in flight")
        assert (await read_all(db, start))[0] == []
        await writer.commit()
    changes, _ = await wait_for_changes(db, start, 1)
    assert [c.event_id for c in changes] == [event_id]


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "!!!",
        base64.urlsafe_b64encode(b"[1]").decode(),
        base64.urlsafe_b64encode(b'["a",1]').decode(),
        base64.urlsafe_b64encode(b"[-1,1]").decode(),
        base64.urlsafe_b64encode(b"[1,-1]").decode(),
        base64.urlsafe_b64encode(b"[true,1]").decode(),
        base64.urlsafe_b64encode(b'{"txid":1}').decode(),
    ],
)
async def test_a_malformed_cursor_is_400_invalid_cursor(db: Database, cursor: str) -> None:
    async with db.session_scope("read") as session:
        with pytest.raises(QtrackError) as refused:
            await feed.read_changes(session, cursor, 10)
    assert (refused.value.status_code, refused.value.code) == (400, "invalid_cursor")


@pytest.fixture
async def three_items(client: httpx.AsyncClient, admin: AppLogin) -> list[int]:
    return [await _new_item(client, admin) for _ in range(3)]


@pytest.fixture
async def two_writers(db: Database) -> AsyncIterator[tuple[AsyncSession, AsyncSession]]:
    async with db.sessionmaker("write")() as first, db.sessionmaker("write")() as second:
        yield first, second


@pytest.mark.postgres_only
async def test_a_lower_id_that_commits_later_is_held_back_not_skipped(
    db: Database, three_items: list[int], two_writers: tuple[AsyncSession, AsyncSession]
) -> None:
    """T1 records first (the lower id), T2 records and commits while T1 is still open. A
    reader between the two commits must not read past T1's position; once T1 commits, the
    same cursor reads T1's change and T2's, each once."""
    _, start = await wait_for_changes(db, None, 3)
    t1, t2 = two_writers
    first = await record(t1, three_items[0], "T1: lower id, commits last")
    second = await record(t2, three_items[1], "T2: higher id, commits first")
    assert first < second
    await t2.commit()
    await asyncio.sleep(0.2)
    between, cursor = await read_all(db, start)
    assert second not in [c.event_id for c in between], "T2 shown before T1 could be"
    await t1.commit()
    after, _ = await wait_for_changes(db, cursor, 2 - len(between))
    assert [c.event_id for c in between + after] == [first, second]


@pytest.mark.postgres_only
async def test_a_transaction_that_wrote_first_comes_first_whatever_its_event_id(
    db: Database, three_items: list[int], two_writers: tuple[AsyncSession, AsyncSession]
) -> None:
    """T1 starts writing first (it holds the older transaction id) but records its event
    after T2 did (the higher event id). The feed orders by transaction, so T1's event comes
    first, and T2's is not read before T1 has ended."""
    _, start = await wait_for_changes(db, None, 3)
    t1, t2 = two_writers
    await t1.execute(text("SELECT pg_current_xact_id()"))  # T1 takes its id now
    second = await record(t2, three_items[1], "T2: lower event id, younger transaction")
    first = await record(t1, three_items[0], "T1: higher event id, older transaction")
    assert second < first
    await t2.commit()
    await asyncio.sleep(0.2)
    between, cursor = await read_all(db, start)
    assert between == []
    await t1.commit()
    after, _ = await wait_for_changes(db, cursor, 2 - len(between))
    assert [c.event_id for c in after] == [first, second]


@pytest.mark.postgres_only
async def test_overlapping_writers_with_a_rollback_read_each_commit_once(
    db: Database, three_items: list[int]
) -> None:
    """Three overlapping transactions: the last to record commits first, then the first, and
    the middle one rolls back; a reader polls after each step. It ends with each committed
    change exactly once, and never the rolled-back one."""
    _, cursor = await wait_for_changes(db, None, 3)
    sessions = [db.sessionmaker("write")() for _ in range(3)]
    seen: list[feed.Change] = []
    try:
        recorded = [
            await record(session, item, f"writer {n}")
            for n, (session, item) in enumerate(zip(sessions, three_items, strict=True))
        ]
        for step in (sessions[2].commit, sessions[0].commit, sessions[1].rollback):
            await step()
            page, cursor = await read_all(db, cursor)
            seen.extend(page)
        seen.extend((await wait_for_changes(db, cursor, 2 - len(seen)))[0])
    finally:
        for session in sessions:
            await session.close()
    assert [c.event_id for c in seen] == [recorded[0], recorded[2]]


async def test_counting_events_sees_the_same_rows_as_the_feed(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    for _ in range(4):
        await _new_item(client, admin)
    changes, _ = await wait_for_changes(db, None, 4)
    async with db.session_scope("read") as session:
        assert len(changes) == await session.scalar(select(func.count()).select_from(Event))
