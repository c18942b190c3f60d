"""Fixed-window counters for rate limits: shared through Redis, or per process without it.

A window is `window_s` seconds long and aligned to the epoch, so every worker agrees on it.
If Redis is configured but fails, counting falls back to this process instead of refusing
service (and says so in the log).
"""

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger("qtrack.ratelimit")


@dataclass(frozen=True)
class Window:
    """Where a key stands in its current window."""

    count: int
    retry_after_s: int


def _window(window_s: int, now: float) -> tuple[int, int]:
    index = int(now // window_s)
    retry_after = max(1, int((index + 1) * window_s - now + 0.999))
    return index, retry_after


class RateLimiter(ABC):
    """Counts events per key per window."""

    kind: str

    @abstractmethod
    async def hit(self, key: str, window_s: int) -> Window:
        """Count one event for the key and return the new count."""

    @abstractmethod
    async def peek(self, key: str, window_s: int) -> Window:
        """The key's count in the current window, without counting."""

    @abstractmethod
    async def reset(self, key: str, window_s: int) -> None:
        """Forget the key's count in the current window."""


class MemoryRateLimiter(RateLimiter):
    """Counters in this process only."""

    kind = "in-process"

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int, int], int] = {}
        self._last_sweep = 0

    def _sweep(self, now: float) -> None:
        # Drop windows that have ended, at most once a second, so memory stays bounded.
        if now - self._last_sweep < 1:
            return
        self._last_sweep = int(now)
        stale = [k for k in self._counts if (k[2] + 1) * k[1] <= now]
        for k in stale:
            del self._counts[k]

    async def hit(self, key: str, window_s: int) -> Window:
        now = time.time()
        self._sweep(now)
        index, retry = _window(window_s, now)
        slot = (key, window_s, index)
        self._counts[slot] = self._counts.get(slot, 0) + 1
        return Window(self._counts[slot], retry)

    async def peek(self, key: str, window_s: int) -> Window:
        index, retry = _window(window_s, time.time())
        return Window(self._counts.get((key, window_s, index), 0), retry)

    async def reset(self, key: str, window_s: int) -> None:
        index, _ = _window(window_s, time.time())
        self._counts.pop((key, window_s, index), None)


class RedisRateLimiter(RateLimiter):
    """Counters in Redis, shared by every worker; per-process fallback when Redis fails."""

    kind = "redis"

    def __init__(self, redis: Redis, prefix: str = "qtrack:rl") -> None:
        self.redis = redis
        self.prefix = prefix
        self.fallback = MemoryRateLimiter()

    def _key(self, key: str, window_s: int, index: int) -> str:
        return f"{self.prefix}:{window_s}:{index}:{key}"

    async def hit(self, key: str, window_s: int) -> Window:
        index, retry = _window(window_s, time.time())
        rkey = self._key(key, window_s, index)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(rkey)
                pipe.expire(rkey, window_s + 1)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("ratelimit_redis_failed", error=type(exc).__name__)
            return await self.fallback.hit(key, window_s)
        return Window(int(count), retry)

    async def peek(self, key: str, window_s: int) -> Window:
        index, retry = _window(window_s, time.time())
        try:
            value = await self.redis.get(self._key(key, window_s, index))
        except (RedisError, OSError) as exc:
            log.warning("ratelimit_redis_failed", error=type(exc).__name__)
            return await self.fallback.peek(key, window_s)
        return Window(int(value or 0), retry)

    async def reset(self, key: str, window_s: int) -> None:
        index, _ = _window(window_s, time.time())
        try:
            await self.redis.delete(self._key(key, window_s, index))
        except (RedisError, OSError) as exc:
            log.warning("ratelimit_redis_failed", error=type(exc).__name__)
            await self.fallback.reset(key, window_s)


def create_rate_limiter(redis: Redis | None) -> RateLimiter:
    """Redis-backed when Redis is configured, per-process otherwise."""
    return RedisRateLimiter(redis) if redis is not None else MemoryRateLimiter()
