"""The item page, and where a phone lands when it reads a label."""

import httpx

from qtrack.core.db import Database
from tests.factories.accounts import create_user, csrf_of, login, web_login


async def test_a_scanned_label_leads_to_the_item_through_login(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "op", "operator")
    app_login = await login(client, "op")
    created = await client.post(
        "/api/v1/items",
        json={"type": "material", "name": "Talc", "batch": "T-9"},
        headers=app_login.headers,
    )
    code = created.json()["items"][0]["code"]
    label = (await client.get(f"/api/v1/items/{code}/label", headers=app_login.headers)).json()
    path = label["url"].split("8000", 1)[1]  # what the phone opens, on this test server

    anonymous = await client.get(path)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=%2FQ%2F")

    await web_login(client, "op")
    landed = await client.get(path)
    assert landed.status_code == 303
    assert landed.headers["location"] == f"/items/{code}"
    page = await client.get(landed.headers["location"])
    assert page.status_code == 200
    assert f'data-item-code="{code}"' in page.text
    assert "T-9" in page.text
    assert 'data-event-seq="1"' in page.text
    assert 'data-action="quarantine"' in page.text


async def test_replaced_and_forged_labels_say_so(client: httpx.AsyncClient, db: Database) -> None:
    await create_user(db, "op", "operator")
    app_login = await login(client, "op")
    code = (
        await client.post("/api/v1/items", json={"type": "bag"}, headers=app_login.headers)
    ).json()["items"][0]["code"]
    old = (await client.get(f"/api/v1/items/{code}/label", headers=app_login.headers)).json()[
        "token"
    ]
    await client.post(f"/api/v1/items/{code}/labels", headers=app_login.headers)
    await web_login(client, "op")
    replaced = await client.get(f"/Q/{old}")
    assert replaced.status_code == 410
    assert 'data-label-status="revoked"' in replaced.text
    forged = await client.get("/Q/" + "A" * 120)
    assert forged.status_code == 404
    assert 'data-label-status="' in forged.text
    missing = await client.get("/items/MAT-424242")
    assert missing.status_code == 404


async def test_a_refused_action_shows_the_item_again_with_why(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "op", "operator")
    app_login = await login(client, "op")
    created = await client.post(
        "/api/v1/items", json={"type": "material"}, headers=app_login.headers
    )
    code = created.json()["items"][0]["code"]
    await web_login(client, "op")
    page = await client.get(f"/items/{code}")
    refused = await client.post(
        f"/items/{code}/transitions",
        data={"transition": "start_test", "csrf_token": csrf_of(page.text)},
    )
    assert refused.status_code == 409
    assert 'id="action-error"' in refused.text
    assert "is not possible from" in refused.text
    assert 'data-chain="intact"' in refused.text
    assert 'data-action="quarantine"' in refused.text  # what may be done instead
    events = await client.get(f"/api/v1/items/{code}/events", headers=app_login.headers)
    assert [e["type"] for e in events.json()["items"]] == ["created"]


async def test_quantities_read_the_same_on_every_page(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "boss", "admin")
    admin = await login(client, "boss")
    for path, body in (
        ("/api/v1/locations", {"code": "LAB", "name": "Lab", "kind": "zone"}),
        (
            "/api/v1/item-types",
            {"key": "buffer", "name": "Buffer", "code_prefix": "BUF", "workflow": "supply",
             "unit": "mL", "tracks_quantity": True, "low_stock_threshold": "1000"},
        ),
    ):  # fmt: skip
        assert (await client.post(path, json=body, headers=admin.headers)).status_code == 201
    codes = []
    for body in (
        {"type": "material", "quantity": "20", "weight_kg": "20.5", "location": "LAB"},
        {"type": "buffer", "quantity": "500", "location": "LAB"},
    ):
        created = await client.post("/api/v1/items", json=body, headers=admin.headers)
        codes.append(created.json()["items"][0]["code"])
    await web_login(client, "boss")
    for path, shown in (
        ("/items", ["20 kg", "500 mL"]),
        ("/locations/LAB", ["20 kg", "500 mL"]),
        (f"/items/{codes[0]}", ["<dd>20 kg</dd>", "<dd>20.5 kg</dd>"]),
        (f"/items/{codes[1]}", ["<dd>500 mL</dd>"]),
        ("/", ["500 mL"]),  # low stock
    ):
        page = await client.get(path)
        assert page.status_code == 200, path
        for text in shown:
            assert text in page.text, (path, text)
        assert "E+" not in page.text, path  # no scientific notation anywhere
        assert "20.000000" not in page.text, path
