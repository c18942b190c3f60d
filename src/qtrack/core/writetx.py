"""A write request's transaction on a pooled driver connection, before its session is made.

A request's session (core/deps.py) is made when first used (core/deferred.py). On PostgreSQL a
change of one item runs two statements, both through the driver (core/prepared.py): the
item's locked read and its event. Making the session only for them cost about 390,000
instructions: the `AsyncSession` and its `Session`, the session's transaction, a
`Connection` and its `AsyncConnection`, and the commit, in two greenlets — a fifth of a
transition (docs/benchmarks.md, issue 15, tenth pass).

So the first locked statement of a write request whose session is not made yet begins a
`DriverTransaction` instead: a connection checked out of the engine's pool, BEGIN sent as
SQLAlchemy's adapter sends it. Later locked statements run in it. When the request is done,
`core.deps.get_session` commits it (or rolls it back) and gives the connection back.

The session may still be needed later in the request (any statement that is not a prepared
one, a savepoint, an ORM object). It is then made on this very connection: bound to a
`Connection` over it, it begins its transaction there without a second BEGIN (the adapter's
transaction is open), and commits or rolls back the same database transaction. A request
still holds one connection and runs one transaction, whichever way its statements go.

A failure of a statement, of the BEGIN or of the COMMIT is raised as SQLAlchemy raises it
(the same exception classes, a lost connection invalidated). A connection whose state is
unknown (a failed rollback, a cancellation mid-statement) is invalidated, never given back.
"""

from typing import Any, NoReturn

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn


def reraise(sync: Connection, adapted: Any, error: Exception, statement: str) -> NoReturn:
    """Raise a driver's failure as SQLAlchemy would have raised it for this statement (in a
    greenlet: a lost connection is invalidated)."""
    try:
        # The driver's error as the DBAPI error SQLAlchemy's adapter makes of it...
        adapted._handle_exception(error)
    except Exception as dbapi_error:
        # ...and that as the exception SQLAlchemy raises (a lost connection invalidated).
        sync._handle_dbapi_exception(dbapi_error, statement, None, None, None)
    raise error  # neither raised: not reached


class DriverTransaction:
    """One request's database transaction on a connection checked out of `engine`'s pool."""

    __slots__ = ("adapted", "engine", "fairy")

    def __init__(self, engine: Engine, fairy: PoolProxiedConnection) -> None:
        self.engine = engine
        self.fairy = fairy
        self.adapted: Any = fairy.dbapi_connection  # SQLAlchemy's asyncpg adapter

    @classmethod
    async def begin(cls, engine: Engine) -> "DriverTransaction":
        """A connection from the pool (opened in a greenlet if it must be: a connection that
        cannot be opened is `DatabaseUnavailable`, as for the session), with BEGIN sent."""
        fairy = await greenlet_spawn(engine.raw_connection)
        begun = cls(engine, fairy)
        try:
            await begun.adapted._start_transaction()
        except Exception as error:
            await begun._fail(error, "BEGIN")
        except BaseException:
            begun._invalidate()
            raise
        return begun

    @property
    def driver(self) -> Any:
        """The asyncpg connection, for `core.prepared`'s statements."""
        return self.fairy.driver_connection

    @property
    def open(self) -> bool:
        """Whether the database transaction is still to be committed or rolled back."""
        return self.adapted._transaction is not None

    def connection(self) -> Connection:
        """A SQLAlchemy `Connection` over this one, in a transaction (for a session made on it,
        or to raise a failure in SQLAlchemy's terms). Its transaction sends nothing: the
        adapter's is open, and PostgreSQL's `do_begin` does no I/O. It never reconnects (a lost
        connection fails its statements) and is never closed: `end` gives the connection back."""
        connection = Connection(self.engine, connection=self.fairy, _allow_revalidate=False)
        connection.begin()
        return connection

    async def raise_failure(self, error: Exception, statement: str) -> NoReturn:
        """Raise a statement's failure as SQLAlchemy would (a lost connection invalidated). The
        transaction stays, failed, as it would in the session: later statements are refused
        by the server, and `end` rolls it back. (A `Connection` outside a transaction would
        roll back at once, and the next statement would run on its own, committed.)"""
        await greenlet_spawn(reraise, self.connection(), self.adapted, error, statement)
        raise error  # not reached: `reraise` raises

    async def end(self, *, commit: bool, abandon: bool = False) -> None:
        """Commit (or roll back) what is still open, and give the connection back to the pool.
        A failed commit is raised as SQLAlchemy raises it; a failed rollback is not (the
        request is failing already). Either way, or when told to `abandon` it (cancelled
        mid-statement), the connection is invalidated: closing it makes the server roll back
        whatever it still held."""
        if abandon:
            self._invalidate()
            return
        try:
            if self.open and self.fairy.is_valid:
                transaction = self.adapted._transaction
                finish = transaction.commit if commit else transaction.rollback
                try:
                    await self.adapted._call_and_discard(finish)
                except Exception as error:
                    if commit:
                        await self._fail(error, "COMMIT")
                    self._invalidate()
        except BaseException:
            self._invalidate()  # cancelled mid-way: what the connection holds is unknown
            raise
        await self._give_back()

    async def _fail(self, error: Exception, statement: str) -> NoReturn:
        try:
            await self.raise_failure(error, statement)
        finally:
            self._invalidate()  # the transaction's fate is unknown: never give it back

    def _invalidate(self) -> None:
        """Close the connection without a word to the server (no I/O, as SQLAlchemy does for a
        connection it gives up on); the pool opens another in its place. (Invalidating checks
        it in: a connection SQLAlchemy invalidated already is not touched again.)"""
        if self.fairy.is_valid:
            self.fairy.invalidate()

    async def _give_back(self) -> None:
        if not self.fairy.is_valid:
            return  # invalidated (so already checked in), by SQLAlchemy or by `_invalidate`
        pool: Any = self.engine.pool
        queue = getattr(pool, "_pool", None)
        if queue is not None and queue.qsize() < pool.size():
            # The pool has room for it: the checkin is bookkeeping only (its reset rolls back
            # nothing, no transaction is open), with no I/O and no need for a greenlet.
            self.fairy.close()
        else:
            # The pool may close it instead (an overflow connection), which is I/O.
            await greenlet_spawn(self.fairy.close)
