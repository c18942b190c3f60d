"""Alerts JSON API: the list, acknowledging one, the count of those waiting."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from qtrack.accounts.deps import AUTHENTICATED, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.alerts import service as alerts_service
from qtrack.alerts.schemas import AlertCount, AlertRead
from qtrack.alerts.service import AlertNotFound, AlertState
from qtrack.core.deps import SessionDep
from qtrack.core.openapi import errors
from qtrack.core.pagination import (
    InvalidCursor,
    Page,
    PageCursor,
    PageLimit,
    decode_int_cursor,
    encode_cursor,
)

router = APIRouter(prefix="/api/v1", tags=["alerts"], responses=AUTHENTICATED)
Reader = Annotated[Principal, Depends(require(Permission.STOCK_READ))]
Acknowledger = Annotated[Principal, Depends(require(Permission.ALERT_ACKNOWLEDGE))]


@router.get("/alerts", responses=errors(InvalidCursor))
async def list_alerts(
    _: Reader,
    session: SessionDep,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
    state: Annotated[
        AlertState,
        Query(description="open (default), pending (open, not acknowledged), cleared, all"),
    ] = "open",
    kind: Annotated[str | None, Query(max_length=32)] = None,
) -> Page[AlertRead]:
    """Alerts, newest first."""
    rows = await alerts_service.list_alerts(
        session, state=state, kind=kind, before_id=decode_int_cursor(cursor), limit=limit
    )
    next_cursor = encode_cursor(rows[-1].alert.id) if len(rows) == limit else None
    return Page(items=[AlertRead.of(r) for r in rows], next_cursor=next_cursor)


@router.get("/alerts/count")
async def count_alerts(_: Reader, session: SessionDep) -> AlertCount:
    """How many open alerts nobody has acknowledged yet."""
    return AlertCount(pending=await alerts_service.pending_count(session))


@router.get("/alerts/{alert_id}", responses=errors(AlertNotFound))
async def get_alert(alert_id: int, _: Reader, session: SessionDep) -> AlertRead:
    """One alert."""
    return AlertRead.of(await alerts_service.get_alert(session, alert_id))


@router.post("/alerts/{alert_id}/acknowledge", responses=errors(AlertNotFound))
async def acknowledge_alert(alert_id: int, actor: Acknowledger, session: SessionDep) -> AlertRead:
    """Say that you have seen an alert (it stays open until its cause goes away)."""
    return AlertRead.of(await alerts_service.acknowledge(session, alert_id, actor=actor))
