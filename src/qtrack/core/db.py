"""The database: async engine, sessions, and the transaction rules.

* SQLite runs in WAL mode with foreign keys on and a busy timeout. pysqlite's own transaction
  handling is switched off so that we can say `BEGIN IMMEDIATE` for writing sessions: a
  deferred transaction that later tries to write fails with "database is locked" instead of
  waiting its turn.
* PostgreSQL uses asyncpg with a pool sized from settings.
* A read replica (QTRACK_DATABASE_REPLICA_URL) serves read-only requests once their
  principal is known, except to whoever has just written (core/replica.py).
* Services flush, never commit. The request dependency (`qtrack.core.deps.SessionDep`) and
  `session_scope()` commit once, before the response or command finishes.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

import orjson
import structlog
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, ExecutionContext
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.util import await_only

from qtrack.config import Settings
from qtrack.core import readlane, replica
from qtrack.core.errors import DatabaseUnavailable

log = structlog.get_logger("qtrack.db")

Mode = Literal["read", "write"]
# How long reads stay on the primary after the replica could not be reached.
REPLICA_RETRY_S = 30.0
# A standby's replay lag; an idle primary sends nothing, so "all received WAL replayed" is 0
# however old the last replayed commit is.
_REPLAY_LAG = """
SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END
"""
_BEGIN_OPTION = "qtrack_sqlite_begin"
# A pooled PostgreSQL connection is closed and opened again after this long (so is a lookup
# connection, core/readlane.py).
POOL_RECYCLE_S = 1800


def _sqlite_pragmas(dbapi_conn: Any, busy_timeout_ms: int) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def json_text(value: Any) -> str:
    """A JSON column's value as the text sent to the database: written by orjson, as the
    answers are, where SQLAlchemy's default is the standard library's encoder, set up anew
    for every value (a transition writes two, its event's before and after: about 27,000
    instructions of its 1,460,000; docs/benchmarks.md, issue 15, eleventh pass). Keys that
    are not strings are written as strings, as that encoder writes them; the values are the
    same, and only their spelling differs (no spaces, UTF-8 rather than \\u escapes)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def create_engine(
    settings: Settings, *, pooled: bool = True, url: str | None = None
) -> AsyncEngine:
    """Build the async engine for the configured database (or for `url`, the replica)."""
    url = url or settings.database_url
    if settings.is_sqlite:
        engine = create_async_engine(url, connect_args={"timeout": 30}, json_serializer=json_text)
        timeout = settings.sqlite_busy_timeout_ms

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            _sqlite_pragmas(dbapi_conn, timeout)

        sqlite_transactions(engine)
    elif pooled:
        engine = create_async_engine(
            url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout=settings.database_pool_timeout_s,
            # No pre-ping: it costs a round trip on every checkout (a third of a lookup's).
            # Connections are recycled instead, and a connection the server dropped fails
            # one request, which the client retries.
            pool_recycle=POOL_RECYCLE_S,
            json_serializer=json_text,
        )
    else:
        engine = create_async_engine(url, poolclass=NullPool, json_serializer=json_text)

    _mark_connect_failures(engine)
    return engine


def sqlite_transactions(engine: AsyncEngine) -> None:
    """SQLite's transactions begun and ended by the engine, not by pysqlite, which begins one
    only before a row is written and so runs DDL (CREATE, ALTER, DROP) outside any: a
    migration that fails half-way would keep what it had done. The engine's "begin" says
    `BEGIN` (or `BEGIN IMMEDIATE`, for writing sessions) itself."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver opens no transaction on its own

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def _mark_connect_failures(engine: AsyncEngine) -> None:
    """A connection that cannot be opened (refused, unreachable, too many clients, a file
    that cannot be opened) is `DatabaseUnavailable`: a 503 with Retry-After, one line in the
    CLI. The drivers raise anything from OSError to their own errors; this is the one place
    that knows the failure happened while connecting."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            if dialect.name == "sqlite":
                # After a failed connect aiosqlite's worker thread hands its own stop back
                # to the event loop; let it while the loop runs (a CLI command closes it
                # right after), or the thread dies with "Event loop is closed" on stderr.
                await_only(asyncio.sleep(0.05))
            raise DatabaseUnavailable() from exc


