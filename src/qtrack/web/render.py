"""Rendering a signed-in page: the layout needs the caller, the CSRF token and the navigation.

This package knows no domain: the caller is anything with a name, a session and
permissions (`Caller`), and the navigation is a table of links the app provides
(`navigation.provide(app, links)`), each shown to whoever holds one of its permissions.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from qtrack.config import Settings
from qtrack.core.errors import QtrackError
from qtrack.core.hooks import Hook
from qtrack.core.templating import templates
from qtrack.web.csrf import csrf_token


class Caller(Protocol):
    """What the layout needs of whoever is signed in."""

    @property
    def username(self) -> str: ...

    @property
    def session_id(self) -> str | None: ...

    def can(self, permission: str) -> bool: ...


class SignedInUser(Caller, Protocol):
    """A caller whose user row the request's database session holds."""

    @property
    def user(self) -> object: ...


@dataclass(frozen=True)
class NavLink:
    """One link of the top navigation."""

    href: str
    label: str
    # Any one of these shows the link.
    permissions: tuple[str, ...]
    # Its sub-pages count as it (/admin/users is under Admin); else only the path itself.
    section: bool = False


# The navigation, in the order shown; the app provides it (the screens live in domains).
navigation: Hook[Sequence[NavLink]] = Hook("navigation")


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
    return csrf_token(settings, principal.session_id or "")


def nav_for(links: Sequence[NavLink], principal: Caller, path: str) -> list[dict[str, Any]]:
    """The navigation links this caller may follow; the one for this page marked current."""
    return [
        {
            "href": link.href,
            "label": link.label,
            "current": path == link.href or (link.section and path.startswith(link.href + "/")),
        }
        for link in links
        if any(principal.can(p) for p in link.permissions)
    ]


def layout_context(request: Request, principal: Caller, settings: Settings) -> dict[str, Any]:
    """What the signed-in layout needs: the user, the CSRF token, the navigation."""
    return {
        "principal": principal,
        "csrf_token": csrf_for(settings, principal),
        "nav": nav_for(navigation.of(request.app), principal, request.url.path),
        "scan_prefix": settings.scan_prefix,
    }


async def settle_refused(
    session: AsyncSession, principal: SignedInUser, error: QtrackError
) -> None:
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
    principal: Caller,
    settings: Settings,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """Render a page inside the signed-in layout (top bar, navigation, logout)."""
    response = templates.TemplateResponse(
        request,
        template,
        {**layout_context(request, principal, settings), **(context or {})},
        status_code=status_code,
    )
    # Pages carry a session's CSRF token: never keep them in shared caches.
    response.headers["Cache-Control"] = "private, no-cache"
    return response
