"""The parts of the installable app that need no browser: worker, manifest, page guards."""

import httpx
from fastapi import FastAPI
from tests.factories import create_user, web_login

from qtrack.core.db import Database


async def test_service_worker_is_served_from_the_root(client: httpx.AsyncClient) -> None:
    response = await client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["service-worker-allowed"] == "/"
    body = response.text
    assert "__QTRACK_CACHE_VERSION__" not in body
    assert '"/static/js/scan.js"' in body
    assert '"/scan"' in body


async def test_manifest_starts_at_the_scan_screen(client: httpx.AsyncClient) -> None:
    response = await client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/manifest+json"
    manifest = response.json()
    assert manifest["start_url"] == "/scan"
    assert manifest["display"] == "standalone"
    for icon in manifest["icons"]:
        assert (await client.get(icon["src"])).status_code == 200


async def test_every_shell_asset_exists(app: FastAPI, client: httpx.AsyncClient) -> None:
    from qtrack.web.pwa import SHELL_ASSETS

    for path in SHELL_ASSETS:
        assert (await client.get(path)).status_code == 200, path


async def test_pages_render_for_an_operator(client: httpx.AsyncClient, db: Database) -> None:
    await create_user(db, "op", "operator")
    await web_login(client, "op")
    for path in ("/", "/scan", "/items", "/items/new", "/locations"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert 'data-csrf="' in response.text
        assert "style=" not in response.text  # the CSP forbids inline styles
        assert "<script>" not in response.text  # and inline scripts
    bad = await client.get("/items", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400
    assert 'role="alert"' in bad.text


async def test_new_item_form_shows_errors_on_the_field(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_user(db, "op", "operator")
    await web_login(client, "op")
    page = await client.get("/items/new")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = await client.post(
        "/items/new",
        data={"csrf_token": token, "type": "material", "gtin": "123", "count": "2"},
    )
    assert response.status_code == 422
    assert 'id="e-gtin"' in response.text
    assert 'aria-invalid="true"' in response.text
    checksum = await client.post(
        "/items/new", data={"csrf_token": token, "type": "material", "gtin": "12345678"}
    )
    assert checksum.status_code == 422
    assert "wrong check digit" in checksum.text
    unknown = await client.post(
        "/items/new", data={"csrf_token": token, "type": "bag", "location": "NOWHERE"}
    )
    assert unknown.status_code == 404
    assert 'id="e-location"' in unknown.text
    created = await client.post(
        "/items/new", data={"csrf_token": token, "type": "bag", "count": "3", "name": "Sacks"}
    )
    assert created.status_code == 201
    assert 'data-created="BAG-000001,BAG-000002,BAG-000003"' in created.text
