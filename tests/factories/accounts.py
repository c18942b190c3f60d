"""Accounts test data: users, API tokens, and signing in as an app or a browser does."""

import re
from dataclasses import dataclass
from datetime import datetime

import httpx

from qtrack.accounts import service as accounts_service
from qtrack.accounts import tokens as accounts_tokens
from qtrack.accounts.models import User
from qtrack.core.db import Database

PASSWORD = "correct horse battery staple"


async def create_user(
    db: Database,
    username: str,
    role: str = "operator",
    *,
    password: str = PASSWORD,
    active: bool = True,
) -> User:
    """A user with a known password."""
    async with db.session_scope() as session:
        user, _ = await accounts_service.create_user(
            session, db.settings, actor=None, username=username, role=role, password=password
        )
        if not active:
            await accounts_service.set_active(session, actor=None, username=username, active=False)
    return user


async def create_token(
    db: Database,
    username: str,
    *,
    scopes: list[str] | None = None,
    name: str = "scanner",
    expires_at: datetime | None = None,
) -> tuple[int, str]:
    """An API token acting as the user; returns its id and the raw token."""
    async with db.session_scope() as session:
        token, raw = await accounts_tokens.create_token(
            session,
            actor=None,
            name=name,
            username=username,
            scopes=scopes or [],
            expires_at=expires_at,
        )
    return token.id, raw


@dataclass
class AppLogin:
    """What an app holds after logging in."""

    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def keyed(self, key: str) -> dict[str, str]:
        """The headers of a write sent under this `Idempotency-Key`."""
        return {**self.headers, "Idempotency-Key": key}


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> AppLogin:
    """Log in through the API, as a mobile app would."""
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return AppLogin(body["access_token"], body["refresh_token"])


async def logged_in(
    client: httpx.AsyncClient, db: Database, username: str, role: str = "operator"
) -> AppLogin:
    """A new user with this role, logged in through the API (to arrange data)."""
    await create_user(db, username, role)
    return await login(client, username)


def bearer(token: str) -> dict[str, str]:
    """An Authorization header for a raw token."""
    return {"Authorization": f"Bearer {token}"}


async def web_login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login form, as a browser does: the client keeps the session cookie."""
    form = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text)
    assert token, "the login form carries a CSRF token"
    done = await client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token.group(1)}
    )
    assert done.status_code == 303, done.text


async def signed_in(
    client: httpx.AsyncClient, db: Database, username: str, role: str = "operator"
) -> None:
    """A new user with this role, signed in to the web UI through the login form."""
    await create_user(db, username, role)
    await web_login(client, username)


def csrf_of(html: str) -> str:
    """The CSRF token a signed-in page carries for its forms."""
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found, "the page carries a CSRF token"
    return found.group(1)
