"""The categories page: the tree of item-type categories, a form for a new one, archiving."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.categories import service as categories_service
from qtrack.categories.schemas import CategoryCreate
from qtrack.config import Settings
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import Conflict, QtrackError
from qtrack.web.forms import CHECK_FIELDS, field_errors
from qtrack.web.render import page

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]
Manager = Annotated[Principal, Depends(require(Permission.STOCK_MANAGE))]
FIELDS = ("key", "name", "parent")


async def _categories_page(
    request: Request,
    principal: Principal,
    session: AsyncSession,
    settings: Settings,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    found = await categories_service.list_categories(session, include_archived=True)
    return page(
        request,
        "web/categories.html",
        principal=principal,
        settings=settings,
        context={
            "categories": await categories_service.reads(session, found),
            "can_manage": principal.can(Permission.STOCK_MANAGE),
            "values": values or {},
            "errors": errors or {},
            "message": message,
        },
        status_code=status_code,
    )


@router.get("/categories")
async def categories_page(
    request: Request, principal: Reader, session: SessionDep, state: StateDep
) -> Response:
    """Every category as a tree (parents first), archived ones marked."""
    return await _categories_page(request, principal, session, state.settings)


@router.post("/categories")
async def create_category(
    request: Request, principal: Manager, session: SessionDep, state: StateDep
) -> Response:
    """Create a category; a refusal is shown next to its field."""
    form = await request.form()
    values = {name: str(form.get(name) or "").strip() for name in FIELDS}
    try:
        body = CategoryCreate.model_validate({k: v for k, v in values.items() if v})
        async with session.begin_nested():
            await categories_service.create_category(session, **body.model_dump())
    except (ValidationError, QtrackError) as exc:
        if isinstance(exc, QtrackError) and exc.status_code in (401, 403):
            raise
        if isinstance(exc, ValidationError):
            errors, message = field_errors(exc), CHECK_FIELDS
        else:
            field = "key" if type(exc) is Conflict else "parent"
            errors, message = {field: exc.message}, exc.message
        return await _categories_page(
            request, principal, session, state.settings,
            values=values, errors=errors, message=message, status_code=422,
        )  # fmt: skip
    return RedirectResponse("/categories", status_code=303)


@router.post("/categories/{key}/archive")
async def archive_category(
    key: str, request: Request, principal: Manager, session: SessionDep, state: StateDep
) -> Response:
    """Archive a category without live sub-categories."""
    try:
        async with session.begin_nested():
            await categories_service.archive_category(session, key)
    except categories_service.CategoryNotEmpty as exc:
        return await _categories_page(
            request, principal, session, state.settings, message=exc.message, status_code=409
        )
    return RedirectResponse("/categories", status_code=303)
