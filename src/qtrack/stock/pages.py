"""The stock page: on-hand, levels and states (critical first), and setting levels."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.categories import service as categories_service
from qtrack.config import Settings
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import QtrackError
from qtrack.item_types import service as item_types_service
from qtrack.stock import service as stock_service
from qtrack.stock.schemas import LevelsSet
from qtrack.web.forms import CHECK_FIELDS, field_errors
from qtrack.web.render import page

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.STOCK_READ))]
Manager = Annotated[Principal, Depends(require(Permission.STOCK_MANAGE))]
LEVEL_FIELDS = ("type", "location", "minimum_level", "reorder_level")


async def _stock_page(
    request: Request,
    principal: Principal,
    session: AsyncSession,
    settings: Settings,
    *,
    low: bool = False,
    category: str = "",
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    filter_error = None
    try:
        rows = await stock_service.list_stock(session, low=low, category=category or None)
    except QtrackError as exc:
        rows, filter_error = [], exc.message
    categories = await categories_service.list_categories(session)
    return page(
        request,
        "web/stock.html",
        principal=principal,
        settings=settings,
        context={
            "rows": rows,
            "form": {"low": low, "category": category},
            "filter_error": filter_error,
            "categories": await categories_service.reads(session, categories),
            "item_types": await item_types_service.list_item_types(session),
            "can_manage": principal.can(Permission.STOCK_MANAGE),
            "values": values or {},
            "errors": errors or {},
            "message": message,
        },
        status_code=status_code,
    )


@router.get("/stock")
async def stock_page(
    request: Request,
    principal: Reader,
    session: SessionDep,
    state: StateDep,
    low: bool = False,
    category: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """What is on hand of each item type (and where levels are set), low and out first."""
    return await _stock_page(
        request, principal, session, state.settings, low=low, category=category.strip()
    )


@router.post("/stock/levels")
async def set_levels(
    request: Request, principal: Manager, session: SessionDep, state: StateDep
) -> Response:
    """Set the levels of a type (overall or at a location); a refusal is shown on the page."""
    form = await request.form()
    values = {name: str(form.get(name) or "").strip() for name in LEVEL_FIELDS}
    try:
        body = LevelsSet.model_validate({k: (v or None) for k, v in values.items()})
        async with session.begin_nested():
            await stock_service.set_levels(
                session,
                type_key=body.type,
                location=body.location,
                minimum_level=body.minimum_level,
                reorder_level=body.reorder_level,
            )
    except (ValidationError, QtrackError) as exc:
        if isinstance(exc, QtrackError) and exc.status_code in (401, 403):
            raise
        if isinstance(exc, ValidationError):
            errors, message, status = field_errors(exc), CHECK_FIELDS, 422
        else:
            field = "location" if "location" in exc.code else "type"
            errors, message, status = {field: exc.message}, exc.message, 422
        return await _stock_page(
            request, principal, session, state.settings,
            values=values, errors=errors, message=message, status_code=status,
        )  # fmt: skip
    return RedirectResponse("/stock", status_code=303)
