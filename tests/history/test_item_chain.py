"""The item page checks the item's whole event chain and says so: intact, or where it breaks."""

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.history import verify
from qtrack.items.models import Item
from tests.factories.accounts import AppLogin, create_user, login, web_login
from tests.factories.items import register


async def _lot_with_three_events(client: httpx.AsyncClient, who: AppLogin) -> str:
    """A material lot: created, quarantined, under test (events 1, 2, 3)."""
    code = str((await register(client, who))["code"])
    for step in ("quarantine", "start_test"):
        done = await client.post(
            f"/api/v1/items/{code}/transitions", json={"transition": step}, headers=who.headers
        )
        assert done.status_code == 200, done.text
    return code


async def _tamper(settings: Settings, backend: str, sql: str, code: str) -> None:
    """Do what the database forbids: switch the append-only guard off, as only its owner
    could, then change the history behind qtrack's back."""
    engine = create_async_engine(settings.database_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            if backend == "postgresql":
                await conn.execute(text("ALTER TABLE event DISABLE TRIGGER USER"))
            else:
                await conn.execute(text("DROP TRIGGER event_no_update"))
                await conn.execute(text("DROP TRIGGER event_no_delete"))
            item_id = (await conn.execute(select(Item.id).where(Item.code == code))).scalar_one()
            await conn.execute(text(sql), {"item": item_id})
    finally:
        await engine.dispose()


def _mark(html: str) -> str:
    found = re.search(r'id="chain-mark"[^>]*>(.*?)</(?:p|div)>', html, re.S)
    assert found, "the history carries a chain mark"
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


async def test_a_normal_item_shows_an_intact_chain(client: httpx.AsyncClient, db: Database) -> None:
    await create_user(db, "op", "operator")
    code = await _lot_with_three_events(client, await login(client, "op"))
    await web_login(client, "op")
    page = await client.get(f"/items/{code}")
    assert page.status_code == 200
    assert 'data-chain="intact"' in page.text
    assert _mark(page.text) == "✓ Chain verified: 3 events, intact"
    assert "chain-break" not in page.text


@pytest.mark.parametrize(
    ("sql", "broken_at", "problem"),
    [
        (
            "UPDATE event SET reason = 'nothing happened' WHERE item_id = :item AND seq = 2",
            2,
            "it was altered after it was recorded",
        ),
        (
            "UPDATE event SET prev_hash = NULL WHERE item_id = :item AND seq = 3",
            3,
            "it does not link to the event before it",
        ),
        ("DELETE FROM event WHERE item_id = :item AND seq = 2", 2, "it is missing"),
        ("DELETE FROM event WHERE item_id = :item AND seq = 3", 3, "it and any later events"),
    ],
)
async def test_a_tampered_chain_is_shown_broken_where_it_breaks(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    backend: str,
    sql: str,
    broken_at: int,
    problem: str,
) -> None:
    await create_user(db, "op", "operator")
    code = await _lot_with_three_events(client, await login(client, "op"))
    await _tamper(settings, backend, sql, code)
    await web_login(client, "op")
    page = await client.get(f"/items/{code}")
    assert page.status_code == 200
    assert 'data-chain="broken"' in page.text
    assert 'role="alert"' in page.text
    mark = _mark(page.text)
    assert mark.startswith(f"✗ Chain broken at event #{broken_at}:"), mark
    assert problem in mark
    assert "intact" not in page.text
    if "UPDATE" in sql:  # the event is still there: the timeline marks it
        assert f'data-event-seq="{broken_at}" class="chain-break"' in page.text


async def test_verifying_one_item_reads_its_events_in_one_query(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "op", "operator")
    code = await _lot_with_three_events(client, await login(client, "op"))
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with db.session_scope("read") as session:
            item_id = (await session.execute(select(Item.id).where(Item.code == code))).scalar()
            assert item_id is not None
            statements.clear()
            chain = await verify.verify_item_chain(session, item_id)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert chain.intact
    assert chain.events == 3
    assert len([s for s in statements if "FROM event" in s]) == 1
    assert len(statements) <= 2  # the item's chain head, and its events
