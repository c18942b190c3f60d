"""A request's database session, made when it is first used.

Every request that may touch the database gets a session from `core.deps.get_session`. A
scan lookup with its caller in the principal cache never uses it: its one statement runs on a
connection borrowed from the pool (core/prepared.py), and its workflow definition comes from
a cache. Making an `AsyncSession` and its `Session` anyway cost 46,000 instructions, about
5 % of such a lookup (docs/benchmarks.md, issue 15, eighth pass).

`DeferredSession` is an `AsyncSession` whose construction waits: it keeps its session maker,
and the first attribute it does not yet have (its `sync_session`, a proxied property, any
method's first use of them) runs `AsyncSession.__init__` with that maker's arguments, exactly
as the maker would have, on the same object. From then on it is a plain `AsyncSession`: every
attribute is its own again, so it costs nothing after. Whoever holds it need not know;
`started` says whether it was made, for the code that would otherwise make it only to find it
empty (the request's commit and close), and `unstarted_engine` where its first connection
would come from (the borrowed-connection read).

A write request's session may run its first statements in a `DriverTransaction` before it is
made (core/writetx.py: `driver_transaction`, `begin_driver_transaction`). Made after that, it
is made on the transaction's connection, so that all of the request's statements run in one
database transaction.
"""

from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from qtrack.core.writetx import DriverTransaction


class DeferredSession(AsyncSession):
    """An `AsyncSession` made from `maker` when it is first used (see the module's doc): with
    the maker's arguments as they are then; the maker's own class is not used (qtrack's
    makers make plain `AsyncSession`s)."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], *, writes: bool = False) -> None:
        # Not AsyncSession.__init__: that runs on first use, from __getattr__.
        self._maker_kw: dict[str, Any] | None = maker.kw
        # Whether its first statements may run in a `DriverTransaction` (a write request's
        # session; `begin_driver_transaction` asks for one engine), and that transaction once
        # begun.
        self._qtrack_writes = writes
        self._qtrack_driver: DriverTransaction | None = None

    def __getattr__(self, name: str) -> Any:
        # Reached only for an attribute the instance does not have: before it is made, every
        # attribute `AsyncSession.__init__` sets.
        kw = self.__dict__.get("_maker_kw")
        if kw is None:  # made, or being made: the attribute does not exist
            raise AttributeError(name)
        self._maker_kw = None
        made = kw
        driver = self.__dict__.get("_qtrack_driver")
        if driver is not None:
            # On the connection of the transaction its first statements began: the session
            # begins its own there (no second BEGIN) and ends the database's with it.
            made = {**kw, "bind": AsyncConnection(kw["bind"], driver.connection())}
        try:
            AsyncSession.__init__(self, **made)
            if driver is not None:
                # Its transaction begun now (no I/O: the connection is there, its own begun),
                # so that its rollback or commit ends the database's, whatever it runs first.
                self.sync_session.connection()
        except Exception as exc:
            self._maker_kw = kw  # not made: the next use tries again
            # Not as an AttributeError, which Python would take for "no such attribute"
            # and answer with a bare one, losing this.
            raise RuntimeError(f"the session could not be made: {exc!r}") from exc
        return getattr(self, name)


def started(session: AsyncSession) -> bool:
    """Whether the session was made: always, but for a `DeferredSession` nothing used yet."""
    return not isinstance(session, DeferredSession) or session.__dict__["_maker_kw"] is None


def unstarted_engine(session: AsyncSession) -> Engine | None:
    """The engine a `DeferredSession` not made yet would connect to (None for any other
    session, or one whose maker names no single engine)."""
    if started(session):
        return None
    bind = session.__dict__["_maker_kw"].get("bind")
    return bind.sync_engine if isinstance(bind, AsyncEngine) else None


def driver_transaction(session: AsyncSession) -> DriverTransaction | None:
    """The `DriverTransaction` a write request's session began before it was made, if any."""
    if not isinstance(session, DeferredSession):
        return None
    driver: DriverTransaction | None = session.__dict__["_qtrack_driver"]
    return driver


async def begin_driver_transaction(session: AsyncSession) -> DriverTransaction | None:
    """The session's `DriverTransaction`, begun now if it has none yet; None when the session
    may not have one (made already, not a write request's, or not on PostgreSQL): its own
    transaction is the one to use."""
    if not isinstance(session, DeferredSession) or started(session):
        return None
    driver: DriverTransaction | None = session.__dict__["_qtrack_driver"]
    if driver is None:
        engine = unstarted_engine(session)
        if not session.__dict__["_qtrack_writes"] or engine is None:
            return None
        if engine.dialect.name != "postgresql":
            return None
        driver = await DriverTransaction.begin(engine)
        session.__dict__["_qtrack_driver"] = driver
    return driver


def dialect_name(session: AsyncSession) -> str:
    """The name of the dialect the session's statements run on, without making a
    `DeferredSession` for it."""
    engine = unstarted_engine(session)
    if engine is not None:
        return engine.dialect.name
    return session.get_bind().dialect.name
