"""Expiry use cases: the sweep (all due items, in batches) and its alerts; FEFO."""

from datetime import date

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.alerts import service as alerts_service
from qtrack.config import Settings
from qtrack.core.errors import ValidationFailed
from qtrack.expiry.schemas import ExpiredRead, FefoRead, LeftRead, SweepQueued, SweepRead
from qtrack.item_types import service as item_types_service
from qtrack.items import expiring, repository, rules
from qtrack.items import service as items_service
from qtrack.items.expiring import SweepBatch
from qtrack.items.schemas import ItemRead
from qtrack.jobs import service as jobs_service
from qtrack.locations import service as locations_service

log = structlog.get_logger("qtrack.expiry")
BATCH = 500
ALERT_KIND = "item_expired"
SWEEP_JOB = "expiry.sweep"  # the durable job (`expiry.jobs`), daily and on demand


async def sweep_batch(
    session: AsyncSession, *, today: date, after_id: int, size: int = BATCH
) -> tuple[SweepBatch, int | None]:
    """One batch of the sweep in the caller's transaction: the items due after `after_id`
    expired (or reported); the id to continue after, None when none are left."""
    states = await items_service.expiry_states(session)
    ids = await expiring.due_ids(session, states, today=today, after_id=after_id, limit=size)
    batch = await expiring.expire_items(session, ids=ids, today=today)
    await _alert(session, batch)
    return batch, (ids[-1] if len(ids) == size else None)


async def sweep(
    session: AsyncSession, settings: Settings, *, today: date | None = None, size: int = BATCH
) -> SweepRead:
    """Move every live item past its expiry date to its workflow's expired state, in the
    caller's transaction; idempotent (a second sweep finds nothing to do)."""
    day = today or rules.site_today(settings)
    result = SweepBatch()
    after: int | None = 0
    while after is not None:
        batch, after = await sweep_batch(session, today=day, after_id=after, size=size)
        result.expired += batch.expired
        result.left += batch.left
    return report(day, result)


async def queue_sweep(session: AsyncSession) -> SweepQueued:
    """Queue the sweep as the durable job the daily schedule runs, in batches of their own
    transactions (for a backlog too large for one request); a sweep queued on demand and
    still waiting or running is that one, not another."""
    job_id = await jobs_service.enqueue(session, SWEEP_JOB, {}, dedupe_key="on-demand")
    return SweepQueued(job_id=job_id, job=SWEEP_JOB)


def report(today: date, batch: SweepBatch) -> SweepRead:
    """A sweep's result as the API shows it."""
    log.info(
        "expiry_swept", today=today.isoformat(), expired=len(batch.expired), left=len(batch.left)
    )
    return SweepRead(
        today=today,
        expired=[ExpiredRead.model_validate(e, from_attributes=True) for e in batch.expired],
        left=[LeftRead.model_validate(e, from_attributes=True) for e in batch.left],
    )


async def _alert(session: AsyncSession, batch: SweepBatch) -> None:
    """An `item_expired` alert for each item the sweep moved, and for each it had to leave
    (someone must deal with those by hand). One per item: an item left again by the next
    sweep finds its alert still open, and raising it again is a no-op."""
    for done in batch.expired:
        await alerts_service.raise_alert(
            session, ALERT_KIND, f"item:{done.code}",
            f"{done.code} ({done.type}) expired on {done.expiry_on.isoformat()}: "
            f"moved from {done.before.replace('_', ' ')} to {done.after.replace('_', ' ')}",
            type_id=done.type_id or None, location_id=done.location_id,
            item_id=done.item_id or None,
            data={"expiry_on": done.expiry_on.isoformat(), "before": done.before,
                  "after": done.after, "moved": True},
        )  # fmt: skip
    for left in batch.left:
        await alerts_service.raise_alert(
            session, ALERT_KIND, f"item:{left.code}",
            f"{left.code} ({left.type}) expired on {left.expiry_on.isoformat()} and is still "
            f"{left.status.replace('_', ' ')}: {left.why}",
            type_id=left.type_id or None, location_id=left.location_id,
            item_id=left.item_id or None,
            data={"expiry_on": left.expiry_on.isoformat(), "status": left.status,
                  "why": left.why, "moved": False},
        )  # fmt: skip


async def fefo(
    session: AsyncSession,
    settings: Settings,
    *,
    type_key: str | None,
    gtin: str | None,
    location: str | None,
    limit: int = 5,
) -> FefoRead:
    """The live lot of a type or GTIN (at a location and below it) that expires first, and
    the next ones in line."""
    if not type_key and not gtin:
        raise ValidationFailed(
            "Name an item type or a GTIN",
            details=[{"loc": ["query", "type"], "msg": "type or gtin required", "type": "missing"}],
        )
    type_id = (await item_types_service.get_item_type(session, type_key)).id if type_key else None
    places = await locations_service.subtree_ids_select(session, location) if location else None
    today = rules.site_today(settings)
    rows = await expiring.first_to_expire(
        session,
        await items_service.expiry_states(session),
        today=today,
        type_id=type_id,
        gtin=gtin,
        location_ids=places,
        limit=limit + 1,
    )
    items = [repository.to_item_read(row) for row in rows]
    return FefoRead(today=today, suggestion=items[0] if items else None, next=items[1:])


async def panels(
    session: AsyncSession,
    settings: Settings,
    *,
    done_with: frozenset[tuple[str, str]] = frozenset(),
    category: str | None = None,
    within_days: int | None = None,
    limit: int,
) -> tuple[list[ItemRead], list[ItemRead]]:
    """What expires soon (each type's window, or within `within_days` when given) and what
    has expired, soonest first, leaving out the (type, state) pairs `done_with` (a rejected
    lot warns of nothing); of the types in `category` (and those under it) when given."""
    today = rules.site_today(settings)
    soon = items_service.ItemFilter(
        expiring_soon=within_days is None, expiring_within_days=within_days, today=today,
        not_in_states=done_with, category=category,
    )  # fmt: skip
    gone = items_service.ItemFilter(
        expired=True, today=today, not_in_states=done_with, category=category
    )
    return (
        await items_service.soonest_to_expire(session, filters=soon, limit=limit),
        await items_service.soonest_to_expire(session, filters=gone, limit=limit),
    )
