"""A Core SELECT run as a prepared statement of the session's own asyncpg connection.

Through the session, a prebuilt statement still costs SQLAlchemy's execution path: about
0.14 ms of CPU for the scan lookup's one-row SELECT against 0.03 ms for asyncpg's own
`fetchrow` on the same connection (docs/benchmarks.md, issue 15). `PreparedSelect.first` runs
the statement on the connection the session already holds — so in its transaction, when one
is open — as a statement asyncpg prepares once per connection, and gives the row with the
same keys and the same values SQLAlchemy would (each column's own result processing, e.g.
`UTCDateTime`; JSON is decoded by the codec SQLAlchemy installs on the connection).

A session that holds no connection yet (the scan lookup is a request's first statement when
its caller is known from the principal cache) does not open one for it: the statement runs on
a connection borrowed from the pool for that one statement and given back, which saves the
session's checkout, transaction bookkeeping and release (about 0.12 ms of CPU a lookup).
That is what the statement would see first in the session's transaction too: PostgreSQL's
READ COMMITTED (and the reads' autocommit) gives every statement its own snapshot, and a
transaction that has written nothing holds nothing this read could miss. A request still
holds one connection at a time. The connection comes from the process's lookup connections
when one is idle (`core/readlane.py`: no pool checkout, no greenlet), from the pool otherwise.

`PreparedSelect.first_locked` (and `all_locked`, every row) is for a statement that must run
in the session's transaction: a row locked (`FOR UPDATE`) or written (an INSERT or UPDATE as a
CTE of the SELECT). It begins the session's transaction as its first statement would, runs the
statement on the session's own connection, and raises a failure as SQLAlchemy would have
raised it for the same statement (the same exception classes, a lost connection invalidated):
a statement that failed inside a transaction cannot be tried again in it. Bound values go
through each parameter's bind processing, as SQLAlchemy would send them (`UTCDateTime`, JSON).
The item change's locked read and its event statement are each about 0.11 ms of CPU cheaper
this way than through the session (a quarter of a transition's; docs/benchmarks.md, issue 15).

On SQLite, and whenever the read path's driver call fails, the statement goes through the session
instead: a failure is then raised (or the connection invalidated, a 503) exactly as for any
other statement. A read-only SELECT run on the connection before the session's transaction
has sent its BEGIN sees what a READ COMMITTED statement inside it would. Statements run here
are not seen by the slow-query log.
"""

import asyncio
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Select, TextClause, TextualSelect
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.util import await_only, greenlet_spawn

from qtrack.core import readlane
from qtrack.core.deferred import begin_driver_transaction, driver_transaction, unstarted_engine
from qtrack.core.writetx import reraise

# `_pooled` could not read the row (the caller goes through the session instead).
_FAILED: Any = object()
# `Session.info` key: the session's transaction and its connection, as `_connection` last
# got them.
_HELD = "qtrack_prepared_connection"
_Processors = list[tuple[int, Callable[[Any], Any]]]
# The SQL, its parameters' names in order with their bind processing (or None), the row type
# and each column's result processing.
_Compiled = tuple[str, Sequence[tuple[str, Callable[[Any], Any] | None]], Any, _Processors]


