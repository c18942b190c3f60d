"""What the app holds for its lifetime: settings, database, Redis, metrics."""

from dataclasses import dataclass

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
    # The migration this code expects the database at; /readyz fails while it is elsewhere.
    schema_head: str | None = None


def app_state(conn: HTTPConnection) -> AppState:
    """The state of the app serving this request (plain function: also used outside FastAPI)."""
    state: AppState = conn.app.state.qtrack
    return state


async def app_state_dep(conn: HTTPConnection) -> AppState:
    """`app_state` as a dependency; async, so FastAPI does not hop to a thread for it."""
    return app_state(conn)
