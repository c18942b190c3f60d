"""Histories to check: lots with events made through the services, and an attacker who owns
the database and switches its guards off to rewrite them."""

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from qtrack.accounts import service as accounts_service
from qtrack.accounts.principal import Principal
from qtrack.core.db import Database
from qtrack.events import service as events_service
from qtrack.events.service import Recorded
from qtrack.items import create, writes
from qtrack.items.schemas import ItemCreate
from tests.conftest import make_settings

GUARDED = ("event", "audit_checkpoint", "audit_checkpoint_head")


def seed(url: str, lots: int, events: int = 2) -> list[str]:
    """Lots with a `created` event and `events` edits each; their codes in id order."""

    async def _run() -> list[str]:
        db = Database(make_settings(url), pooled=False)
        try:
            return await seed_into(db, lots, events)
        finally:
            await db.dispose()

    return asyncio.run(_run())


async def seed_into(db: Database, lots: int, events: int = 2) -> list[str]:
    """`seed`, for a test that is already async."""
    async with db.session_scope() as session:
        user, _ = await accounts_service.create_user(
            session,
            db.settings,
            actor=None,
            username="op",
            role="admin",
            password="a long password",
        )
        actor = Principal(user=user, permissions=frozenset(user.role.permissions), via="cli")
        made = await create.register_items(
            session,
            specs=[ItemCreate(type="material", count=lots)],
            actor=actor,
            settings=db.settings,
        )
        codes = [item.code for item in made]
    for code in codes:
        await edit_in(db, code, events)
    return codes


async def edit_in(db: Database, code: str, times: int) -> None:
    """`edit`, for a test that is already async."""
    async with db.session_scope() as session:
        for n in range(times):
            await append_event(session, code, after={"n": n})


async def append_event(
    session: AsyncSession,
    code: str,
    *,
    kind: str = "edited",
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> Recorded:
    """One more event for an item through the one recording point, under the item's row lock,
    moving its chain head, as the services do (with no actor: the system)."""
    row = await writes.lock(session, code)
    (recorded,) = await events_service.record(
        session, None, [writes.entry(row, kind, after=after, reason=reason)]
    )
    await writes.move_heads(session, [recorded])
    return recorded


def edit(url: str, code: str, times: int = 1) -> None:
    """More events for one item, through the services."""

    async def _run() -> None:
        db = Database(make_settings(url), pooled=False)
        try:
            await edit_in(db, code, times)
        finally:
            await db.dispose()

    asyncio.run(_run())


def tamper(url: str, backend: str, *statements: str) -> None:
    """Do what the database forbids: switch the guards off, as only its owner could."""

    async def _run() -> None:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                for table in GUARDED:
                    if backend == "postgresql":
                        await conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
                    else:
                        for action in ("update", "delete"):
                            await conn.execute(text(f"DROP TRIGGER {table}_no_{action}"))
                for sql in statements:
                    await conn.execute(text(sql))
        finally:
            await engine.dispose()

    asyncio.run(_run())


def query(url: str, sql: str, **params: Any) -> Sequence[Any]:
    """Rows of one statement, read directly."""

    async def _run() -> Sequence[Any]:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text(sql), params)).all()
        finally:
            await engine.dispose()

    return asyncio.run(_run())


def rewind(item_id: int, to_seq: int) -> list[str]:
    """Delete an item's events after `to_seq` and move its stored head back to match: the
    tampering `audit verify` could not see before checkpoints."""
    # Integers of the test's own making, not input: S608 does not apply.
    head = f"(SELECT hash FROM event WHERE item_id = {item_id} AND seq = {to_seq})"  # noqa: S608
    return [
        f"DELETE FROM event WHERE item_id = {item_id} AND seq > {to_seq}",  # noqa: S608
        f"UPDATE item SET event_count = {to_seq}, last_event_hash = {head} "  # noqa: S608
        f"WHERE id = {item_id}",
    ]
