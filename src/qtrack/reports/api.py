"""The daily summary over the API: JSON, CSV and PDF."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from qtrack.accounts.deps import PERMISSION_ERRORS, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.clock import utcnow
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.openapi import binary, errors
from qtrack.locations.service import LocationNotFound
from qtrack.reports import files, service
from qtrack.reports.schemas import DailySummary

# An unknown `site` is a 404, as on every route that names a location.
router = APIRouter(
    prefix="/api/v1/reports",
    tags=["reports"],
    responses=errors(PERMISSION_ERRORS, LocationNotFound),
)

Reader = Annotated[Principal, Depends(require(Permission.REPORT_READ))]
DayQuery = Annotated[date | None, Query(alias="date", description="Local day; today if absent")]
SiteQuery = Annotated[str | None, Query(max_length=64, description="A location's code")]


async def _summary(
    session: SessionDep, state: StateDep, day: date | None, site: str | None
) -> DailySummary:
    settings = state.settings
    when = day or utcnow().astimezone(settings.zone).date()
    return await service.daily_summary(session, settings, day=when, site=site)


@router.get("/daily")
async def daily(
    _: Reader, session: SessionDep, state: StateDep, day: DayQuery = None, site: SiteQuery = None
) -> DailySummary:
    """One local day's summary: registrations, scans, moves, states, bills, exceptions."""
    return await _summary(session, state, day, site)


@router.get(
    "/daily.csv",
    response_class=Response,
    responses=binary("text/csv", description="The day's summary as CSV"),
)
async def daily_csv(
    _: Reader, session: SessionDep, state: StateDep, day: DayQuery = None, site: SiteQuery = None
) -> Response:
    """The day's summary as CSV."""
    summary = await _summary(session, state, day, site)
    return Response(
        files.render_csv(summary),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="daily-{summary.date}.csv"'},
    )


@router.get(
    "/daily.pdf",
    response_class=Response,
    responses=binary("application/pdf", description="The day's summary as PDF"),
)
async def daily_pdf(
    _: Reader, session: SessionDep, state: StateDep, day: DayQuery = None, site: SiteQuery = None
) -> Response:
    """The day's summary as PDF."""
    summary = await _summary(session, state, day, site)
    return Response(
        files.render_pdf(summary),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="daily-{summary.date}.pdf"'},
    )
