"""/admin/system: how the installation stands, read from the same figures as /metrics.

The page scrapes the app's own registry (every worker's share with QTRACK_METRICS_DIR) and
lays the samples out for a person: nothing here queries anything /metrics does not.
"""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from qtrack.accounts.deps import require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.deps import StateDep
from qtrack.core.health import scrape
from qtrack.web.render import page

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(require(Permission.ADMIN_CONFIG))]

Samples = dict[str, list[tuple[dict[str, str], float]]]


@dataclass(frozen=True)
class Worker:
    """One qtrack process the metrics heard from."""

    kind: str
    version: str
    pid: str


def _one(samples: Samples, name: str, default: float = 0.0) -> float:
    found = samples.get(name)
    return found[0][1] if found else default


def _by(samples: Samples, name: str, label: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for labels, value in samples.get(name, []):
        key = labels.get(label, "")
        totals[key] = totals.get(key, 0.0) + value
    return totals


def _ratio(hits: float, misses: float) -> float | None:
    return hits / (hits + misses) if hits + misses > 0 else None


def system_view(samples: Samples) -> dict[str, Any]:
    """The page's figures from the registry's samples."""
    db_info = samples.get("qtrack_db_info", [({}, 0.0)])[0][0]
    redis_info = samples.get("qtrack_redis_info", [({}, 0.0)])[0][0]
    workers = sorted(
        (
            Worker(labels.get("kind", ""), labels.get("version", ""), labels.get("pid", "this"))
            for labels, value in samples.get("qtrack_process_info", [])
            if value > 0
        ),
        key=lambda w: (w.kind, w.pid),
    )
    disks = [
        {"path": path, "free": free, "size": _by(samples, "qtrack_disk_size_bytes", "path")[path]}
        for path, free in sorted(_by(samples, "qtrack_disk_free_bytes", "path").items())
    ]
    requests = sum(value for _labels, value in samples.get("qtrack_http_requests_total", []))
    return {
        "database": {
            "dialect": db_info.get("dialect", ""),
            "version": db_info.get("version", ""),
            "size": _one(samples, "qtrack_db_size_bytes"),
            "connections": _by(samples, "qtrack_db_connections", "state"),
            "max_connections": _one(samples, "qtrack_db_max_connections"),
            "pool": _by(samples, "qtrack_db_pool_connections", "state"),
            "cache_hit_rate": _ratio(
                _one(samples, "qtrack_db_blocks_hit_total"),
                _one(samples, "qtrack_db_blocks_read_total"),
            ),
            "slow_queries": _one(samples, "qtrack_db_slow_queries_total"),
        },
        "redis": {
            "up": _one(samples, "qtrack_redis_up") > 0,
            "configured": "qtrack_redis_up" in samples,
            "version": redis_info.get("version", ""),
            "memory": _one(samples, "qtrack_redis_used_memory_bytes"),
            "clients": _one(samples, "qtrack_redis_connected_clients"),
            "uptime": _one(samples, "qtrack_redis_uptime_seconds"),
            "hit_rate": _ratio(
                _one(samples, "qtrack_redis_keyspace_hits_total"),
                _one(samples, "qtrack_redis_keyspace_misses_total"),
            ),
        },
        "jobs": {
            "states": _by(samples, "qtrack_jobs", "state"),
            "oldest": _one(samples, "qtrack_jobs_oldest_ready_seconds"),
            "runners": _one(samples, "qtrack_job_runners"),
            "outcomes": _by(samples, "qtrack_job_runs_total", "outcome"),
        },
        "requests": {
            "total": requests,
            "errors": _by(samples, "qtrack_http_errors_last_hour", "class"),
            "slow": sum(v for _l, v in samples.get("qtrack_http_slow_requests_total", [])),
        },
        "workers": workers,
        "disks": disks,
    }


@router.get("/admin/system")
async def system_page(request: Request, principal: Admin, state: StateDep) -> Response:
    """The installation at a glance: database, cache, Redis, jobs, errors, workers, disks."""
    metrics = await scrape(state)
    context = {"view": system_view(metrics.samples()), "multiprocess": metrics.multiprocess}
    return page(
        request, "admin/system.html", principal=principal, settings=state.settings,
        context=context,
    )  # fmt: skip
