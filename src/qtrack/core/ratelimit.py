"""Rate-limit counters: shared through Redis, or per process without it.

Two kinds:
* fixed windows (`hit`), cheap enough for every API request: a counter per key per window,
  aligned to the epoch so every worker agrees. Given the limit, the Redis counter is not
  asked on every hit: each process counts locally and reconciles with Redis (adds what it
  counted, reads the total) at most every `SYNC_S` seconds, and on every hit once the total
  it knows of comes within a quarter of the limit. Far from the limit a request costs no
  network round trip; near it the count is exact again, so all workers together can go over
  a limit only by what they counted in the last `SYNC_S` while under three quarters of it;
* sliding logs (`add_event` / `recent`), exact over the last `window_s` seconds, for rare
  events where a burst across a window edge must not double the allowance (failed logins).

If Redis is configured but fails, counting falls back to this process rather than refusing
service, says so in the log, and stays there for a few seconds before trying Redis again (so
a Redis that went away costs one connect timeout, not one per login). `in_force()` says which
counting applies right now, for /readyz.
"""

import time
import uuid
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger("qtrack.ratelimit")


@dataclass(frozen=True)
class Window:
    """Where a key stands: how many events, and when the oldest one stops counting."""

    count: int
    retry_after_s: int


def _fixed_window(window_s: int, now: float) -> tuple[int, int]:
    index = int(now // window_s)
    retry_after = max(1, int((index + 1) * window_s - now + 0.999))
    return index, retry_after


def _retry_after(oldest: float | None, window_s: int, now: float) -> int:
    if oldest is None:
        return 0
    return max(1, int(oldest + window_s - now + 0.999))


class RateLimiter(ABC):
    """Counts events per key."""

    kind: str

    def in_force(self) -> str:
        """Where counts are kept right now: "redis" or "in-process"."""
        return self.kind

    @abstractmethod
    async def hit(self, key: str, window_s: int, limit: int | None = None) -> Window:
        """Count one event in the key's current fixed window; return the new count. With the
        limit the caller enforces, the count may come from this process's reconciled view
        while it is well below the limit (see the module's docstring)."""

    @abstractmethod
    async def add_event(self, key: str, window_s: int) -> tuple[int, str]:
        """Log one event for the key's sliding window; return the count including it (taken
        atomically with the add) and the event's id, to remove it again."""

    @abstractmethod
    async def remove_event(self, key: str, event_id: str) -> None:
        """Forget one logged event (an attempt that turned out fine)."""

    @abstractmethod
    async def recent(self, key: str, window_s: int) -> Window:
        """Events logged for the key in the last `window_s` seconds."""


class MemoryRateLimiter(RateLimiter):
    """Counters in this process only."""

    kind = "in-process"

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int, int], int] = {}
        self._logs: dict[str, deque[tuple[float, str]]] = {}
        self._last_sweep = 0.0

    def _sweep(self, now: float) -> None:
        # Drop what can no longer count, at most once a second, so memory stays bounded.
        if now - self._last_sweep < 1:
            return
        self._last_sweep = now
        for slot in [k for k in self._counts if (k[2] + 1) * k[1] <= now]:
            del self._counts[slot]
        for key in [k for k, v in self._logs.items() if not v or v[-1][0] < now - 86_400]:
            del self._logs[key]

    async def hit(self, key: str, window_s: int, limit: int | None = None) -> Window:
        now = time.time()
        self._sweep(now)
        index, retry = _fixed_window(window_s, now)
        slot = (key, window_s, index)
        self._counts[slot] = self._counts.get(slot, 0) + 1
        return Window(self._counts[slot], retry)

    async def add_event(self, key: str, window_s: int) -> tuple[int, str]:
        now = time.time()
        self._sweep(now)
        event_id = uuid.uuid4().hex
        events = self._logs.setdefault(key, deque())
        events.append((now, event_id))
        while events and events[0][0] <= now - window_s:
            events.popleft()
        return len(events), event_id

    async def remove_event(self, key: str, event_id: str) -> None:
        events = self._logs.get(key)
        if events:
            self._logs[key] = deque(e for e in events if e[1] != event_id)

    async def recent(self, key: str, window_s: int) -> Window:
        now = time.time()
        events = self._logs.get(key)
        if not events:
            return Window(0, 0)
        while events and events[0][0] <= now - window_s:
            events.popleft()
        first = events[0][0] if events else None
        return Window(len(events), _retry_after(first, window_s, now))


