"""Optional Redis: shared cache, rate limits and pub/sub. qtrack runs without it."""

from redis.asyncio import Redis

from qtrack.config import Settings


def create_redis(settings: Settings) -> Redis | None:
    """A client for the configured Redis, or None when none is configured."""
    if not settings.redis_url:
        return None
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
    )
