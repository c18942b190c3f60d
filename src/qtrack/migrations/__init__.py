"""Alembic migrations, and helpers to run them from the CLI and the tests."""

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

MIGRATIONS_DIR = Path(__file__).resolve().parent
# Dated and slugged, so the folder reads in order: 20261122_1400_<rev>_foundation.py
FILE_TEMPLATE = "%%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s"


# The event table's monthly partitions (attached, or detached and kept for archive) and its
# default partition: PostgreSQL tables that no model maps (migration 0019).
_EVENT_PARTITION = re.compile(r"event_(y\d{4}m\d{2}|default)")


def is_event_partition(name: str) -> bool:
    """Whether a table is one of the event table's partitions."""
    return _EVENT_PARTITION.fullmatch(name) is not None


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """What autogenerate compares: everything but the PostgreSQL-only trigram indexes, which
    migrations create by hand and the models cannot express for SQLite, and the event table's
    (item_id, seq) key, which on PostgreSQL is one unique index per monthly partition (a
    partitioned table's unique keys must hold the partition key; migration 0019)."""
    if type_ == "index" and reflected and compare_to is None and (name or "").endswith("_trgm"):
        return False
    if type_ == "table" and reflected and compare_to is None and is_event_partition(name or ""):
        return False
    return not (
        type_ == "unique_constraint"
        and not reflected
        and compare_to is None
        and name == "uq_event_item_id_seq"
    )


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at this package's scripts and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("file_template", FILE_TEMPLATE)
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.set_main_option("timezone", "UTC")
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    with _named(revision):
        command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Revert migrations down to `revision`."""
    with _named(revision):
        command.downgrade(alembic_config(database_url), revision)


@contextmanager
def _named(revision: str) -> Iterator[None]:
    """Alembic answers some revisions it cannot resolve ('', 'head+5') with a bare
    AssertionError instead of its CommandError: said as the others are."""
    try:
        yield
    except AssertionError as exc:
        detail = f": {exc}" if str(exc) else ""
        raise CommandError(f"Can't resolve the revision {revision!r}{detail}") from exc


def head_revision() -> str | None:
    """The newest revision shipped with this version of qtrack."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(database_url: str) -> str | None:
    """The revision the database is at, None for an empty database."""

    async def _read() -> str | None:
        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda c: MigrationContext.configure(c).get_current_revision()
                )
        finally:
            await engine.dispose()

    return asyncio.run(_read())


def upgrade_on(connection: Connection, revision: str = "head") -> None:
    """Apply migrations over an open synchronous connection (from `AsyncConnection.run_sync`)."""
    cfg = alembic_config(connection.engine.url.render_as_string(hide_password=False))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def downgrade_on(connection: Connection, revision: str) -> None:
    """Revert migrations over an open synchronous connection."""
    cfg = alembic_config(connection.engine.url.render_as_string(hide_password=False))
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


def revisions() -> list[str]:
    """Every shipped revision, oldest first."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]
