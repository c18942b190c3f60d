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
"""

from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker


class DeferredSession(AsyncSession):
    """An `AsyncSession` made from `maker` when it is first used (see the module's doc): with
    the maker's arguments as they are then; the maker's own class is not used (qtrack's
    makers make plain `AsyncSession`s)."""

    def __init__(self, maker: async_sessionmaker[AsyncSession]) -> None:
        # Not AsyncSession.__init__: that runs on first use, from __getattr__.
        self._maker_kw: dict[str, Any] | None = maker.kw

    def __getattr__(self, name: str) -> Any:
        # Reached only for an attribute the instance does not have: before it is made, every
        # attribute `AsyncSession.__init__` sets.
        kw = self.__dict__.get("_maker_kw")
        if kw is None:  # made, or being made: the attribute does not exist
            raise AttributeError(name)
        self._maker_kw = None
        try:
            AsyncSession.__init__(self, **kw)
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
