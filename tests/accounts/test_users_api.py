"""Admins manage users, roles and API tokens over the API; every change is recorded."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from qtrack.accounts import tokens as accounts_tokens
from qtrack.accounts.models import SecurityEvent
from qtrack.accounts.permissions import BUILTIN_ROLES
from qtrack.config import Settings
from qtrack.core.clock import FakeClock
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
from tests.timing import clear_of_minute


async def _kinds(db: Database) -> list[str]:
    async with db.session_scope("read") as session:
        return list(
            (await session.scalars(select(SecurityEvent.kind).order_by(SecurityEvent.id))).all()
        )


async def test_shipped_roles_match_the_code(client: httpx.AsyncClient, admin: AppLogin) -> None:
    roles = (await client.get("/api/v1/roles", headers=admin.headers)).json()
    assert {r["key"]: sorted(r["permissions"]) for r in roles} == {
        key: sorted(perms) for key, (_, _, perms) in BUILTIN_ROLES.items()
    }
    assert all(r["builtin"] for r in roles)


async def test_create_user_with_generated_password(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    response = await client.post(
        "/api/v1/users",
        headers=admin.headers,
        json={
            "username": "Ann.Lee",
            "full_name": "Ann Lee",
            "email": "ann@example.com",
            "role": "supervisor",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "ann.lee"
    assert body["role"] == "supervisor"
    assert response.headers["cache-control"] == "no-store"
    generated = body["generated_password"]
    await login(client, "ann.lee", generated)

    shown = await client.get("/api/v1/users/ann.lee", headers=admin.headers)
    assert shown.status_code == 200
    assert generated not in shown.text
    assert "password" not in shown.text
    assert "user_created" in await _kinds(db)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"username": "x y", "role": "operator"}, 422, "validation_error"),
        ({"username": "ann", "role": "operator", "password": "short"}, 422, "weak_password"),
        (
            {"username": "ann", "role": "operator", "password": "xxANNxx-long-enough"},
            422,
            "weak_password",
        ),
        ({"username": "ann", "role": "nope"}, 404, "role_not_found"),
        ({"username": "ann", "role": "operator", "email": "not-an-email"}, 422, "validation_error"),
        ({"username": "boss", "role": "operator"}, 409, "conflict"),
        (
            {"username": "ann", "role": "operator", "is_admin": True, "password": 5},
            422,
            "validation_error",
        ),
    ],
)
async def test_create_user_refuses_bad_input(
    client: httpx.AsyncClient, admin: AppLogin, body: dict[str, object], status: int, code: str
) -> None:
    response = await client.post("/api/v1/users", headers=admin.headers, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_list_users_pages_with_a_cursor(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    for name in ("ann", "bob", "cy", "dee"):
        await create_user(db, name)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/users", headers=admin.headers, params=params)).json()
        seen += [u["username"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["boss", "ann", "bob", "cy", "dee"]


@pytest.mark.parametrize(
    "params", [{"cursor": "!!!"}, {"cursor": "ImEi"}, {"limit": 201}, {"limit": 0}]
)
async def test_bad_paging_is_4xx(
    client: httpx.AsyncClient, admin: AppLogin, params: dict[str, str | int]
) -> None:
    response = await client.get("/api/v1/users", headers=admin.headers, params=params)
    assert response.status_code in (400, 422)


async def test_role_change_is_recorded_and_takes_effect(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    await create_user(db, "ann", "viewer")
    ann = await login(client, "ann")
    assert (
        "item.create"
        not in (await client.get("/api/v1/auth/me", headers=ann.headers)).json()["permissions"]
    )
    changed = await client.patch(
        "/api/v1/users/ann", headers=admin.headers, json={"role": "operator"}
    )
    assert changed.status_code == 200
    assert changed.json()["role"] == "operator"
    assert (
        "item.create"
        in (await client.get("/api/v1/auth/me", headers=ann.headers)).json()["permissions"]
    )
    async with db.session_scope("read") as session:
        event = await session.scalar(
            select(SecurityEvent).where(SecurityEvent.kind == "role_changed")
        )
    assert event is not None
    assert event.details == {"before": "viewer", "after": "operator"}
    assert event.ip == "203.0.113.7"


async def test_the_last_admin_cannot_be_removed(client: httpx.AsyncClient, admin: AppLogin) -> None:
    disable = await client.post("/api/v1/users/boss/disable", headers=admin.headers)
    assert disable.status_code == 409
    demote = await client.patch(
        "/api/v1/users/boss", headers=admin.headers, json={"role": "viewer"}
    )
    assert demote.status_code == 409


async def test_disable_enable_and_reset_password(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    await create_user(db, "ann")
    ann = await login(client, "ann")
    assert (await client.post("/api/v1/users/ann/disable", headers=admin.headers)).json()[
        "is_active"
    ] is False
    assert (
        await client.post("/api/v1/auth/login", json={"username": "ann", "password": PASSWORD})
    ).status_code == 401
    assert (await client.post("/api/v1/users/ann/enable", headers=admin.headers)).json()[
        "is_active"
    ] is True
    # Disabling ended her earlier login for good.
    assert (await client.get("/api/v1/auth/me", headers=ann.headers)).status_code == 401

    again = await login(client, "ann")
    reset = await client.post("/api/v1/users/ann/reset-password", headers=admin.headers, json={})
    assert reset.status_code == 200
    new_password = reset.json()["generated_password"]
    assert (await client.get("/api/v1/auth/me", headers=again.headers)).status_code == 401
    assert (
        await client.post("/api/v1/auth/login", json={"username": "ann", "password": PASSWORD})
    ).status_code == 401
    await login(client, "ann", new_password)
    kinds = await _kinds(db)
    for kind in ("user_disabled", "user_enabled", "password_reset"):
        assert kind in kinds


async def test_unknown_user_is_404(client: httpx.AsyncClient, admin: AppLogin) -> None:
    for method, path in [
        ("GET", "/api/v1/users/ghost"),
        ("PATCH", "/api/v1/users/ghost"),
        ("POST", "/api/v1/users/ghost/disable"),
    ]:
        response = await client.request(method, path, headers=admin.headers, json={})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "user_not_found"


async def test_custom_roles(client: httpx.AsyncClient, admin: AppLogin, db: Database) -> None:
    bad = await client.post(
        "/api/v1/roles",
        headers=admin.headers,
        json={"key": "labeller", "name": "Labeller", "permissions": ["label.print", "fly.to.moon"]},
    )
    assert bad.status_code == 422
    created = await client.post(
        "/api/v1/roles",
        headers=admin.headers,
        json={"key": "labeller", "name": "Labeller", "permissions": ["label.print", "item.read"]},
    )
    assert created.status_code == 201
    assert created.json()["builtin"] is False
    dup = await client.post(
        "/api/v1/roles", headers=admin.headers, json={"key": "labeller", "name": "Again"}
    )
    assert dup.status_code == 409

    await create_user(db, "lou", "labeller")
    lou = await login(client, "lou")
    assert sorted(
        (await client.get("/api/v1/auth/me", headers=lou.headers)).json()["permissions"]
    ) == [
        "item.read",
        "label.print",
    ]
    narrowed = await client.patch(
        "/api/v1/roles/labeller", headers=admin.headers, json={"permissions": ["item.read"]}
    )
    assert narrowed.status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=lou.headers)).json()["permissions"] == [
        "item.read"
    ]

    assert (await client.delete("/api/v1/roles/labeller", headers=admin.headers)).status_code == 409
    assert (
        await client.patch("/api/v1/roles/admin", headers=admin.headers, json={"permissions": []})
    ).status_code == 409
    assert (await client.delete("/api/v1/roles/viewer", headers=admin.headers)).status_code == 409
    await client.patch("/api/v1/users/lou", headers=admin.headers, json={"role": "viewer"})
    assert (await client.delete("/api/v1/roles/labeller", headers=admin.headers)).status_code == 204
    assert (await client.get("/api/v1/roles", headers=admin.headers)).json()[-1]["key"] == "viewer"


async def test_api_tokens_lifecycle(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    await create_user(db, "scanner-1", "operator")
    created = await client.post(
        "/api/v1/tokens",
        headers=admin.headers,
        json={
            "name": "Dock scanner",
            "username": "scanner-1",
            "scopes": ["item.read", "item.move"],
        },
    )
    assert created.status_code == 201
    body = created.json()
    raw = body["token"]
    assert raw.startswith("qtk_")
    assert body["prefix"] == raw[:12]
    assert body["last_used_at"] is None

    me = await client.get("/api/v1/auth/me", headers=bearer(raw))
    assert me.status_code == 200
    assert sorted(me.json()["permissions"]) == ["item.move", "item.read"]

    listed = (await client.get("/api/v1/tokens", headers=admin.headers)).json()["items"]
    assert [t["name"] for t in listed] == ["Dock scanner"]
    assert listed[0]["last_used_at"] is not None
    assert raw not in str(listed)

    assert (
        await client.delete(f"/api/v1/tokens/{body['id']}", headers=admin.headers)
    ).status_code == 204
    revoked = await client.get("/api/v1/auth/me", headers=bearer(raw))
    assert revoked.status_code == 401
    assert (await client.get("/api/v1/tokens", headers=admin.headers)).json()["items"] == []
    everything = await client.get(
        "/api/v1/tokens", headers=admin.headers, params={"include_revoked": True}
    )
    assert everything.json()["items"][0]["revoked_at"] is not None
    assert (await client.delete("/api/v1/tokens/999", headers=admin.headers)).status_code == 404
    kinds = await _kinds(db)
    assert "token_created" in kinds
    assert "token_revoked" in kinds


async def test_token_scopes_cannot_exceed_the_user(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    await create_user(db, "vic", "operator")
    refused = await client.post(
        "/api/v1/tokens",
        headers=admin.headers,
        json={"name": "sneaky", "username": "vic", "scopes": ["admin.users", "item.read"]},
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["type"] == "scope_not_held"

    created = await client.post(
        "/api/v1/tokens",
        headers=admin.headers,
        json={"name": "mover", "username": "vic", "scopes": ["item.move", "item.read"]},
    )
    raw = created.json()["token"]
    # Later the user is demoted: the token keeps only what the user still holds.
    await client.patch("/api/v1/users/vic", headers=admin.headers, json={"role": "viewer"})
    me = (await client.get("/api/v1/auth/me", headers=bearer(raw))).json()
    assert me["permissions"] == ["item.read"]
    assert (await client.get("/api/v1/users", headers=bearer(raw))).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"name": "t", "username": "boss", "scopes": ["no.such"]},
        {"name": "t", "username": "boss", "expires_at": "2000-01-01T00:00:00Z"},
        {"name": "t", "username": "boss", "expires_at": "2999-01-01T00:00:00"},
        {"name": "", "username": "boss"},
    ],
)
async def test_bad_token_requests_are_422(
    client: httpx.AsyncClient, admin: AppLogin, body: dict[str, object]
) -> None:
    response = await client.post("/api/v1/tokens", headers=admin.headers, json=body)
    assert response.status_code == 422, response.text


async def test_expired_token_is_401(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=60)
    created = await client.post(
        "/api/v1/tokens",
        headers=admin.headers,
        json={"name": "brief", "username": "boss", "expires_at": soon.isoformat()},
    )
    raw = created.json()["token"]
    async with db.session_scope("read") as session:
        principal, _ = await accounts_tokens.principal_from_api_token(session, raw)
        assert principal.username == "boss"
    with FakeClock(soon + timedelta(seconds=1)):
        response = await client.get("/api/v1/auth/me", headers=bearer(raw))
    assert response.status_code == 401


async def test_security_log_is_readable_by_admins(
    client: httpx.AsyncClient, admin: AppLogin
) -> None:
    await client.post(
        "/api/v1/auth/login", json={"username": "boss", "password": "not the password"}
    )
    page = (
        await client.get("/api/v1/security-events", headers=admin.headers, params={"limit": 5})
    ).json()
    kinds = [e["kind"] for e in page["items"]]
    assert kinds[0] == "login_failed"
    assert "login" in kinds
    assert all(e["ip"] == "203.0.113.7" for e in page["items"] if e["kind"].startswith("login"))
    only = (
        await client.get("/api/v1/security-events", headers=admin.headers, params={"kind": "login"})
    ).json()
    assert {e["kind"] for e in only["items"]} == {"login"}


async def test_api_rate_limit_per_token(limiter_settings: Settings) -> None:
    app, lifespan = await start_app(
        limiter_settings.model_copy(update={"api_rate_limit_per_minute": 3})
    )
    try:
        db = app.state.qtrack.db
        await create_user(db, "scanner")
        _, raw = await create_token(db, "scanner")
        _, other = await create_token(db, "scanner", name="second")
        clear_of_minute()  # the limit counts per clock-aligned minute: the burst in one
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            statuses = [
                (await client.get("/api/v1/auth/me", headers=bearer(raw))).status_code
                for _ in range(4)
            ]
            limited = await client.get("/api/v1/auth/me", headers=bearer(raw))
            untouched = await client.get("/api/v1/auth/me", headers=bearer(other))
        assert statuses == [200, 200, 200, 429]
        assert limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert untouched.status_code == 200  # the limit is per token
    finally:
        await lifespan.__aexit__(None, None, None)


async def test_a_generated_password_follows_the_rules_it_is_checked_by(
    settings: Settings,
) -> None:
    """The password qtrack makes for a new user or a reset is one its own rules accept: long
    enough for a raised minimum, and without the username, however short. It was 20
    characters whatever the minimum, and the admin got a 422 for a password they had not
    chosen."""
    long_enough = "correct horse battery staple, forty-odd characters"
    app, lifespan = await start_app(settings.model_copy(update={"password_min_length": 40}))
    try:
        db = app.state.qtrack.db
        await create_user(db, "boss", "admin", password=long_enough)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            admin = await login(client, "boss", long_enough)
            created = await client.post(
                "/api/v1/users", headers=admin.headers, json={"username": "qa", "role": "viewer"}
            )
            assert created.status_code == 201, created.text
            passwords = [created.json()["generated_password"]]
            for _ in range(12):
                reset = await client.post(
                    "/api/v1/users/qa/reset-password", headers=admin.headers, json={}
                )
                assert reset.status_code == 200, reset.text
                passwords.append(reset.json()["generated_password"])
            await login(client, "qa", passwords[-1])
        assert len(set(passwords)) == len(passwords)
        assert all(len(p) >= 40 and "qa" not in p.lower() for p in passwords)
    finally:
        await lifespan.__aexit__(None, None, None)
