"""Hostile and racy uses of the accounts API: each gets a clear 4xx and changes nothing."""

import asyncio
import logging

import httpx
import pytest
from fastapi import FastAPI

from qtrack.accounts import service as accounts_service
from qtrack.config import Settings
from qtrack.core.db import Database
from tests.conftest import start_app
from tests.factories.accounts import (
    PASSWORD,
    AppLogin,
    bearer,
    create_token,
    create_user,
    login,
)


async def test_concurrent_guesses_cannot_slip_under_the_limit(
    limited_client: httpx.AsyncClient, limited_app: FastAPI
) -> None:
    await create_user(limited_app.state.qtrack.db, "ann")
    responses = await asyncio.gather(
        *(
            limited_client.post(
                "/api/v1/auth/login", json={"username": "ann", "password": "guess guess"}
            )
            for _ in range(20)
        )
    )
    statuses = [r.status_code for r in responses]
    assert statuses.count(401) <= 5
    assert statuses.count(429) >= 15


async def test_user_managers_cannot_grant_more_than_they_hold(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    made = await client.post(
        "/api/v1/roles",
        headers=admin.headers,
        json={
            "key": "hr",
            "name": "HR",
            "permissions": ["admin.users", "event.read", "item.read", "stock.read"],
        },
    )
    assert made.status_code == 201
    await create_user(db, "hank", "hr")
    hank = await login(client, "hank")
    attempts = [
        ("PATCH", "/api/v1/users/hank", {"role": "admin"}),
        ("POST", "/api/v1/users", {"username": "sneaky", "role": "admin"}),
        (
            "POST",
            "/api/v1/roles",
            {"key": "super", "name": "Super", "permissions": ["admin.config"]},
        ),
        ("PATCH", "/api/v1/roles/hr", {"permissions": ["admin.users", "admin.config"]}),
        ("POST", "/api/v1/users/boss/reset-password", {}),
        ("POST", "/api/v1/users/boss/disable", {}),
        ("POST", "/api/v1/tokens", {"name": "t", "username": "boss"}),
    ]
    for method, path, body in attempts:
        response = await client.request(method, path, json=body, headers=hank.headers)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"]["code"] == "cannot_grant", path
    # Within what hank holds, he can work.
    ok = await client.post(
        "/api/v1/users", json={"username": "newbie", "role": "viewer"}, headers=hank.headers
    )
    assert ok.status_code == 201
    assert (await client.get("/api/v1/auth/me", headers=admin.headers)).status_code == 200


@pytest.mark.postgres_only
async def test_two_admins_cannot_demote_each_other_at_once(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    await create_user(db, "root2", "admin")
    other = await login(client, "root2")
    results = await asyncio.gather(
        client.patch("/api/v1/users/root2", json={"role": "viewer"}, headers=admin.headers),
        client.patch("/api/v1/users/boss", json={"role": "viewer"}, headers=other.headers),
    )
    assert sorted(r.status_code for r in results) in ([200, 403], [200, 409])
    async with db.session_scope("read") as session:
        users = await accounts_service.list_users(session, after_id=None, limit=10)
    assert [u.username for u in users if u.role.key == "admin" and u.is_active] in (
        ["boss"],
        ["root2"],
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/auth/login", {"username": "a\u0000b", "password": "x"}),
        ("POST", "/api/v1/auth/login", {"username": "\u0130" * 40, "password": "x"}),
        ("GET", "/api/v1/tokens/3000000000", None),
        ("GET", "/api/v1/tokens/99999999999999999999", None),
        ("GET", "/api/v1/users?cursor=OTk5OTk5OTk5OTk5OTk5OTk5OTk5", None),
        ("PATCH", "/api/v1/users/boss", {"full_name": None}),
        ("POST", "/api/v1/users", {"username": "nul", "role": "viewer", "full_name": "a\u0000b"}),
    ],
)
async def test_odd_input_is_never_a_500(
    client: httpx.AsyncClient, admin: AppLogin, method: str, path: str, body: object
) -> None:
    response = await client.request(method, path, json=body, headers=admin.headers)
    assert response.status_code < 500, response.text


async def test_concurrent_duplicates_are_409_not_500(
    client: httpx.AsyncClient, admin: AppLogin
) -> None:
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/users", json={"username": "twin", "role": "viewer"}, headers=admin.headers
            )
            for _ in range(4)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409]


async def test_own_password_change_ends_other_logins_and_tokens_cannot(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "ann")
    phone, desk = await login(client, "ann"), await login(client, "ann")
    _, raw = await create_token(db, "ann")
    body = {"current_password": PASSWORD, "new_password": "a different long secret"}
    assert (
        await client.post("/api/v1/auth/password", json=body, headers=bearer(raw))
    ).status_code == 403
    assert (await client.post("/api/v1/auth/logout", headers=bearer(raw))).status_code == 400
    assert (
        await client.post("/api/v1/auth/password", json=body, headers=desk.headers)
    ).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=desk.headers)).status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=phone.headers)).status_code == 401


async def test_a_crash_does_not_log_local_secrets(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    app, lifespan = await start_app(
        settings.model_copy(update={"log_format": "json", "log_level": "INFO"})
    )

    @app.get("/api/v1/_probe/crash")
    async def crash() -> None:
        password = "local-secret-hunter2"
        raise RuntimeError(f"failed near {len(password)} characters")

    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            assert (await client.get("/api/v1/_probe/crash")).status_code == 500
    finally:
        await lifespan.__aexit__(None, None, None)
    logging.getLogger().handlers[-1].flush()
    err = capsys.readouterr().err
    assert "RuntimeError" in err
    assert "local-secret-hunter2" not in err
