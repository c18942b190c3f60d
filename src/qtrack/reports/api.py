"""The daily summary over the API: JSON, CSV and PDF."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from qtrack.accounts.deps import require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.clock import utcnow
from qtrack.core.deps import SessionDep, StateDep
from qtrack.reports import files, service
from qtrack.reports.schemas import DailySummary

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

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


@router.get("/daily.csv")
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


@router.get("/daily.pdf")
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
