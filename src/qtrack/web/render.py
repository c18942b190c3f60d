"""Rendering a signed-in page: the layout needs the user, the CSRF token and the navigation."""

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from qtrack.accounts import sessions
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.templating import templates

# (path, label, permission needed to see the link)
NAV: tuple[tuple[str, str, str], ...] = (
    ("/", "Home", Permission.ITEM_READ),
    ("/scan", "Scan", Permission.ITEM_READ),
    ("/items", "Items", Permission.ITEM_READ),
    ("/items/new", "New item", Permission.ITEM_CREATE),
    ("/locations", "Locations", Permission.ITEM_READ),
)


def csrf_for(settings: Settings, principal: Principal) -> str:
    """The CSRF token forms and script calls of this session must send back."""
    return sessions.csrf_token(settings, principal.session_id or "")


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
    path = request.url.path
    nav = [
        {"href": href, "label": label, "current": path == href}
        for href, label, permission in NAV
        if principal.can(permission)
    ]
    response = templates.TemplateResponse(
        request,
        template,
        {
            "principal": principal,
            "csrf_token": csrf_for(settings, principal),
            "nav": nav,
            "scan_prefix": settings.scan_prefix,
            **(context or {}),
        },
        status_code=status_code,
    )
    # Pages carry a session's CSRF token: never keep them in shared caches.
    response.headers["Cache-Control"] = "private, no-cache"
    return response
