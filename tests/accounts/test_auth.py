"""App login: access JWTs, rotating refresh tokens, logout, and the hostile cases."""

import asyncio
import base64
import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from qtrack.accounts.models import SecurityEvent
from qtrack.accounts.sessions import JWT_AUDIENCE, JWT_ISSUER
from qtrack.config import PLACEHOLDER_SECRET, Settings
from qtrack.core.db import Database
from tests.factories.accounts import PASSWORD, bearer, create_user, login


async def _events(db: Database, kind: str) -> list[SecurityEvent]:
    async with db.session_scope("read") as session:
        stmt = select(SecurityEvent).where(SecurityEvent.kind == kind).order_by(SecurityEvent.id)
        return list((await session.scalars(stmt)).all())


def _forge(claims: dict[str, object], key: bytes | str, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def _real_key() -> bytes:
    return hashlib.sha256(b"qtrack-jwt:" + PLACEHOLDER_SECRET.encode()).digest()


def _claims(sub: str | None = "1", sid: str = "x", **overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "iss": JWT_ISSUER,
        "aud": JWT_AUDIENCE,
        "sub": sub,
        "sid": sid,
        "jti": "j",
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


async def test_login_gives_tokens_and_me_answers(client: httpx.AsyncClient, db: Database) -> None:
    await create_user(db, "ann", "operator")
    response = await client.post(
        "/api/v1/auth/login", json={"username": "Ann ", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["refresh_expires_in"] == 30 * 86400

    me = await client.get("/api/v1/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["username"] == "ann"
    assert me.json()["role"] == "operator"
    assert "item.transition" in me.json()["permissions"]
    assert "admin.users" not in me.json()["permissions"]
    assert "password" not in me.text

    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert {"exp", "iat", "sub", "jti", "sid"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 900
    assert (await _events(db, "login"))[0].ip == "203.0.113.7"


@pytest.mark.parametrize(
    ("username", "password"), [("ann", "wrong password!"), ("nobody", PASSWORD)]
)
async def test_bad_credentials_are_401_and_recorded(
    client: httpx.AsyncClient, db: Database, username: str, password: str
) -> None:
    await create_user(db, "ann")
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    failed = await _events(db, "login_failed")
    assert [(e.username, e.ip) for e in failed] == [(username, "203.0.113.7")]


async def test_disabled_user_cannot_log_in(client: httpx.AsyncClient, db: Database) -> None:
    await create_user(db, "ann", active=False)
    response = await client.post(
        "/api/v1/auth/login", json={"username": "ann", "password": PASSWORD}
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "ann"},
        {"username": "", "password": "x"},
        {"username": "a", "password": "p" * 2000},
    ],
)
async def test_malformed_login_is_422(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    response = await client.post("/api/v1/auth/login", json=body)
    assert response.status_code == 422


async def test_refresh_rotates_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "ann")
    first = await login(client, "ann")

    rotated = await client.post("/api/v1/auth/refresh", json={"refresh_token": first.refresh_token})
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first.refresh_token

    # The thief (or a confused client) presents the used token again.
    reused = await client.post("/api/v1/auth/refresh", json={"refresh_token": first.refresh_token})
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "refresh_token_reused"

    # The whole family is gone: the newer refresh token and every access token.
    again = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert again.status_code == 401
    for access in (first.access_token, second["access_token"]):
        assert (await client.get("/api/v1/auth/me", headers=bearer(access))).status_code == 401
    assert len(await _events(db, "refresh_token_reused")) == 1


async def test_concurrent_refresh_lets_exactly_one_through(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "ann")
    session = await login(client, "ann")
    responses = await asyncio.gather(
        *(
            client.post("/api/v1/auth/refresh", json={"refresh_token": session.refresh_token})
            for _ in range(4)
        )
    )
    assert sorted(r.status_code for r in responses).count(200) == 1


@pytest.mark.parametrize("token", ["", "nonsense", "qtk_nonsense", "a" * 250])
async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient, token: str) -> None:
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": token})
    assert response.status_code in (401, 422)
    if token:
        assert response.status_code == 401


async def test_logout_ends_the_login(client: httpx.AsyncClient, db: Database) -> None:
    await create_user(db, "ann")
    session = await login(client, "ann")
    assert (await client.post("/api/v1/auth/logout", headers=session.headers)).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=session.headers)).status_code == 401
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": session.refresh_token}
    )
    assert refreshed.status_code == 401
    assert len(await _events(db, "logout")) == 1


