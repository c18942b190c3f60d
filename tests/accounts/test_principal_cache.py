"""The short principal cache: a change to a credential, user or role is seen at once in the
process that made it, although the authentication row is otherwise reused for a moment."""

import httpx
from sqlalchemy import update

from qtrack.accounts import principal_cache
from qtrack.accounts.models import ApiToken
from qtrack.core.clock import utcnow
from qtrack.core.db import Database
from tests.factories.accounts import bearer, create_token, create_user, login


async def _me(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.get("/api/v1/auth/me", headers=headers)


async def test_a_revoked_token_is_refused_at_once(client: httpx.AsyncClient, db: Database) -> None:
    await create_user(db, "boss", "admin")
    await create_user(db, "ann")
    token_id, raw = await create_token(db, "ann")
    admin = await login(client, "boss")
    assert (await _me(client, bearer(raw))).status_code == 200  # now cached
    revoked = await client.delete(f"/api/v1/tokens/{token_id}", headers=admin.headers)
    assert revoked.status_code == 204
    refused = await _me(client, bearer(raw))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_token"


async def test_the_cache_is_used_without_a_hook_and_only_briefly(
    client: httpx.AsyncClient, db: Database
) -> None:
    """A revocation written behind the app's back (another worker) is seen within TTL_S: the
    tests above would pass without any cache, this one shows there is one."""
    await create_user(db, "ann")
    token_id, raw = await create_token(db, "ann")
    assert (await _me(client, bearer(raw))).status_code == 200
    async with db.session_scope() as session:
        await session.execute(
            update(ApiToken).where(ApiToken.id == token_id).values(revoked_at=utcnow())
        )
    assert (await _me(client, bearer(raw))).status_code == 200
    assert principal_cache.TTL_S <= 2.0
    principal_cache.forget()  # what the TTL does a moment later
    assert (await _me(client, bearer(raw))).status_code == 401


async def test_a_disabled_users_cached_token_and_login_stop_at_once(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "boss", "admin")
    await create_user(db, "ann")
    _, raw = await create_token(db, "ann")
    admin = await login(client, "boss")
    ann = await login(client, "ann")
    assert (await _me(client, bearer(raw))).status_code == 200
    assert (await _me(client, ann.headers)).status_code == 200
    disabled = await client.post("/api/v1/users/ann/disable", headers=admin.headers)
    assert disabled.status_code == 200
    assert (await _me(client, bearer(raw))).status_code == 401
    assert (await _me(client, ann.headers)).status_code == 401


async def test_a_role_change_re_permissions_at_once(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "boss", "admin")
    await create_user(db, "ann", "operator")
    admin = await login(client, "boss")
    ann = await login(client, "ann")
    before = await _me(client, ann.headers)
    assert "item.create" in before.json()["permissions"]
    changed = await client.patch(
        "/api/v1/users/ann", json={"role": "viewer"}, headers=admin.headers
    )
    assert changed.status_code == 200
    after = await _me(client, ann.headers)
    assert after.status_code == 200
    assert "item.create" not in after.json()["permissions"]
    denied = await client.post("/api/v1/locations", json={}, headers=ann.headers)
    assert denied.status_code == 403


async def test_a_roles_new_permissions_apply_at_once(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "boss", "admin")
    admin = await login(client, "boss")
    created = await client.post(
        "/api/v1/roles",
        json={"key": "reader", "name": "Reader", "permissions": ["item.read"]},
        headers=admin.headers,
    )
    assert created.status_code == 201
    await create_user(db, "ann", "reader")
    ann = await login(client, "ann")
    assert (await _me(client, ann.headers)).json()["permissions"] == ["item.read"]
    patched = await client.patch(
        "/api/v1/roles/reader",
        json={"permissions": ["item.read", "event.read"]},
        headers=admin.headers,
    )
    assert patched.status_code == 200
    assert (await _me(client, ann.headers)).json()["permissions"] == ["event.read", "item.read"]


async def test_a_password_reset_ends_a_cached_login(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "boss", "admin")
    await create_user(db, "ann")
    admin = await login(client, "boss")
    ann = await login(client, "ann")
    assert (await _me(client, ann.headers)).status_code == 200
    reset = await client.post("/api/v1/users/ann/reset-password", json={}, headers=admin.headers)
    assert reset.status_code == 200
    assert (await _me(client, ann.headers)).status_code == 401


async def test_logout_ends_a_cached_login(client: httpx.AsyncClient, db: Database) -> None:
    await create_user(db, "ann")
    ann = await login(client, "ann")
    assert (await _me(client, ann.headers)).status_code == 200
    assert (await client.post("/api/v1/auth/logout", headers=ann.headers)).status_code == 204
    assert (await _me(client, ann.headers)).status_code == 401


def test_a_row_read_across_a_change_is_not_kept() -> None:
    read_at = principal_cache.generation()
    principal_cache.forget()  # a revocation lands while the row is being read
    principal_cache.store("token", "h", ("old row",), read_at)
    assert principal_cache.get("token", "h") is None
    principal_cache.store("token", "h", ("new row",), principal_cache.generation())
    assert principal_cache.get("token", "h") == ("new row",)
    principal_cache.forget()
    assert principal_cache.get("token", "h") is None
