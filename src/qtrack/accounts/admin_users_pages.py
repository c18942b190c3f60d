"""Admin pages for users (the API's use cases behind forms), and what every accounts admin
page shares: the admin's request, the confirmations, how a refusal is worded.

A refusal from a use case (the last admin, rights the admin lacks, a weak password) is shown
on the page it came from, next to the field it is about, with the error's status code.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from qtrack.accounts import roles
from qtrack.accounts import service as accounts_service
from qtrack.accounts.audit import Origin
from qtrack.accounts.deps import OriginDep, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.accounts.roles import CannotGrant
from qtrack.accounts.schemas import UserCreate, UserUpdate
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import QtrackError
from qtrack.core.pagination import PageCursor, decode_int_cursor, encode_cursor
from qtrack.core.state import AppState
from qtrack.web.forms import CHECK_FIELDS, Words, checked, field_errors, text
from qtrack.web.render import page, settle_refused

router = APIRouter(include_in_schema=False)
Done = Annotated[str | None, Query(max_length=32)]
PAGE_SIZE = 50
# Plainer words than pydantic's; pattern mismatches explained rather than shown as a regex.
WORDS: Words = {
    "missing": "Required",
    ("username", "string_pattern_mismatch"): (
        "2 to 64 letters, digits or . _ @ -, starting with a letter or digit"
    ),
    ("key", "string_pattern_mismatch"): (
        "2 to 64 lower-case letters, digits, _ or -, starting with a letter"
    ),
}
# Confirmations after a redirect (`?done=`): only these, the query's text is never shown.
_DONE = {
    "created": "User created.",
    "saved": "Changes saved.",
    "disabled": "User disabled: their sessions and API tokens stopped working.",
    "enabled": "User enabled.",
    "password": "Password reset. Their sessions have ended; tell them the new password.",
    "role_created": "Role created.",
    "role_saved": "Role saved.",
    "role_deleted": "Role deleted.",
    "revoked": "Token revoked: it stopped working at once.",
}


@dataclass(frozen=True)
class AdminCall:
    """One request of an accounts administrator, with what its page needs."""

    request: Request
    actor: Principal
    session: AsyncSession
    state: AppState
    origin: Origin

    def render(self, template: str, context: Mapping[str, Any], status_code: int = 200) -> Response:
        """A page in the signed-in layout."""
        return page(
            self.request,
            template,
            principal=self.actor,
            settings=self.state.settings,
            context=context,
            status_code=status_code,
        )

    async def form(self) -> FormData:
        """The submitted form (empty for a body that is not a form)."""
        return await self.request.form()

    async def undo(self, exc: QtrackError) -> None:
        """Settle a refused change before the form is shown again (see `settle_refused`)."""
        await settle_refused(self.session, self.actor, exc)


async def _admin_call(
    request: Request,
    actor: Annotated[Principal, Depends(require(Permission.ADMIN_USERS))],
    session: SessionDep,
    state: StateDep,
    origin: OriginDep,
) -> AdminCall:
    return AdminCall(request, actor, session, state, origin)


Call = Annotated[AdminCall, Depends(_admin_call)]


def done_message(done: str | None) -> str | None:
    """The confirmation for a redirect's `?done=`."""
    return _DONE.get(done or "")


def refusal(exc: QtrackError) -> str:
    """What to tell the admin; a refused grant names the rights they lack."""
    if isinstance(exc, CannotGrant) and isinstance(exc.details, dict):
        return f"{exc.message}: {', '.join(exc.details.get('missing', []))}"
    return exc.message


# --- the users list and new users ------------------------------------------------------------


