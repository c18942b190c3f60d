"""The daily summary's page: a date picker, the figures, and bars drawn with <meter>
elements (no script and no inline style, so the strict CSP holds)."""

from datetime import date
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.clock import utcnow
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import ValidationFailed
from qtrack.reports import files, service
from qtrack.web.render import page

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.REPORT_READ))]
EventReader = Annotated[Principal, Depends(require(Permission.EVENT_READ))]


@router.get("/reports/daily")
async def daily_page(
    request: Request,
    principal: Reader,
    session: SessionDep,
    state: StateDep,
    day: Annotated[date | None, Query(alias="date")] = None,
    site: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """One local day's summary, with its PDF and CSV."""
    settings = state.settings
    when = day or utcnow().astimezone(settings.zone).date()
    summary = await service.daily_summary(session, settings, day=when, site=site or None)
    # The Export links name the local day as the UTC instants where it starts and ends.
    since, until = (
        moment.isoformat().replace("+00:00", "Z") for moment in service.day_bounds(when, settings)
    )
    activity = [
        ("Items registered", summary.registered),
        ("Scans", summary.scans),
        ("Moves", summary.moves),
        ("Shipments dispatched", summary.shipments_dispatched),
    ]
    largest = max(
        [n for _, n in activity]
        + [c.count for c in summary.status_changes]
        + [c.count for c in summary.top_people]
        + [1]
    )
    return page(
        request,
        "web/daily.html",
        principal=principal,
        settings=settings,
        context={
            "s": summary,
            "activity": activity,
            "largest": largest,
            "site": site,
            "since": since,
            "until": until,
            "weight_difference": files.weight_difference,
        },
    )


@router.get("/reports/events-export")
async def events_export(
    _: EventReader,
    state: StateDep,
    first: Annotated[date, Query(alias="from")],
    last: Annotated[date, Query(alias="to")],
    fmt: Annotated[Literal["csv", "xlsx", "jsonl"], Query(alias="format")] = "csv",
) -> Response:
    """The events of whole local days, first to last (both included): the export API's
    download for the UTC instants where those days start and end."""
    if last < first:
        raise ValidationFailed(
            f"The last day ({last.isoformat()}) comes before the first ({first.isoformat()})",
            details=[{"loc": ["query", "to"], "msg": "before from", "type": "range"}],
        )
    since = service.day_bounds(first, state.settings)[0]
    until = service.day_bounds(last, state.settings)[1]
    query = {
        "since": since.isoformat().replace("+00:00", "Z"),
        "until": until.isoformat().replace("+00:00", "Z"),
        "format": fmt,
    }
    return RedirectResponse(f"/api/v1/exports/events?{urlencode(query)}", status_code=303)