class PreparedSelect:
    """A prebuilt Core SELECT whose first row is read through the driver on PostgreSQL."""

    def __init__(self, statement: Select[*tuple[Any, ...]] | TextualSelect) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}
        self._sent: dict[str, frozenset[str] | None] = {}

    def _sent_for(self, dialect: Dialect) -> frozenset[str] | None:
        """The names of the statement's parameters when its SQL and their values are all it
        sends; None when SQLAlchemy adds to them at execution (a column default or
        `onupdate` computed in Python, a parameter expanded when executed)."""
        if dialect.name not in self._sent:
            compiled: Any = self.statement.compile(dialect=dialect)
            plain = not (
                compiled.insert_prefetch
                or compiled.update_prefetch
                or compiled.literal_execute_params
                or compiled.post_compile_params
            )
            self._sent[dialect.name] = frozenset(compiled.positiontup or ()) if plain else None
        return self._sent[dialect.name]

    async def _for(self, dialect: Dialect, driver: Any) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            binds: Mapping[str, Any] = compiled._bind_processors
            names: list[tuple[str, Callable[[Any], Any] | None]] = [
                (name, binds.get(name)) for name in compiled.positiontup or ()
            ]
            keys = list(self.statement.selected_columns.keys())
            row_type = namedtuple("Row", keys)  # type: ignore[misc]
            # Each column's result processing, as SQLAlchemy picks it (by the column's type
            # and the type the server describes).
            described = (await driver.prepare(compiled.string)).get_attributes()
            processors: list[tuple[int, Callable[[Any], Any]]] = []
            for index, column in enumerate(self.statement.selected_columns):
                impl = column.type.dialect_impl(dialect)
                processor = impl.result_processor(dialect, described[index].type.oid)
                if processor is not None:
                    processors.append((index, processor))
            found = (compiled.string, names, row_type, processors)
            self._compiled[dialect.name] = found
        return found

    async def first(self, session: AsyncSession, params: Mapping[str, Any]) -> Any | None:
        """The first row (attribute and index access, as a SQLAlchemy `Row`), or None."""
        if driver_transaction(session) is not None:
            # A write request's transaction is open: the read belongs in it (it sees what the
            # request wrote).
            return await self.first_locked(session, params)
        bind = _free_engine(session)
        if bind is not None and bind.dialect.name == "postgresql":
            # The session holds no connection yet (nothing read or written before): the
            # statement borrows one from the pool for itself, as a READ COMMITTED statement
            # run first in the session's transaction would see the same, and the session is
            # spared opening its connection and transaction for it (about 0.12 ms of CPU).
            found = await self._pooled(bind, params)
            if found is not _FAILED:
                return found
        connection = await _connection(session)
        dialect = connection.dialect
        if dialect.name != "postgresql":
            return (await session.execute(self.statement, params)).first()
        try:
            driver: Any = (await _pool_connection(connection)).driver_connection
            record = await self._fetch(dialect, driver, params)
        except Exception:
            # Again through SQLAlchemy: its answer, or its error in its own terms.
            return (await session.execute(self.statement, params)).first()
        return self._row(dialect, record)

    async def first_locked(self, session: AsyncSession, params: Mapping[str, Any]) -> Any | None:
        """The first row, the statement run in the session's transaction (begun if it was not)
        on its own connection; a failure raised as SQLAlchemy raises it. A write request's
        session not made yet runs it in its `DriverTransaction` (core/writetx.py) instead."""
        rows = await self._locked(session, params, every=False)
        return rows[0] if rows else None

    async def all_locked(self, session: AsyncSession, params: Mapping[str, Any]) -> list[Any]:
        """Every row, the statement run as `first_locked` runs it."""
        return await self._locked(session, params, every=True)

    async def _locked(
        self, session: AsyncSession, params: Mapping[str, Any], *, every: bool
    ) -> list[Any]:
        driver = await begin_driver_transaction(session)
        if driver is not None:
            dialect = driver.engine.dialect
            if self._sends_only(dialect, params):
                try:
                    records = await self._fetch_rows(dialect, driver.driver, params, every)
                except Exception as error:
                    await driver.raise_failure(error, self._sql(dialect))
                return self._rows(dialect, records)
            # Else through the session, which is made on the transaction's connection.
        connection = await _connection(session)
        dialect = connection.dialect
        if dialect.name != "postgresql" or not self._sends_only(dialect, params):
            result = await session.execute(self.statement, params)
            if every:
                return list(result.all())
            first = result.first()
            return [] if first is None else [first]
        fairy = await _pool_connection(connection)
        adapted: Any = fairy.dbapi_connection
        try:
            if adapted._transaction is None:  # SQLAlchemy's adapter sends BEGIN lazily
                await adapted._start_transaction()
            records = await self._fetch_rows(dialect, fairy.driver_connection, params, every)
        except Exception as error:
            await greenlet_spawn(
                reraise, connection.sync_connection, adapted, error, self._sql(dialect)
            )
            raise  # not reached: `reraise` raises
        return self._rows(dialect, records)

    def _sends_only(self, dialect: Dialect, params: Mapping[str, Any]) -> bool:
        """Whether the statement's SQL and these values are all it needs: else SQLAlchemy
        computes a parameter not given (a column's default) or says it is missing."""
        sent = self._sent_for(dialect)
        return sent is not None and sent <= params.keys()

    def _sql(self, dialect: Dialect) -> str:
        """The statement's SQL, for an error's message."""
        found = self._compiled.get(dialect.name)
        return found[0] if found is not None else str(self.statement.compile(dialect=dialect))

    async def _fetch(self, dialect: Dialect, driver: Any, params: Mapping[str, Any]) -> Any:
        sql, names, _, _ = await self._for(dialect, driver)
        args = [
            params[name] if process is None else process(params[name]) for name, process in names
        ]
        return await driver.fetchrow(sql, *args)

    async def _fetch_rows(
        self, dialect: Dialect, driver: Any, params: Mapping[str, Any], every: bool
    ) -> list[Any]:
        if not every:
            record = await self._fetch(dialect, driver, params)
            return [] if record is None else [record]
        sql, names, _, _ = await self._for(dialect, driver)
        args = [
            params[name] if process is None else process(params[name]) for name, process in names
        ]
        records: list[Any] = await driver.fetch(sql, *args)
        return records

    def _rows(self, dialect: Dialect, records: list[Any]) -> list[Any]:
        return [self._row(dialect, record) for record in records]

    def _row(self, dialect: Dialect, record: Any) -> Any | None:
        if record is None:
            return None
        _, _, row_type, processors = self._compiled[dialect.name]
        values = list(record)
        for index, processor in processors:
            values[index] = processor(values[index])
        return row_type(*values)

    async def _pooled(self, bind: Engine, params: Mapping[str, Any]) -> Any:
        """The row read on a connection of the bind's lookup lane (`core/readlane.py`), or else
        of its pool, returned right after; `_FAILED` when the driver failed (that connection
        is discarded). From the pool, the checkout, the statement and the return run in one
        greenlet: each greenlet costs a Python stack of its own, mapped and unmapped again
        (about 15 µs of CPU on Linux; docs/benchmarks.md, issue 15)."""
        lane = readlane.lane_of(bind)
        if lane is not None:
            kept = lane.take()
            if kept is not None:
                return await self._on_lane(lane, kept, bind.dialect, params)
        return await greenlet_spawn(self._pooled_in_greenlet, bind, params, lane)

    async def _on_lane(
        self,
        lane: readlane.ReadLane,
        kept: readlane.Kept,
        dialect: Dialect,
        params: Mapping[str, Any],
    ) -> Any:
        try:
            record = await self._fetch(dialect, kept.connection.driver_connection, params)
        except Exception as error:
            # The session answers instead, in SQLAlchemy's terms; the connection goes back
            # only if the failure left it as it was.
            if readlane.leaves_connection_as_it_was(error):
                lane.give_back(kept)
            else:
                lane.discard(kept)
            return _FAILED
        except BaseException:
            lane.discard(kept)  # cancelled mid-statement: what the connection holds is unknown
            raise
        lane.give_back(kept)
        return self._row(dialect, record)

    def _pooled_in_greenlet(
        self, bind: Engine, params: Mapping[str, Any], lane: readlane.ReadLane | None
    ) -> Any:
        try:
            raw = bind.raw_connection()
        except Exception:
            return _FAILED  # the session's own checkout says what is wrong, in its terms
        try:
            record = await_only(self._fetch(bind.dialect, raw.driver_connection, params))
        except Exception:
            raw.invalidate()
            return _FAILED
        except asyncio.CancelledError:
            raw.invalidate()  # cancelled mid-statement: what the connection holds is unknown
            raise
        # A lane short of connections keeps this one (taken out of the pool); else it goes back.
        if lane is None or not lane.adopt(raw):
            raw.close()
        return self._row(bind.dialect, record)


