"""Migrations and models agree, on both databases, and every migration can be reverted."""

import json
import re
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from qtrack import migrations
from qtrack.models import metadata


def _diff(conn: Connection) -> list[Any]:
    opts = {"compare_type": True, "include_object": migrations.include_object}
    context = MigrationContext.configure(conn, opts=opts)
    return list(compare_metadata(context, metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_upgrade_head_gives_exactly_the_models(database_url: str) -> None:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_every_migration_upgrades_and_downgrades(empty_database_url: str) -> None:
    revisions = migrations.revisions()
    assert revisions, "there must be at least one migration"
    engine = create_async_engine(empty_database_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            previous = "base"
            for revision in revisions:
                await conn.run_sync(migrations.upgrade_on, revision)
                await conn.run_sync(migrations.downgrade_on, previous)
                await conn.run_sync(migrations.upgrade_on, revision)
                previous = revision
            assert await conn.run_sync(_diff) == []
            await conn.run_sync(migrations.downgrade_on, "base")
            assert await conn.run_sync(_tables) <= {"alembic_version"}
    finally:
        await engine.dispose()


def test_migration_files_are_dated_and_slugged() -> None:
    names = sorted(p.name for p in (migrations.MIGRATIONS_DIR / "versions").glob("*.py"))
    assert names
    for name in names:
        date, time, *_rest = name.split("_")
        assert re.fullmatch(r"\d{8}", date), name
        assert re.fullmatch(r"\d{4}", time), name


def _bag_states(conn: Connection) -> dict[str, Any]:
    stored = conn.execute(text("SELECT definition FROM workflow WHERE key = 'bag'")).scalar_one()
    # Read as plain text, not through the model: JSON comes back as text or as a dict.
    definition: dict[str, Any] = json.loads(stored) if isinstance(stored, str) else stored
    return {s["key"]: s.get("closed") for s in definition["states"]}


async def test_0009_closes_the_shipped_bag_states_and_gives_them_back(database_url: str) -> None:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(migrations.downgrade_on, "0006")
            # What a database made before the flag has: no "closed" anywhere.
            assert await conn.run_sync(_bag_states) == dict.fromkeys(
                ("open", "sealed", "dispatched", "delivered")
            )
            await conn.run_sync(migrations.upgrade_on, "head")
            assert await conn.run_sync(_bag_states) == {
                "open": None,
                "sealed": True,
                "dispatched": True,
                "delivered": True,
            }
    finally:
        await engine.dispose()