async def test_hostile_access_tokens_are_401(client: httpx.AsyncClient, db: Database) -> None:
    user = await create_user(db, "ann")
    real = await login(client, "ann")
    sid = jwt.decode(real.access_token, options={"verify_signature": False})["sid"]
    good_claims = _claims(sub=str(user.id), sid=sid)
    header, _payload, signature = real.access_token.split(".")
    tampered_payload = _b64({"sub": "999", "sid": sid})
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        hs512 = _forge(good_claims, _real_key(), "HS512")
    # alg "none": the genuine claims, no signature at all.
    encodable = {**good_claims, "iat": 0, "exp": 2**31}
    alg_none = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(encodable)}."
    forged = {
        "other key": _forge(good_claims, b"k" * 32),
        "alg none": alg_none,
        "alg HS512 with the real key": hs512,
        "expired": _forge(
            _claims(sub=str(user.id), sid=sid, exp=datetime.now(UTC) - timedelta(seconds=5)),
            _real_key(),
        ),
        "no jti": _forge(_claims(sub=str(user.id), sid=sid, jti=None), _real_key()),
        "no sub": _forge(_claims(sub=None, sid=sid), _real_key()),
        "wrong audience": _forge(_claims(sub=str(user.id), sid=sid, aud="other"), _real_key()),
        "someone else's sub": _forge(_claims(sub=str(user.id + 100), sid=sid), _real_key()),
        "unknown session": _forge(_claims(sub=str(user.id), sid="0" * 32), _real_key()),
        "tampered payload": f"{header}.{tampered_payload}.{signature}",
        "garbage": "not.a.jwt",
    }
    for name, token in forged.items():
        response = await client.get("/api/v1/auth/me", headers=bearer(token))
        assert response.status_code == 401, name
        assert response.json()["error"]["code"] == "invalid_token", name
    # The genuine token still works, so the 401s above are about the forgeries.
    assert (await client.get("/api/v1/auth/me", headers=real.headers)).status_code == 200


@pytest.mark.parametrize(
    "header", ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer ", "Token abc", "bearer"]
)
async def test_malformed_authorization_is_401(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get("/api/v1/auth/me", headers={"Authorization": header})
    assert response.status_code == 401


async def test_disabled_user_token_stops_working_at_once(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "boss", "admin")
    await create_user(db, "ann")
    admin = await login(client, "boss")
    ann = await login(client, "ann")
    disabled = await client.post("/api/v1/users/ann/disable", headers=admin.headers)
    assert disabled.status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=ann.headers)).status_code == 401


async def test_brute_force_login_is_rate_limited(
    limited_client: httpx.AsyncClient, limited_app: object
) -> None:
    db: Database = limited_app.state.qtrack.db  # type: ignore[attr-defined]
    await create_user(db, "ann")
    for _ in range(5):
        bad = await limited_client.post(
            "/api/v1/auth/login", json={"username": "ann", "password": "guess guess"}
        )
        assert bad.status_code == 401
    blocked = await limited_client.post(
        "/api/v1/auth/login", json={"username": "ann", "password": PASSWORD}
    )
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "too_many_attempts"
    assert 1 <= int(blocked.headers["retry-after"]) <= 60
    throttled = await _events(db, "login_throttled")
    assert [(e.username, e.ip) for e in throttled] == [("ann", "203.0.113.9")]


async def test_spraying_many_usernames_from_one_address_is_limited(
    limited_client: httpx.AsyncClient, limited_app: object
) -> None:
    db: Database = limited_app.state.qtrack.db  # type: ignore[attr-defined]
    settings: Settings = limited_app.state.qtrack.settings  # type: ignore[attr-defined]
    await create_user(db, "zed")
    for i in range(settings.login_rate_limit_per_address):
        bad = await limited_client.post(
            "/api/v1/auth/login", json={"username": f"u{i}", "password": "guess guess"}
        )
        assert bad.status_code == 401
    blocked = await limited_client.post(
        "/api/v1/auth/login", json={"username": "zed", "password": PASSWORD}
    )
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "too_many_attempts"


async def test_successful_logins_do_not_count_toward_the_limit(
    limited_client: httpx.AsyncClient, limited_app: object
) -> None:
    db: Database = limited_app.state.qtrack.db  # type: ignore[attr-defined]
    await create_user(db, "ann")
    for _ in range(8):
        ok = await limited_client.post(
            "/api/v1/auth/login", json={"username": "ann", "password": PASSWORD}
        )
        assert ok.status_code == 200


