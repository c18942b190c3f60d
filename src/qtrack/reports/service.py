"""The end-of-day summary: one local day (QTRACK_TIMEZONE) of one site, or of everything.

Every count is a range on `event.recorded_at` / `shipment_event.recorded_at` (both indexed),
grouped in the database: a day costs what that day holds, never a scan of the history.
"Scans" are the item changes sent with a client event id (the scan screen and devices send
one with every action) plus the scans on a bill's screen, added or refused.
"""

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.models import User
from qtrack.config import Settings
from qtrack.events.models import Event
from qtrack.locations import service as locations_service
from qtrack.locations.models import Location
from qtrack.reports.schemas import Count, DailySummary, ShipmentDay
from qtrack.shipments import repository as shipments_repository
from qtrack.shipments.models import Shipment, ShipmentEvent

TOP = 5
SCAN_KINDS = ("line_added", "scan_refused")

# A container's own record of what went in or out: the packed item's event already says it.
CONTAINER_SIDE = frozenset({"content_added", "content_removed"})


def day_bounds(day: date, settings: Settings) -> tuple[datetime, datetime]:
    """The UTC instants where this local day starts and the next one starts."""
    zone = settings.zone
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


async def daily_summary(
    session: AsyncSession, settings: Settings, *, day: date, site: str | None = None
) -> DailySummary:
    """What happened on one local day: registrations, scans, moves, states, bills, problems."""
    start, end = day_bounds(day, settings)
    prefix = None
    if site:
        prefix = (await locations_service.get_by_code(session, site)).path

    def events(*columns: Any) -> Select[Any]:
        stmt = (
            select(*columns)
            .select_from(Event)
            .where(Event.recorded_at >= start, Event.recorded_at < end)
        )
        if prefix is not None:
            stmt = stmt.join(Location, Location.id == Event.location_id).where(
                Location.path.startswith(prefix, autoescape=True)
            )
        return stmt

    # One pass over the day's events, grouped finely (a handful of types and states, the
    # people who worked): every figure below is a sum over these few groups.
    status = case((Event.type == "status_changed", Event.after["status"].as_string()))
    scanned = Event.client_event_id.is_not(None)
    groups = (
        await session.execute(
            events(Event.type, status, Event.actor_id, scanned, func.count()).group_by(
                Event.type, status, Event.actor_id, scanned
            )
        )
    ).all()
    by_type: Counter[str] = Counter()
    state_counts: Counter[str] = Counter()
    by_actor: Counter[int] = Counter()
    with_client_id = 0
    for kind, state, actor_id, from_scan, n in groups:
        by_type[kind] += n
        if state is not None:
            state_counts[str(state)] += n
        # A pack is one thing a person did, though the container records it too.
        if actor_id is not None and kind not in CONTAINER_SIDE:
            by_actor[actor_id] += n
        with_client_id += n if from_scan else 0
    names = dict(
        (await session.execute(select(User.id, User.username).where(User.id.in_(by_actor)))).all()
        if by_actor
        else []
    )
    people = sorted(((names[a], n) for a, n in by_actor.items()), key=lambda p: (-p[1], p[0]))
    bills = dict(
        (
            await session.execute(
                select(ShipmentEvent.type, func.count())
                .where(ShipmentEvent.recorded_at >= start, ShipmentEvent.recorded_at < end)
                .group_by(ShipmentEvent.type)
            )
        ).all()
    )
    dispatched = (
        await session.scalars(
            select(Shipment)
            .where(Shipment.dispatched_at >= start, Shipment.dispatched_at < end)
            .order_by(Shipment.number)
        )
    ).all()
    days: list[ShipmentDay] = []
    for shipment in dispatched:
        lines, totals = await shipments_repository.lines_and_totals(session, shipment.id)
        days.append(
            ShipmentDay(
                number=shipment.number,
                step="dispatched",
                consignee=shipment.consignee,
                containers=totals.containers,
                items=totals.items,
                gross_kg=totals.gross_kg,
                difference_kg=totals.difference_kg,
                containers_off=sum(1 for line in lines if line.difference_kg),
            )
        )
    return DailySummary(
        date=day,
        timezone=settings.timezone,
        site=site.upper() if site else None,
        start=start,
        end=end,
        events=sum(by_type.values()),
        registered=by_type.get("created", 0),
        scans=int(with_client_id or 0) + sum(bills.get(k, 0) for k in SCAN_KINDS),
        moves=by_type.get("moved", 0),
        status_changes=[Count(key=k, count=n) for k, n in state_counts.most_common()],
        shipments_issued=bills.get("issued", 0),
        shipments_dispatched=len(days),
        dispatched_containers=sum(d.containers for d in days),
        dispatched_items=sum(d.items for d in days),
        dispatched_gross_kg=sum((d.gross_kg for d in days), Decimal(0)),
        shipments=days,
        rejected=state_counts.get("rejected", 0),
        expired=state_counts.get("expired", 0),
        refused_scans=bills.get("scan_refused", 0),
        weight_differences=[d for d in days if d.containers_off],
        top_people=[Count(key=name, count=int(n)) for name, n in people[:TOP]],
    )
