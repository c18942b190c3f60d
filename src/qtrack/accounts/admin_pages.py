"""Admin pages for roles, API tokens and the security log; the user pages (and the helpers
all of them share) are in `admin_users_pages`, whose routes this router carries too."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import RedirectResponse, Response

from qtrack.accounts import audit, roles, tokens
from qtrack.accounts import service as accounts_service
from qtrack.accounts.admin_users_pages import (
    PAGE_SIZE,
    WORDS,
    AdminCall,
    Call,
    Done,
    done_message,
    refusal,
)
from qtrack.accounts.admin_users_pages import router as users_router
from qtrack.accounts.permissions import Permission
from qtrack.accounts.roles import CannotGrant
from qtrack.accounts.schemas import RoleCreate, RoleUpdate, TokenCreate
from qtrack.core.clock import utcnow
from qtrack.core.errors import QtrackError
from qtrack.core.pagination import InvalidCursor, PageCursor, decode_int_cursor, encode_cursor
from qtrack.web.forms import CHECK_FIELDS, checked, field_errors, text, texts

router = APIRouter(include_in_schema=False)
router.include_router(users_router)

# What each permission lets a person do, in the words shown next to its checkbox.
PERMISSION_LABELS: dict[Permission, str] = {
    Permission.ITEM_READ: "See items, their history and where they are",
    Permission.ITEM_CREATE: "Register new items",
    Permission.ITEM_EDIT: "Edit an item's fields",
    Permission.ITEM_TRANSITION: "Change an item's status",
    Permission.ITEM_MOVE: "Move items between locations",
    Permission.ITEM_PACK: "Pack items into containers and unpack them",
    Permission.ITEM_QUANTITY: "Change quantities",
    Permission.ITEM_RELEASE: "Release or reject lots (QA)",
    Permission.ITEM_DISPENSE: "Dispense and consume",
    Permission.ITEM_ARCHIVE: "Archive items",
    Permission.LOCATION_MANAGE: "Create and change locations",
    Permission.LABEL_PRINT: "Print labels",
    Permission.SHIPMENT_MANAGE: "Build and dispatch shipments",
    Permission.SHIPMENT_READ: "See shipments and print their bills",
    Permission.SHIPMENT_CREATE: "Create shipments and add or remove their containers",
    Permission.SHIPMENT_ISSUE: "Issue shipments (the bill is complete)",
    Permission.SHIPMENT_DISPATCH: "Dispatch and deliver shipments with their containers",
    Permission.SHIPMENT_CANCEL: "Cancel shipments, releasing their containers",
    Permission.REPORT_READ: "See the daily summary",
    Permission.ORDER_MANAGE: "Create and manage restock orders",
    Permission.ORDER_READ: "See restock orders and print them",
    Permission.ORDER_CREATE: "Draft restock orders and change their lines",
    Permission.ORDER_SUBMIT: "Submit draft orders for approval",
    Permission.ORDER_APPROVE: "Approve submitted orders",
    Permission.ORDER_RECEIVE: "Receive goods against approved orders (registers the lots)",
    Permission.ORDER_CANCEL: "Cancel orders before anything arrived",
    Permission.EVENT_READ: "Read the event history and feeds",
    Permission.EPCIS_CAPTURE: "Record partners' EPCIS events on items' histories",
    Permission.AUDIT_VERIFY: "Verify the tamper-evident audit trail",
    Permission.ADMIN_USERS: "Manage users, roles and API tokens; read the security log",
    Permission.ADMIN_CONFIG: "Configure item types, workflows, labels and signing keys",
    Permission.WEBHOOKS_MANAGE: "Register webhooks, see their deliveries, rotate their secrets",
    Permission.STOCK_READ: "See stock levels, categories and alerts",
    Permission.STOCK_MANAGE: "Set stock levels and manage categories",
    Permission.ALERT_ACKNOWLEDGE: "Acknowledge alerts",
}
_GROUP_TITLES = {
    "item": "Items",
    "location": "Locations and labels",
    "label": "Locations and labels",
    "shipment": "Shipments and orders",
    "order": "Shipments and orders",
    "report": "Shipments and orders",
    "event": "History and audit",
    "epcis": "History and audit",
    "audit": "History and audit",
    "admin": "Administration",
    "webhooks": "Administration",
    "stock": "Stock and alerts",
    "alert": "Stock and alerts",
}


def permission_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """Every permission (key, what it allows), grouped by what it is about, in code order."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for permission in Permission:
        title = _GROUP_TITLES.get(permission.value.split(".", 1)[0], "Other")
        label = PERMISSION_LABELS.get(permission, permission.value)
        groups.setdefault(title, []).append((permission.value, label))
    return list(groups.items())


