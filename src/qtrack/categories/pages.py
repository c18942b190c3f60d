"""The categories page: the tree of item-type categories, forms for a new one and to rename or
move one, archiving."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.categories import service as categories_service
from qtrack.categories.schemas import CategoryCreate, CategoryUpdate
from qtrack.config import Settings
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import Conflict, QtrackError
from qtrack.web.forms import CHECK_FIELDS, field_errors
from qtrack.web.render import page

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]
Manager = Annotated[Principal, Depends(require(Permission.STOCK_MANAGE))]
FIELDS = ("key", "name", "parent")
TOP = "(top)"  # the edit form's "Under" choice that moves a category to the top


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
            "top": TOP,
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


@router.post("/categories/edit")
async def edit_category(
    request: Request, principal: Manager, session: SessionDep, state: StateDep
) -> Response:
    """Rename a category or move it (an empty field changes nothing); a refusal is shown
    next to its field."""
    form = await request.form()
    values = {f"edit_{name}": str(form.get(f"edit_{name}") or "").strip() for name in FIELDS}
    fields: dict[str, str | None] = {}
    if values["edit_name"]:
        fields["name"] = values["edit_name"]
    if values["edit_parent"]:
        fields["parent"] = None if values["edit_parent"] == TOP else values["edit_parent"]
    try:
        body = CategoryUpdate.model_validate(fields)
        async with session.begin_nested():
            await categories_service.update_category(
                session, key=values["edit_key"], changes=body.model_dump(exclude_unset=True)
            )
    except (ValidationError, QtrackError) as exc:
        if isinstance(exc, QtrackError) and exc.status_code in (401, 403):
            raise
        if isinstance(exc, ValidationError):
            errors = {f"edit_{k}": v for k, v in field_errors(exc).items()}
            message = CHECK_FIELDS
        else:
            missing = isinstance(exc, categories_service.CategoryNotFound) and (
                (exc.details or {}).get("key") == values["edit_key"].lower()
            )
            errors = {"edit_key" if missing else "edit_parent": exc.message}
            message = exc.message
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
