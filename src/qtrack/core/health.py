"""Liveness, readiness and metrics endpoints."""

import asyncio
from typing import Any, Literal

import structlog
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.responses import Response

from qtrack.core.errors import DatabaseUnavailable, NotFound
from qtrack.core.http import ORJSONResponse
from qtrack.core.metrics import Metrics, forget_dead_processes, multiprocess_dir
from qtrack.core.state import AppState, app_state

router = APIRouter(tags=["health"])
log = structlog.get_logger("qtrack.health")
CHECK_TIMEOUT_S = 2.0


class Readiness(BaseModel):
    """Whether this worker can do useful work, and what each check found."""

    status: Literal["ok", "degraded", "unavailable"]
    checks: dict[str, str | dict[str, Any]]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and serving."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: the database is not there"}},
)
async def readyz(request: Request) -> Response:
    """Whether this worker can do useful work: 503 without a database or with one that is not
    migrated to what this code expects; degraded without Redis."""
    state = app_state(request)
    checks: dict[str, Any] = {}
    status_code = 200

    try:
        revision = await asyncio.wait_for(state.db.schema_revision(), CHECK_TIMEOUT_S)
        checks["database"] = "ok"
        checks["schema"] = _schema_check(revision, state.schema_head, state.known_revisions)
        if not checks["schema"].startswith(("ok", "degraded")):
            status_code = 503
    except Exception as exc:  # any failure means "not ready"; say which
        cause = exc.__cause__ if isinstance(exc, DatabaseUnavailable) and exc.__cause__ else exc
        log.warning("readyz_database_failed", error=type(cause).__name__)
        checks["database"] = f"error: {type(cause).__name__}"
        status_code = 503

    if state.db.replica is not None:
        checks["replica"] = await _replica_check(state)

    # Without Redis, rate limits and caches fall back to this process alone; still serving.
    redis_up = False
    if state.redis is None:
        checks["redis"] = "degraded: no redis"
    else:
        try:
            await asyncio.wait_for(state.redis.ping(), CHECK_TIMEOUT_S)
            checks["redis"] = "ok"
            redis_up = True
        except Exception as exc:
            log.warning("readyz_redis_failed", error=type(exc).__name__)
            checks["redis"] = f"degraded: redis unreachable ({type(exc).__name__})"

    # What counts failed logins and API calls now: with Redis configured but failing, each
    # worker counts on its own, so the limits are per worker until Redis answers again.
    in_force = state.limiter.in_force()
    if state.redis is not None and (not redis_up or in_force != "redis"):
        checks["rate_limits"] = "degraded: in-process (redis unreachable; each worker counts alone)"
    else:
        checks["rate_limits"] = in_force

    if status_code == 200:  # the checks added by other layers all need the database
        for name, check in state.readiness_checks.items():
            try:
                checks.update(await asyncio.wait_for(check(), CHECK_TIMEOUT_S))
            except Exception as exc:
                log.warning("readyz_check_failed", check=name, error=type(exc).__name__)
                checks[name] = f"degraded: check failed ({type(exc).__name__})"

    if status_code != 200:
        overall = "unavailable"
    elif any(str(v).startswith("degraded") for v in checks.values()):
        overall = "degraded"
    else:
        overall = "ok"
    return ORJSONResponse({"status": overall, "checks": checks}, status_code=status_code)


async def _replica_check(state: AppState) -> str:
    """The read replica: reachable, and not further behind than read-your-writes allows (past
    QTRACK_DATABASE_REPLICA_STICKY_S a user could miss their own write). Reads fall back to
    the primary, so a replica's trouble degrades, never fails, readiness."""
    try:
        lag = await asyncio.wait_for(state.db.replica_lag_s(), CHECK_TIMEOUT_S)
    except Exception as exc:
        cause = exc.__cause__ if isinstance(exc, DatabaseUnavailable) and exc.__cause__ else exc
        log.warning("readyz_replica_failed", error=type(cause).__name__)
        return f"degraded: replica unreachable ({type(cause).__name__}); reads on the primary"
    if state.db.replica_resting():
        return "degraded: reads on the primary for now (the replica failed a moment ago)"
    sticky = state.settings.database_replica_sticky_s
    if lag is not None and lag > sticky:
        return (
            f"degraded: replica {lag:.1f} s behind, more than the {sticky:g} s "
            "read-your-writes window"
        )
    return "ok" if lag is None else f"ok ({lag:.1f} s behind)"


def _schema_check(revision: str | None, head: str | None, known: frozenset[str]) -> str:
    if head is None or revision == head:
        return "ok"
    if revision is None:
        return "not migrated: run `qtrack db upgrade`"
    if known and revision not in known:
        # A newer release migrated the database (its migrations add, never take away, so this
        # code still works on it): serving on is what makes a rolling upgrade invisible.
        return f"degraded: at {revision}, newer than this qtrack ({head}): upgrade this server"
    return f"at {revision}, this qtrack expects {head}: run `qtrack db upgrade`"


async def scrape(state: AppState) -> Metrics:
    """Bring every figure up to date for a read of the registry: /metrics and the admin
    system page read the same data this way."""
    metrics = state.metrics
    if metrics is None:
        raise NotFound("Metrics are disabled (QTRACK_METRICS_ENABLED)")
    metrics.refresh()
    directory = multiprocess_dir()
    if directory is not None:
        # Workers that died (and were replaced) must not count as alive any longer.
        forget_dead_processes(directory)
    for refresh in state.before_scrape:
        try:
            await asyncio.wait_for(refresh(), CHECK_TIMEOUT_S)
        except Exception as exc:  # the gauges keep their last values; the scrape goes on
            log.warning("metrics_refresh_failed", error=type(exc).__name__)
    return metrics


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus exposition of the metrics: this worker's, or with QTRACK_METRICS_DIR those
    of every qtrack process of the host, summed."""
    found = await scrape(app_state(request))
    return Response(generate_latest(found.registry), media_type=CONTENT_TYPE_LATEST)
