"""Migrations and models agree, on both databases, and every migration can be reverted."""

import re
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
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
