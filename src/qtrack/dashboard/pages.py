"""The start page, the scan screen and the admin start page, and the navigation of every page.

Thin edges: each page loads what it renders through the domains' services, in a fixed number
of queries whatever the number of rows, and renders it into the signed-in layout.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from qtrack.accounts.deps import CurrentPrincipal, require, require_any
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.alerts import service as alerts_service
from qtrack.core.deps import SessionDep, StateDep
from qtrack.expiry import service as expiry_service
from qtrack.history import service as history_service
from qtrack.inventory import service as inventory_service
from qtrack.item_types import service as item_types
from qtrack.items import service as items_service
from qtrack.stock import service as stock_service
from qtrack.web.render import NavLink, page
from qtrack.workflow import service as workflow_service

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]

# The top navigation of every signed-in page (the app gives it to `qtrack.web.render`).
NAV: tuple[NavLink, ...] = (
    NavLink("/", "Home", (Permission.ITEM_READ,)),
    NavLink("/scan", "Scan", (Permission.ITEM_READ,)),
    NavLink("/items", "Items", (Permission.ITEM_READ,)),
    # Not under Items: a separate link, current only on its own page.
    NavLink("/items/new", "New item", (Permission.ITEM_CREATE,)),
    NavLink(
        "/imports",
        "Import",
        (Permission.ITEM_CREATE, Permission.LOCATION_MANAGE, Permission.ADMIN_CONFIG),
        section=True,
    ),
    NavLink("/locations", "Locations", (Permission.ITEM_READ,), section=True),
    NavLink("/stock", "Stock", (Permission.STOCK_READ,), section=True),
    NavLink("/alerts", "Alerts", (Permission.STOCK_READ,)),
    NavLink("/shipments", "Shipments", (Permission.SHIPMENT_READ,), section=True),
    NavLink("/orders", "Orders", (Permission.ORDER_READ,), section=True),
    NavLink("/reports/daily", "Daily summary", (Permission.REPORT_READ,)),
    NavLink("/admin", "Admin", (Permission.ADMIN_USERS, Permission.ADMIN_CONFIG), section=True),
)

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
    ("/admin/system", "System", "Database, Redis, jobs, errors, processes, disks", _CONFIG),
    (
        "/admin/webhooks",
        "Webhooks",
        "Signed deliveries of changes to other systems",
        Permission.WEBHOOKS_MANAGE,
    ),
    ("/locations", "Locations", "Sites, zones, racks and shelves", Permission.LOCATION_MANAGE),
)
AdminAny = Annotated[
    Principal, Depends(require_any(Permission.ADMIN_USERS, Permission.ADMIN_CONFIG))
]


async def done_with_states(session: AsyncSession) -> frozenset[tuple[str, str]]:
    """(item type, state) pairs whose items are done with: terminal states, and rejected or
    expired ones (`workflow.service.DONE_WITH`); an expiry date of such a lot warns of
    nothing, and it is no stock, low or not."""
    return frozenset(
        (item_type.key, state.key)
        for item_type in await item_types.list_item_types(session)
        for state in workflow_service.definition_of(item_type.workflow).states
        if state.terminal or state.key in workflow_service.DONE_WITH
    )


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
        styles = workflow_service.state_styles(await item_types.list_item_types(session))
        context["total"] = stats["total"]
        context["bars"] = [
            {
                **r,
                "width": round(100 * r["count"] / top, 1),
                **styles.get((r["type"], r["status"]), {"label": r["status"], "colour": "#6e7781"}),
            }
            for r in rows
        ]
        done_with = await done_with_states(session)
        context["expiring"], context["expired"] = await expiry_service.panels(
            session, state.settings, done_with=done_with, limit=10
        )
        context["low_stock"] = await items_service.low_stock(session, limit=10, done_with=done_with)
    if principal.can(Permission.STOCK_READ):
        context["alerts_pending"] = await alerts_service.pending_count(session)
        context["stock_low"] = (await stock_service.list_stock(session, low=True))[:10]
    if principal.can(Permission.EVENT_READ):
        context["recent"] = await history_service.recent(session, limit=10)
    return page(
        request, "web/dashboard.html", principal=principal, settings=state.settings, context=context
    )


@router.get("/scan")
async def scan_page(
    request: Request, principal: Reader, session: SessionDep, state: StateDep
) -> Response:
    """One screen for every scanning job: look up, put away, pack, act."""
    # Act mode is offered to whoever may take some transition or dispense; what it offers for
    # a scanned item comes from the scan's answer (that item's state, this person's rights).
    can_dispense = principal.can(Permission.ITEM_DISPENSE)
    can_transition = any(
        principal.can(t.permission)
        for workflow in await workflow_service.list_workflows(session)
        for t in workflow_service.definition_of(workflow).transitions
    )
    modes = [("lookup", "Look up")]
    if principal.can(Permission.ITEM_MOVE):
        modes.append(("putaway", "Put away"))
    if principal.can(Permission.ITEM_PACK):
        modes.append(("pack", "Pack"))
    if can_transition or can_dispense:
        modes.append(("act", "Act"))
    if principal.can(Permission.SHIPMENT_CREATE):
        modes.append(("shipment", "Shipment"))
    styles = workflow_service.state_styles(await item_types.list_item_types(session))
    return page(
        request,
        "web/scan.html",
        principal=principal,
        settings=state.settings,
        context={
            "modes": modes,
            "can_print": principal.can(Permission.LABEL_PRINT),
            "states": {
                f"{type_key} {status}": style["label"]
                for (type_key, status), style in styles.items()
            },
            # The scan card names an item's type as people know it, not by its key.
            "types": {type_key: s["type_name"] for (type_key, _), s in styles.items()},
        },
    )


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
