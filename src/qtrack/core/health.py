"""Liveness, readiness and metrics endpoints."""

import asyncio
from typing import Any, Literal

import structlog
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.responses import Response

from qtrack.core.errors import NotFound
from qtrack.core.http import ORJSONResponse
from qtrack.core.state import app_state

router = APIRouter(tags=["health"])
log = structlog.get_logger("qtrack.health")
CHECK_TIMEOUT_S = 2.0


class Readiness(BaseModel):
    """Whether this worker can do useful work, and what each check found."""

    status: Literal["ok", "degraded", "unavailable"]
    checks: dict[str, str]


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
    """Whether this worker can do useful work: 503 without a database; degraded without Redis."""
    state = app_state(request)
    checks: dict[str, Any] = {}
    status_code = 200

    try:
        await asyncio.wait_for(state.db.ping(), CHECK_TIMEOUT_S)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready"; say which
        log.warning("readyz_database_failed", error=type(exc).__name__)
        checks["database"] = f"error: {type(exc).__name__}"
        status_code = 503

    # Without Redis, rate limits and caches fall back to this process alone; still serving.
    if state.redis is None:
        checks["redis"] = "degraded: no redis"
    else:
        try:
            await asyncio.wait_for(state.redis.ping(), CHECK_TIMEOUT_S)
            checks["redis"] = "ok"
        except Exception as exc:
            log.warning("readyz_redis_failed", error=type(exc).__name__)
            checks["redis"] = f"degraded: redis unreachable ({type(exc).__name__})"

    checks["rate_limits"] = state.limiter.kind

    if status_code != 200:
        overall = "unavailable"
    elif any(str(v).startswith("degraded") for v in checks.values()):
        overall = "degraded"
    else:
        overall = "ok"
    return ORJSONResponse({"status": overall, "checks": checks}, status_code=status_code)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus exposition of this worker's metrics."""
    state = app_state(request)
    if state.metrics is None:
        raise NotFound("Metrics are disabled")
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
