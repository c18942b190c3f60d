"""The alerts page: what needs a look, newest first, and acknowledging one."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.alerts import service as alerts_service
from qtrack.alerts.service import AlertState
from qtrack.core.deps import SessionDep, StateDep
from qtrack.web.render import page

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.STOCK_READ))]
Acknowledger = Annotated[Principal, Depends(require(Permission.ALERT_ACKNOWLEDGE))]
PAGE_SIZE = 100


@router.get("/alerts")
async def alerts_page(
    request: Request,
    principal: Reader,
    session: SessionDep,
    state: StateDep,
    show: Annotated[AlertState, Query()] = "open",
) -> Response:
    """Alerts, newest first: open ones by default, or pending, cleared, all."""
    rows = await alerts_service.list_alerts(session, state=show, limit=PAGE_SIZE)
    return page(
        request,
        "web/alerts.html",
        principal=principal,
        settings=state.settings,
        context={
            "rows": rows,
            "show": show,
            "can_acknowledge": principal.can(Permission.ALERT_ACKNOWLEDGE),
        },
    )


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge(alert_id: int, principal: Acknowledger, session: SessionDep) -> Response:
    """Acknowledge an alert, then show the list again."""
    await alerts_service.acknowledge(session, alert_id, actor=principal)
    return RedirectResponse("/alerts", status_code=303)
