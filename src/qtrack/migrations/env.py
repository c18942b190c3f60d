"""Alembic environment: runs migrations over the async engine, in batch mode for SQLite.

A run is one transaction on both databases (on SQLite too: `core.db.sqlite_transactions`), so
a migration that fails leaves the database as it was before the command, not half-changed."""

import asyncio
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from qtrack.config import get_settings
from qtrack.core.db import sqlite_transactions
from qtrack.core.orm import UTCDateTime
from qtrack.migrations import include_object
from qtrack.models import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().database_url


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write our column types as plain SQLAlchemy types so migrations never import qtrack."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection | None = None) -> None:
    context.configure(
        connection=connection,
        url=None if connection is not None else url,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite can only ALTER by copying the table
        # Alembic takes SQLite's DDL for outside transactions, as pysqlite runs it; the
        # engine's own BEGIN puts it inside one.
        transactional_ddl=True,
        compare_type=True,
        render_item=render_item,
        include_object=include_object,
        literal_binds=connection is None,
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        sqlite_transactions(engine)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure()
    with context.begin_transaction():
        context.run_migrations()
elif (conn := config.attributes.get("connection")) is not None:
    _run(conn)
else:
    asyncio.run(_run_online())
