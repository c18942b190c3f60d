"""The webhooks API: who may use it, what it refuses (nothing written), secrets shown once."""

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from qtrack.core.db import Database
from qtrack.integrations.webhooks import signing
from qtrack.integrations.webhooks.models import WebhookEndpoint
from tests.factories.accounts import AppLogin, create_user, login
from tests.integrations.webhooks.conftest import location, register

URL = "/api/v1/webhooks"
GOOD = "http://127.0.0.1:9/hook"


async def _count(db: Database) -> int:
    async with db.session_scope("read") as session:
        return int(await session.scalar(select(func.count()).select_from(WebhookEndpoint)) or 0)


async def test_an_admin_registers_lists_changes_and_deletes_an_endpoint(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    await location(client, admin, "PLANT")
    created = await client.post(
        URL,
        json={"url": GOOD, "event_types": ["item.moved", "item.created", "item.moved"],
              "item_types": ["material"], "location": "plant", "description": " ERP "},
        headers=admin.headers,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    assert body["event_types"] == ["item.created", "item.moved"]
    assert (body["location"], body["description"], body["enabled"]) == ("PLANT", "ERP", True)
    secret = body["secret"]
    assert secret.startswith("whsec_")
    assert len(signing.unseal_text(secret)) == 32
    listed = (await client.get(URL, headers=admin.headers)).json()
    assert [e["id"] for e in listed] == [body["id"]]
    assert "secret" not in listed[0]
    async with db.session_scope("read") as session:
        row = await session.get(WebhookEndpoint, body["id"])
        assert row is not None
        assert secret.encode() not in row.secret_sealed, "stored sealed, not as given"

    one = await client.get(f"{URL}/{body['id']}", headers=admin.headers)
    etag = one.headers["etag"]
    patched = await client.patch(
        f"{URL}/{body['id']}", json={"location": None, "enabled": False},
        headers={**admin.headers, "If-Match": etag},
    )  # fmt: skip
    assert patched.status_code == 200, patched.text
    assert (patched.json()["location"], patched.json()["enabled"]) == (None, False)
    assert patched.json()["disabled_reason"] == "Switched off by boss"
    stale = await client.patch(
        f"{URL}/{body['id']}",
        json={"description": "x"},
        headers={**admin.headers, "If-Match": etag},
    )
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "webhook_changed"
    types = (await client.get(f"{URL}/event-types", headers=admin.headers)).json()
    assert "item.quantity_changed" in types
    assert "*" in types
    deleted = await client.delete(f"{URL}/{body['id']}", headers=admin.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"{URL}/{body['id']}/deliveries", headers=admin.headers)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "webhook_not_found"
    assert await _count(db) == 0


@pytest.mark.parametrize(
    ("body", "code", "loc"),
    [
        ({"url": GOOD, "event_types": ["item.exploded"]}, "validation_error", "event_types"),
        ({"url": GOOD, "event_types": []}, "validation_error", "event_types"),
        ({"url": GOOD}, "validation_error", "event_types"),
        ({"url": "ftp://127.0.0.1/x", "event_types": ["*"]}, "webhook_url_refused", "url"),
        ({"url": "http://u:p@127.0.0.1/", "event_types": ["*"]}, "webhook_url_refused", "url"),
        ({"url": "not a url", "event_types": ["*"]}, "webhook_url_refused", "url"),
        ({"url": "http://127.0.0.1:99999/", "event_types": ["*"]}, "webhook_url_refused", "url"),
        ({"url": GOOD, "event_types": ["*"], "item_types": ["rocket"]}, "validation_error",
         "item_types"),
        ({"url": GOOD, "event_types": ["*"], "location": "NOWHERE"}, "validation_error",
         "location"),
    ],
)  # fmt: skip
async def test_bad_registrations_are_422_and_write_nothing(
    client: httpx.AsyncClient, admin: AppLogin, db: Database, body: Any, code: str, loc: str
) -> None:
    response = await client.post(URL, json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert loc in {str(part) for problem in error["details"] for part in problem["loc"]}
    assert await _count(db) == 0


async def test_only_holders_of_webhooks_manage_may_use_it(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    hook = await register(client, admin, GOOD)
    await create_user(db, "sam", "supervisor")
    supervisor = await login(client, "sam")
    for method, path in [
        ("GET", URL), ("POST", URL), ("GET", f"{URL}/{hook['id']}"),
        ("PATCH", f"{URL}/{hook['id']}"), ("DELETE", f"{URL}/{hook['id']}"),
        ("POST", f"{URL}/{hook['id']}/test"), ("POST", f"{URL}/{hook['id']}/rotate-secret"),
        ("GET", f"{URL}/{hook['id']}/deliveries"),
    ]:  # fmt: skip
        response = await client.request(method, path, json={}, headers=supervisor.headers)
        assert response.status_code == 403, (method, path)
        assert (await client.request(method, path)).status_code == 401, (method, path)
    assert await _count(db) == 1


async def test_refusals_on_deliveries(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    hook = await register(client, admin, GOOD, enabled=False)
    base = f"{URL}/{hook['id']}"
    refused = await client.post(f"{base}/test", headers=admin.headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "webhook_disabled"
    missing = await client.get(f"{base}/deliveries/12345", headers=admin.headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "delivery_not_found"
    bad_range = await client.post(f"{base}/redeliver", json={}, headers=admin.headers)
    assert bad_range.status_code == 422
    no_zone = await client.post(
        f"{base}/redeliver", json={"since": "2026-01-01T00:00:00"}, headers=admin.headers
    )
    assert no_zone.status_code == 422
    bad_status = await client.get(f"{base}/deliveries?status=lost", headers=admin.headers)
    assert bad_status.status_code == 422
    bad_cursor = await client.get(f"{base}/deliveries?cursor=zzz", headers=admin.headers)
    assert bad_cursor.status_code == 400
