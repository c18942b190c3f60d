"""Login and logout for the web UI: a session cookie, and CSRF tokens on every form; and the
signed-in layout of error pages, which needs to know who is signed in.

The start page and the scan screen live in `qtrack.dashboard`; page plumbing in `qtrack.web`."""

import secrets
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from qtrack.accounts import sessions
from qtrack.accounts.deps import (
    SESSION_COOKIE,
    CurrentPrincipal,
    ForeignOrigin,
    OriginDep,
    same_origin,
)
from qtrack.accounts.principal import Principal
from qtrack.accounts.service import TooManyAttempts
from qtrack.config import Settings
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import QtrackError
from qtrack.core.http import wants_json
from qtrack.core.requests import request_user_of
from qtrack.core.state import app_state
from qtrack.core.templating import templates
from qtrack.web.csrf import CSRF_NONCE_COOKIE, CsrfFailed, csrf_token, csrf_valid
from qtrack.web.render import SignedIn, layout_context

router = APIRouter(include_in_schema=False)


def _secure(settings: Settings) -> bool:
    return settings.public_url.startswith("https://")


def safe_next(target: str | None) -> str:
    """Only same-site paths may be redirected to after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


def _login_page(
    request: Request,
    settings: Settings,
    *,
    next_url: str,
    error: str | None,
    status_code: int,
    headers: dict[str, str] | None = None,
) -> Response:
    nonce = request.cookies.get(CSRF_NONCE_COOKIE) or secrets.token_urlsafe(16)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {
            "csrf_token": csrf_token(settings, nonce, "login"),
            "next": next_url,
            "error": error,
        },
        status_code=status_code,
        headers=headers,
    )
    response.set_cookie(
        CSRF_NONCE_COOKIE, nonce, httponly=True, samesite="strict", secure=_secure(settings)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/login")
async def login_page(
    request: Request, state: StateDep, next_url: Annotated[str, Query(alias="next")] = "/"
) -> Response:
    """The login form."""
    return _login_page(
        request, state.settings, next_url=safe_next(next_url), error=None, status_code=200
    )


@router.post("/login")
async def login_submit(
    request: Request,
    session: SessionDep,
    state: StateDep,
    origin: OriginDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next_target: Annotated[str, Form(alias="next", max_length=2048)] = "/",
) -> Response:
    """Check the password, start a web session, and go where the user was heading."""
    settings = state.settings
    nonce = request.cookies.get(CSRF_NONCE_COOKIE)
    if not nonce or not csrf_valid(settings, nonce, csrf_token, "login"):
        raise CsrfFailed()
    if not same_origin(request, settings):
        raise ForeignOrigin()
    next_url = safe_next(next_target)
    try:
        login, secret = await sessions.login_web(
            session, settings, state.limiter, username=username, password=password, origin=origin
        )
    except TooManyAttempts as exc:
        return _login_page(
            request,
            settings,
            next_url=next_url,
            status_code=429,
            headers=exc.headers,
            error="Too many failed attempts. Wait a minute and try again.",
        )
    except sessions.InvalidCredentials:
        # Rendered, not raised: the failed attempt recorded above is committed with the request.
        return _login_page(
            request,
            settings,
            next_url=next_url,
            status_code=401,
            error="Wrong username or password.",
        )
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=settings.web_session_ttl_s,
        httponly=True,
        samesite="lax",
        secure=_secure(settings),
    )
    response.delete_cookie(CSRF_NONCE_COOKIE)
    assert login.id
    return response


@router.post("/logout")
async def logout_submit(
    principal: CurrentPrincipal, session: SessionDep, state: StateDep, origin: OriginDep
) -> Response:
    """End the web session (the CSRF token was checked with the session)."""
    await sessions.logout(session, principal=principal, origin=origin)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=_secure(state.settings)
    )
    return response


async def error_layout(request: Request, status: int) -> dict[str, Any]:
    """The signed-in layout for an error page, so a person can navigate on from it (the app
    sets it as `app.state.error_layout`; core renders error pages but knows no users).

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
    return layout_context(request, caller, state.settings)