def _log_slow_queries(
    engine: AsyncEngine, threshold_ms: int, listeners: list[Callable[[], None]]
) -> None:
    """Log each statement slower than the threshold (QTRACK_SLOW_QUERY_MS; 0: none), and tell
    the listeners (the slow-query counter of /metrics)."""
    if threshold_ms <= 0:
        return

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _start(
        conn: Connection,
        cursor: Any,
        statement: str,
        params: Any,
        ctx: ExecutionContext,
        many: bool,
    ) -> None:
        conn.info.setdefault("qtrack_query_start", []).append(time.perf_counter())

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _end(
        conn: Connection,
        cursor: Any,
        statement: str,
        params: Any,
        ctx: ExecutionContext,
        many: bool,
    ) -> None:
        started = conn.info["qtrack_query_start"].pop()
        elapsed_ms = (time.perf_counter() - started) * 1000
        if elapsed_ms >= threshold_ms:
            # Parameters are left out on purpose: they may hold personal data or secrets.
            log.warning("slow_query", duration_ms=round(elapsed_ms, 1), statement=statement[:500])
            for listener in listeners:
                listener()


class Database:
    """One engine and the two ways to open a session on it."""

    def __init__(self, settings: Settings, *, pooled: bool = True) -> None:
        self.settings = settings
        self.engine = create_engine(settings, pooled=pooled)
        # Called on each slow statement (after it is logged): /metrics counts them.
        self.slow_query_listeners: list[Callable[[], None]] = []
        _log_slow_queries(self.engine, settings.slow_query_ms, self.slow_query_listeners)
        write_engine = self.engine
        if settings.is_sqlite:
            write_engine = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        read_engine = self.engine
        if not settings.is_sqlite:
            # Reads on PostgreSQL run in autocommit: no BEGIN and COMMIT round trips. Each
            # statement sees its own snapshot, which is fine for what a read shows.
            read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._write = async_sessionmaker(write_engine, expire_on_commit=False, autoflush=False)
        self._read = async_sessionmaker(read_engine, expire_on_commit=False, autoflush=False)
        # A read replica (PostgreSQL only): request sessions that only read may move to it
        # once their principal is known (`route_reads`); see core/replica.py.
        self.replica: AsyncEngine | None = None
        # PostgreSQL, pooled: connections kept beside the pool for lookups (core/readlane.py).
        lookups = settings.database_lookup_connections if pooled and not settings.is_sqlite else 0
        readlane.attach(self.engine.sync_engine, lookups, POOL_RECYCLE_S)
        self.recent_writers = replica.RecentWriters(settings.database_replica_sticky_s)
        self.read_listeners: list[Callable[[str], None]] = []  # told which database served
        self._replica_down_until = 0.0
        self._replica_bind: Any = None
        if settings.database_replica_url and not settings.is_sqlite:
            self.replica = create_engine(settings, pooled=pooled, url=settings.database_replica_url)
            readlane.attach(self.replica.sync_engine, lookups, POOL_RECYCLE_S)
            _log_slow_queries(self.replica, settings.slow_query_ms, self.slow_query_listeners)
            self._replica_bind = self.replica.execution_options(
                isolation_level="AUTOCOMMIT"
            ).sync_engine
            self._read = async_sessionmaker(
                read_engine,
                expire_on_commit=False,
                autoflush=False,
                sync_session_class=replica.RoutingSession,
                info={replica.READ: True},
            )

    def sessionmaker(self, mode: Mode) -> async_sessionmaker[AsyncSession]:
        """Sessions that only read, or that will write (on SQLite those take the lock up front)."""
        return self._write if mode == "write" else self._read

    async def route_reads(self, session: AsyncSession, who: str) -> str:
        """Once a request's principal is known: send the rest of a read-only session's
        statements to the replica, unless there is none (or it just failed), or `who` wrote
        within QTRACK_DATABASE_REPLICA_STICKY_S (read-your-writes). Says which database
        serves the request: "replica" or "primary"."""
        session.info[replica.WRITER] = who
        if not session.info.get(replica.READ):
            return "primary"  # a write: the primary, of course
        served = "primary"
        if (
            self.replica is not None
            and time.monotonic() >= self._replica_down_until
            and not await self.recent_writers.wrote_recently(who)
        ):
            session.info[replica.REPLICA_BIND] = self._replica_bind
            served = "replica"
        session.info[replica.SERVED] = served
        return served

    async def replica_lag_s(self) -> float | None:
        """How far the replica's replay is behind what it has received from the primary, in
        seconds (0 when it has replayed everything; None when it is not a standby, or there
        is none). Raises when it cannot be reached."""
        if self.replica is None:
            return None
        async with self.replica.connect() as conn:
            lag = await conn.scalar(text(_REPLAY_LAG))
        return None if lag is None else float(lag)

    def replica_resting(self) -> bool:
        """Whether reads stay on the primary now because the replica just failed."""
        return time.monotonic() < self._replica_down_until

    async def request_done(self, session: AsyncSession, error: BaseException | None) -> None:
        """After a request's session: a write (even one that failed) marks its principal as a
        recent writer; a read says which database served it; a replica that could not be reached
        is left alone for a while (its requests fail once, with a 503 to retry)."""
        served = session.info.get(replica.SERVED)
        if served is not None:
            for listener in self.read_listeners:
                listener(served)
            if served == "replica" and isinstance(error, DatabaseUnavailable):
                self._replica_down_until = time.monotonic() + REPLICA_RETRY_S
                log.warning("replica_unavailable", retry_in_s=REPLICA_RETRY_S)
        # Failed writes count too: a 409 or 412 says the writer's view was stale, and the
        # read they make next to see why must not be stale again.
        who = session.info.get(replica.WRITER)
        if who is not None and not session.info.get(replica.READ):
            await self.recent_writers.note(who)

    @asynccontextmanager
    async def session_scope(self, mode: Mode = "write") -> AsyncIterator[AsyncSession]:
        """A unit of work for the CLI and background jobs: commit on success, roll back on error."""
        async with self.sessionmaker(mode)() as session:
            try:
                yield session
                await session.commit()
            except Exception as exc:
                # Same rule as a request: errors marked keep_changes commit what was flushed.
                if getattr(exc, "keep_changes", False):
                    await session.commit()
                else:
                    await session.rollback()
                raise
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def snapshot_scope(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads and sees one snapshot throughout, however many statements
        it runs (an export read in batches): REPEATABLE READ on PostgreSQL, a deferred
        transaction on SQLite (WAL keeps its snapshot from the first read on)."""
        engine = self.engine
        if not self.settings.is_sqlite:
            engine = engine.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        async with AsyncSession(engine, expire_on_commit=False, autoflush=False) as session:
            try:
                yield session
            finally:
                await session.rollback()

    async def schema_revision(self) -> str | None:
        """The Alembic revision the database is at; None when it was never migrated."""
        async with self.engine.connect() as conn:
            exists = await conn.run_sync(
                lambda sync: sync.dialect.has_table(sync, "alembic_version")
            )
            if not exists:
                return None
            revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
            return None if revision is None else str(revision)

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    def pool_stats(self) -> dict[str, int]:
        """Connections in use and idle, for /metrics."""
        pool: Any = self.engine.pool
        stats = {"checked_out": 0, "idle": 0, "overflow": 0}
        if hasattr(pool, "checkedout"):
            stats["checked_out"] = int(pool.checkedout())
        if hasattr(pool, "checkedin"):
            stats["idle"] = int(pool.checkedin())
        if hasattr(pool, "overflow"):
            stats["overflow"] = max(0, int(pool.overflow()))
        lane = readlane.lane_of(self.engine.sync_engine)
        if lane is not None:
            stats["lookup"] = lane.held
        return stats

    async def dispose(self) -> None:
        """Close every pooled connection, and the lookup connections beside the pools."""
        for engine in (self.engine, self.replica):
            lane = readlane.lane_of(engine.sync_engine) if engine is not None else None
            if lane is not None:
                await lane.close()
        await self.engine.dispose()
        if self.replica is not None:
            await self.replica.dispose()
