"""A few PostgreSQL connections a process keeps beside its pool, for borrowed one-statement reads.

A scan lookup whose caller and workflow are cached runs one statement, on a connection it
borrows for that statement alone (`core/prepared.PreparedSelect.first`). Borrowing it from
SQLAlchemy's pool costs more than the statement's own Python: the pool's checkout and return
(its queue, its events, the reset on return) run in a greenlet of their own, and each greenlet
maps and unmaps a stack of its own. Together about 80,000 instructions and 15 µs of kernel
time a lookup, an eighth of it (docs/benchmarks.md, issue 15, ninth pass).

A `ReadLane` keeps up to `size` connections (QTRACK_DATABASE_LOOKUP_CONNECTIONS) out of the
pool, idle in a list: taking one and giving it back are a list's pop and append, and the
statement runs on the driver's connection directly, with no greenlet. They are the pool's own
connections, made by its engine (the same connect arguments and driver setup) and detached
from it after a borrowed read: the pool opens another in its place when it needs one, so they
come on top of QTRACK_DATABASE_POOL_SIZE + QTRACK_DATABASE_MAX_OVERFLOW. When every one is in
use, a read borrows from the pool as before.

Only statements that need no transaction run on them: they are never in one, so there is
nothing to reset between reads. A connection whose statement failed or was cancelled is closed
at once (the read then goes through the session, which says what is wrong in SQLAlchemy's
terms); one older than the pool's recycle time is closed when next taken; `close` closes them
all, with the engine's pool (`Database.dispose`).
"""

import asyncio
import time
import weakref
from typing import Any

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

log = structlog.get_logger("qtrack.db")

# A graceful close may wait on a server that no longer answers; past this it is cut.
CLOSE_TIMEOUT_S = 5.0


class ReadLane:
    """Idle driver connections for borrowed reads (see the module's doc)."""

    def __init__(self, size: int, recycle_s: float) -> None:
        self.size = size
        self.recycle_s = recycle_s
        # (when it was adopted, the DBAPI connection SQLAlchemy's driver adapter made)
        self._idle: list[tuple[float, Any]] = []
        self._held = 0  # idle and in use
        self._closed = False
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def held(self) -> int:
        """Connections the lane holds, idle or in use."""
        return self._held

    def take(self) -> tuple[float, Any] | None:
        """An idle connection (its adoption time and the DBAPI connection), or None."""
        while self._idle:
            entry = self._idle.pop()
            if time.monotonic() - entry[0] < self.recycle_s:
                return entry
            self._close_later(entry[1])
        return None

    def give_back(self, entry: tuple[float, Any]) -> None:
        """A connection taken whose statement succeeded: idle again."""
        if self._closed:
            self._close_later(entry[1])
        else:
            self._idle.append(entry)

    def discard(self, entry: tuple[float, Any]) -> None:
        """A connection taken whose statement failed or was cancelled: what it holds is
        unknown, so it is cut at once."""
        self._held -= 1
        try:
            entry[1].driver_connection.terminate()
        except Exception as exc:  # already gone; nothing left to free
            log.debug("lookup_connection_terminate_failed", error=type(exc).__name__)

    def adopt(self, fairy: Any) -> bool:
        """Keep a connection just borrowed from the pool (and detach it from the pool), when
        the lane is short of one; False: the caller returns it to the pool as usual."""
        if self._closed or self._held >= self.size:
            return False
        fairy.detach()
        self._held += 1
        self._idle.append((time.monotonic(), fairy.dbapi_connection))
        return True

    async def close(self) -> None:
        """Close the idle connections now, and those in use when they come back."""
        self._closed = True
        while self._idle:
            self._close_later(self._idle.pop()[1])
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _close_later(self, connection: Any) -> None:
        self._held -= 1
        task = asyncio.get_running_loop().create_task(_close(connection))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


async def _close(connection: Any) -> None:
    try:
        await connection.driver_connection.close(timeout=CLOSE_TIMEOUT_S)
    except Exception:  # a connection already lost, or a server that does not answer
        connection.driver_connection.terminate()


# The lanes by the pool they stand beside: an engine and the engines made from it with other
# execution options (the reads' autocommit) share one pool, and so one lane.
_LANES: "weakref.WeakKeyDictionary[Pool, ReadLane]" = weakref.WeakKeyDictionary()


def attach(engine: Engine, size: int, recycle_s: float) -> ReadLane | None:
    """A lane beside the engine's pool (none when `size` is 0)."""
    if size <= 0:
        return None
    lane = ReadLane(size, recycle_s)
    _LANES[engine.pool] = lane
    return lane


def lane_of(engine: Engine) -> ReadLane | None:
    """The lane beside the engine's pool, if it has one."""
    return _LANES.get(engine.pool)
