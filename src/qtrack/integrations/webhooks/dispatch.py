"""Sending deliveries: a job per endpoint takes the due ones, sends them, logs every attempt.

`webhooks.deliver` (payload `{"endpoint": id}`) is enqueued by the feed consumer for each
batch that made deliveries for an endpoint, by failed attempts for their retry time, and by
the API (test messages, redeliveries). It claims up to QTRACK_WEBHOOKS_BATCH due
deliveries in one statement (`FOR UPDATE SKIP LOCKED`, so jobs for the same endpoint on
other workers take others), sends them concurrently, and records the outcomes in one
transaction; it goes on while there are due ones, for at most BUDGET_S, then hands over to
a fresh job.

Order per item: a delivery is due only when no earlier delivery (lower event seq) of the
same item to the same endpoint is unfinished (pending, sending, or waiting for a retry). So
one item's deliveries arrive in the order its events happened, while different items go
out in parallel.
"""

import asyncio
import math
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import (
    Row,
    Table,
    and_,
    bindparam,
    insert,
    literal_column,
    or_,
    select,
    update,
)  # fmt: skip
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts import audit
from qtrack.accounts.audit import Origin
from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.integrations.webhooks import sender, signing
from qtrack.integrations.webhooks.models import (
    CANCELLED,
    FAILED,
    PENDING,
    SENDING,
    SUCCEEDED,
    UNFINISHED,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)  # fmt: skip
from qtrack.integrations.webhooks.safety import WebhookUrlRefused, resolve
from qtrack.jobs import registry
from qtrack.jobs import service as jobs_service
from qtrack.jobs.registry import JobContext

log = structlog.get_logger("qtrack.webhooks")

JOB = "webhooks.deliver"
BUDGET_S = 30.0  # one job sends for about this long, then a fresh job goes on
WAKE_BUCKET_S = 10  # retries due within the same 10 s share one wake-up job
LEASE_MARGIN_S = 30.0
_d: Table = WebhookDelivery.__table__  # type: ignore[assignment]
_a: Table = WebhookAttempt.__table__  # type: ignore[assignment]
_e: Table = WebhookEndpoint.__table__  # type: ignore[assignment]


def _is(column: Any, *statuses: str) -> Any:
    """`status IN ('pending', ...)` with the values in the SQL text, not as parameters: only
    then can PostgreSQL use the partial indexes over unfinished rows in a prepared (generic)
    plan; with parameters the claim fell back to scanning every delivery, for every one."""
    return column.in_([literal_column(f"'{status}'") for status in statuses])


_NOW: Any = bindparam("now")
_ENDPOINT: Any = bindparam("endpoint")
_PENDING_DUE = and_(
    _d.c.endpoint_id == _ENDPOINT, _is(_d.c.status, PENDING), _d.c.next_attempt_at <= _NOW
)
# Claimed by a job that died mid-send: its lease has run out.
_STRANDED = and_(_d.c.endpoint_id == _ENDPOINT, _is(_d.c.status, SENDING), _d.c.locked_until < _NOW)


