"""The application factory: settings in, a configured FastAPI app out."""

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from qtrack import __version__, migrations, wiring
from qtrack import handlers as _handlers  # noqa: F401  (registers every job, schedule, consumer)
from qtrack.accounts import admin_pages as accounts_admin_pages
from qtrack.accounts import api as accounts_api
from qtrack.accounts import pages as accounts_pages
from qtrack.alerts import api as alerts_api
from qtrack.alerts import pages as alerts_pages
from qtrack.audit import api as audit_api
from qtrack.categories import api as categories_api
from qtrack.categories import pages as categories_pages
from qtrack.codes import api as codes_api
from qtrack.codes import pages as codes_pages
from qtrack.config import Settings, get_settings
from qtrack.containers import api as containers_api
from qtrack.core import fastroutes, heap, security
from qtrack.core.apidocs import install_api_docs
from qtrack.core.db import Database
from qtrack.core.errors import install_error_handlers
from qtrack.core.health import router as health_router
from qtrack.core.logging import configure_logging
from qtrack.core.metrics import Metrics, enable_multiprocess, start_refreshing
from qtrack.core.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
)
from qtrack.core.ratelimit import create_rate_limiter
from qtrack.core.redis import create_redis
from qtrack.core.state import AppState
from qtrack.core.system import SystemCollector, watched_paths
from qtrack.core.templating import STATIC_DIR
from qtrack.dashboard import pages as dashboard_pages
from qtrack.expiry import api as expiry_api
from qtrack.expiry import pages as expiry_pages
from qtrack.exports import api as exports_api
from qtrack.history import api as history_api
from qtrack.imports import api as imports_api
from qtrack.imports import pages as imports_pages
from qtrack.integrations.epcis import api as epcis_api
from qtrack.integrations.webhooks import api as webhooks_api
from qtrack.integrations.webhooks import pages as webhooks_pages
from qtrack.inventory import api as inventory_api
from qtrack.item_pages import actions as item_action_pages
from qtrack.item_pages import list_pages as items_list_pages
from qtrack.item_pages import pages as item_pages
from qtrack.item_types import api as item_types_api
from qtrack.item_types import pages as item_types_pages
from qtrack.items import api as items_api
from qtrack.jobs import probes as job_probes
from qtrack.labels import api as labels_api
from qtrack.labels import pages as labels_pages
from qtrack.labels.cache import QrCache
from qtrack.locations import api as locations_api
from qtrack.locations import pages as locations_pages
from qtrack.operations import pages as operations_pages
from qtrack.operations import system_pages as operations_system_pages
from qtrack.orders import api as orders_api
from qtrack.orders import pages as orders_pages
from qtrack.reports import api as reports_api
from qtrack.reports import pages as reports_pages
from qtrack.shipments import api as shipments_api
from qtrack.shipments import pages as shipments_pages
from qtrack.stock import api as stock_api
from qtrack.stock import pages as stock_pages
from qtrack.sync import api as sync_api
from qtrack.sync import pages as sync_pages
from qtrack.web import pwa as web_pwa
from qtrack.workflow import api as workflow_api
from qtrack.workflow import pages as workflow_pages

log = structlog.get_logger("qtrack.app")
# The shipped migrations' head cannot change while the process runs; read the scripts once.
_schema_head = functools.cache(migrations.head_revision)
_known_revisions = functools.cache(lambda: frozenset(migrations.revisions()))


# The requests a scanner sends all day (docs/benchmarks.md, issue 15).
HOT_ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/api/v1/items/{code}"),
    ("POST", "/api/v1/scan"),
    ("POST", "/api/v1/items/{code}/transitions"),
    ("POST", "/api/v1/items/{code}/move"),
    ("POST", "/api/v1/items/{code}/quantity"),
)