async def _users_page(
    call: AdminCall,
    *,
    cursor: str | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    users = await accounts_service.list_users(
        call.session, after_id=decode_int_cursor(cursor), limit=PAGE_SIZE
    )
    context = {
        "users": users,
        "roles": await roles.list_roles(call.session),
        "next_cursor": encode_cursor(users[-1].id) if len(users) == PAGE_SIZE else None,
        "values": values or {"role": "operator"},
        "password_min": call.state.settings.password_min_length,
        "errors": errors or {},
        "message": message,
        "notice": notice,
    }
    return call.render("admin/users.html", context, status_code)


@router.get("/admin/users")
async def users_list(call: Call, cursor: PageCursor = None, done: Done = None) -> Response:
    """Every user with role and status, and the form to create one."""
    return await _users_page(call, cursor=cursor, notice=done_message(done))


@router.post("/admin/users")
async def users_create(call: Call) -> Response:
    """Create a user; a password left empty is generated and shown once."""
    form = await call.form()
    values = {k: text(form, k) for k in ("username", "full_name", "email", "role")}
    password = form.get("password")
    data: dict[str, Any] = {k: v for k, v in values.items() if v}
    data["password"] = password if isinstance(password, str) and password else None
    spec, errors = checked(UserCreate, data, words=WORDS)
    if spec is None:
        return await _users_page(
            call, values=values, errors=errors, message=CHECK_FIELDS, status_code=422
        )
    try:
        user, generated = await accounts_service.create_user(
            call.session, call.state.settings, actor=call.actor, username=spec.username,
            role=spec.role, full_name=spec.full_name, email=spec.email, password=spec.password,
            origin=call.origin,
        )  # fmt: skip
    except QtrackError as exc:
        await call.undo(exc)
        errors = field_errors(exc, capitalise=True)
        if exc.status_code == 409:  # the name is taken
            errors["username"] = exc.message
        elif exc.status_code == 404:  # no such role
            errors["role"] = exc.message
        return await _users_page(
            call, values=values, errors=errors, message=refusal(exc), status_code=exc.status_code
        )
    if generated is not None:
        return _password_page(call, user.username, generated, created=True)
    return RedirectResponse(f"/admin/users/{user.username}?done=created", status_code=303)


def _password_page(call: AdminCall, username: str, password: str, *, created: bool) -> Response:
    context = {"username": username, "password": password, "created": created}
    response = call.render("admin/users_password.html", context, 201 if created else 200)
    response.headers["Cache-Control"] = "no-store"  # a password: kept in no cache at all
    return response


# --- one user ----------------------------------------------------------------------------------


async def _user_page(
    call: AdminCall,
    username: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    user = await accounts_service.get_user(call.session, username)
    shown = {"full_name": user.full_name, "email": user.email or "", "role": user.role.key}
    context = {
        "user": user,
        "roles": await roles.list_roles(call.session),
        "values": shown | (values or {}),
        "password_min": call.state.settings.password_min_length,
        "errors": errors or {},
        "message": message,
        "notice": notice,
    }
    return call.render("admin/users_detail.html", context, status_code)


@router.get("/admin/users/{username}")
async def user_detail(username: str, call: Call, done: Done = None) -> Response:
    """One user: edit name, email and role; disable or enable; reset the password."""
    return await _user_page(call, username, notice=done_message(done))


@router.post("/admin/users/{username}")
async def user_update(username: str, call: Call) -> Response:
    """Save name, email and role (the use case logs a role change)."""
    form = await call.form()
    values = {k: text(form, k) for k in ("full_name", "email", "role")}
    changes, errors = checked(UserUpdate, {k: v or None for k, v in values.items()}, words=WORDS)
    if changes is None:
        return await _user_page(
            call, username, values=values, errors=errors, message=CHECK_FIELDS, status_code=422
        )
    try:
        user = await accounts_service.update_user(
            call.session,
            actor=call.actor,
            username=username,
            changes={
                "full_name": changes.full_name or "",
                "email": changes.email,
                "role": changes.role,
            },
            origin=call.origin,
        )
    except QtrackError as exc:
        await call.undo(exc)
        return await _user_page(
            call, username, values=values, errors=field_errors(exc, capitalise=True),
            message=refusal(exc),
            status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(f"/admin/users/{user.username}?done=saved", status_code=303)


async def _set_active(call: AdminCall, username: str, *, active: bool) -> Response:
    try:
        user = await accounts_service.set_active(
            call.session, actor=call.actor, username=username, active=active, origin=call.origin
        )
    except QtrackError as exc:
        await call.undo(exc)
        return await _user_page(call, username, message=refusal(exc), status_code=exc.status_code)
    done = "enabled" if active else "disabled"
    return RedirectResponse(f"/admin/users/{user.username}?done={done}", status_code=303)


@router.post("/admin/users/{username}/disable")
async def user_disable(username: str, call: Call) -> Response:
    """Disable a user (never the last active admin); their logins end at once."""
    return await _set_active(call, username, active=False)


@router.post("/admin/users/{username}/enable")
async def user_enable(username: str, call: Call) -> Response:
    """Enable a disabled user again."""
    return await _set_active(call, username, active=True)


@router.post("/admin/users/{username}/password")
async def user_reset_password(username: str, call: Call) -> Response:
    """Set a new password (generated and shown once when left empty); their logins end."""
    form = await call.form()
    new_password = form.get("new_password")
    given = new_password if isinstance(new_password, str) and new_password else None
    if given is not None and len(given) > 1024:  # as the API's schema: no hashing a novel
        return await _user_page(
            call, username, errors={"new_password": "At most 1024 characters"},
            message=CHECK_FIELDS, status_code=422,
        )  # fmt: skip
    try:
        user, generated = await accounts_service.reset_password(
            call.session, call.state.settings, actor=call.actor, username=username,
            new_password=given, origin=call.origin,
        )  # fmt: skip
    except QtrackError as exc:
        await call.undo(exc)
        return await _user_page(
            call, username,
            errors=field_errors(exc, capitalise=True, rename={"password": "new_password"}),
            message=refusal(exc), status_code=exc.status_code,
        )  # fmt: skip
    if generated is not None:
        return _password_page(call, user.username, generated, created=False)
    return RedirectResponse(f"/admin/users/{user.username}?done=password", status_code=303)