# --- roles -----------------------------------------------------------------------------------


async def _roles_page(
    call: AdminCall,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "roles": await roles.list_roles(call.session),
        "holders": await roles.count_holders(call.session),
        "groups": permission_groups(),
        "values": values or {"permissions": []},
        "errors": errors or {},
        "message": message,
        "notice": notice,
    }
    return call.render("admin/roles.html", context, status_code)


def _role_form(form: Any) -> dict[str, Any]:
    return {
        "key": text(form, "key"),
        "name": text(form, "name"),
        "description": text(form, "description"),
        "permissions": texts(form, "permissions"),
    }


def _role_errors(exc: QtrackError) -> dict[str, str]:
    errors = field_errors(exc, capitalise=True)
    if isinstance(exc, CannotGrant):
        errors["permissions"] = refusal(exc)
    elif exc.status_code == 409 and isinstance(exc.details, dict) and "key" in exc.details:
        errors["key"] = exc.message
    return errors


@router.get("/admin/roles")
async def roles_list(call: Call, done: Done = None) -> Response:
    """Every role with its permissions, and the form to define one."""
    return await _roles_page(call, notice=done_message(done))


@router.post("/admin/roles")
async def roles_create(call: Call) -> Response:
    """Define a role from the known permissions (only ones the admin holds)."""
    values = _role_form(await call.form())
    spec, errors = checked(RoleCreate, values, words=WORDS)
    if spec is None:
        return await _roles_page(
            call, values=values, errors=errors, message=CHECK_FIELDS, status_code=422
        )
    try:
        role = await roles.create_role(
            call.session, actor=call.actor, key=spec.key, name=spec.name,
            description=spec.description, permissions=spec.permissions, origin=call.origin,
        )  # fmt: skip
    except QtrackError as exc:
        await call.undo(exc)
        return await _roles_page(
            call, values=values, errors=_role_errors(exc), message=refusal(exc),
            status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(f"/admin/roles/{role.key}?done=role_created", status_code=303)


async def _role_page(
    call: AdminCall,
    key: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    role = await roles.get_role(call.session, key)
    shown = {"name": role.name, "description": role.description, "permissions": role.permissions}
    context = {
        "role": role,
        "holders": (await roles.count_holders(call.session)).get(role.id, 0),
        "groups": permission_groups(),
        "values": values or shown,
        "errors": errors or {},
        "message": message,
        "notice": notice,
    }
    return call.render("admin/roles_detail.html", context, status_code)


@router.get("/admin/roles/{key}")
async def role_detail(key: str, call: Call, done: Done = None) -> Response:
    """One role: its permissions, editable unless it is a shipped one."""
    return await _role_page(call, key, notice=done_message(done))


@router.post("/admin/roles/{key}")
async def role_update(key: str, call: Call) -> Response:
    """Rename a role or change its permissions (the use case logs the change)."""
    values = _role_form(await call.form())
    changes, errors = checked(RoleUpdate, values, words=WORDS)
    if changes is None:
        return await _role_page(
            call, key, values=values, errors=errors, message=CHECK_FIELDS, status_code=422
        )
    try:
        await roles.update_role(
            call.session, actor=call.actor, key=key, origin=call.origin,
            changes=changes.model_dump(),
        )  # fmt: skip
    except QtrackError as exc:
        await call.undo(exc)
        return await _role_page(
            call, key, values=values, errors=_role_errors(exc), message=refusal(exc),
            status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(f"/admin/roles/{key}?done=role_saved", status_code=303)


@router.post("/admin/roles/{key}/delete")
async def role_delete(key: str, call: Call) -> Response:
    """Delete a role nobody holds (never a shipped one)."""
    try:
        await roles.delete_role(call.session, actor=call.actor, key=key, origin=call.origin)
    except QtrackError as exc:
        await call.undo(exc)
        return await _role_page(call, key, message=refusal(exc), status_code=exc.status_code)
    return RedirectResponse("/admin/roles?done=role_deleted", status_code=303)


# --- API tokens ------------------------------------------------------------------------------


async def _tokens_page(
    call: AdminCall,
    *,
    cursor: str | None = None,
    revoked: bool = False,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    rows = await tokens.list_tokens(
        call.session, after_id=decode_int_cursor(cursor), limit=PAGE_SIZE, include_revoked=revoked
    )
    next_query = None
    if len(rows) == PAGE_SIZE:
        next_query = {"cursor": encode_cursor(rows[-1].id)} | ({"revoked": "1"} if revoked else {})
    context = {
        "tokens": rows,
        "revoked": revoked,
        "next_query": next_query,
        "usernames": [u.username for u in await accounts_service.list_users(
            call.session, after_id=None, limit=500)],
        "groups": permission_groups(),
        "values": values or {"scopes": []},
        "errors": errors or {},
        "message": message,
        "notice": notice,
        "now": utcnow(),
        "today": utcnow().date().isoformat(),
    }  # fmt: skip
    return call.render("admin/tokens.html", context, status_code)


@router.get("/admin/tokens")
async def tokens_list(
    call: Call,
    cursor: PageCursor = None,
    revoked: bool = False,
    user: Annotated[str, Query(max_length=64)] = "",
    done: Done = None,
) -> Response:
    """API tokens (never their secrets), and the form to create one (for `user`, if given)."""
    return await _tokens_page(
        call, cursor=cursor, revoked=revoked, values={"username": user.strip(), "scopes": []},
        notice=done_message(done),
    )  # fmt: skip


def _expiry(value: str) -> datetime | None:
    """A token valid until the end of the given day (UTC); ValueError when not a date."""
    if not value:
        return None
    day = date.fromisoformat(value)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


@router.post("/admin/tokens")
async def tokens_create(call: Call) -> Response:
    """Create a token acting as a user; its secret is on this response only."""
    form = await call.form()
    values: dict[str, Any] = {k: text(form, k) for k in ("name", "username", "valid_until")}
    values["scopes"] = texts(form, "scopes")
    try:
        expires_at = _expiry(values["valid_until"])
    except ValueError:
        return await _tokens_page(
            call, values=values, errors={"valid_until": "Not a date (YYYY-MM-DD)"},
            message=CHECK_FIELDS, status_code=422,
        )  # fmt: skip
    data = {k: v for k, v in values.items() if k != "valid_until"} | {"expires_at": expires_at}
    spec, errors = checked(TokenCreate, data, words=WORDS)
    if spec is None:
        return await _tokens_page(
            call, values=values, errors=errors, message=CHECK_FIELDS, status_code=422
        )
    try:
        token, raw = await tokens.create_token(
            call.session, actor=call.actor, name=spec.name, username=spec.username,
            scopes=spec.scopes, expires_at=spec.expires_at, origin=call.origin,
        )  # fmt: skip
    except QtrackError as exc:
        await call.undo(exc)
        errors = field_errors(exc, capitalise=True, rename={"expires_at": "valid_until"})
        if exc.status_code == 404:  # no such user
            errors["username"] = exc.message
        elif isinstance(exc, CannotGrant):
            errors["scopes"] = refusal(exc)
        return await _tokens_page(
            call, values=values, errors=errors, message=refusal(exc), status_code=exc.status_code
        )
    response = call.render("admin/tokens_created.html", {"token": token, "secret": raw}, 201)
    # The secret is on this page only: no browser or proxy may keep a copy of it.
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/admin/tokens/{token_id}/revoke")
async def token_revoke(token_id: int, call: Call) -> Response:
    """Revoke a token; it stops working at once."""
    await tokens.revoke_token(call.session, actor=call.actor, token_id=token_id, origin=call.origin)
    return RedirectResponse("/admin/tokens?done=revoked", status_code=303)


# --- the security log ----------------------------------------------------------------------


@router.get("/admin/security-log")
async def security_log(
    call: Call,
    user: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    cursor: PageCursor = None,
) -> Response:
    """Security events, newest first, filtered by user and kind; one query a page."""
    form = {"user": (user or "").strip().lower(), "kind": (kind or "").strip()}
    error, rows = None, []
    try:
        rows = await audit.list_security_events(
            call.session, before_id=decode_int_cursor(cursor), limit=PAGE_SIZE,
            kind=form["kind"] or None, username=form["user"] or None,
        )  # fmt: skip
    except InvalidCursor as exc:
        error = exc.message
    query = {k: v for k, v in form.items() if v}
    older = None
    if len(rows) == PAGE_SIZE:
        older = query | {"cursor": encode_cursor(rows[-1][0].id)}
    context = {
        "rows": rows,
        "form": form,
        "kinds": audit.SECURITY_KINDS,
        "error": error,
        "older_query": older,
        "newest_query": query if cursor else None,
    }
    return call.render("admin/security_log.html", context, 400 if error else 200)
