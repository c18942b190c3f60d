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
nothing to reset between reads. A statement that failed in a way that leaves the connection
as it was (the server refused it, or a value could not be encoded) gives it back; any other
failure, or a cancellation, closes it at once (the read then goes through the session, which
says what is wrong in SQLAlchemy's terms). A connection is closed when next taken, or found
at the bottom of the list, once it is older than the pool's recycle time, has been idle for
`IDLE_S` (a firewall may have dropped it silently), was opened before the pool was last
invalidated (the server went away), or is closed already. `close` closes them all, with the
engine's pool (`Database.dispose`), waiting for those in use to come back.
"""

import asyncio
import time
import weakref
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

log = structlog.get_logger("qtrack.db")

# A graceful close may wait on a server that no longer answers; past this it is cut. `close`
# waits as long for the connections in use to come back.
CLOSE_TIMEOUT_S = 5.0
# An idle connection is closed after this long: the lane shrinks back when the load does.
IDLE_S = 300.0


@dataclass(slots=True)
class Kept:
    """A connection of the lane: when it was opened and when it was last given back (the
    wall clock, as the pool keeps its own times), and the DBAPI connection SQLAlchemy's
    driver adapter made."""

    opened: float
    used: float
    connection: Any


def leaves_connection_as_it_was(error: BaseException) -> bool:
    """Whether a failed statement left its connection fit for the next one: the server
    answered it with an error (an autocommit statement holds nothing after), or asyncpg could
    not encode a value and sent nothing. A lost or broken connection is neither."""
    if isinstance(error, asyncpg.exceptions.DataError):
        return True
    return isinstance(error, asyncpg.PostgresError) and not isinstance(
        error, asyncpg.exceptions.PostgresConnectionError
    )


class ReadLane:
    """Idle driver connections for borrowed reads (see the module's doc)."""

    def __init__(self, pool: Pool, size: int, recycle_s: float) -> None:
        self._pool = pool
        self.size = size
        self.recycle_s = recycle_s
        self._idle: list[Kept] = []  # the last given back at the end
        self._held = 0  # idle and in use
        self._closed = False
        self._all_back: asyncio.Event | None = None  # set by `close`: told when none is in use
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def held(self) -> int:
        """Connections the lane holds, idle or in use."""
        return self._held

    def _stale(self, kept: Kept, now: float) -> bool:
        return (
            now - kept.opened >= self.recycle_s
            or now - kept.used >= IDLE_S
            # The pool was invalidated (a lost server) after this one was opened.
            or kept.opened < self._pool._invalidate_time
            or kept.connection.driver_connection.is_closed()
        )

    def take(self) -> Kept | None:
        """The connection given back last that is still fit for a read, or None."""
        idle = self._idle
        now = time.time()
        # The bottom of the list is the longest idle: close what has gone stale there.
        while idle and self._stale(idle[0], now):
            self._close_later(idle.pop(0).connection)
        while idle:
            kept = idle.pop()
            if not self._stale(kept, now):
                return kept
            self._close_later(kept.connection)
        return None

    def give_back(self, kept: Kept) -> None:
        """A connection taken whose statement left it as it was: idle again."""
        if self._closed:
            self._close_later(kept.connection)
            return
        kept.used = time.time()
        self._idle.append(kept)

    def discard(self, kept: Kept) -> None:
        """A connection taken whose statement failed or was cancelled with it in an unknown
        state: cut at once."""
        self._held -= 1
        try:
            kept.connection.driver_connection.terminate()
        except Exception as exc:  # already gone; nothing left to free
            log.debug("lookup_connection_terminate_failed", error=type(exc).__name__)
        self._maybe_all_back()

    def adopt(self, fairy: Any) -> bool:
        """Keep a connection just borrowed from the pool (and detach it from the pool), when
        the lane is short of one; False: the caller returns it to the pool as usual."""
        if self._closed or self._held >= self.size:
            return False
        now = time.time()
        # Its age counts from when the pool opened it, for the recycle time.
        opened = getattr(getattr(fairy, "_connection_record", None), "starttime", 0) or now
        fairy.detach()
        self._held += 1
        self._idle.append(Kept(opened, now, fairy.dbapi_connection))
        return True

    async def close(self) -> None:
        """Close the idle connections now, and wait (up to `CLOSE_TIMEOUT_S`) for those in
        use to come back and be closed."""
        self._closed = True
        while self._idle:
            self._close_later(self._idle.pop().connection)
        if self._held > 0:
            self._all_back = asyncio.Event()
            try:
                await asyncio.wait_for(self._all_back.wait(), CLOSE_TIMEOUT_S)
            except TimeoutError:
                log.warning("lookup_connections_still_in_use", count=self._held)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _close_later(self, connection: Any) -> None:
        self._held -= 1
        task = asyncio.get_running_loop().create_task(_close(connection))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        self._maybe_all_back()

    def _maybe_all_back(self) -> None:
        if self._all_back is not None and self._held <= 0:
            self._all_back.set()


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
    lane = ReadLane(engine.pool, size, recycle_s)
    _LANES[engine.pool] = lane
    return lane


def lane_of(engine: Engine) -> ReadLane | None:
    """The lane beside the engine's pool, if it has one."""
    return _LANES.get(engine.pool)
