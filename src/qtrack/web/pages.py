"""HTML pages of the web UI: dashboard, scan screen, items list, new item, locations.

Thin edges: each page loads what it renders through the domains' services, in a fixed number
of queries whatever the number of rows, and renders it into the signed-in layout.
"""

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from qtrack.accounts.deps import CurrentPrincipal, require, require_any
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.clock import utcnow
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import QtrackError
from qtrack.core.pagination import decode_key_cursor, encode_cursor
from qtrack.events.models import Event
from qtrack.inventory import service as inventory_service
from qtrack.items import repository
from qtrack.items import service as items_service
from qtrack.items import types as item_types
from qtrack.items.pages import bulk_form_context
from qtrack.items.schemas import ItemCreate
from qtrack.locations import service as locations_service
from qtrack.web.render import page
from qtrack.workflow import service as workflow_service

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]
Creator = Annotated[Principal, Depends(require(Permission.ITEM_CREATE))]

# The admin start page's sections: (path, title, what it is for, permission needed).
_USERS, _CONFIG = Permission.ADMIN_USERS, Permission.ADMIN_CONFIG
ADMIN_SECTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("/admin/users", "Users", "Who can sign in, their roles and passwords", _USERS),
    ("/admin/roles", "Roles", "Named sets of permissions", _USERS),
    ("/admin/tokens", "API tokens", "Credentials for devices and integrations", _USERS),
    ("/admin/security-log", "Security log", "Logins, tokens, role changes, signatures", _USERS),
    ("/admin/item-types", "Item types", "Code prefixes, units, workflows, attributes", _CONFIG),
    ("/admin/workflows", "Workflows", "States and the transitions between them", _CONFIG),
    ("/admin/label-templates", "Label templates", "Label sizes and what they show", _CONFIG),
    ("/admin/keys", "Signing keys", "The keys that sign QR labels", _CONFIG),
    ("/admin/jobs", "Background jobs", "Queued, running and dead jobs; schedules", _CONFIG),
    ("/locations", "Locations", "Sites, zones, racks and shelves", Permission.LOCATION_MANAGE),
)
AdminAny = Annotated[
    Principal, Depends(require_any(Permission.ADMIN_USERS, Permission.ADMIN_CONFIG))
]

PAGE_SIZE = 50
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


async def state_styles(session: AsyncSession) -> dict[tuple[str, str], dict[str, str]]:
    """Label and colour of every (item type, status), from the workflows: one query."""
    styles: dict[tuple[str, str], dict[str, str]] = {}
    for item_type in await item_types.list_item_types(session):
        for state in workflow_service.definition_of(item_type.workflow).states:
            styles[(item_type.key, state.key)] = {
                "label": state.label,
                "colour": state.colour,
                "type_name": item_type.name,
            }
    return styles


@router.get("/")
async def dashboard(
    request: Request, principal: CurrentPrincipal, session: SessionDep, state: StateDep
) -> Response:
    """The start page: counts as bars, expiring soon, low stock, recent activity."""
    context: dict[str, Any] = {"can_read": principal.can(Permission.ITEM_READ)}
    if context["can_read"]:
        stats = await inventory_service.stats(session)
        rows = stats["by_type_status"]
        top = max((r["count"] for r in rows), default=0) or 1
        styles = await state_styles(session)
        context["total"] = stats["total"]
        context["bars"] = [
            {
                **r,
                "width": round(100 * r["count"] / top, 1),
                **styles.get((r["type"], r["status"]), {"label": r["status"], "colour": "#6e7781"}),
            }
            for r in rows
        ]
        soon = utcnow().date() + timedelta(days=30)
        context["expiring_before"] = soon.isoformat()
        context["expiring"], _ = await items_service.list_items(
            session,
            filters=items_service.ItemFilter(expiring_before=soon),
            sort="code",
            cursor=None,
            limit=10,
        )
        context["low_stock"] = await items_service.low_stock(session, limit=10)
    if principal.can(Permission.EVENT_READ):
        recent = await session.execute(repository.event_rows().order_by(Event.id.desc()).limit(10))
        context["recent"] = [repository.to_event_read(r) for r in recent]
    return page(
        request, "web/dashboard.html", principal=principal, settings=state.settings, context=context
    )


