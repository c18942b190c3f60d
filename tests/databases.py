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
import io
import os
import shutil
import uuid
from dataclasses import dataclass
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


async def _is_superuser() -> bool:
    conn = await asyncpg.connect(_plain_dsn(POSTGRES_ADMIN_URL), timeout=5)
    try:
        return bool(
            await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        )
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


# What a test could change in a database's schema, as one digest: relations (with their
# privileges, options, persistence and partition bounds), columns, indexes, constraints and
# defaults (their definitions), sequences' parameters, triggers (enabled or not), functions,
# types and enum values, policies, rules, schemas (owner and privileges), extensions and the
# database's own settings. Two databases with the same digest have the
# same schema as far as a test can tell.
_SCHEMA_DIGEST = """
SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
  SELECT 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text || ' ' || c.relnatts
         || ' ' || coalesce(c.relacl::text, '') || ' ' || coalesce(c.reloptions::text, '')
         || ' ' || c.relpersistence::text || ' ' || c.relrowsecurity || ' ' || c.relispartition
         || ' ' || coalesce(pg_get_expr(c.relpartbound, c.oid), '')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
     AND n.nspname NOT LIKE 'pg\\_to%' AND n.nspname NOT LIKE 'pg\\_temp%'
  UNION ALL
  SELECT 'col ' || a.attrelid::regclass || '.' || a.attnum || ' ' || a.attname || ' '
         || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull || ' '
         || a.attisdropped || ' ' || a.attidentity::text || ' ' || a.attgenerated::text
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = 'public' AND a.attnum > 0
  UNION ALL
  SELECT 'trigger ' || tgrelid::regclass || '.' || tgname || ' ' || tgenabled::text
    FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL
  SELECT 'function ' || p.proname || ' ' || md5(p.prosrc)
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  UNION ALL
  SELECT 'constraint ' || conrelid::regclass || '.' || conname || ' ' || contype::text
         || ' ' || convalidated || ' ' || pg_get_constraintdef(c.oid)
    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
   WHERE n.nspname = 'public'
  UNION ALL
  SELECT 'default ' || adrelid::regclass || '.' || adnum || ' ' || pg_get_expr(adbin, adrelid)
    FROM pg_attrdef
  UNION ALL
  SELECT 'type ' || t.typname
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public'
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid) || ' ' || i.indisvalid
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
   WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'sequence ' || seqrelid::regclass || ' ' || seqtypid::regtype || ' ' || seqstart
         || ' ' || seqincrement || ' ' || seqmin || ' ' || seqmax || ' ' || seqcache
         || ' ' || seqcycle
    FROM pg_sequence
  UNION ALL
  SELECT 'enum ' || enumtypid::regtype || ' ' || enumlabel || ' ' || enumsortorder FROM pg_enum
  UNION ALL
  SELECT 'policy ' || polrelid::regclass || ' ' || polname FROM pg_policy
  UNION ALL
  SELECT 'rule ' || ev_class::regclass || ' ' || rulename FROM pg_rewrite
   WHERE rulename <> '_RETURN' AND ev_class >= 16384
  UNION ALL
  SELECT 'event trigger ' || evtname || ' ' || evtenabled::text FROM pg_event_trigger
  UNION ALL
  SELECT 'large objects ' || count(*) FROM pg_largeobject_metadata
  UNION ALL
  SELECT 'schema ' || nspname || ' ' || nspowner::regrole || ' ' || coalesce(nspacl::text, '')
    FROM pg_namespace
   WHERE nspname NOT LIKE 'pg\\_to%' AND nspname NOT LIKE 'pg\\_temp%'
  UNION ALL
  SELECT 'extension ' || extname FROM pg_extension
  UNION ALL
  SELECT 'setting ' || array_to_string(setconfig, ',') FROM pg_db_role_setting
   WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
) AS schema(x)
"""


@dataclass
class _Contents:
    """What a test database holds before any test: its schema's digest, its tables, the rows
    of those that have any (binary COPY), every sequence's position and what the planner
    knows of each relation's size."""

    digest: str
    tables: list[str]
    rows: dict[str, bytes]
    sequences: list[tuple[str, int, bool]]
    sizes: list[tuple[str, int, float, int]]


async def _contents(dsn: str) -> _Contents:
    conn = await asyncpg.connect(dsn)
    try:
        digest = await conn.fetchval(_SCHEMA_DIGEST)
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        rows = {}
        for table in tables:
            query = f'SELECT * FROM ONLY "{table}"'  # noqa: S608 (a name from the catalog)
            if await conn.fetchval(f"SELECT EXISTS ({query})"):
                out = io.BytesIO()
                await conn.copy_from_query(query, output=out, format="binary")
                rows[table] = out.getvalue()
        sequences = [
            (r["name"], r["value"], r["called"])
            for r in await conn.fetch(
                "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) AS name,"
                " coalesce(last_value, start_value) AS value, last_value IS NOT NULL AS called"
                " FROM pg_sequences WHERE schemaname = 'public'"
            )
        ]
        sizes = [
            (r["relname"], r["relpages"], r["reltuples"], r["relallvisible"])
            for r in await conn.fetch(
                "SELECT relname, relpages, reltuples, relallvisible FROM pg_class"
                " WHERE relnamespace = 'public'::regnamespace"
            )
        ]
        return _Contents(digest, tables, rows, sequences, sizes)
    finally:
        await conn.close()


