"""Test databases: a migrated template per backend, cloned for every test.

SQLite: the template is a migrated file, copied per test (a copy takes well under a ms).
PostgreSQL: the template is a migrated database, cloned with CREATE DATABASE ... TEMPLATE.

Environment:
  QTRACK_TEST_POSTGRES_URL  admin URL of a PostgreSQL server (default: local trust auth);
                            set it to "" to run on SQLite only
  QTRACK_TEST_REDIS_URL     Redis for Redis-backed tests (default: local db 15); "" for none
  QTRACK_TEST_REQUIRE       comma list of services that must be reachable ("postgres,redis"):
                            when one is not, its tests fail instead of skipping (CI sets it)
"""

import asyncio
import os
import shutil
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from qtrack import migrations
from qtrack.bootstrap import bootstrap

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"

POSTGRES_ADMIN_URL = os.environ.get("QTRACK_TEST_POSTGRES_URL", DEFAULT_PG)


def _redis_for_this_worker(url: str) -> str:
    """Parallel test workers each get their own Redis database (15, 14, ...), so that one
    worker's flush or counters never touch another's."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    if not url or not worker.startswith("gw"):
        return url
    parts = urlsplit(url)
    base = int(parts.path.lstrip("/") or 15)
    return urlunsplit(parts._replace(path=f"/{max(0, base - int(worker[2:]))}"))


REDIS_TEST_URL = _redis_for_this_worker(os.environ.get("QTRACK_TEST_REDIS_URL", DEFAULT_REDIS))
REQUIRED = {s.strip() for s in os.environ.get("QTRACK_TEST_REQUIRE", "").split(",") if s.strip()}


def migrate_and_bootstrap(url: str) -> None:
    """What `qtrack db upgrade` does to a new database, minus the first admin."""
    migrations.upgrade(url)

    async def _bootstrap() -> None:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with AsyncSession(engine) as session:
                await bootstrap(session)
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(_bootstrap())


def unavailable(service: str, why: str) -> None:
    """Skip a test whose service is missing, or fail it when the run requires the service."""
    if service in REQUIRED:
        pytest.fail(f"{service} is required (QTRACK_TEST_REQUIRE) but {why}", pytrace=False)
    pytest.skip(f"{service} not available: {why}")


def _plain_dsn(url: str, database: str | None = None) -> str:
    """An asyncpg DSN from a SQLAlchemy URL, optionally for another database."""
    u = make_url(url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def _admin_execute(sql: str) -> None:
    conn = await asyncpg.connect(_plain_dsn(POSTGRES_ADMIN_URL), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used for tests, or None when it can."""
    if not POSTGRES_ADMIN_URL:
        return "QTRACK_TEST_POSTGRES_URL is empty"
    try:
        asyncio.run(_admin_execute("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"cannot reach {make_url(POSTGRES_ADMIN_URL)!r}: {exc}"
    return None


class SqliteTemplates:
    """A migrated SQLite file that each test copies."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.template = root / "template.db"
        migrate_and_bootstrap(f"sqlite+aiosqlite:///{self.template}")

    def clone(self, target_dir: Path) -> str:
        path = target_dir / "qtrack.db"
        shutil.copyfile(self.template, path)
        return f"sqlite+aiosqlite:///{path}"

    @staticmethod
    def empty(target_dir: Path) -> str:
        return f"sqlite+aiosqlite:///{target_dir / 'empty.db'}"


class PostgresTemplates:
    """A migrated PostgreSQL database that each test clones."""

    def __init__(self) -> None:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.prefix = f"qtrack_t_{worker}_{uuid.uuid4().hex[:6]}"
        self.template = f"{self.prefix}_tmpl"
        self.count = 0
        asyncio.run(_admin_execute(f'CREATE DATABASE "{self.template}"'))
        migrate_and_bootstrap(_with_database(POSTGRES_ADMIN_URL, self.template))

    def _next_name(self) -> str:
        self.count += 1
        return f"{self.prefix}_{self.count}"

    async def clone(self) -> tuple[str, str]:
        name = self._next_name()
        await _admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name, _with_database(POSTGRES_ADMIN_URL, name)

    async def empty(self) -> tuple[str, str]:
        name = self._next_name()
        await _admin_execute(f'CREATE DATABASE "{name}"')
        return name, _with_database(POSTGRES_ADMIN_URL, name)

    @staticmethod
    async def drop(name: str) -> None:
        await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        asyncio.run(self.drop(self.template))
