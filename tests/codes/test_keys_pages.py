"""The signing keys admin page: list, rotate (old labels keep verifying), retire (they stop)."""

import re

import httpx
from sqlalchemy import select

from qtrack.accounts.models import SecurityEvent
from qtrack.core.db import Database
from qtrack.signing.models import SigningKey
from tests.factories.accounts import AppLogin, csrf_of, signed_in
from tests.factories.items import register

BASE = "/admin/keys"


async def _admin(client: httpx.AsyncClient, db: Database) -> str:
    """Sign the browser in as an admin; returns the session's CSRF token."""
    await signed_in(client, db, "boss", "admin")
    return csrf_of((await client.get(BASE)).text)


async def _label_url(client: httpx.AsyncClient, who: AppLogin) -> str:
    """A new item's label, signed with the key active now."""
    code = (await register(client, who))["code"]
    url: str = (await client.get(f"/api/v1/items/{code}/label", headers=who.headers)).json()["url"]
    return url


async def _verdict(client: httpx.AsyncClient, who: AppLogin, url: str) -> str:
    response = await client.post("/api/v1/codes/verify", json={"data": url}, headers=who.headers)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


async def _statuses(db: Database) -> list[tuple[int, str]]:
    async with db.session_scope("read") as session:
        rows = await session.execute(select(SigningKey.id, SigningKey.status).order_by("id"))
        return [(key_id, status) for key_id, status in rows]


def _shown(html: str) -> list[tuple[int, str]]:
    """The keys the page lists, newest first, with their status."""
    found = re.findall(r'data-key-id="(\d+)" data-key-status="(\w+)"', html)
    return [(int(key_id), status) for key_id, status in found]


async def test_the_page_lists_keys_with_their_public_halves(
    client: httpx.AsyncClient, db: Database, qa: AppLogin
) -> None:
    await _admin(client, db)
    empty = await client.get(BASE)
    assert empty.status_code == 200
    assert 'id="no-keys"' in empty.text
    assert "Create the first key" in empty.text

    await _label_url(client, qa)  # the first label creates the first key
    page = await client.get(BASE)
    [published] = (await client.get("/api/v1/keys")).json()
    assert _shown(page.text) == [(published["kid"], "active")]
    assert f'<code class="public-key">{published["public_key"]}</code>' in page.text
    assert re.search(r'<code class="fingerprint">[0-9a-f]{4}(:[0-9a-f]{4}){3}</code>', page.text)
    assert "The active key cannot be retired" in page.text
    assert "/retire" not in page.text  # nothing can be retired yet
    assert "private" not in page.text.lower()


async def test_rotate_then_retire_as_the_page_says(
    client: httpx.AsyncClient, db: Database, qa: AppLogin
) -> None:
    csrf = await _admin(client, db)
    old_url = await _label_url(client, qa)
    [(old_id, _)] = await _statuses(db)

    rotated = await client.post(f"{BASE}/rotate", data={"csrf_token": csrf})
    assert rotated.status_code == 303
    new_id = old_id + 1
    assert rotated.headers["location"] == f"{BASE}?rotated={new_id}"
    page = await client.get(rotated.headers["location"])
    assert f"Key {new_id} now signs new labels" in page.text
    assert _shown(page.text) == [(new_id, "active"), (old_id, "verifying")]
    assert f'action="{BASE}/{old_id}/retire"' in page.text
    assert f'action="{BASE}/{new_id}/retire"' not in page.text

    new_url = await _label_url(client, qa)
    assert new_url != old_url
    assert await _verdict(client, qa, old_url) == "valid"
    assert await _verdict(client, qa, new_url) == "valid"

    retired = await client.post(
        f"{BASE}/{old_id}/retire", data={"csrf_token": csrf, "confirm": "yes"}
    )
    assert retired.status_code == 303
    page = await client.get(retired.headers["location"])
    assert f"Key {old_id} is retired. Labels signed with it now answer retired_key." in page.text
    assert _shown(page.text) == [(new_id, "active"), (old_id, "retired")]
    assert await _verdict(client, qa, old_url) == "retired_key"
    assert await _verdict(client, qa, new_url) == "valid"

    async with db.session_scope("read") as session:
        logged = (
            await session.execute(
                select(SecurityEvent.kind, SecurityEvent.username, SecurityEvent.details)
                .where(SecurityEvent.kind.like("signing_key_%"))
                .order_by(SecurityEvent.id)
            )
        ).all()
    assert [tuple(row) for row in logged] == [
        ("signing_key_rotated", "boss", {"key_id": new_id, "previous_key_ids": [old_id]}),
        ("signing_key_retired", "boss", {"key_id": old_id}),
    ]


async def test_the_active_key_and_unconfirmed_retirements_are_refused(
    client: httpx.AsyncClient, db: Database, qa: AppLogin
) -> None:
    csrf = await _admin(client, db)
    url = await _label_url(client, qa)
    [(only_id, _)] = await _statuses(db)

    refused = await client.post(
        f"{BASE}/{only_id}/retire", data={"csrf_token": csrf, "confirm": "yes"}
    )
    assert refused.status_code == 409
    assert f"Key {only_id} is the active key" in refused.text
    assert "Rotate first" in refused.text
    assert await _statuses(db) == [(only_id, "active")]

    await client.post(f"{BASE}/rotate", data={"csrf_token": csrf})
    unconfirmed = await client.post(f"{BASE}/{only_id}/retire", data={"csrf_token": csrf})
    assert unconfirmed.status_code == 422
    error = re.search(
        rf'id="confirm-{only_id}" aria-invalid="true" aria-describedby="e-confirm-{only_id}"',
        unconfirmed.text,
    )
    assert error, unconfirmed.text
    assert f'<p class="field-error" id="e-confirm-{only_id}">Tick the box' in unconfirmed.text
    assert await _statuses(db) == [(only_id, "verifying"), (only_id + 1, "active")]
    assert await _verdict(client, qa, url) == "valid"

    missing = await client.post(f"{BASE}/999/retire", data={"csrf_token": csrf, "confirm": "yes"})
    assert missing.status_code == 404
    assert "No key 999" in missing.text
    garbage = await client.post(f"{BASE}/x/retire", data={"csrf_token": csrf, "confirm": "yes"})
    assert garbage.status_code == 422


async def test_operators_and_forged_forms_change_no_key(
    client: httpx.AsyncClient, db: Database, qa: AppLogin
) -> None:
    csrf = await _admin(client, db)
    await _label_url(client, qa)
    await client.post(f"{BASE}/rotate", data={"csrf_token": csrf})
    before = await _statuses(db)
    old_id = before[0][0]
    forged = {"csrf_token": "f" * len(csrf), "confirm": "yes"}
    for path in (f"{BASE}/rotate", f"{BASE}/{old_id}/retire"):
        response = await client.post(path, data=forged)
        assert response.status_code == 403, path
        assert 'data-error-code="csrf_failed"' in response.text
        assert (await client.post(path, data={"confirm": "yes"})).status_code == 403
    assert await _statuses(db) == before

    await signed_in(client, db, "olga", "operator")
    own_csrf = csrf_of((await client.get("/")).text)
    page = await client.get(BASE)
    assert page.status_code == 403
    assert 'data-error-code="permission_denied"' in page.text
    for path in (f"{BASE}/rotate", f"{BASE}/{old_id}/retire"):
        response = await client.post(path, data={"csrf_token": own_csrf, "confirm": "yes"})
        assert response.status_code == 403, path
    assert await _statuses(db) == before
