"""Authentication and permission dependencies: every route says what it needs here.

Credentials, in order: `Authorization: Bearer <access JWT | API token>`, then the web
session cookie. Cookie-authenticated writes must carry a CSRF token (form field or header).
"""

from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlsplit

import structlog
from fastapi import BackgroundTasks, Depends, Request

from qtrack.accounts import sessions, tokens
from qtrack.accounts.audit import Origin
from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.core.deps import SessionDep
from qtrack.core.errors import DatabaseUnavailable, Forbidden, RateLimited, Unauthorized
from qtrack.core.openapi import errors
from qtrack.core.requests import add_to_log_context, set_request_user
from qtrack.core.state import AppState, app_state
from qtrack.web.csrf import CsrfFailed, csrf_valid, submitted_csrf_token

SESSION_COOKIE = "qtrack_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
log = structlog.get_logger("qtrack.accounts")


class NotAuthenticated(Unauthorized):
    code, message = "not_authenticated", "Log in, or send an access token or API token"


class PermissionDenied(Forbidden):
    code, message = "permission_denied", "You do not have the permission this needs"


class ForeignOrigin(Forbidden):
    code, message = (
        "foreign_origin",
        "This form was sent from another site's page; nothing was changed",
    )


class ApiRateLimited(RateLimited):
    code, message = "rate_limited", "Too many requests for this token; slow down"


# What a route that needs a caller can answer before it runs: no or a bad credential, too
# many requests, refused input; and with a permission to check, its refusal (`responses=`).
CALLER_ERRORS = (
    NotAuthenticated,
    sessions.InvalidToken,
    CsrfFailed,
    ForeignOrigin,
    ApiRateLimited,
    DatabaseUnavailable,
    413,
    422,
)
PERMISSION_ERRORS = (CALLER_ERRORS, PermissionDenied)
# The `responses=` of a router whose routes all need a permission.
AUTHENTICATED = errors(PERMISSION_ERRORS)


async def origin_of(request: Request) -> Origin:
    """The caller's address and user agent, for the security log."""
    return Origin(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_port(scheme: str, netloc: str) -> str | None:
    """`host[:port]` in one spelling: lower case, the scheme's default port left out."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    return host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"


def _source_of(url: str) -> str | None:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return None  # "null" (a sandboxed or privacy-stripped origin), or not a web page
    return _host_port(scheme, parts.netloc)


def same_origin(request: Request, settings: Settings) -> bool:
    """Whether a browser's write comes from our own pages, by its `Origin` or, without one,
    its `Referer`: the host it names is the one the request was sent to (`Host`) or the
    public URL's. Neither header (old clients, some privacy settings) is let through: the
    CSRF token is the defence, this is a second one."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent:
        return True
    source = _source_of(sent)
    if source is None:
        return False
    public = urlsplit(settings.public_url)
    own = {
        _host_port(request.url.scheme, request.headers.get("host", "")),
        _host_port(public.scheme, public.netloc),
    }
    return source in own


async def _limit_api_rate(state: AppState, principal: Principal) -> None:
    key = (
        f"api:token:{principal.token_id}"
        if principal.token_id
        else f"api:session:{principal.session_id}"
    )
    limit = state.settings.api_rate_limit_per_minute
    window = await state.limiter.hit(key, 60, limit)
    if window.count > limit:
        raise ApiRateLimited(headers={"Retry-After": str(window.retry_after_s)})


async def _touch_later(db: Database, token_id: int) -> None:
    """Note a token's use after the response, on a connection of its own."""
    try:
        async with db.session_scope("write") as session:
            await tokens.touch(session, token_id)
    except Exception as exc:  # a missed last-used time is not worth failing anything for
        log.warning("token_touch_failed", token_id=token_id, error=type(exc).__name__)


async def get_principal(
    request: Request, session: SessionDep, background: BackgroundTasks
) -> Principal:
    """Who is calling; 401 when nobody (or an invalid credential) is."""
    # The state straight from the app, not as a dependency: one less for FastAPI to solve on
    # every request.
    state = app_state(request)
    settings = state.settings
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise NotAuthenticated("Use 'Authorization: Bearer <token>'")
        if tokens.looks_like_api_token(credential):
            principal, stale = await tokens.principal_from_api_token(session, credential)
            if stale and principal.token_id is not None:
                # After the response: taking a second pooled connection while this request
                # holds one could starve the pool, and on SQLite a GET would need the lock.
                background.add_task(_touch_later, state.db, principal.token_id)
        else:
            principal = await sessions.principal_from_jwt(session, settings, credential)
        await _limit_api_rate(state, principal)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise NotAuthenticated(headers={"WWW-Authenticate": "Bearer"})
        principal = await sessions.principal_from_web_session(session, cookie)
        if request.method not in SAFE_METHODS:
            assert principal.session_id is not None
            if not csrf_valid(settings, principal.session_id, await submitted_csrf_token(request)):
                raise CsrfFailed()
            if not same_origin(request, settings):
                raise ForeignOrigin()
    set_request_user(request.scope, principal.username)
    # For the error page's layout, should the route fail after this point.
    request.state.principal = principal
    add_to_log_context(user=principal.username)
    # Authenticated on the primary; a read-only request may read the rest from the replica
    # now, unless this user has just written (core/replica.py).
    if state.db.replica is not None:
        served = await state.db.route_reads(session, str(principal.user_id))
        add_to_log_context(database=served)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(*permissions: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets the request through only with all these permissions."""

    async def _check(principal: CurrentPrincipal) -> Principal:
        missing = sorted(p for p in permissions if not principal.can(p))
        if missing:
            raise PermissionDenied(
                f"This needs the permission {', '.join(missing)}", details={"missing": missing}
            )
        return principal

    _check.required_permissions = frozenset(permissions)  # type: ignore[attr-defined]
    return _check


def require_any(*permissions: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets the request through with at least one of these permissions
    (the use case then checks the exact one, e.g. the transition's own permission)."""

    async def _check(principal: CurrentPrincipal) -> Principal:
        if not any(principal.can(p) for p in permissions):
            raise PermissionDenied(
                f"This needs one of: {', '.join(sorted(permissions))}",
                details={"missing_any_of": sorted(permissions)},
            )
        return principal

    _check.required_permissions = frozenset(permissions)  # type: ignore[attr-defined]
    return _check


OriginDep = Annotated[Origin, Depends(origin_of)]
