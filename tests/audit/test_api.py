"""GET /api/v1/audit/checkpoints: published for whoever may verify the audit trail, and
checkable with nothing but the published public keys."""

import base64
import hashlib
from datetime import datetime

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from qtrack.audit import service as audit_service
from qtrack.core.db import Database
from qtrack.core.pagination import encode_cursor
from tests.audit.history import edit_in, seed_into
from tests.factories.accounts import AppLogin, create_user, login


@pytest.fixture
async def auditor(client: httpx.AsyncClient, db: Database) -> AppLogin:
    await create_user(db, "qa", "supervisor")
    return await login(client, "qa")


async def _checkpoints(db: Database, count: int) -> None:
    codes = await seed_into(db, lots=2)
    for n in range(count):
        async with db.session_scope() as session:
            await audit_service.create_checkpoint(session, db.settings)
        await edit_in(db, codes[n % 2], 1)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_list_latest_and_one(
    client: httpx.AsyncClient, db: Database, auditor: AppLogin
) -> None:
    h = auditor.headers
    empty = await client.get("/api/v1/audit/checkpoints", headers=h)
    assert empty.status_code == 200
    assert empty.json() == {"items": [], "next_cursor": None}
    none = await client.get("/api/v1/audit/checkpoints/latest", headers=h)
    assert none.status_code == 404
    assert none.json()["error"]["code"] == "checkpoint_not_found"

    await _checkpoints(db, 3)
    page = (await client.get("/api/v1/audit/checkpoints?limit=2", headers=h)).json()
    assert [c["id"] for c in page["items"]] == [3, 2]
    rest = await client.get(f"/api/v1/audit/checkpoints?cursor={page['next_cursor']}", headers=h)
    assert [c["id"] for c in rest.json()["items"]] == [1]
    assert rest.json()["next_cursor"] is None

    latest = (await client.get("/api/v1/audit/checkpoints/latest", headers=h)).json()
    assert latest == page["items"][0]
    assert (latest["events"], latest["items"], latest["changed"]) == (8, 2, 1)
    second = (await client.get("/api/v1/audit/checkpoints/2", headers=h)).json()
    assert latest["prev_hash"] == second["hash"]


async def test_a_checkpoint_verifies_with_the_published_keys_alone(
    client: httpx.AsyncClient, db: Database, auditor: AppLogin
) -> None:
    await _checkpoints(db, 1)
    checkpoint = (await client.get("/api/v1/audit/checkpoints/1", headers=auditor.headers)).json()
    published = {k["kid"]: k for k in (await client.get("/api/v1/keys")).json()}
    key = Ed25519PublicKey.from_public_bytes(_unb64(published[checkpoint["key_id"]]["public_key"]))
    signed = checkpoint["statement"].encode()
    key.verify(_unb64(checkpoint["signature"]), signed)  # raises if forged
    assert hashlib.sha256(signed).hexdigest() == checkpoint["hash"]
    # The signed bytes say what the fields say.
    statement = orjson.loads(signed)
    assert statement.pop("v") == 1
    assert datetime.fromisoformat(statement.pop("created_at")) == datetime.fromisoformat(
        checkpoint["created_at"]
    )
    unsigned = ("hash", "signature", "statement", "created_at")
    assert statement == {k: v for k, v in checkpoint.items() if k not in unsigned}


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/audit/checkpoints/9", 404, "checkpoint_not_found"),
        ("/api/v1/audit/checkpoints/0", 422, "validation_error"),
        (f"/api/v1/audit/checkpoints/{2**63}", 422, "validation_error"),
        ("/api/v1/audit/checkpoints/x", 422, "validation_error"),
        ("/api/v1/audit/checkpoints?cursor=nonsense", 400, "invalid_cursor"),
        (f"/api/v1/audit/checkpoints?cursor={encode_cursor(2**40)}", 400, "invalid_cursor"),
        (f"/api/v1/audit/checkpoints?cursor={encode_cursor('1')}", 400, "invalid_cursor"),
        ("/api/v1/audit/checkpoints?limit=201", 422, "validation_error"),
    ],
)
async def test_bad_requests(
    client: httpx.AsyncClient, auditor: AppLogin, path: str, status: int, code: str
) -> None:
    response = await client.get(path, headers=auditor.headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("role", ["operator", "viewer", "dispatcher"])
async def test_only_auditors_read_checkpoints(
    client: httpx.AsyncClient, db: Database, role: str
) -> None:
    await create_user(db, "someone", role)
    who = await login(client, "someone")
    for path in ("/api/v1/audit/checkpoints", "/api/v1/audit/checkpoints/latest"):
        response = await client.get(path, headers=who.headers)
        assert response.status_code == 403
    anonymous = await client.get("/api/v1/audit/checkpoints")
    assert anonymous.status_code == 401
