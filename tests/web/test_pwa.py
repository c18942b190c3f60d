"""The parts of the installable app that need no browser: worker, manifest, page guards."""

import httpx
from fastapi import FastAPI


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
