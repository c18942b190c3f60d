"""The accounts admin pages: users, roles, API tokens and the security log, as an admin sees
them; and what a non-admin, a forged form or bad input gets (nothing written)."""

import hashlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import event, func, select
from starlette.routing import BaseRoute

from qtrack.accounts import admin_pages, audit
from qtrack.accounts.models import ApiToken, Role, SecurityEvent, User
from qtrack.accounts.permissions import ALL_PERMISSIONS, Permission
from qtrack.core.clock import utcnow
from qtrack.core.db import Database
from tests.factories.accounts import (
    bearer,
    create_token,
    create_user,
    csrf_of,
    signed_in,
    web_login,
)

NEW_PASSWORD = "a brand new pass phrase"


class Html(HTMLParser):
    """Elements by id (their attributes and text), to check what a person sees on a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.attrs: dict[str, dict[str, str | None]] = {}
        self.texts: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        element_id = found.get("id")
        if element_id:
            self.attrs[element_id] = found
            self.texts.setdefault(element_id, "")
        if tag not in {"input", "br", "meta", "link", "img", "option"}:
            self._open.append((tag, element_id))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id:
                self.texts[element_id] += data

    def text(self, element_id: str) -> str:
        """The text inside an element, whitespace collapsed."""
        assert element_id in self.texts, f"no #{element_id} on the page"
        return " ".join(self.texts[element_id].split())

    def invalid(self, element_id: str) -> str:
        """The error shown for a field (marked invalid and pointing at its message)."""
        attrs = self.attrs[element_id]
        assert attrs.get("aria-invalid") == "true", f"#{element_id} is not marked invalid"
        assert f"{element_id}-error" in str(attrs.get("aria-describedby")).split()
        return self.text(f"{element_id}-error")


@pytest.fixture
async def boss(client: httpx.AsyncClient, db: Database) -> str:
    """An admin signed in through the login form; returns the session's CSRF token."""
    await create_user(db, "boss", "admin")
    await create_user(db, "olga", "operator")
    await web_login(client, "boss")
    return csrf_of((await client.get("/admin/users")).text)


@pytest.fixture
async def second_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser, for a second person."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _rows(db: Database, model: Any, *where: Any) -> list[Any]:
    async with db.session_scope("read") as session:
        return list((await session.scalars(select(model).where(*where))).all())


async def _events(db: Database, kind: str) -> list[SecurityEvent]:
    return await _rows(db, SecurityEvent, SecurityEvent.kind == kind)


async def _counts(db: Database) -> dict[str, int]:
    async with db.session_scope("read") as session:
        return {
            model.__name__: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (User, Role, ApiToken, SecurityEvent)
        }


async def _user(db: Database, username: str) -> User:
    (user,) = await _rows(db, User, User.username == username)
    assert isinstance(user, User)
    return user


