"""A cache for rendered QR images: in this process, and shared through Redis when there is one.

A label's QR never changes, so each image is rendered once: the in-process LRU answers in
microseconds; Redis lets every worker reuse what another rendered. If Redis fails the cache
keeps working in this process, says so in the log, and leaves Redis alone for a few seconds
rather than paying a connection timeout on every request.
"""

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger("qtrack.labels.cache")


def render_key(kind: str, data: str, **params: object) -> str:
    """A cache key naming the output kind, every render parameter and the data."""
    settings = ",".join(f"{name}={params[name]!r}" for name in sorted(params))
    return f"{kind}|{settings}|{data}"


class QrCache:
    """LRU of rendered images bounded by entries and bytes, optionally backed by Redis."""

    def __init__(
        self,
        *,
        max_entries: int = 4096,
        max_bytes: int = 16 * 1024 * 1024,
        redis: Redis | None = None,
        prefix: str = "qtrack:qr:",
        redis_retry_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be positive")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.redis = redis
        self.prefix = prefix
        self.redis_retry_s = redis_retry_s
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        self._redis_down_until = 0.0

    @property
    def size_bytes(self) -> int:
        """Bytes of image data held in this process."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    async def get_or_render(self, key: str, render: Callable[[], bytes], ttl_s: int) -> bytes:
        """The cached image for `key`, or `render()`'s result, cached for `ttl_s` seconds."""
        if ttl_s < 1:
            raise ValueError("ttl_s must be at least 1")
        # Keys carry the data (up to a few kB for a long QR payload): store a digest instead.
        digest = hashlib.sha256(key.encode()).hexdigest()
        now = self.clock()
        value = self._get_local(digest, now)
        if value is not None:
            return value
        value = await self._get_shared(digest)
        if value is None:
            value = render()
            await self._set_shared(digest, value, ttl_s)
        self._set_local(digest, value, now + ttl_s)
        return value

    def _get_local(self, digest: str, now: float) -> bytes | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= now:
            self._drop(digest)
            return None
        self._entries.move_to_end(digest)
        return value

    def _set_local(self, digest: str, value: bytes, expires_at: float) -> None:
        if len(value) > self.max_bytes:
            return  # would evict everything else and still not fit
        if digest in self._entries:
            self._drop(digest)
        self._entries[digest] = (expires_at, value)
        self._bytes += len(value)
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))  # least recently used first

    def _drop(self, digest: str) -> None:
        _, value = self._entries.pop(digest)
        self._bytes -= len(value)

    def _redis_usable(self) -> Redis | None:
        if self.redis is None or self.clock() < self._redis_down_until:
            return None
        return self.redis

    def _redis_failed(self, exc: Exception) -> None:
        self._redis_down_until = self.clock() + self.redis_retry_s
        log.warning(
            "qr_cache_redis_failed",
            error=type(exc).__name__,
            detail=str(exc)[:200],
            retry_in_s=self.redis_retry_s,
        )

    async def _get_shared(self, digest: str) -> bytes | None:
        redis = self._redis_usable()
        if redis is None:
            return None
        try:
            value = await redis.get(self.prefix + digest)
        except (RedisError, OSError) as exc:
            self._redis_failed(exc)
            return None
        return value if isinstance(value, bytes) else None

    async def _set_shared(self, digest: str, value: bytes, ttl_s: int) -> None:
        redis = self._redis_usable()
        if redis is None:
            return
        try:
            await redis.set(self.prefix + digest, value, ex=ttl_s)
        except (RedisError, OSError) as exc:
            self._redis_failed(exc)