async def _restore(dsn: str, contents: _Contents) -> bool:
    """Put these contents back; False when the schema is no longer theirs."""
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        # A session the test left (a pool not closed, a killed worker's) holds no lock
        # past this; the deletes wait for those still ending.
        await conn.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        if await conn.fetchval(_SCHEMA_DIGEST) != contents.digest:
            return False
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute("SET LOCAL lock_timeout = '10s'")
            # DELETE, not TRUNCATE: a test leaves a few rows, and TRUNCATE makes new
            # files for every table and index (0.4 s, as much as a clone).
            deletes = (f'DELETE FROM "{t}"' for t in contents.tables)  # noqa: S608
            await conn.execute("; ".join(deletes))
            for table, rows in contents.rows.items():
                await conn.copy_to_table(table, source=io.BytesIO(rows), format="binary")
            await conn.execute(
                "SELECT "
                + ", ".join(
                    f"setval('{sequence}', {value}, {called})"
                    for sequence, value, called in contents.sequences
                )
            )
            await conn.execute(
                "DELETE FROM pg_statistic WHERE starelid IN"
                " (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)"
            )
            await conn.executemany(
                "UPDATE pg_class SET relpages = $2, reltuples = $3, relallvisible = $4"
                " WHERE relnamespace = 'public'::regnamespace AND relname = $1",
                contents.sizes,
            )
        # The activity counters too (dead rows, rows changed since the last analyze), or
        # autovacuum would come to work on this database during a later test.
        await conn.execute("SELECT pg_stat_force_next_flush()")
        await conn.execute("SELECT pg_stat_reset()")
        return True
    finally:
        await conn.close()


class Snapshot:
    """A PostgreSQL test database as it is now, put back before each of several tests that
    share what was made in it once (the API contract pass's seeded users, tokens and item)."""

    def __init__(self, url: str) -> None:
        self.dsn = _plain_dsn(url)
        self.contents: _Contents | None = None

    async def take(self) -> None:
        self.contents = await _contents(self.dsn)

    async def restore(self) -> None:
        assert self.contents is not None, "take() first"
        if not await _restore(self.dsn, self.contents):
            raise RuntimeError("a test changed the database's schema")


REUSES = 20


class PostgresTemplates:
    """A migrated PostgreSQL database that each test gets a copy of.

    A clone (CREATE DATABASE ... TEMPLATE) costs PostgreSQL about 0.4 s of CPU, since it
    copies the catalogs too: more than most tests. So a finished test's database goes back
    to the template's contents for the next test instead: its other sessions ended, every
    table emptied with triggers off (the append-only ones refuse to delete), the template's
    rows copied back, every sequence put back where it was, the planner's statistics and
    size estimates and the activity counters as a new clone's (so autovacuum has no reason to
    visit it during a later test). A clone serves at most `REUSES` tests. A database whose
    schema a test changed (a partition, a trigger left disabled, a function...) is dropped,
    and the next test gets a new clone."""

    def __init__(self) -> None:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.prefix = f"qtrack_t_{worker}_{uuid.uuid4().hex[:6]}"
        self.template = f"{self.prefix}_tmpl"
        self.count = 0
        self.uses: dict[str, int] = {}  # how many tests each clone has served
        asyncio.run(_admin_execute(f'CREATE DATABASE "{self.template}"'))
        template_url = _with_database(POSTGRES_ADMIN_URL, self.template)
        migrate_and_bootstrap(template_url)
        self.contents = asyncio.run(_contents(_plain_dsn(template_url)))
        self.free: list[str] = []
        # Turning triggers off (session_replication_role) takes a superuser; without one,
        # every test gets a new clone.
        self.reusable = asyncio.run(_is_superuser())

    def _next_name(self) -> str:
        self.count += 1
        return f"{self.prefix}_{self.count}"

    async def clone(self) -> tuple[str, str]:
        """A database with the template's contents: a used one reset, else a new clone."""
        while self.free:
            name = self.free.pop()
            try:
                reset = await self._reset(name)
            except (OSError, asyncpg.PostgresError):
                reset = False  # e.g. a lock a test's session kept past the timeout
            if reset:
                self.uses[name] = self.uses.get(name, 1) + 1
                return name, _with_database(POSTGRES_ADMIN_URL, name)
            self.uses.pop(name, None)
            await self.drop(name)
        name = self._next_name()
        await _admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name, _with_database(POSTGRES_ADMIN_URL, name)

    async def _reset(self, name: str) -> bool:
        """Put the template's contents back; False when the schema is no longer the template's."""
        return await _restore(_plain_dsn(POSTGRES_ADMIN_URL, name), self.contents)

    async def empty(self) -> tuple[str, str]:
        name = self._next_name()
        await _admin_execute(f'CREATE DATABASE "{name}"')
        return name, _with_database(POSTGRES_ADMIN_URL, name)

    async def release(self, name: str) -> None:
        """A test is done with a clone: it is kept for the next test, or dropped after
        `REUSES` tests (the deleted rows' dead space stays small)."""
        if self.reusable and self.uses.get(name, 1) < REUSES:
            self.free.append(name)
        else:
            self.uses.pop(name, None)
            await self.drop(name)

    @staticmethod
    async def drop(name: str) -> None:
        await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        for name in [*self.free, self.template]:
            asyncio.run(self.drop(name))
