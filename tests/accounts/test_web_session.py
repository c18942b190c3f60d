"""Web UI login: session cookie, CSRF on every form post, no open redirects."""

import re

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from qtrack.accounts.models import SecurityEvent
from qtrack.config import Settings
from qtrack.core.db import Database
from tests.conftest import start_app
from tests.factories.accounts import PASSWORD, create_user


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match, "the form must carry a CSRF token"
    return match.group(1)


async def _web_login(
    client: httpx.AsyncClient, username: str = "ann", next_url: str = "/"
) -> httpx.Response:
    page = await client.get("/login", params={"next": next_url})
    return await client.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORD,
            "csrf_token": _csrf(page.text),
            "next": next_url,
        },
    )


async def test_pages_send_anonymous_users_to_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/", params={"a": "1"})
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2F%3Fa%3D1"


async def test_login_page_and_session_cookie(client: httpx.AsyncClient, db: Database) -> None:
    await create_user(db, "ann")
    page = await client.get("/login")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert 'autocomplete="current-password"' in page.text

    done = await _web_login(client, next_url="/?x=1")
    assert done.status_code == 303
    assert done.headers["location"] == "/?x=1"
    cookie = next(h for h in done.headers.get_list("set-cookie") if h.startswith("qtrack_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http public URL

    home = await client.get("/")
    assert home.status_code == 200
    assert 'data-username="ann"' in home.text


async def test_session_cookie_is_secure_behind_https(settings: Settings, database_url: str) -> None:
    app, lifespan = await start_app(
        settings.model_copy(update={"public_base_url": "https://qtrack.example"})
    )
    try:
        await create_user(app.state.qtrack.db, "ann")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            done = await _web_login(client)
        cookie = next(
            h for h in done.headers.get_list("set-cookie") if h.startswith("qtrack_session=")
        )
        assert "Secure" in cookie
    finally:
        await lifespan.__aexit__(None, None, None)


@pytest.mark.parametrize("token", [None, "", "0" * 64, "deadbeef"])
async def test_login_form_without_a_valid_csrf_token_is_403(
    client: httpx.AsyncClient, db: Database, token: str | None
) -> None:
    await create_user(db, "ann")
    await client.get("/login")  # sets the nonce cookie
    data = {"username": "ann", "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    response = await client.post("/login", data=data)
    assert response.status_code == 403
    assert "csrf_failed" in response.text
    assert "qtrack_session" not in response.headers.get("set-cookie", "")


async def test_csrf_token_from_another_browser_is_refused(app: FastAPI, db: Database) -> None:
    await create_user(db, "ann")
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as attacker,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as victim,
    ):
        stolen = _csrf((await attacker.get("/login")).text)
        await victim.get("/login")
        response = await victim.post(
            "/login", data={"username": "ann", "password": PASSWORD, "csrf_token": stolen}
        )
    assert response.status_code == 403


async def test_wrong_password_on_the_form_is_shown_and_recorded(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "ann")
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={"username": "ann", "password": "nope nope nope", "csrf_token": _csrf(page.text)},
    )
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    async with db.session_scope("read") as session:
        kinds = list((await session.scalars(select(SecurityEvent.kind))).all())
    assert kinds.count("login_failed") == 1


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)"]
)
async def test_no_open_redirect_after_login(
    client: httpx.AsyncClient, db: Database, target: str
) -> None:
    await create_user(db, "ann")
    done = await _web_login(client, next_url=target)
    assert done.status_code == 303
    assert done.headers["location"] == "/"


async def test_logout_needs_csrf_and_ends_the_session(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "ann")
    await _web_login(client)
    home = await client.get("/")
    forged = await client.post("/logout", data={})
    assert forged.status_code == 403
    assert (await client.get("/")).status_code == 200  # the forged post changed nothing

    out = await client.post("/logout", data={"csrf_token": _csrf(home.text)})
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert (await client.get("/")).status_code == 303


async def test_cookie_authenticated_api_writes_need_the_csrf_header(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "ann")
    await _web_login(client)
    token = _csrf((await client.get("/")).text)
    assert (await client.get("/api/v1/auth/me")).status_code == 200  # reads need no token
    body = {"current_password": PASSWORD, "new_password": "another good secret"}
    refused = await client.post("/api/v1/auth/password", json=body)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    accepted = await client.post(
        "/api/v1/auth/password", json=body, headers={"X-CSRF-Token": token}
    )
    assert accepted.status_code == 204


async def test_a_stolen_or_stale_cookie_is_refused(client: httpx.AsyncClient, db: Database) -> None:
    await create_user(db, "ann")
    client.cookies.set("qtrack_session", "made-up-value")
    assert (await client.get("/")).status_code == 303
    assert (await client.get("/api/v1/auth/me")).status_code == 401


# --- Origin and Referer: a second defence behind the CSRF token ----------------------------

FOREIGN = [
    {"Origin": "https://evil.example"},
    {"Origin": "http://testserver.evil.example"},
    {"Origin": "http://testserver:8080"},
    {"Origin": "null"},
    {"Referer": "https://evil.example/forged-form.html"},
    {"Origin": "https://evil.example", "Referer": "http://testserver/"},
]
OWN = [
    {},  # neither header: old clients and privacy settings are not refused
    {"Origin": "http://testserver"},
    {"Origin": "HTTP://TESTSERVER:80"},
    {"Referer": "http://testserver/items?status=released"},
    {"Origin": "http://127.0.0.1:8000"},  # the public URL, when a proxy changed the Host
]


@pytest.mark.parametrize("headers", FOREIGN)
async def test_a_form_from_another_site_is_refused_even_with_a_valid_token(
    client: httpx.AsyncClient, db: Database, headers: dict[str, str]
) -> None:
    await create_user(db, "ann")
    await _web_login(client)
    token = _csrf((await client.get("/")).text)
    forged = await client.post("/logout", data={"csrf_token": token}, headers=headers)
    assert forged.status_code == 403
    assert "foreign_origin" in forged.text
    assert (await client.get("/")).status_code == 200  # still signed in: nothing changed
    api = await client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "another good secret"},
        headers={"X-CSRF-Token": token, **headers},
    )
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "foreign_origin"


@pytest.mark.parametrize("headers", FOREIGN)
async def test_a_login_form_from_another_site_is_refused(
    client: httpx.AsyncClient, db: Database, headers: dict[str, str]
) -> None:
    await create_user(db, "ann")
    page = await client.get("/login")
    forged = await client.post(
        "/login",
        data={"username": "ann", "password": PASSWORD, "csrf_token": _csrf(page.text)},
        headers=headers,
    )
    assert forged.status_code == 403
    assert "qtrack_session" not in forged.cookies


@pytest.mark.parametrize("headers", OWN)
async def test_forms_from_our_own_pages_are_accepted(
    client: httpx.AsyncClient, db: Database, headers: dict[str, str]
) -> None:
    await create_user(db, "ann")
    page = await client.get("/login")
    signed_in = await client.post(
        "/login",
        data={"username": "ann", "password": PASSWORD, "csrf_token": _csrf(page.text)},
        headers=headers,
    )
    assert signed_in.status_code == 303
    token = _csrf((await client.get("/")).text)
    out = await client.post("/logout", data={"csrf_token": token}, headers=headers)
    assert out.status_code == 303
