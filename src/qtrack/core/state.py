"""What the app holds for its lifetime: settings, database, Redis, metrics."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.core.metrics import Metrics
from qtrack.core.ratelimit import RateLimiter


@dataclass
class AppState:
    """Long-lived resources of one running app."""

    settings: Settings
    db: Database
    redis: Redis | None
    metrics: Metrics | None
    limiter: RateLimiter
    # Added by the layers above core (the jobs runner): more /readyz entries (name -> a check
    # giving entries; a value starting "degraded" degrades the answer), and work to do before
    # a /metrics scrape (gauges that need the database).
    readiness_checks: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = field(
        default_factory=dict
    )
    before_scrape: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # The migration this code expects the database at; /readyz fails while it is elsewhere.
    schema_head: str | None = None
    # Every migration this code ships: a revision outside them is a newer release's (a rolling
    # upgrade migrated the database ahead of this process), which /readyz only flags.
    known_revisions: frozenset[str] = frozenset()


def app_state(conn: HTTPConnection) -> AppState:
    """The state of the app serving this request (plain function: also used outside FastAPI)."""
    state: AppState = conn.app.state.qtrack
    return state


async def app_state_dep(conn: HTTPConnection) -> AppState:
    """`app_state` as a dependency; async, so FastAPI does not hop to a thread for it."""
    return app_state(conn)