@router.get("/scan")
async def scan_page(
    request: Request, principal: Reader, session: SessionDep, state: StateDep
) -> Response:
    """One screen for every scanning job: look up, put away, pack, act."""
    transitions: dict[str, dict[str, Any]] = {}
    for workflow in await workflow_service.list_workflows(session):
        for t in workflow_service.definition_of(workflow).transitions:
            if not principal.can(t.permission):
                continue
            entry = transitions.setdefault(
                t.name,
                {"name": t.name, "label": t.display, "reason": False, "signature": False},
            )
            entry["reason"] |= t.reason_required
            entry["signature"] |= t.signature_required
    modes = [("lookup", "Look up")]
    if principal.can(Permission.ITEM_MOVE):
        modes.append(("putaway", "Put away"))
    if principal.can(Permission.ITEM_PACK):
        modes.append(("pack", "Pack"))
    can_dispense = principal.can(Permission.ITEM_DISPENSE)
    if transitions or can_dispense:
        modes.append(("act", "Act"))
    if principal.can(Permission.SHIPMENT_CREATE):
        modes.append(("shipment", "Shipment"))
    return page(
        request,
        "web/scan.html",
        principal=principal,
        settings=state.settings,
        context={
            "modes": modes,
            "transitions": sorted(transitions.values(), key=lambda t: t["label"]),
            "can_dispense": can_dispense,
            "can_print": principal.can(Permission.LABEL_PRINT),
            "states": {
                f"{type_key} {status}": style["label"]
                for (type_key, status), style in (await state_styles(session)).items()
            },
        },
    )


@router.get("/items")
async def items_list(
    request: Request,
    principal: Reader,
    session: SessionDep,
    state: StateDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    item_type: Annotated[str | None, Query(alias="type", max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=64)] = None,
    location: Annotated[str | None, Query(max_length=64)] = None,
    expiring_before: Annotated[str | None, Query(max_length=10)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """Items with filters and search, a page at a time."""
    form = {
        "q": (q or "").strip(),
        "type": item_type or "",
        "status": status or "",
        "location": (location or "").strip().upper(),
        "expiring_before": expiring_before or "",
    }
    error = None
    items: list[Any] = []
    next_key = None
    try:
        after = decode_key_cursor(cursor)
        filters = items_service.ItemFilter(
            type=form["type"] or None,
            status=form["status"] or None,
            location=form["location"] or None,
            expiring_before=_date(form["expiring_before"]),
            q=form["q"] or None,
        )
        items, next_key = await items_service.list_items(
            session, filters=filters, sort="code", cursor=after, limit=PAGE_SIZE
        )
    except (QtrackError, ValueError) as exc:
        error = exc.message if isinstance(exc, QtrackError) else "A filter is not valid"
    query = {k: v for k, v in form.items() if v}
    styles = await state_styles(session)
    return page(
        request,
        "web/items.html",
        principal=principal,
        settings=state.settings,
        context={
            "items": items,
            "form": form,
            "error": error,
            "item_types": await item_types.list_item_types(session),
            "styles": styles,
            "statuses": sorted({(k[1], v["label"]) for k, v in styles.items()}),
            "next_query": {**query, "cursor": encode_cursor(next_key)} if next_key else None,
            "first_query": query if cursor else None,
            # Where the bulk result page links back to: this very page of the list.
            "back": {**query, "cursor": cursor} if cursor else query,
            **await bulk_form_context(session, principal),
        },
        status_code=400 if error else 200,
    )


def _date(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


async def _new_item_page(
    request: Request,
    principal: Principal,
    session: AsyncSession,
    settings: Any,
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
        errors = {str(e["loc"][0]): e["msg"] for e in exc.errors() if e["loc"]}
        general = [e["msg"].removeprefix("Value error, ") for e in exc.errors() if not e["loc"]]
        return await _new_item_page(
            request, principal, session, state.settings,
            values=values, errors=errors,
            message=" ".join(general) or "Check the fields marked below.", status_code=422,
        )  # fmt: skip
    try:
        created = await items_service.register_items(
            session, specs=[spec], actor=principal, settings=state.settings
        )
    except QtrackError as exc:
        errors = _field_errors(exc.details)
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


def _field_errors(details: Any) -> dict[str, str]:
    """Field name -> message, from a ValidationFailed's details (loc ends with the field)."""
    errors: dict[str, str] = {}
    if isinstance(details, list):
        for problem in details:
            loc = problem.get("loc") if isinstance(problem, dict) else None
            if loc:
                errors[str(loc[-1])] = str(problem.get("msg", "not valid"))
    elif isinstance(details, dict) and "code" in details:
        errors["location"] = "No such location"
    return errors


@router.get("/admin")
async def admin_start(request: Request, principal: AdminAny, state: StateDep) -> Response:
    """The admin start page: the sections this administrator may manage."""
    sections = [
        {"href": href, "title": title, "about": about}
        for href, title, about, permission in ADMIN_SECTIONS
        if principal.can(permission)
    ]
    return page(
        request,
        "admin/index.html",
        principal=principal,
        settings=state.settings,
        context={"sections": sections},
    )
