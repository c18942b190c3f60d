"""Copying a database out and in, one way per kind of database.

* SQLite: the online backup API copies every page inside one read transaction, so the copy
  is the database at one moment while the server goes on writing (WAL lets it).
* PostgreSQL: `pg_dump --format=custom` from a snapshot exported by our own REPEATABLE READ
  transaction, in which the manifest's revision and counts are read too: the manifest and
  the dump describe the same moment. `pg_restore` loads it back in one transaction.
"""

import asyncio
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from qtrack.config import Settings
from qtrack.core.errors import Conflict, QtrackError, ServiceUnavailable


class ToolMissing(ServiceUnavailable):
    code, message = "pg_tools_missing", "The PostgreSQL client tools are not installed"


class ToolFailed(QtrackError):
    code, message = "pg_tool_failed", "A PostgreSQL client tool failed"


class DatabaseNotEmpty(Conflict):
    code, message = "database_not_empty", "The database already holds data"


@dataclass(frozen=True)
class Contents:
    """What a database holds, as far as a backup or a restore cares."""

    tables: int
    revision: str | None
    items: int
    events: int

    @property
    def empty(self) -> bool:
        """No tables at all, or only what `qtrack db upgrade` makes: no items, no events."""
        return self.tables == 0 or (self.items == 0 and self.events == 0)


@dataclass(frozen=True)
class Copied:
    """A database copied to a file: what it holds and which tool made it."""

    contents: Contents
    tool: str


async def contents(conn: AsyncConnection) -> Contents:
    """Tables, schema revision, items and events, read on one connection."""
    names = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))

    async def scalar(sql: str) -> object:
        return await conn.scalar(text(sql))

    revision = (
        await scalar("SELECT version_num FROM alembic_version")
        if ("alembic_version" in names)
        else None
    )
    items = await scalar("SELECT count(*) FROM item") if "item" in names else 0
    events = await scalar("SELECT count(*) FROM event") if "event" in names else 0
    return Contents(
        len(names), None if revision is None else str(revision), int(str(items)), int(str(events))
    )


async def read_contents(settings: Settings) -> Contents:
    """What the configured database holds now."""
    engine = create_async_engine(settings.database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await contents(conn)
    finally:
        await engine.dispose()


def sqlite_path(settings: Settings) -> Path:
    """The file of the configured SQLite database."""
    name = make_url(settings.database_url).database
    if not name or name == ":memory:":
        raise ToolFailed("An in-memory SQLite database cannot be backed up or restored")
    return Path(name)


def _sqlite_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def sqlite_copy(source: Path, target: Path) -> None:
    """Copy every page of one SQLite database into another, in one step (one read
    transaction on the source: a consistent copy while others write)."""
    src = _sqlite_connect(source)
    try:
        dst = _sqlite_connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


async def sqlite_backup(settings: Settings, payload: Path) -> Copied:
    """Copy the configured SQLite database into `payload` and read what the copy holds."""
    source = sqlite_path(settings)
    if not source.is_file():
        raise ToolFailed(f"There is no SQLite database at {source}")
    await asyncio.to_thread(sqlite_copy, source, payload)
    # The copy is one self-contained file: no WAL beside it.
    copy = _sqlite_connect(payload)
    try:
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
    engine = create_async_engine(f"sqlite+aiosqlite:///{payload}", poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            found = await contents(conn)
    finally:
        await engine.dispose()
    return Copied(found, f"SQLite online backup API {sqlite3.sqlite_version}")


async def sqlite_restore(settings: Settings, payload: Path) -> None:
    """Replace every page of the configured SQLite database with the backup's."""
    await asyncio.to_thread(sqlite_copy, payload, sqlite_path(settings))


def _tool(name: str, pg_bin: Path | None) -> str:
    found = shutil.which(name, path=str(pg_bin)) if pg_bin else shutil.which(name)
    if found is None:
        where = f"in {pg_bin}" if pg_bin else "on the PATH"
        raise ToolMissing(
            f"Backing up and restoring PostgreSQL needs {name} from the PostgreSQL client "
            f"tools, of the server's major version or newer, and none was found {where}: "
            f"install them (Debian/Ubuntu: apt-get install postgresql-client) or give their "
            f"folder with --pg-bin"
        )
    return found


def _libpq_env(url: URL) -> dict[str, str]:
    """The connection as libpq's environment variables (a password never on a command
    line, where `ps` would show it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    values = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }
    ssl = url.query.get("ssl") or url.query.get("sslmode")
    if isinstance(ssl, str):
        values["PGSSLMODE"] = {"true": "require", "false": "disable"}.get(ssl, ssl)
    env.update({k: v for k, v in values.items() if v})
    return env


async def _run(exe: str, *args: str, env: dict[str, str]) -> str:
    proc = await asyncio.create_subprocess_exec(
        exe,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        said = err.decode(errors="replace").strip().splitlines()
        raise ToolFailed(f"{Path(exe).name} failed: {' / '.join(said[-3:]) or proc.returncode}")
    return out.decode(errors="replace").strip()


async def postgres_backup(settings: Settings, payload: Path, pg_bin: Path | None) -> Copied:
    """`pg_dump` the configured database into `payload` (custom format) from the snapshot in
    which the manifest's revision and counts are read."""
    exe = _tool("pg_dump", pg_bin)
    url = make_url(settings.database_url)
    env = _libpq_env(url)
    version = await _run(exe, "--version", env=env)
    engine = create_async_engine(
        settings.database_url, poolclass=NullPool, isolation_level="REPEATABLE READ"
    )
    try:
        async with engine.connect() as conn:
            snapshot = str(await conn.scalar(text("SELECT pg_export_snapshot()")))
            found = await contents(conn)
            await _run(
                exe,
                "--format=custom",
                "--no-password",
                f"--snapshot={snapshot}",
                f"--file={payload}",
                env=env,
            )
            await conn.rollback()
    finally:
        await engine.dispose()
    return Copied(found, version)


async def postgres_restore(
    settings: Settings, payload: Path, pg_bin: Path | None, *, wipe: bool
) -> None:
    """Load a dump into the configured database, in one transaction; `wipe` first drops the
    public schema and everything in it (what a refused restore must be forced to do)."""
    exe = _tool("pg_restore", pg_bin)
    url = make_url(settings.database_url)
    if wipe:
        engine = create_async_engine(settings.database_url, poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        finally:
            await engine.dispose()
    await _run(
        exe,
        "--no-password",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        f"--dbname={url.database}",
        str(payload),
        env=_libpq_env(url),
    )
