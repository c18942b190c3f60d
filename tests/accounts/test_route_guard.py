"""Every route declares what it needs: nobody gets in without credentials, viewers write nothing."""

import re
from collections.abc import Iterator, Sequence

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from qtrack.accounts.deps import get_principal
from qtrack.core.db import Database
from tests.factories.accounts import bearer, create_token, create_user, login

# Routes anyone may call.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/api/docs"),
    ("GET", "/api/openapi.json"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("GET", "/api/v1/keys"),
    ("GET", "/login"),
    ("POST", "/login"),
    # The PWA's service worker and manifest: static files that must load without a session
    # (a worker's update check cannot follow a redirect to the login page).
    ("GET", "/sw.js"),
    ("GET", "/manifest.webmanifest"),
}
# Routes any authenticated user may call about themselves.
SELF_SERVICE = {
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/password"),
    ("GET", "/api/v1/permissions"),
    ("GET", "/"),
    ("POST", "/logout"),
}
# POSTs that only read (they take a body too large or too private for a query string).
READ_ONLY_POSTS = {
    ("POST", "/api/v1/codes/verify"),
    # A scan is a lookup; an action in it is checked by the use case (a viewer's is 403,
    # see tests/codes/test_scan.py).
    ("POST", "/api/v1/scan"),
    ("POST", "/api/v1/scan/decode"),
    # A scan without an action is a look-up; with one, the use case checks the action's own
    # permission (tests/codes/test_scan.py), as it does for transitions.
    ("POST", "/api/v1/scan"),
}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        # FastAPI keeps an included router as one entry; our routers carry their own prefix,
        # so their routes' paths are already the full paths.
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _api_routes(included.routes)


def _routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    found = []
    for route in _api_routes(app.routes):
        for method in sorted((route.methods or set()) - {"HEAD"}):
            found.append((method, route.path, route))
    assert len(found) > 20, "the walk must see the application's routes"
    return found


def _concrete(path: str, route: APIRoute) -> str:
    """Fill path parameters with plausible values of the right type."""
    types = {p.name: p.field_info.annotation for p in route.dependant.path_params}
    return re.sub(r"\{(\w+)\}", lambda m: "1" if types.get(m.group(1)) is int else "x", path)


def _dependency_calls(route: APIRoute) -> set[object]:
    calls: set[object] = set()
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        calls.add(dep.call)
        stack.extend(dep.dependencies)
    return calls


def test_every_private_route_declares_its_permission(app: FastAPI) -> None:
    for method, path, route in _routes(app):
        if (method, path) in PUBLIC:
            continue
        calls = _dependency_calls(route)
        assert get_principal in calls, f"{method} {path} does not authenticate"
        if (method, path) in SELF_SERVICE:
            continue
        declared = [c for c in calls if getattr(c, "required_permissions", None)]
        assert declared, f"{method} {path} declares no permission"


async def test_nothing_private_answers_without_credentials(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for method, path, route in _routes(app):
        if (method, path) in PUBLIC:
            continue
        response = await client.request(method, _concrete(path, route), json={})
        if path.startswith("/api/"):
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
            assert response.json()["error"]["code"] == "not_authenticated"
        else:
            assert response.status_code == 303, f"{method} {path}: {response.status_code}"
            assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("credential", ["jwt", "api token"])
async def test_a_viewer_cannot_write_anything(
    app: FastAPI, client: httpx.AsyncClient, db: Database, credential: str
) -> None:
    await create_user(db, "vic", "viewer")
    if credential == "jwt":
        headers = (await login(client, "vic")).headers
    else:
        headers = bearer((await create_token(db, "vic"))[1])
    checked = 0
    for method, path, route in _routes(app):
        if method not in WRITE_METHODS or not path.startswith("/api/"):
            continue
        if (method, path) in PUBLIC | SELF_SERVICE | READ_ONLY_POSTS:
            continue
        response = await client.request(method, _concrete(path, route), json={}, headers=headers)
        assert response.status_code == 403, f"{method} {path}: {response.status_code}"
        assert response.json()["error"]["code"] == "permission_denied"
        checked += 1
    assert checked >= 10
    # The viewer's credential itself works: the 403s are about permissions.
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 200


async def test_no_route_answers_500_to_garbage(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "boss", "admin")
    headers = (await login(client, "boss")).headers
    bodies: list[object] = [None, [], "text", {"x": "y" * 10}, 12]
    for method, path, route in _routes(app):
        if method not in WRITE_METHODS:
            continue
        if (method, path) == ("POST", "/api/v1/auth/logout"):
            continue  # would end the admin's own login mid-walk
        for body in bodies:
            response = await client.request(
                method, _concrete(path, route), json=body, headers=headers
            )
            assert response.status_code < 500, f"{method} {path} {body!r}: {response.text}"