async def test_change_own_password(client: httpx.AsyncClient, db: Database) -> None:
    await create_user(db, "ann")
    session = await login(client, "ann")
    wrong = await client.post(
        "/api/v1/auth/password",
        headers=session.headers,
        json={"current_password": "not it at all", "new_password": "a brand new secret"},
    )
    assert wrong.status_code == 403
    weak = await client.post(
        "/api/v1/auth/password",
        headers=session.headers,
        json={"current_password": PASSWORD, "new_password": "ann-is-me-123"},
    )
    assert weak.status_code == 422
    assert weak.json()["error"]["code"] == "weak_password"
    ok = await client.post(
        "/api/v1/auth/password",
        headers=session.headers,
        json={"current_password": PASSWORD, "new_password": "a brand new secret"},
    )
    assert ok.status_code == 204
    old = await client.post("/api/v1/auth/login", json={"username": "ann", "password": PASSWORD})
    assert old.status_code == 401
    await login(client, "ann", "a brand new secret")


async def test_secrets_never_reach_the_logs(
    client: httpx.AsyncClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await create_user(db, "boss", "admin")
    admin = await login(client, "boss")
    created = await client.post(
        "/api/v1/tokens", headers=admin.headers, json={"name": "scanner 1", "username": "boss"}
    )
    raw = created.json()["token"]
    await client.get("/api/v1/auth/me", headers=bearer(raw))
    await client.post(
        "/api/v1/auth/login", json={"username": "boss", "password": "wrong-password-xyz"}
    )
    logged = "\n".join(str(r.msg) + " " + r.getMessage() for r in caplog.records)
    for secret in (PASSWORD, "wrong-password-xyz", raw, admin.access_token, admin.refresh_token):
        assert secret not in logged
    listed = await client.get("/api/v1/tokens", headers=admin.headers)
    assert raw not in listed.text


async def test_one_person_mistyping_behind_a_nat_does_not_block_the_shift(
    limited_client: httpx.AsyncClient, limited_app: object
) -> None:
    """Everybody on the floor comes from one NAT address: ann's failures block ann alone."""
    db: Database = limited_app.state.qtrack.db  # type: ignore[attr-defined]
    for name in ("ann", "bob"):
        await create_user(db, name)
    for _ in range(5):
        bad = await limited_client.post(
            "/api/v1/auth/login", json={"username": "ann", "password": "guess guess"}
        )
        assert bad.status_code == 401
    blocked = await limited_client.post(
        "/api/v1/auth/login", json={"username": "ann", "password": PASSWORD}
    )
    assert blocked.status_code == 429
    bob = await limited_client.post(
        "/api/v1/auth/login", json={"username": "bob", "password": PASSWORD}
    )
    assert bob.status_code == 200, bob.text


async def test_guesses_from_elsewhere_do_not_lock_the_owner_out(
    limited_app: FastAPI, limited_client: httpx.AsyncClient
) -> None:
    """Nobody can keep a user's logins blocked from an address of their own."""
    db: Database = limited_app.state.qtrack.db
    await create_user(db, "ann")
    transport = httpx.ASGITransport(app=limited_app, client=("198.51.100.66", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as attacker:
        for _ in range(8):
            await attacker.post(
                "/api/v1/auth/login", json={"username": "ann", "password": "guess guess"}
            )
        still = await attacker.post(
            "/api/v1/auth/login", json={"username": "ann", "password": PASSWORD}
        )
        assert still.status_code == 429  # the guesser is stopped
    owner = await limited_client.post(
        "/api/v1/auth/login", json={"username": "ann", "password": PASSWORD}
    )
    assert owner.status_code == 200, owner.text


@pytest.mark.postgres_only
async def test_password_changes_sent_at_once_only_one_holds(
    client: httpx.AsyncClient, db: Database
) -> None:
    """Four changes with the same current password at once: one is made, the others find
    the current password changed under them (403), so no caller is told a password holds
    that does not."""
    await create_user(db, "ann")
    session = await login(client, "ann")
    news = [f"a brand new secret {n}" for n in range(4)]
    answers = await asyncio.gather(
        *(
            client.post(
                "/api/v1/auth/password",
                headers=session.headers,
                json={"current_password": PASSWORD, "new_password": new},
            )
            for new in news
        )
    )
    statuses = [a.status_code for a in answers]
    assert sorted(statuses) == [204, 403, 403, 403], [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 403:
            assert answer.json()["error"]["code"] == "signature_failed"
    (kept,) = [new for new, a in zip(news, answers, strict=True) if a.status_code == 204]
    await login(client, "ann", kept)
