"""Reading from a replica: who wrote a moment ago, and sessions that can change database.

A read-only request (GET, HEAD, OPTIONS) authenticates on the primary (so a login or a token
made a moment ago works at once), then, once its principal is known, sends the rest of its
statements to the replica — unless that principal wrote within QTRACK_DATABASE_REPLICA_
STICKY_S, so whoever just changed something reads it back (read-your-writes). `Database`
(core/db.py) owns the replica engine and a `RecentWriters`; the request wiring
(core/deps.py, accounts/deps.py) says who is asking and when a write committed.
"""

from datetime import datetime, timedelta
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from qtrack.core.clock import utcnow

log = structlog.get_logger("qtrack.db")

# Keys of `Session.info` the routing uses.
REPLICA_BIND = "qtrack_replica_bind"  # the engine the session's statements go to from now on
WRITER = "qtrack_writer"  # who the request acts for, once known
SERVED = "qtrack_served"  # "replica" or "primary", once decided
READ = "qtrack_read"  # the session only reads: it may move to the replica

_MAX_LOCAL = 100_000  # entries kept in this process before expired ones are swept out


class RoutingSession(Session):
    """A session whose statements go to the replica once `Database.route_reads` said so
    (before that, and for every write session, to the primary)."""

    def get_bind(self, mapper: Any = None, **kw: Any) -> Any:
        replica = self.info.get(REPLICA_BIND)
        if replica is not None:
            return replica
        return super().get_bind(mapper, **kw)


class RecentWriters:
    """Who wrote in the last `window_s` seconds: in Redis when there is one (every process
    and host sees the same), and in this process always (so a Redis outage degrades to
    read-your-writes per process, not to none)."""

    def __init__(self, window_s: float) -> None:
        self.window = timedelta(seconds=window_s)
        self.redis: Redis | None = None
        self._local: dict[str, datetime] = {}

    def share(self, redis: Redis | None) -> None:
        """Keep the marks in this Redis too, for the other processes."""
        self.redis = redis

    @staticmethod
    def _key(who: str) -> str:
        return f"qtrack:wrote:{who}"

    async def note(self, who: str) -> None:
        """`who` has just committed a write."""
        if self.window <= timedelta(0):
            return
        now = utcnow()
        if len(self._local) >= _MAX_LOCAL:
            self._local = {k: until for k, until in self._local.items() if until > now}
        self._local[who] = now + self.window
        if self.redis is not None:
            try:
                await self.redis.set(self._key(who), 1, px=int(self.window.total_seconds() * 1000))
            except (RedisError, OSError) as exc:
                log.warning("replica_sticky_redis_failed", error=str(exc))

    async def wrote_recently(self, who: str) -> bool:
        """Whether `who` committed a write within the window (here, or in any process)."""
        until = self._local.get(who)
        if until is not None and until > utcnow():
            return True
        if self.redis is None or self.window <= timedelta(0):
            return False
        try:
            return bool(await self.redis.exists(self._key(who)))
        except (RedisError, OSError) as exc:
            # Unknown: the primary answers, so nobody misses their own write.
            log.warning("replica_sticky_redis_failed", error=str(exc))
            return True