def _add(app: FastAPI, router: APIRouter) -> None:
    """The router's routes, as they are, in the app's router: each is complete (the router's
    prefix, tags, responses and dependencies applied when it was declared). FastAPI's
    `include_router` would build every route again, for every app (tens of ms at startup)."""
    app.router.routes.extend(router.routes)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the qtrack ASGI app for these settings (the environment's when none are given)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    if settings.metrics_enabled and settings.metrics_dir is not None:
        enable_multiprocess(settings.metrics_dir)
    metrics = Metrics(kind="web", version=__version__) if settings.metrics_enabled else None
    schema_head = _schema_head()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings)
        redis = create_redis(settings)
        db.recent_writers.share(redis)  # read-your-writes across processes, with a replica
        ticker = None
        if metrics is not None:
            metrics.watch_pool(db.pool_stats)
            db.slow_query_listeners.append(metrics.slow_queries.inc)
            db.read_listeners.append(lambda name: metrics.db_reads.labels(database=name).inc())
            ticker = start_refreshing(metrics)
        app.state.qtrack = AppState(
            settings=settings,
            db=db,
            redis=redis,
            metrics=metrics,
            limiter=create_rate_limiter(redis),
            schema_head=schema_head,
            known_revisions=_known_revisions(),
        )
        app.state.qr_cache = QrCache(redis=redis)
        if metrics is not None:
            system = SystemCollector(
                db, redis, watched_paths(settings.database_url, settings.metrics_dir)
            )
            metrics.register(system)
            app.state.qtrack.before_scrape.append(system.refresh)
        log.info(
            "startup", version=__version__, database=db.engine.dialect.name, redis=redis is not None
        )
        security.prepare()  # before the first login, which would otherwise pay for it
        runner = app.state.job_runner = await job_probes.start_in_process(app.state.qtrack)
        job_probes.install(app.state.qtrack)
        try:
            with heap.settled():  # the started app kept out of every collection
                yield
        finally:
            if runner is not None:
                await runner.stop()
            if ticker is not None:
                ticker.cancel()
            if redis is not None:
                await redis.aclose()
            await db.dispose()
            log.info("shutdown")

    app = FastAPI(
        title="qtrack",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        # qtrack sets up no OpenTelemetry; FastAPI's own would ask the global providers
        # whether it is wanted on every request (about 2 % of a scan lookup's CPU).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    app.state.error_layout = accounts_pages.error_layout
    wiring.provide(app)
    # The scan paths first: Starlette tries routes in order, and every route tried before
    # the one that matches costs CPU on the busiest requests (item lookup, scan, changes).
    _add(app, expiry_api.router)  # before items: /items/fefo is not an item's code
    _add(app, items_api.router)
    _add(app, codes_api.router)
    _add(app, containers_api.router)
    _add(app, history_api.router)
    _add(app, inventory_api.router)
    _add(app, stock_api.router)
    _add(app, alerts_api.router)
    _add(app, categories_api.router)
    _add(app, stock_pages.router)
    _add(app, alerts_pages.router)
    _add(app, categories_pages.router)
    _add(app, health_router)
    install_api_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    _add(app, accounts_api.router)
    _add(app, labels_api.router)
    _add(app, accounts_pages.router)
    _add(app, web_pwa.router)
    _add(app, dashboard_pages.router)
    # Before the item pages: /items/new is a page, not an item code.
    _add(app, items_list_pages.router)
    _add(app, item_pages.router)
    _add(app, item_action_pages.router)
    _add(app, workflow_api.router)
    _add(app, item_types_api.router)
    _add(app, locations_api.router)
    _add(app, shipments_api.router)
    _add(app, orders_api.router)
    _add(app, reports_api.router)
    _add(app, shipments_pages.router)
    _add(app, expiry_pages.router)
    _add(app, orders_pages.router)
    _add(app, reports_pages.router)
    _add(app, locations_pages.router)
    _add(app, accounts_admin_pages.router)
    _add(app, item_types_pages.router)
    _add(app, workflow_pages.router)
    _add(app, labels_pages.router)
    _add(app, codes_pages.router)
    _add(app, operations_pages.router)
    _add(app, operations_system_pages.router)
    _add(app, audit_api.router)
    _add(app, epcis_api.router)
    _add(app, webhooks_api.router)
    _add(app, sync_api.router)
    _add(app, sync_pages.router)
    _add(app, webhooks_pages.router)
    _add(app, imports_api.router)
    _add(app, imports_pages.router)
    _add(app, exports_api.router)
    # The scan paths, answered ahead of the router by the same endpoints with the same
    # dependencies, without FastAPI's per-request machinery (core/fastroutes.py).
    fastroutes.install(app, HOT_ROUTES)

    # Added innermost first: the request context (with the security headers) wraps
    # everything, so even a 413 or a refused host gets a request id, a log line and them.
    # An import's upload may be larger (QTRACK_IMPORT_MAX_BYTES, and a little for the form).
    uploads = settings.import_max_bytes + 65_536
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        larger={"/api/v1/imports": uploads, "/imports": uploads},
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "Idempotency-Key",
                "X-Request-ID",
            ],
            expose_headers=["ETag", "X-Request-ID", "Retry-After"],
        )
    if settings.trusted_hosts != ["*"]:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.trusted_hosts)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        slow_request_ms=settings.slow_request_ms,
        hsts=settings.public_url.startswith("https://"),
    )
    return app
