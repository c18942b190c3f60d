"""The items list (filters, search, bulk actions) and the new-item form.

Thin edges: each page loads what it renders through the services, in a fixed number of
queries whatever the number of rows, and renders it into the signed-in layout.
"""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from qtrack.accounts.deps import require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.categories import service as categories_service
from qtrack.config import Settings
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import QtrackError
from qtrack.core.pagination import decode_key_cursor, encode_cursor
from qtrack.item_pages.pages import bulk_form_context
from qtrack.item_types import service as item_types
from qtrack.items import create, rules
from qtrack.items import service as items_service
from qtrack.items.schemas import ItemCreate
from qtrack.locations import service as locations_service
from qtrack.web.forms import CHECK_FIELDS, field_errors, last_part
from qtrack.web.render import page
from qtrack.workflow import service as workflow_service

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]
Creator = Annotated[Principal, Depends(require(Permission.ITEM_CREATE))]

PAGE_SIZE = 50
# The items list's expiry filter: live items expiring within their type's window, or expired.
EXPIRY_CHOICES = {"soon": "Expiring soon", "expired": "Expired"}
# Form fields of the new-item page, in the order they are shown.
ITEM_FIELDS = (
    "type",
    "count",
    "name",
    "location",
    "batch",
    "serial",
    "gtin",
    "expiry_on",
    "quantity",
    "weight_kg",
)


@router.get("/items")
async def items_list(
    request: Request,
    principal: Reader,
    session: SessionDep,
    state: StateDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    item_type: Annotated[str | None, Query(alias="type", max_length=64)] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=64)] = None,
    location: Annotated[str | None, Query(max_length=64)] = None,
    expiring_before: Annotated[str | None, Query(max_length=10)] = None,
    expiry: Annotated[str | None, Query(max_length=16)] = None,
    expiring_within_days: Annotated[str | None, Query(max_length=4)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """Items with filters and search, a page at a time."""
    form = {
        "q": (q or "").strip(),
        "type": item_type or "",
        "category": category or "",
        "status": status or "",
        "location": (location or "").strip().upper(),
        "expiring_before": expiring_before or "",
        "expiry": expiry if expiry in EXPIRY_CHOICES else "",
        "expiring_within_days": (expiring_within_days or "").strip(),
    }
    error = None
    items: list[Any] = []
    next_key = None
    try:
        after = decode_key_cursor(cursor)
        filters = items_service.ItemFilter(
            type=form["type"] or None,
            category=form["category"] or None,
            status=form["status"] or None,
            location=form["location"] or None,
            expiring_before=_date(form["expiring_before"]),
            expiring_soon=form["expiry"] == "soon",
            expired=True if form["expiry"] == "expired" else None,
            expiring_within_days=_days(form["expiring_within_days"]),
            today=rules.site_today(state.settings),
            q=form["q"] or None,
        )
        items, next_key = await items_service.list_items(
            session, filters=filters, sort=None, cursor=after, limit=PAGE_SIZE
        )
    except (QtrackError, ValueError) as exc:
        error = exc.message if isinstance(exc, QtrackError) else "A filter is not valid"
    query = {k: v for k, v in form.items() if v}
    types = await item_types.list_item_types(session)
    styles = workflow_service.state_styles(types)
    categories = await categories_service.list_categories(session)
    return page(
        request,
        "web/items.html",
        principal=principal,
        settings=state.settings,
        context={
            "items": items,
            "form": form,
            "error": error,
            "item_types": types,
            "categories": await categories_service.reads(session, categories),
            "styles": styles,
            "expiry_choices": EXPIRY_CHOICES,
            "statuses": sorted({(k[1], v["label"]) for k, v in styles.items()}),
            "next_query": {**query, "cursor": encode_cursor(next_key)} if next_key else None,
            "first_query": query if cursor else None,
            "export_query": query,  # the Export links download what these filters show
            # Where the bulk result page links back to: this very page of the list.
            "back": {**query, "cursor": cursor} if cursor else query,
            **await bulk_form_context(session, principal),
        },
        status_code=400 if error else 200,
    )


def _days(value: str) -> int | None:
    if not value:
        return None
    days = int(value)
    if not 0 <= days <= 3650:
        raise ValueError(days)
    return days


def _date(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


async def _new_item_page(
    request: Request,
    principal: Principal,
    session: AsyncSession,
    settings: Settings,
    *,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    return page(
        request,
        "web/item_new.html",
        principal=principal,
        settings=settings,
        context={
            "item_types": await item_types.list_item_types(session),
            "locations": await locations_service.list_locations(session, after_id=None, limit=500),
            "values": values,
            "errors": errors or {},
            "message": message,
        },
        status_code=status_code,
    )


@router.get("/items/new")
async def new_item_form(
    request: Request, principal: Creator, session: SessionDep, state: StateDep
) -> Response:
    """The form to register one item, or N of these."""
    return await _new_item_page(
        request, principal, session, state.settings, values={"count": "1", "type": ""}
    )


@router.post("/items/new")
async def new_item_submit(
    request: Request, principal: Creator, session: SessionDep, state: StateDep
) -> Response:
    """Register the items, then show their codes with a link to print their labels."""
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in ITEM_FIELDS}
    data: dict[str, Any] = {k: v for k, v in values.items() if v}
    data.setdefault("count", "1")
    try:
        spec = ItemCreate.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        general = errors.pop("", None)  # the model's own rules (a weight without a unit...)
        return await _new_item_page(
            request, principal, session, state.settings,
            values=values, errors=errors, message=general or CHECK_FIELDS, status_code=422,
        )  # fmt: skip
    try:
        created = await create.register_items(
            session, specs=[spec], actor=principal, settings=state.settings
        )
    except QtrackError as exc:
        # A use case locates a problem in the request it was given (`items.0.quantity`).
        errors = field_errors(exc, field_of=last_part)
        if isinstance(exc.details, dict) and "code" in exc.details:
            errors["location"] = "No such location"
        return await _new_item_page(
            request, principal, session, state.settings,
            values=values, errors=errors, message=exc.message, status_code=exc.status_code,
        )  # fmt: skip
    codes = [item.code for item in created]
    return page(
        request,
        "web/item_created.html",
        principal=principal,
        settings=state.settings,
        context={
            "codes": codes,
            "labels_query": {"items": ",".join(codes)},
            "can_print": principal.can(Permission.LABEL_PRINT),
        },
        status_code=201,
    )
