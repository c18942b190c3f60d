"""Request ids, access logs, security headers, CORS and trusted hosts."""

import logging
from typing import Any, cast

import httpx
import pytest
import structlog
from fastapi import FastAPI

from qtrack.accounts.deps import CurrentPrincipal
from qtrack.config import Settings
from qtrack.core.middleware import SECURITY_HEADERS
from tests.conftest import start_app
from tests.factories.accounts import AppLogin


async def _client_for(settings: Settings) -> tuple[httpx.AsyncClient, object]:
    app, lifespan = await start_app(settings)
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver"), lifespan


async def test_request_id_is_echoed_when_safe(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"x-request-id": "scanner-7:abc.1"})
    assert response.headers["x-request-id"] == "scanner-7:abc.1"


@pytest.mark.parametrize("hostile", [b"a b", b"x" * 300, b"<script>", "id\u00e9".encode()])
async def test_unsafe_request_id_is_replaced(client: httpx.AsyncClient, hostile: bytes) -> None:
    response = await client.get("/healthz", headers={b"x-request-id": hostile})
    made = response.headers["x-request-id"]
    assert made.encode() != hostile
    assert len(made) == 32


async def test_request_id_is_made_when_absent(client: httpx.AsyncClient) -> None:
    first = (await client.get("/healthz")).headers["x-request-id"]
    second = (await client.get("/healthz")).headers["x-request-id"]
    assert first != second


@pytest.mark.parametrize("path", ["/healthz", "/", "/api/v1/missing", "/missing"])
async def test_security_headers_on_every_response(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers


async def test_hsts_when_public_url_is_https(settings: Settings) -> None:
    client, lifespan = await _client_for(
        settings.model_copy(update={"public_base_url": "https://qtrack.example.com"})
    )
    async with client:
        response = await client.get("/healthz")
    await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_access_log_has_request_fields(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qtrack.access")
    response = await client.get("/healthz", headers={"x-request-id": "log-me"})
    records = [r for r in caplog.records if r.name == "qtrack.access"]
    assert records
    entry = records[-1].msg
    assert isinstance(entry, dict)
    assert entry["event"] == "request"
    assert entry["method"] == "GET"
    assert entry["route"] == "/healthz"
    assert entry["status"] == response.status_code == 200
    assert entry["duration_ms"] >= 0
    assert "user" in entry
    assert entry["request_id"] == "log-me"


async def test_log_lines_made_while_serving_carry_the_request_and_its_user(
    app: FastAPI, client: httpx.AsyncClient, operator: AppLogin, caplog: pytest.LogCaptureFixture
) -> None:
    probe_log = structlog.get_logger("qtrack.probe")

    @app.get("/api/v1/_probe/log")
    async def probe(principal: CurrentPrincipal) -> dict[str, str]:
        probe_log.warning("probed", detail="inside")
        return {}

    caplog.set_level(logging.WARNING, logger="qtrack.probe")
    headers = {**operator.headers, "x-request-id": "probe-1"}
    assert (await client.get("/api/v1/_probe/log", headers=headers)).status_code == 200
    second = await client.get("/api/v1/_probe/log", headers=operator.headers)
    probe_log.warning("after")

    lines = [r.msg for r in caplog.records if r.name == "qtrack.probe"]
    assert all(isinstance(line, dict) for line in lines)
    first, again, after = cast(list[dict[str, Any]], lines)
    assert [first["event"], again["event"], after["event"]] == ["probed", "probed", "after"]
    assert first["request_id"] == "probe-1"
    assert first["user"] == "olga"
    assert first["detail"] == "inside"
    assert again["request_id"] == second.headers["x-request-id"]
    # Nothing of a request stays behind it for the next one, or for what runs after.
    assert "request_id" not in after
    assert "user" not in after


async def test_cors_is_off_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_cors_allows_configured_origins_only(settings: Settings) -> None:
    client, lifespan = await _client_for(
        settings.model_copy(update={"cors_origins": ["https://erp.example"]})
    )
    async with client:
        ok = await client.get("/healthz", headers={"origin": "https://erp.example"})
        other = await client.get("/healthz", headers={"origin": "https://evil.example"})
    await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]
    assert ok.headers["access-control-allow-origin"] == "https://erp.example"
    assert "access-control-allow-origin" not in other.headers


async def test_untrusted_host_is_refused(settings: Settings) -> None:
    client, lifespan = await _client_for(
        settings.model_copy(update={"trusted_hosts": ["qtrack.example.com"]})
    )
    async with client:
        bad = await client.get("/healthz")
        good = await client.get("/healthz", headers={"host": "qtrack.example.com"})
    await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]
    assert bad.status_code == 400
    assert bad.headers["x-request-id"]
    assert good.status_code == 200


async def test_api_docs_served_locally(client: httpx.AsyncClient) -> None:
    page = await client.get("/api/docs")
    assert page.status_code == 200
    assert "/api/docs/assets/swagger-ui-bundle.js" in page.text
    assert "<script>" not in page.text  # no inline script under our CSP
    asset = await client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    spec = await client.get("/api/openapi.json")
    assert spec.json()["info"]["title"] == "qtrack"
