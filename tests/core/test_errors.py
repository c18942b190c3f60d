"""The error contract: one JSON shape under /api, an HTML page elsewhere, never a leaked trace."""

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from qtrack.config import Settings
from qtrack.core.errors import Conflict
from tests.conftest import start_app


class Echo(BaseModel):
    name: str = Field(min_length=1)
    count: int


def add_probe_routes(app: FastAPI) -> None:
    """Routes that exist only in these tests, to provoke each kind of error."""

    @app.post("/api/v1/_probe/echo")
    async def echo(body: Echo) -> Echo:
        return body

    @app.get("/api/v1/_probe/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    @app.get("/_probe/boom")
    async def boom_page() -> None:
        raise RuntimeError("secret internals")

    @app.get("/api/v1/_probe/conflict")
    async def conflict() -> None:
        raise Conflict("Already released", details={"status": "released"})


@pytest.fixture
async def probe(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app, lifespan = await start_app(settings.model_copy(update={"max_request_bytes": 2048}))
    add_probe_routes(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await lifespan.__aexit__(None, None, None)


def assert_error_shape(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body  # type: ignore[no-any-return]


async def test_unknown_api_route_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/no-such-thing")
    assert_error_shape(response, 404, "not_found")


async def test_unknown_page_is_html_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-such-page", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert 'data-error-code="not_found"' in response.text
    assert response.headers["x-request-id"] in response.text


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    response = await client.post("/healthz")
    assert_error_shape(response, 405, "method_not_allowed")


async def test_domain_error_carries_status_code_and_details(probe: httpx.AsyncClient) -> None:
    body = assert_error_shape(await probe.get("/api/v1/_probe/conflict"), 409, "conflict")
    assert body["error"] == {
        "code": "conflict",
        "message": "Already released",
        "details": {"status": "released"},
    }


async def test_validation_error_names_the_failing_fields(probe: httpx.AsyncClient) -> None:
    response = await probe.post("/api/v1/_probe/echo", json={"name": "", "count": "many"})
    body = assert_error_shape(response, 422, "validation_error")
    failing = {tuple(d["loc"]) for d in body["error"]["details"]}  # type: ignore[index]
    assert failing == {("body", "name"), ("body", "count")}


@pytest.mark.parametrize(
    "payload",
    [b"{not json", b'{"name": "x", "count": 1', b"\xff\xfe\x00", b"[1, 2", b""],
)
async def test_malformed_json_is_422_not_500(probe: httpx.AsyncClient, payload: bytes) -> None:
    response = await probe.post(
        "/api/v1/_probe/echo", content=payload, headers={"content-type": "application/json"}
    )
    assert_error_shape(response, 422, "validation_error")


async def test_wrong_json_type_is_422(probe: httpx.AsyncClient) -> None:
    response = await probe.post("/api/v1/_probe/echo", json=["a", "list"])
    assert_error_shape(response, 422, "validation_error")


async def test_body_over_limit_is_413(probe: httpx.AsyncClient) -> None:
    response = await probe.post("/api/v1/_probe/echo", json={"name": "x" * 5000, "count": 1})
    body = assert_error_shape(response, 413, "payload_too_large")
    assert body["error"]["details"] == {"max_bytes": 2048}  # type: ignore[index]


async def test_streamed_body_over_limit_is_413(probe: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    response = await probe.post(
        "/api/v1/_probe/echo", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error_shape(response, 413, "payload_too_large")


async def test_body_under_limit_passes(probe: httpx.AsyncClient) -> None:
    response = await probe.post("/api/v1/_probe/echo", json={"name": "lot", "count": 3})
    assert response.status_code == 200
    assert response.json() == {"name": "lot", "count": 3}


async def test_unexpected_error_is_500_without_internals(
    probe: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="qtrack.errors")
    response = await probe.get("/api/v1/_probe/boom", headers={"x-request-id": "req-42"})
    body = assert_error_shape(response, 500, "internal_error")
    assert body["request_id"] == "req-42"
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    logged = [r for r in caplog.records if r.name == "qtrack.errors"]
    assert logged, "the unexpected error must be logged"
    assert logged[0].exc_info is not None
    assert "hunter2" in str(logged[0].exc_info[1])


async def test_unexpected_error_on_a_page_is_an_html_500(probe: httpx.AsyncClient) -> None:
    response = await probe.get("/_probe/boom", headers={"accept": "text/html"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "secret internals" not in response.text
    assert response.headers["x-request-id"] in response.text