@contextmanager
def _queries(db: Database) -> Iterator[list[str]]:
    """The SQL statements run meanwhile."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


# --- users -----------------------------------------------------------------------------------


async def test_an_admin_creates_a_user_who_can_then_sign_in(
    client: httpx.AsyncClient, second_client: httpx.AsyncClient, db: Database, boss: str
) -> None:
    listing = Html((await client.get("/admin/users")).text)
    assert "boss" in listing.text("users")
    assert "Operator" in listing.text("users")

    created = await client.post(
        "/admin/users",
        data={
            "csrf_token": boss,
            "username": "Newbie",
            "full_name": "New Person",
            "email": "new@example.com",
            "role": "viewer",
            "password": NEW_PASSWORD,
        },
    )
    assert created.status_code == 303
    assert created.headers["location"] == "/admin/users/newbie?done=created"
    page = Html((await client.get(created.headers["location"])).text)
    assert page.text("done") == "User created."
    assert page.text("current-role") == "Viewer"

    user = await _user(db, "newbie")
    assert (user.full_name, user.email, user.is_active) == ("New Person", "new@example.com", True)
    (logged,) = [e for e in await _events(db, "user_created") if e.subject_user_id == user.id]
    assert logged.actor_id == (await _user(db, "boss")).id
    assert logged.subject_user_id == user.id
    assert logged.details == {"role": "viewer"}
    assert logged.ip == "203.0.113.7"
    await web_login(second_client, "newbie", NEW_PASSWORD)


async def test_a_generated_password_is_shown_once_and_never_cached(
    client: httpx.AsyncClient, second_client: httpx.AsyncClient, db: Database, boss: str
) -> None:
    created = await client.post(
        "/admin/users", data={"csrf_token": boss, "username": "gen", "role": "viewer"}
    )
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    page = Html(created.text)
    password = page.attrs["secret-value"]["value"]
    assert password
    assert "only on this page" in created.text
    await web_login(second_client, "gen", str(password))


@pytest.mark.parametrize(
    ("form", "status", "field", "says"),
    [
        ({"username": "weak", "password": "short"}, 422, "f-password", "At least 10 characters"),
        ({"username": "sam", "password": "i am sam, really"}, 422, "f-password", "username"),
        ({"username": "no spaces", "password": NEW_PASSWORD}, 422, "f-username", "letters"),
        ({"username": "x", "password": NEW_PASSWORD}, 422, "f-username", "at least 2 char"),
        ({"username": "olga", "password": NEW_PASSWORD}, 409, "f-username", "already exists"),
        ({"username": "em", "email": "not-an-email"}, 422, "f-email", "email"),
        ({"username": "ro", "role": "emperor"}, 404, "f-role", "No role 'emperor'"),
    ],
)
async def test_bad_new_users_are_refused_next_to_the_field(
    client: httpx.AsyncClient,
    db: Database,
    boss: str,
    form: dict[str, str],
    status: int,
    field: str,
    says: str,
) -> None:
    before = await _counts(db)
    response = await client.post("/admin/users", data={"csrf_token": boss, "role": "viewer"} | form)
    assert response.status_code == status
    page = Html(response.text)
    assert says in page.invalid(field)
    assert page.text("form-error")
    # What was typed is kept, except the password.
    assert page.attrs["f-username"]["value"] == form["username"]
    assert "value" not in page.attrs["f-password"]
    assert await _counts(db) == before


async def test_an_admin_edits_a_users_details_and_role(
    client: httpx.AsyncClient, db: Database, boss: str
) -> None:
    saved = await client.post(
        "/admin/users/olga",
        data={"csrf_token": boss, "full_name": "Olga K.", "email": "", "role": "supervisor"},
    )
    assert saved.status_code == 303
    page = Html((await client.get(saved.headers["location"])).text)
    assert page.text("done") == "Changes saved."
    assert page.text("current-role") == "Supervisor (QA)"
    olga = await _user(db, "olga")
    assert olga.full_name == "Olga K."
    (changed,) = await _events(db, "role_changed")
    assert changed.details == {"before": "operator", "after": "supervisor"}
    assert changed.subject_user_id == olga.id

    bad = await client.post(
        "/admin/users/olga",
        data={"csrf_token": boss, "full_name": "x" * 201, "role": "viewer"},
    )
    assert bad.status_code == 422
    assert "200 characters" in Html(bad.text).invalid("f-full_name")
    olga = await _user(db, "olga")
    assert olga.full_name == "Olga K."
    assert len(await _events(db, "role_changed")) == 1

    missing = await client.get("/admin/users/nobody")
    assert missing.status_code == 404


async def test_the_last_admin_can_be_neither_disabled_nor_demoted(
    client: httpx.AsyncClient, db: Database, boss: str
) -> None:
    before = await _counts(db)
    disabled = await client.post("/admin/users/boss/disable", data={"csrf_token": boss})
    assert disabled.status_code == 409
    assert Html(disabled.text).text("form-error") == "This is the last active admin"
    demoted = await client.post(
        "/admin/users/boss", data={"csrf_token": boss, "full_name": "", "role": "operator"}
    )
    assert demoted.status_code == 409
    assert Html(demoted.text).text("form-error") == "This is the last active admin"
    boss_row = await _user(db, "boss")
    assert boss_row.is_active
    assert await _counts(db) == before
    assert (await client.get("/admin/users/boss")).status_code == 200  # still signed in

    # With a second admin, the first may go.
    await create_user(db, "deputy", "admin")
    others = await client.post("/admin/users/deputy/disable", data={"csrf_token": boss})
    assert others.status_code == 303


async def test_disabling_ends_the_users_sessions_and_enabling_lets_them_back(
    client: httpx.AsyncClient, second_client: httpx.AsyncClient, db: Database, boss: str
) -> None:
    await web_login(second_client, "olga")
    assert (await second_client.get("/items")).status_code == 200
    disabled = await client.post("/admin/users/olga/disable", data={"csrf_token": boss})
    assert disabled.status_code == 303
    page = Html((await client.get(disabled.headers["location"])).text)
    assert "stopped working" in page.text("done")
    assert "enable-user" in page.attrs
    assert (await second_client.get("/items")).status_code == 303  # back to the login form
    assert not (await _user(db, "olga")).is_active

    enabled = await client.post("/admin/users/olga/enable", data={"csrf_token": boss})
    assert enabled.status_code == 303
    assert (await _user(db, "olga")).is_active
    assert [len(await _events(db, k)) for k in ("user_disabled", "user_enabled")] == [1, 1]
    await web_login(second_client, "olga")


async def test_an_admin_resets_a_password(
    client: httpx.AsyncClient, second_client: httpx.AsyncClient, db: Database, boss: str
) -> None:
    old_hash = (await _user(db, "olga")).password_hash
    weak = await client.post(
        "/admin/users/olga/password", data={"csrf_token": boss, "new_password": "olga1234567"}
    )
    assert weak.status_code == 422
    assert "Must not contain the username" in Html(weak.text).invalid("f-new_password")
    assert (await _user(db, "olga")).password_hash == old_hash
    assert await _events(db, "password_reset") == []

    done = await client.post(
        "/admin/users/olga/password", data={"csrf_token": boss, "new_password": NEW_PASSWORD}
    )
    assert done.status_code == 303
    assert "Password reset" in Html((await client.get(done.headers["location"])).text).text("done")
    (logged,) = await _events(db, "password_reset")
    assert logged.actor_id == (await _user(db, "boss")).id
    await web_login(second_client, "olga", NEW_PASSWORD)

    generated = await client.post("/admin/users/olga/password", data={"csrf_token": boss})
    assert generated.status_code == 200
    assert generated.headers["cache-control"] == "no-store"
    assert Html(generated.text).attrs["secret-value"]["value"]


# --- roles -----------------------------------------------------------------------------------


def test_every_permission_has_words_and_a_group() -> None:
    assert set(admin_pages.PERMISSION_LABELS) == set(Permission)
    grouped = [key for _, perms in admin_pages.permission_groups() for key, _ in perms]
    assert sorted(grouped) == sorted(ALL_PERMISSIONS)
    assert "Other" not in dict(admin_pages.permission_groups())


async def test_an_admin_defines_a_role_from_grouped_permissions(
    client: httpx.AsyncClient, db: Database, boss: str
) -> None:
    listing = await client.get("/admin/roles")
    page = Html(listing.text)
    for key in ("admin", "supervisor", "operator", "dispatcher", "viewer"):
        assert f'data-role="{key}"' in listing.text
    for permission, label in admin_pages.PERMISSION_LABELS.items():
        assert page.attrs[f"p-{permission.value}"]["name"] == "permissions"
        assert f"{label} {permission.value}" in page.text("p-permissions")
    assert "<legend>Items</legend>" in listing.text

    created = await client.post(
        "/admin/roles",
        data={
            "csrf_token": boss,
            "key": "counter",
            "name": "Stock counter",
            "description": "Counts supplies",
            "permissions": ["item.read", "item.quantity"],
        },
    )
    assert created.status_code == 303
    assert created.headers["location"] == "/admin/roles/counter?done=role_created"
    detail = Html((await client.get(created.headers["location"])).text)
    assert detail.text("done") == "Role created."
    assert "checked" in detail.attrs["p-item.quantity"]
    assert "checked" not in detail.attrs["p-item.move"]
    (role,) = await _rows(db, Role, Role.key == "counter")
    assert role.permissions == ["item.quantity", "item.read"]
    (logged,) = await _events(db, "role_created")
    assert logged.details == {"role": "counter", "permissions": ["item.quantity", "item.read"]}


@pytest.mark.parametrize(
    ("form", "status", "field", "says"),
    [
        ({"key": "Bad Key"}, 422, "f-key", "lower-case"),
        ({"key": "viewer"}, 409, "f-key", "already exists"),
        ({"key": "ok", "name": ""}, 422, "f-name", "at least 1 character"),
        ({"key": "ok", "permissions": ["item.fly"]}, 422, "p-permissions", "Unknown: item.fly"),
    ],
)
async def test_bad_roles_are_refused_next_to_the_field(
    client: httpx.AsyncClient,
    db: Database,
    boss: str,
    form: dict[str, Any],
    status: int,
    field: str,
    says: str,
) -> None:
    before = await _counts(db)
    response = await client.post(
        "/admin/roles",
        data={"csrf_token": boss, "name": "A role", "permissions": ["item.read"]} | form,
    )
    assert response.status_code == status
    page = Html(response.text)
    if field == "p-permissions":  # a group of checkboxes, described by its error
        assert "p-permissions-error" in str(page.attrs[field]["aria-describedby"])
        assert says in page.text("p-permissions-error")
    else:
        assert says in page.invalid(field)
    assert await _counts(db) == before


async def test_nobody_grants_rights_they_lack(
    client: httpx.AsyncClient, db: Database, app: FastAPI
) -> None:
    async with db.session_scope() as session:
        session.add(
            Role(
                key="useradmin",
                name="User admin",
                permissions=["admin.users", "item.read", "event.read", "stock.read"],
            )
        )
    await create_user(db, "ua", "useradmin")
    await create_user(db, "olga", "operator")
    await create_user(db, "vic", "viewer")
    await web_login(client, "ua")
    token = csrf_of((await client.get("/admin/roles")).text)
    before = await _counts(db)
    refused = await client.post(
        "/admin/roles",
        data={"csrf_token": token, "key": "big", "name": "Big", "permissions": ["admin.config"]},
    )
    assert refused.status_code == 403
    page = Html(refused.text)
    assert page.text("p-permissions-error") == (
        "You cannot give rights you do not hold yourself: admin.config"
    )
    assert "(you do not hold this)" in page.text("p-permissions")
    # Nor by making someone an admin, nor by a token with more than they hold.
    promoted = await client.post(
        "/admin/users/vic", data={"csrf_token": token, "full_name": "", "role": "admin"}
    )
    assert promoted.status_code == 403
    assert "admin.config" in Html(promoted.text).text("form-error")
    # Nor take over an account that holds more than they do.
    reset = await client.post(
        "/admin/users/olga/password", data={"csrf_token": token, "new_password": NEW_PASSWORD}
    )
    assert reset.status_code == 403
    assert "item.create" in Html(reset.text).text("form-error")
    minted = await client.post(
        "/admin/tokens", data={"csrf_token": token, "name": "t", "username": "olga"}
    )
    assert minted.status_code == 403
    assert "item.create" in Html(minted.text).text("s-scopes-error")
    assert await _counts(db) == before
    assert (await _user(db, "olga")).is_active


async def test_an_admin_edits_and_deletes_a_role_but_not_shipped_or_held_ones(
    client: httpx.AsyncClient, db: Database, boss: str
) -> None:
    async with db.session_scope() as session:
        session.add(Role(key="temp", name="Temp", permissions=["item.read"]))
    saved = await client.post(
        "/admin/roles/temp",
        data={"csrf_token": boss, "name": "Temporary", "description": "For the audit",
              "permissions": ["item.read", "event.read"]},
    )  # fmt: skip
    assert saved.status_code == 303
    (role,) = await _rows(db, Role, Role.key == "temp")
    assert (role.name, role.permissions) == ("Temporary", ["event.read", "item.read"])
    (changed,) = await _events(db, "role_changed")
    assert changed.details["after"] == ["event.read", "item.read"]

    shipped = await client.get("/admin/roles/operator")
    assert "Shipped roles are fixed" in shipped.text
    assert 'action="/admin/roles/operator"' not in shipped.text
    before = await _counts(db)
    for path, says in (
        ("/admin/roles/operator", "Shipped roles cannot be changed"),
        ("/admin/roles/operator/delete", "Shipped roles cannot be deleted"),
    ):
        refused = await client.post(
            path, data={"csrf_token": boss, "name": "Mine", "permissions": ["admin.users"]}
        )
        assert refused.status_code == 409
        assert says in Html(refused.text).text("form-error")
    (operator,) = await _rows(db, Role, Role.key == "operator")
    assert "admin.users" not in operator.permissions

    assert await _counts(db) == before
    await create_user(db, "tim", "temp")
    before = await _counts(db)
    held = await client.post("/admin/roles/temp/delete", data={"csrf_token": boss})
    assert held.status_code == 409
    assert "1 users hold role 'temp'" in Html(held.text).text("form-error")
    assert await _counts(db) == before

    moved = await client.post(
        "/admin/users/tim", data={"csrf_token": boss, "full_name": "", "role": "viewer"}
    )
    assert moved.status_code == 303
    deleted = await client.post("/admin/roles/temp/delete", data={"csrf_token": boss})
    assert deleted.status_code == 303
    assert "Role deleted." in (await client.get(deleted.headers["location"])).text
    assert await _rows(db, Role, Role.key == "temp") == []
    assert len(await _events(db, "role_deleted")) == 1


# --- API tokens ------------------------------------------------------------------------------


async def test_a_token_secret_is_shown_once_then_revoked(
    client: httpx.AsyncClient, db: Database, boss: str
) -> None:
    until = (utcnow() + timedelta(days=30)).date().isoformat()
    created = await client.post(
        "/admin/tokens",
        data={
            "csrf_token": boss,
            "name": "Dock scanner",
            "username": "olga",
            "valid_until": until,
            "scopes": ["item.read", "item.move"],
        },
    )
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    secret = str(Html(created.text).attrs["secret-value"]["value"])
    assert "This is the only time it is shown" in created.text
    (token,) = await _rows(db, ApiToken)
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.scopes == ["item.move", "item.read"]
    assert token.user_id == (await _user(db, "olga")).id
    assert token.expires_at is not None
    assert token.expires_at.date().isoformat() > until  # valid through that whole day
    (logged,) = await _events(db, "token_created")
    assert logged.details["name"] == "Dock scanner"
    me = await client.get("/api/v1/auth/me", headers=bearer(secret))
    assert me.json()["permissions"] == ["item.move", "item.read"]

    listing = await client.get("/admin/tokens")
    assert secret not in listing.text
    assert "Dock scanner" in Html(listing.text).text("tokens")
    assert token.prefix in listing.text

    revoked = await client.post(f"/admin/tokens/{token.id}/revoke", data={"csrf_token": boss})
    assert revoked.status_code == 303
    assert "Token revoked" in (await client.get(revoked.headers["location"])).text
    assert (await client.get("/api/v1/auth/me", headers=bearer(secret))).status_code == 401
    assert len(await _events(db, "token_revoked")) == 1
    assert f'data-token-id="{token.id}"' not in (await client.get("/admin/tokens")).text
    shown = Html((await client.get("/admin/tokens", params={"revoked": "true"})).text)
    assert "Revoked" in shown.text("tokens")
    missing = await client.post("/admin/tokens/999999/revoke", data={"csrf_token": boss})
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("form", "status", "field", "says"),
    [
        ({"name": ""}, 422, "t-name", "at least 1 character"),
        ({"username": ""}, 422, "t-username", "at least 2 characters"),
        ({"username": "nobody"}, 404, "t-username", "No user 'nobody'"),
        ({"valid_until": "2001-01-01"}, 422, "t-valid_until", "future"),
        ({"valid_until": "soon"}, 422, "t-valid_until", "Not a date"),
        ({"scopes": ["shipment.manage"]}, 422, "s-scopes", "Not held by the user"),
    ],
)
async def test_bad_tokens_are_refused_next_to_the_field(
    client: httpx.AsyncClient,
    db: Database,
    boss: str,
    form: dict[str, Any],
    status: int,
    field: str,
    says: str,
) -> None:
    before = await _counts(db)
    response = await client.post(
        "/admin/tokens", data={"csrf_token": boss, "name": "t", "username": "olga"} | form
    )
    assert response.status_code == status
    page = Html(response.text)
    assert says in (page.text(f"{field}-error") if field == "s-scopes" else page.invalid(field))
    assert "secret-value" not in page.attrs
    assert await _counts(db) == before


# --- the security log ------------------------------------------------------------------------


async def test_the_security_log_filters_and_pages_newest_first(
    client: httpx.AsyncClient, db: Database, boss: str
) -> None:
    async with db.session_scope() as session:
        olga = await session.scalar(select(User).where(User.username == "olga"))
        for n in range(55):
            await audit.record(session, "login_failed", username=f"guess{n}")
        await audit.record(session, "password_reset", subject=olga, actor=olga)

    first = await client.get("/admin/security-log")
    rows = first.text.split("data-event-id=")[1:]
    assert len(rows) == 50
    page = Html(first.text)
    ids = [int(k.split('"')[1]) for k in rows]
    assert ids == sorted(ids, reverse=True)
    assert "guess54" in page.text("security-log")
    assert "guess0" not in page.text("security-log")
    second = await client.get(page.attrs["older"]["href"] or "")
    older = Html(second.text)
    assert "guess0" in older.text("security-log")
    assert "older" not in older.attrs
    assert older.attrs["newest"]["href"] == "/admin/security-log?"

    mine = Html((await client.get("/admin/security-log", params={"user": "olga"})).text)
    assert "password reset" in mine.text("security-log")
    assert "guess" not in mine.text("security-log")
    logins = await client.get("/admin/security-log", params={"kind": "login"})
    kinds = {part.split('"')[1] for part in logins.text.split("data-kind=")[1:]}
    assert kinds == {"login"}
    bad = await client.get("/admin/security-log", params={"cursor": "nonsense!"})
    assert bad.status_code == 400
    assert "cursor" in bad.text


async def test_lists_take_the_same_number_of_queries_for_many_rows(
    client: httpx.AsyncClient, db: Database, boss: str
) -> None:
    paths = ("/admin/users", "/admin/roles", "/admin/tokens", "/admin/security-log")

    async def counts() -> list[int]:
        found = []
        for path in paths:
            with _queries(db) as seen:
                assert (await client.get(path)).status_code == 200
            found.append(len(seen))
        return found

    few = await counts()
    for n in range(12):
        await create_user(db, f"user{n}", "viewer")
        await create_token(db, f"user{n}", name=f"t{n}")
    many = await counts()
    assert many == few


# --- who may, and forged forms ---------------------------------------------------------------


def _walk(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # the user pages' router
        if included is not None:
            yield from _walk(included.routes)


def _admin_routes() -> list[tuple[str, str]]:
    """Every route of the accounts admin pages, with a path that names real rows."""
    routes = []
    for route in _walk(admin_pages.router.routes):
        path = (
            route.path.replace("{username}", "olga")
            .replace("{key}", "temp")
            .replace("{token_id}", "1")
        )
        routes += [(method, path) for method in sorted(route.methods or ())]
    return routes


def test_the_walk_sees_every_admin_page() -> None:
    routes = _admin_routes()
    assert len(routes) == 16
    assert ("POST", "/admin/users/olga/disable") in routes
    assert ("GET", "/admin/security-log") in routes


@pytest.fixture
async def arranged(db: Database) -> Callable[[], Any]:
    """A role and a token for the walks to aim at."""
    async with db.session_scope() as session:
        session.add(Role(key="temp", name="Temp", permissions=["item.read"]))
    await create_user(db, "olga", "operator")
    await create_token(db, "olga")
    return lambda: _counts(db)


async def test_an_operator_gets_403_on_every_admin_page_and_post(
    client: httpx.AsyncClient, db: Database, arranged: Callable[[], Any]
) -> None:
    await web_login(client, "olga")
    token = csrf_of((await client.get("/items")).text)
    before = await arranged()
    form = {"csrf_token": token, "username": "x2", "role": "admin", "password": NEW_PASSWORD}
    for method, path in _admin_routes():
        response = await client.request(method, path, data=form if method == "POST" else None)
        assert response.status_code == 403, f"{method} {path}"
        assert 'data-error-code="permission_denied"' in response.text
    assert await arranged() == before


async def test_forged_forms_are_refused_and_change_nothing(
    client: httpx.AsyncClient, db: Database, arranged: Callable[[], Any]
) -> None:
    await signed_in(client, db, "boss", "admin")
    before = await arranged()
    posts = [path for method, path in _admin_routes() if method == "POST"]
    assert len(posts) == 10
    form = {"username": "x2", "role": "viewer", "password": NEW_PASSWORD, "name": "n"}
    for path in posts:
        for forged in ({}, {"csrf_token": "0" * 64}):
            response = await client.post(path, data=form | forged)
            assert response.status_code == 403, path
            assert 'data-error-code="csrf_failed"' in response.text
    assert await arranged() == before
    assert (await _user(db, "olga")).is_active


async def test_a_revoked_grant_of_admin_users_closes_the_pages(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "boss", "admin")
    await signed_in(client, db, "deputy", "admin")
    assert (await client.get("/admin/users")).status_code == 200
    async with db.session_scope() as session:
        deputy = await session.scalar(select(User).where(User.username == "deputy"))
        viewer = await session.scalar(select(Role).where(Role.key == "viewer"))
        assert deputy is not None
        assert viewer is not None
        deputy.role_id = viewer.id
    # The session stays; its rights are the role's as it is now.
    assert (await client.get("/admin/users")).status_code == 403