def _claim() -> Any:
    earlier = _d.alias("earlier")
    # OFFSET 0 keeps the lane probe a subplan run per candidate row with that row's endpoint,
    # item and seq as the index scan's keys. Without it PostgreSQL may turn NOT EXISTS into an
    # anti-join, and while the table's statistics are stale (a first burst of deliveries, before
    # autovacuum's analyze) it chose to scan the endpoint's whole lane index for every candidate:
    # measured 2026-12-06, 20,000 waiting deliveries cost 5.6 ms of PostgreSQL CPU each.
    waits = (
        select(literal_column("1"))
        .where(
            earlier.c.endpoint_id == _d.c.endpoint_id,
            earlier.c.item_id == _d.c.item_id,
            _is(earlier.c.status, *UNFINISHED),
            earlier.c.seq < _d.c.seq,
        )
        .offset(literal_column("0"))
        .exists()
    )
    # Walks the due index in order and probes each row's lane: the work grows with the
    # batch, not with how many deliveries wait.
    pick = (
        select(_d.c.id)
        .where(_PENDING_DUE, ~waits)
        .order_by(_d.c.next_attempt_at, _d.c.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    return (
        update(_d)
        .where(_d.c.id.in_(pick.scalar_subquery()))
        .values(status=SENDING, attempts=_d.c.attempts + 1, locked_until=bindparam("lease"))
        .returning(_d.c.id, _d.c.msg_id, _d.c.body, _d.c.attempts)
    )


_ANY_DUE = select(_d.c.id).where(_PENDING_DUE).limit(1)
_ANY_STRANDED = select(_d.c.id).where(_STRANDED).limit(1)
_REVIVE = (
    update(_d).where(_STRANDED).values(status=PENDING, next_attempt_at=_NOW, locked_until=None)
)
_CLAIM = _claim()
_RECORD = (
    update(_d)
    .where(
        _d.c.id == bindparam("b_id"),
        _is(_d.c.status, SENDING),
        _d.c.attempts == bindparam("b_attempt"),  # not if another job took it over since
    )
    .values(
        status=bindparam("b_status"),
        next_attempt_at=bindparam("b_next"),
        locked_until=None,
        last_status_code=bindparam("b_code"),
        last_error=bindparam("b_error"),
        finished_at=bindparam("b_finished"),
    )
)
_LOG = insert(_a)


async def wake(session: AsyncSession, endpoint_id: int, *, at: datetime | None = None) -> None:
    """Have the endpoint's due deliveries sent (at `at`, or now), in the caller's transaction."""
    if at is None:
        await jobs_service.enqueue(session, JOB, {"endpoint": endpoint_id})
        return
    bucket = math.ceil(at.timestamp() / WAKE_BUCKET_S) * WAKE_BUCKET_S
    await jobs_service.enqueue(
        session,
        JOB,
        {"endpoint": endpoint_id},
        run_at=datetime.fromtimestamp(bucket, UTC),
        dedupe_key=f"{endpoint_id}@{bucket}",
    )


def retry_delay_s(attempt: int, settings: Settings, retry_after_s: float | None = None) -> float:
    """Wait after a failed attempt: from the base, three times longer each time, ±20 %
    jitter, at most the max; a later Retry-After of the receiver wins (up to the max)."""
    cap = settings.webhooks_retry_max_s
    delay: float = min(cap, settings.webhooks_retry_base_s * 3.0 ** min(attempt - 1, 30))
    delay = min(cap, delay * random.uniform(0.8, 1.2))  # noqa: S311 (spreads retries)
    if retry_after_s is not None:
        delay = max(delay, min(cap, retry_after_s))
    return delay


@registry.job(JOB, max_attempts=10, timeout=300)
async def deliver(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Send the endpoint's due deliveries, batch after batch, for about BUDGET_S."""
    endpoint_id = int(payload["endpoint"])
    settings = ctx.settings
    started = time.monotonic()
    http = None
    try:
        while True:
            batch = await _take(ctx, endpoint_id)
            if batch is None:
                return
            url, keys, claimed = batch
            if http is None:
                http = sender.client(
                    connect_s=settings.webhooks_connect_timeout_s,
                    read_s=settings.webhooks_read_timeout_s,
                    connections=settings.webhooks_concurrency,
                )
            now = utcnow()
            outcomes = await _send_all(http, settings, url, keys, claimed, now)
            async with ctx.session() as session:
                await _record(session, settings, endpoint_id, claimed, outcomes, now)
            if time.monotonic() - started > BUDGET_S:
                async with ctx.session() as session:
                    await wake(session, endpoint_id)
                return
    finally:
        if http is not None:
            await http.close()


async def _take(
    ctx: JobContext, endpoint_id: int
) -> tuple[str, list[bytes], Sequence[Row[Any]]] | None:
    """Claim the next due deliveries: the URL, the signing keys and the rows; None if there
    is nothing to send (a switched-off endpoint's deliveries are cancelled)."""
    now = utcnow()
    params = {"endpoint": endpoint_id, "now": now}
    async with ctx.session("read") as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            return None  # deleted: its deliveries went with it
        enabled, url = endpoint.enabled, endpoint.url
        keys = _keys(ctx.settings, endpoint, now)
        # A read first: nothing due costs no write transaction (on SQLite, the write lock).
        due = await session.scalar(_ANY_DUE, params) or await session.scalar(_ANY_STRANDED, params)
        if enabled and due is None:
            return None
    settings = ctx.settings
    lease = now + timedelta(
        seconds=settings.webhooks_connect_timeout_s
        + settings.webhooks_read_timeout_s
        + LEASE_MARGIN_S
    )
    async with ctx.session() as session:
        if not enabled:
            await cancel_unfinished(session, endpoint_id, "the endpoint is switched off", now)
            return None
        await session.execute(_REVIVE, params)
        rows = (
            await session.execute(
                _CLAIM, {**params, "limit": settings.webhooks_batch, "lease": lease}
            )
        ).all()
    return (url, keys, rows) if rows else None


def _keys(settings: Settings, endpoint: WebhookEndpoint, now: datetime) -> list[bytes]:
    """The raw secrets to sign with: the current one, and the previous during the overlap."""
    secret_key = settings.secret_key.get_secret_value()
    keys = [signing.unseal(secret_key, endpoint.secret_sealed)]
    if (
        endpoint.previous_secret_sealed is not None
        and endpoint.previous_secret_until is not None
        and endpoint.previous_secret_until > now
    ):
        keys.append(signing.unseal(secret_key, endpoint.previous_secret_sealed))
    return keys


async def _send_all(
    http: Any,
    settings: Settings,
    url: str,
    keys: list[bytes],
    claimed: Sequence[Row[Any]],
    now: datetime,
) -> list[sender.Outcome]:
    try:
        # Resolved and checked again at every batch: DNS may have changed since registration.
        target = await resolve(url, allow_private=settings.webhooks_allow_private)
    except WebhookUrlRefused as exc:
        return [sender.Outcome(None, 0.0, None, f"refused: {exc.message}"[:500])] * len(claimed)
    gate = asyncio.Semaphore(settings.webhooks_concurrency)
    timestamp = int(now.timestamp())
    deadline = settings.webhooks_connect_timeout_s + settings.webhooks_read_timeout_s

    async def one(row: Row[Any]) -> sender.Outcome:
        body = row.body.encode()
        async with gate:
            return await sender.send(
                http,
                target,
                signing.headers(keys, row.msg_id, timestamp, body),
                body,
                max_bytes=settings.webhooks_response_max_bytes,
                deadline_s=deadline,
            )

    return list(await asyncio.gather(*(one(row) for row in claimed)))


async def _record(
    session: AsyncSession,
    settings: Settings,
    endpoint_id: int,
    claimed: Sequence[Row[Any]],
    outcomes: list[sender.Outcome],
    now: datetime,
) -> None:
    """Log the attempts and move each delivery on: done, failed for good, or a retry."""
    log_rows, updates, retries = [], [], set()
    succeeded = exhausted = 0
    gone = False
    for row, outcome in zip(claimed, outcomes, strict=True):
        log_rows.append(
            {
                "delivery_id": row.id, "attempt": row.attempts, "started_at": now,
                "status_code": outcome.status_code, "latency_ms": outcome.latency_ms,
                "response_excerpt": outcome.excerpt, "error": outcome.error,
            }
        )  # fmt: skip
        change = {"b_id": row.id, "b_attempt": row.attempts, "b_code": outcome.status_code,
                  "b_error": outcome.error, "b_next": now, "b_finished": now}  # fmt: skip
        if outcome.ok:
            succeeded += 1
            updates.append({**change, "b_status": SUCCEEDED})
        elif outcome.status_code == 410 or row.attempts >= settings.webhooks_max_attempts:
            gone = gone or outcome.status_code == 410
            exhausted += 1
            updates.append({**change, "b_status": FAILED})
        else:
            delay = retry_delay_s(row.attempts, settings, outcome.retry_after_s)
            retry_at = now + timedelta(seconds=delay)
            updates.append({**change, "b_status": PENDING, "b_next": retry_at, "b_finished": None})
            retries.add(retry_at)
    await session.execute(_LOG, log_rows)
    await session.execute(_RECORD, updates)
    for at in sorted(retries):
        await wake(session, endpoint_id, at=at)
    await _endpoint_health(session, settings, endpoint_id, now, succeeded, exhausted, gone)
    if exhausted or retries:
        log.info(
            "webhook_attempts_failed", endpoint=endpoint_id, retrying=len(retries),
            failed=exhausted, succeeded=succeeded,
        )  # fmt: skip


async def _endpoint_health(
    session: AsyncSession,
    settings: Settings,
    endpoint_id: int,
    now: datetime,
    succeeded: int,
    exhausted: int,
    gone: bool,
) -> None:
    """Count deliveries that failed for good in a row; switch the endpoint off past the
    limit (or at once for 410 Gone)."""
    values: dict[str, Any] = {}
    if succeeded:
        values.update(last_success_at=now)
        if not exhausted:
            values.update(consecutive_failures=0)
    if exhausted:
        base = 0 if succeeded else _e.c.consecutive_failures
        values.update(last_failure_at=now, consecutive_failures=base + exhausted)
    if not values:
        return
    failures = await session.scalar(
        update(_e)
        .where(_e.c.id == endpoint_id)
        .values(**values)
        .returning(_e.c.consecutive_failures)
    )
    if gone:
        await switch_off(session, endpoint_id, "The receiver answered 410 Gone", now)
    elif failures is not None and failures >= settings.webhooks_disable_after:
        await switch_off(
            session,
            endpoint_id,
            f"{failures} deliveries in a row failed every attempt",
            now,
        )


async def switch_off(session: AsyncSession, endpoint_id: int, reason: str, now: datetime) -> None:
    """Switch a failing endpoint off, cancel what waits for it, and tell the admins (the
    security log, and the webhooks admin page)."""
    switched = await session.execute(
        update(_e)
        .where(_e.c.id == endpoint_id, _e.c.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason[:500], disabled_at=now, updated_at=now)
        .returning(_e.c.url)
    )
    url = switched.scalar_one_or_none()
    if url is None:
        return  # already off
    await cancel_unfinished(session, endpoint_id, "the endpoint was switched off", now)
    await audit.record(
        session, "webhook_disabled", origin=Origin(by="webhooks"), webhook=endpoint_id,
        url=url, reason=reason,
    )  # fmt: skip
    log.warning("webhook_disabled", endpoint=endpoint_id, url=url, reason=reason)


async def cancel_unfinished(
    session: AsyncSession, endpoint_id: int, reason: str, now: datetime
) -> int:
    """Cancel the endpoint's deliveries that are waiting (not those in flight)."""
    result = await session.execute(
        update(_d)
        .where(
            _d.c.endpoint_id == endpoint_id,
            or_(
                _is(_d.c.status, PENDING),
                and_(_is(_d.c.status, SENDING), _d.c.locked_until < now),
            ),
        )
        .values(status=CANCELLED, last_error=reason, finished_at=now, locked_until=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
