"""Rate-limit counters, per process and shared through Redis."""

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from qtrack.core.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from tests.timing import clear_of_minute


@pytest.fixture(autouse=True)
def inside_one_minute() -> None:
    """A test that counts hits counts them all in one fixed window."""
    clear_of_minute()


@pytest.fixture(params=["in-process", "redis"])
async def limiters(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[RateLimiter, RateLimiter]]:
    """Two limiters as two workers would hold them: shared when backed by Redis."""
    if request.param == "in-process":
        yield MemoryRateLimiter(), MemoryRateLimiter()
        return
    url = request.getfixturevalue("redis_url")
    first, second = Redis.from_url(url), Redis.from_url(url)
    yield RedisRateLimiter(first), RedisRateLimiter(second)
    await first.aclose()
    await second.aclose()


async def test_fixed_window_counts(limiters: tuple[RateLimiter, RateLimiter]) -> None:
    one, _ = limiters
    counts = [(await one.hit("k", 60)).count for _ in range(3)]
    assert counts == [1, 2, 3]
    assert 1 <= (await one.hit("k", 60)).retry_after_s <= 60
    assert (await one.hit("other", 60)).count == 1


async def test_sliding_log_counts_recent_events(limiters: tuple[RateLimiter, RateLimiter]) -> None:
    one, _ = limiters
    assert (await one.recent("fail", 60)).count == 0
    for _ in range(4):
        await one.add_event("fail", 60)
    window = await one.recent("fail", 60)
    assert window.count == 4
    assert 59 <= window.retry_after_s <= 60


async def test_workers_share_counts_only_through_redis(
    limiters: tuple[RateLimiter, RateLimiter],
) -> None:
    one, two = limiters
    await one.hit("shared", 60)
    await one.add_event("shared-log", 60)
    shared = isinstance(one, RedisRateLimiter)
    assert (await two.hit("shared", 60)).count == (2 if shared else 1)
    assert (await two.recent("shared-log", 60)).count == (1 if shared else 0)


async def test_adding_an_event_counts_atomically(limiters: tuple[RateLimiter, RateLimiter]) -> None:
    one, _ = limiters
    counts = sorted([(await one.add_event("burst", 60))[0] for _ in range(5)])
    assert counts == [1, 2, 3, 4, 5]
    _, event_id = await one.add_event("burst", 60)
    await one.remove_event("burst", event_id)
    assert (await one.recent("burst", 60)).count == 5


async def test_redis_outage_falls_back_to_this_process() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    limiter = RedisRateLimiter(dead)
    try:
        assert (await limiter.hit("k", 60)).count == 1
        assert (await limiter.hit("k", 60)).count == 2
        await limiter.add_event("f", 60)
        assert (await limiter.recent("f", 60)).count == 1
    finally:
        await dead.aclose()


async def test_far_from_the_limit_redis_is_asked_only_now_and_then(redis_url: str) -> None:
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    one, two = RedisRateLimiter(first), RedisRateLimiter(second)
    one.SYNC_S = 3600  # however long the first hit's connection takes to open
    try:
        counts = [(await one.hit("busy", 60, 1000)).count for _ in range(10)]
        assert counts == list(range(1, 11))  # this process's view counts every hit
        # Only the first hit went to Redis: the other worker sees one, and its own.
        assert (await two.hit("busy", 60)).count == 2
        one.SYNC_S = 0  # stale at once: the next hit reconciles, adding the nine it kept
        assert (await one.hit("busy", 60, 1000)).count == 12
        assert (await two.hit("busy", 60)).count == 13
    finally:
        await first.aclose()
        await second.aclose()


async def test_near_the_limit_every_hit_is_counted_in_redis(redis_url: str) -> None:
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    one, two = RedisRateLimiter(first), RedisRateLimiter(second)
    try:
        # A limit of 8: a quarter of it is the margin, so past 6 every hit is exact.
        for _ in range(6):
            await two.hit("near", 60)
        assert (await one.hit("near", 60, 8)).count == 7
        assert (await two.hit("near", 60, 8)).count == 8
        assert (await one.hit("near", 60, 8)).count == 9  # over: the caller refuses it
    finally:
        await first.aclose()
        await second.aclose()
