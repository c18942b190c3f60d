"""Rendering a signed-in page: the layout needs the user, the CSRF token and the navigation."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from qtrack.accounts import sessions
from qtrack.accounts.deps import SESSION_COOKIE
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.errors import QtrackError
from qtrack.core.http import wants_json
from qtrack.core.requests import request_user_of
from qtrack.core.state import app_state
from qtrack.core.templating import templates

# (path, label, permissions of which one is needed to see the link)
NAV: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("/", "Home", (Permission.ITEM_READ,)),
    ("/scan", "Scan", (Permission.ITEM_READ,)),
    ("/items", "Items", (Permission.ITEM_READ,)),
    ("/items/new", "New item", (Permission.ITEM_CREATE,)),
    ("/locations", "Locations", (Permission.ITEM_READ,)),
    ("/shipments", "Shipments", (Permission.SHIPMENT_READ,)),
    ("/reports/daily", "Daily summary", (Permission.REPORT_READ,)),
    ("/admin", "Admin", (Permission.ADMIN_USERS, Permission.ADMIN_CONFIG)),
)


class Caller(Protocol):
    """What the layout needs of whoever is signed in."""

    @property
    def username(self) -> str: ...

    @property
    def session_id(self) -> str | None: ...

    def can(self, permission: str) -> bool: ...


@dataclass(frozen=True)
class SignedIn:
    """The caller as plain values: an error page renders after the request's database
    session has rolled back, when the principal's user row can no longer be read."""

    username: str
    permissions: frozenset[str]
    session_id: str | None

    def can(self, permission: str) -> bool:
        """Whether this caller holds the permission."""
        return permission in self.permissions


def csrf_for(settings: Settings, principal: Caller) -> str:
    """The CSRF token forms and script calls of this session must send back."""
    return sessions.csrf_token(settings, principal.session_id or "")


def nav_for(principal: Caller, path: str) -> list[dict[str, Any]]:
    """The navigation links this caller may follow; the one for this page marked current."""
    return [
        {"href": href, "label": label, "current": _is_current(href, path)}
        for href, label, permissions in NAV
        if any(principal.can(p) for p in permissions)
    ]


def _is_current(href: str, path: str) -> bool:
    # Sections own their sub-pages (/admin/users is under Admin, /locations/X under
    # Locations), but Home is only "/" and /items/new is not under Items.
    if path == href:
        return True
    return href in {"/admin", "/locations", "/shipments"} and path.startswith(href + "/")


def layout_context(principal: Caller, settings: Settings, path: str) -> dict[str, Any]:
    """What the signed-in layout needs: the user, the CSRF token, the navigation."""
    return {
        "principal": principal,
        "csrf_token": csrf_for(settings, principal),
        "nav": nav_for(principal, path),
        "scan_prefix": settings.scan_prefix,
    }


async def error_layout(request: Request, status: int) -> dict[str, Any]:
    """The signed-in layout for an error page, so a person can navigate on from it.

    The caller is known when a route authenticated before failing; for a path that matched
    no route (a mistyped address) the session cookie is read here.
    """
    state = app_state(request)
    principal: Principal | None = getattr(request.state, "principal", None)
    username = request_user_of(request.scope)
    cookie = request.cookies.get(SESSION_COOKIE)
    if principal is None and status in {404, 405} and cookie and not wants_json(request.scope):
        try:
            async with state.db.session_scope("read") as session:
                principal = await sessions.principal_from_web_session(session, cookie)
                username = principal.username
        except QtrackError:  # an expired or unknown session: the bare error page
            return {}
    if principal is None or principal.via != "session" or username is None:
        return {}
    caller = SignedIn(username, principal.permissions, principal.session_id)
    return layout_context(caller, state.settings, request.url.path)


async def settle_refused(session: AsyncSession, principal: Principal, error: QtrackError) -> None:
    """End a refused change before its form is shown again: keep only what the error marks as
    kept (a failed signature is recorded), roll back the rest, and reload the signed-in user,
    whom a rollback expires and whom the layout names (async code cannot lazy-load a row)."""
    if error.keep_changes:
        await session.commit()
        return
    await session.rollback()
    await session.refresh(principal.user)


def page(
    request: Request,
    template: str,
    *,
    principal: Principal,
    settings: Settings,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """Render a page inside the signed-in layout (top bar, navigation, logout)."""
    response = templates.TemplateResponse(
        request,
        template,
        {**layout_context(principal, settings, request.url.path), **(context or {})},
        status_code=status_code,
    )
    # Pages carry a session's CSRF token: never keep them in shared caches.
    response.headers["Cache-Control"] = "private, no-cache"
    return response