async def execute_locked(session: AsyncSession, sql: TextClause) -> None:
    """A statement with no parameters and no rows (a SAVEPOINT, a ROLLBACK TO one) in the
    session's transaction: in a write request's `DriverTransaction` when it has one (begun if
    need be), else through the session."""
    driver = await begin_driver_transaction(session)
    if driver is None:
        await session.execute(sql)
        return
    try:
        await driver.driver.execute(sql.text)
    except Exception as error:
        await driver.raise_failure(error, sql.text)


def _free_engine(session: AsyncSession) -> Engine | None:
    """The engine the session would take its first connection from, while it holds none
    (nothing read or written yet; a request's session not even made, core/deferred.py)."""
    engine = unstarted_engine(session)
    if engine is not None:
        return engine
    sync = session.sync_session
    if sync.in_transaction():
        return None
    bind = sync.get_bind()
    return bind if isinstance(bind, Engine) else None


async def _connection(session: AsyncSession) -> AsyncConnection:
    """The session's connection in its transaction, as `AsyncSession.connection` gives it
    (the transaction begun if there was none). A later statement of the same transaction
    takes it from `session.info` instead: the connection is already there, and asking the
    session again costs a greenlet (about 15 µs; a transition runs two statements here).

    Inside a savepoint (`begin_nested`) the session is always asked: it sends the SAVEPOINT
    when its nested transaction is first asked for the connection, and refuses once that
    savepoint has failed; the root transaction stays active meanwhile."""
    sync = session.sync_session
    held = session.info.get(_HELD)
    current = sync.get_transaction()
    if (
        held is not None
        and current is not None
        and held[0] is current
        and current.is_active
        and sync.get_nested_transaction() is None
    ):
        connection: AsyncConnection = held[1]
        if (
            not (connection.closed or connection.invalidated)
            and connection.engine.sync_engine is sync.get_bind()
        ):
            return connection
    connection = await session.connection()
    session.info[_HELD] = (sync.get_transaction(), connection)
    return connection


async def _pool_connection(connection: AsyncConnection) -> Any:
    """The connection's pooled DBAPI connection. A valid connection holds it, and reading it
    does no I/O, so it needs no greenlet; an invalidated one reconnects, in one."""
    sync = connection.sync_connection
    if sync is not None and not (sync.closed or sync.invalidated):
        return sync.connection
    return await connection.get_raw_connection()