@dataclass
class _Slot:
    """One process's view of a shared fixed-window counter."""

    index: int  # the window
    total: int = 0  # the shared count as Redis last said (this process's hits included)
    pending: int = 0  # hits counted here since, not yet added in Redis
    synced: bool = False
    syncing: bool = False
    synced_at: float = 0.0


class RedisRateLimiter(RateLimiter):
    """Counters in Redis, shared by every worker; per-process fallback when Redis fails."""

    kind = "redis"
    RETRY_REDIS_AFTER_S = 5.0
    SYNC_S = 0.25  # how stale this process's view of a shared count may be, far from a limit

    def __init__(self, redis: Redis, prefix: str = "qtrack:rl") -> None:
        self.redis = redis
        self.prefix = prefix
        self.fallback = MemoryRateLimiter()
        self._down_until = 0.0
        self._slots: dict[tuple[str, int], _Slot] = {}

    def in_force(self) -> str:
        """`in-process` while Redis is failing, `redis` otherwise."""
        return self.fallback.kind if time.monotonic() < self._down_until else self.kind

    def _down(self) -> bool:
        return time.monotonic() < self._down_until

    def _failed(self, exc: Exception) -> None:
        log.warning("ratelimit_redis_failed", error=type(exc).__name__)
        self._down_until = time.monotonic() + self.RETRY_REDIS_AFTER_S

    async def hit(self, key: str, window_s: int, limit: int | None = None) -> Window:
        if self._down():
            return await self.fallback.hit(key, window_s)
        now = time.time()
        index, retry = _fixed_window(window_s, now)
        slot = self._slots.get((key, window_s))
        if slot is None or slot.index != index:
            if len(self._slots) > 10_000:
                self._slots = {k: v for k, v in self._slots.items() if v.index >= index - 1}
            slot = self._slots[(key, window_s)] = _Slot(index)
        slot.pending += 1
        mono = time.monotonic()
        if (
            limit is not None
            and slot.synced
            and slot.total + slot.pending <= limit - limit // 4
            and (mono - slot.synced_at < self.SYNC_S or slot.syncing)
        ):
            return Window(slot.total + slot.pending, retry)
        # Reconcile: add what this process counted since, read the total. Hits that arrive
        # while this one waits are counted into `pending` again and go with the next one.
        delta, slot.pending = slot.pending, 0
        slot.syncing, slot.synced_at = True, mono
        rkey = f"{self.prefix}:fw:{window_s}:{index}:{key}"
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incrby(rkey, delta)
                pipe.expire(rkey, window_s + 1)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            slot.pending += delta
            slot.syncing = False
            self._failed(exc)
            return await self.fallback.hit(key, window_s)
        slot.syncing = False
        slot.synced = True
        slot.total = max(slot.total, int(count))
        return Window(slot.total + slot.pending, retry)

    async def add_event(self, key: str, window_s: int) -> tuple[int, str]:
        if self._down():
            return await self.fallback.add_event(key, window_s)
        now = time.time()
        rkey = f"{self.prefix}:log:{key}"
        event_id = uuid.uuid4().hex
        try:
            # One MULTI/EXEC: the add and the count cannot interleave with another worker's.
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zadd(rkey, {event_id: now})
                pipe.zremrangebyscore(rkey, "-inf", now - window_s)
                pipe.zcard(rkey)
                pipe.expire(rkey, window_s + 1)
                _, _, count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return await self.fallback.add_event(key, window_s)
        return int(count), event_id

    async def remove_event(self, key: str, event_id: str) -> None:
        await self.fallback.remove_event(key, event_id)  # it may have been counted here
        if self._down():
            return
        try:
            await self.redis.zrem(f"{self.prefix}:log:{key}", event_id)
        except (RedisError, OSError) as exc:
            self._failed(exc)

    async def recent(self, key: str, window_s: int) -> Window:
        if self._down():
            return await self.fallback.recent(key, window_s)
        now = time.time()
        rkey = f"{self.prefix}:log:{key}"
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zcount(rkey, f"({now - window_s}", "+inf")
                pipe.zrangebyscore(
                    rkey, f"({now - window_s}", "+inf", start=0, num=1, withscores=True
                )
                count, oldest = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return await self.fallback.recent(key, window_s)
        first = float(oldest[0][1]) if oldest else None
        return Window(int(count), _retry_after(first, window_s, now))


def create_rate_limiter(redis: Redis | None) -> RateLimiter:
    """Redis-backed when Redis is configured, per-process otherwise."""
    return RedisRateLimiter(redis) if redis is not None else MemoryRateLimiter()
