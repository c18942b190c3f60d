"""The API answers as its OpenAPI document says: a bounded, deterministic schemathesis pass.

Every operation of the document gets generated requests, valid and invalid, some naming
things that exist, sent as an administrator, as an operator and as nobody to a real app on
SQLite and on PostgreSQL (each backend's database seeded once and put back before each
operation). Every answer must be no server error, with a status code, a media type and a body
that the document lists for that operation, and an error's code must be one the document
names under that status.
"""

import asyncio
import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core import NOT_SET
from schemathesis.python.asgi import get_client, shutdown_lifespans

from qtrack.app import create_app
from qtrack.config import Settings
from qtrack.core.db import Database
from qtrack.labels import qr
from tests.conftest import BACKENDS, make_settings
from tests.databases import PostgresTemplates, Snapshot, SqliteTemplates, unavailable
from tests.factories.accounts import AppLogin, bearer, create_token, create_user

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
]
# Generated requests per operation: enough to reach the answers an operation documents, few
# enough that the whole pass stays well under a minute on two cores.
MAX_EXAMPLES = 10

CONFIG = schemathesis.Config.from_dict(
    {"checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}}}
)


def _document() -> dict[str, Any]:
    """The OpenAPI document of an app that is built but not started (it needs no database)."""
    return create_app(make_settings("sqlite+aiosqlite://")).openapi()


# Loaded when the module is collected, so that each operation is a test of its own.
schema = schemathesis.openapi.from_dict(_document(), config=CONFIG)
PATHS: dict[str, dict[str, Any]] = schema.raw_schema["paths"]
OPERATIONS = [(method.upper(), path) for path, methods in PATHS.items() for method in methods]

# Bodies that name what exists, for the writes whose success the random ones never reach.
BODIES = {
    ("POST", "/api/v1/items"): {"type": "material", "location": "DOCK"},
    ("POST", "/api/v1/items/{code}/move"): {"location": "DOCK"},
}

# The decoder reads images, not JSON: a QR code it can read, and bytes that only look like one.
_QR_PNG = qr.render_png("https://qtrack.example/l/contract", scale=4, border=4, ec="M")
_IMAGES = st.sampled_from([_QR_PNG, _QR_PNG[:200], b"\xff\xd8\xff\xe0 not really a JPEG", b""])
for _media in ("image/png", "image/jpeg", "image/webp"):
    schemathesis.openapi.media_type(_media, _IMAGES)


def documented_codes(method: str, path: str, status: int) -> list[str] | None:
    """The error codes the document names for this status of this operation, or None when it
    does not list the status at all."""
    documented = PATHS[path][method.lower()]["responses"].get(str(status))
    if documented is None:
        return None
    return re.findall(r"`([a-z0-9_]+)`", documented.get("description", ""))


def error_code_is_documented(
    ctx: schemathesis.CheckContext,
    response: schemathesis.Response,
    case: schemathesis.Case[Any],
) -> bool | None:
    """An error's stable code is one the document names under its status."""
    if response.status_code < 400:
        return None
    codes = documented_codes(case.operation.method, case.operation.path, response.status_code) or []
    code = json.loads(response.content)["error"]["code"]
    if code not in codes:
        raise AssertionError(
            f"Undocumented error code {code!r} for {response.status_code}; documented: {codes}"
        )
    return None


@dataclass
class ContractApi:
    """An app whose database each test puts back to the same seeded state."""

    app: FastAPI
    restore: Callable[[], None]  # the seeded state back, before each test
    callers: list[dict[str, str]] = field(default_factory=list)
    # Parameters that name something that exists, by the path's first segment.
    known: dict[str, dict[str, Any]] = field(default_factory=dict)


async def _people(settings: Settings) -> tuple[str, str, int]:
    """An administrator and an operator with an API token each: both raw tokens, and the
    operator token's id (a token the pass may revoke without locking itself out)."""
    db = Database(settings)
    try:
        await create_user(db, "boss", "admin")
        await create_user(db, "olga", "operator")
        _, admin = await create_token(db, "boss", name="contract admin")
        operator_id, operator = await create_token(db, "olga", name="contract operator")
    finally:
        await db.dispose()
    return admin, operator, operator_id


def _seed(app: FastAPI, admin: dict[str, str]) -> dict[str, Any]:
    """A location and a labelled item with GS1 data, so the image routes have something to
    draw; returns the item's code and id."""
    # (schemathesis types an ASGI app's messages as dicts, Starlette as mappings)
    with get_client(cast(Any, app)) as client:
        client.headers.update(admin)
        location = client.post(
            "/api/v1/locations", json={"code": "DOCK", "name": "Dock", "kind": "site"}
        )
        assert location.status_code == 201, location.text
        created = client.post(
            "/api/v1/items", json={"type": "material", "location": "DOCK", "gtin": "09506000134352"}
        )
        assert created.status_code == 201, created.text
        item: dict[str, Any] = created.json()["items"][0]
        if client.get(f"/api/v1/items/{item['code']}/label").status_code == 404:
            issued = client.post(f"/api/v1/items/{item['code']}/labels")
            assert issued.status_code == 201, issued.text
    return item


@pytest.fixture(scope="module", params=BACKENDS)
def contract_api(
    request: pytest.FixtureRequest,
    sqlite_templates: SqliteTemplates,
    postgres_templates: PostgresTemplates | str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ContractApi]:
    """The app, its seeded database (on each backend), and who calls it."""
    work = Path(tmp_path_factory.mktemp("contract"))
    clone: str | None = None
    if request.param == "sqlite":
        url = sqlite_templates.clone(work)
    elif isinstance(postgres_templates, str):
        unavailable("postgres", postgres_templates)
        return
    elif not postgres_templates.reusable:
        pytest.skip("putting the seeded database back before each test needs a superuser")
    else:
        clone, url = asyncio.run(postgres_templates.clone())
    # The pass sends hundreds of requests a minute from one token; that limit is not under test.
    settings = make_settings(url, api_rate_limit_per_minute=1_000_000)
    admin, operator, operator_token_id = asyncio.run(_people(settings))
    app = create_app(settings)
    assert app.openapi() == schema.raw_schema
    item = _seed(app, bearer(admin))
    shutdown_lifespans()  # the database is closed, and whole, before it is copied
    if clone is None:
        database, seeded = work / "qtrack.db", work / "seeded.db"
        shutil.copyfile(database, seeded)

        def restore() -> None:
            for leftover in ("-wal", "-shm"):
                database.with_name(database.name + leftover).unlink(missing_ok=True)
            shutil.copyfile(seeded, database)

    else:
        snapshot = Snapshot(url)
        asyncio.run(snapshot.take())

        def restore() -> None:
            asyncio.run(snapshot.restore())

    yield ContractApi(
        app=app,
        restore=restore,
        callers=[bearer(admin), bearer(operator), {}],
        known={
            "items": {"code": item["code"], "item_id": item["id"]},
            "locations": {"code": "DOCK"},
            "item-types": {"key": "material"},
            "workflows": {"key": "material"},
            "label-templates": {"key": "a4-21"},
            "users": {"username": "olga"},
            "roles": {"key": "operator"},
            "tokens": {"token_id": operator_token_id},
            "labels.pdf": {"items": item["code"], "locations": "DOCK"},
            "labels.zpl": {"items": item["code"], "locations": "DOCK"},
        },
    )
    if clone is not None and not isinstance(postgres_templates, str):
        asyncio.run(postgres_templates.drop(clone))


@pytest.fixture
def api(contract_api: ContractApi) -> Iterator[ContractApi]:
    """The app on its seeded database as it was, so that each operation's requests run on the
    same state whatever ran before (and on whichever xdist worker)."""
    contract_api.restore()
    yield contract_api
    shutdown_lifespans()


def _requests(api: ContractApi, method: str, path: str) -> st.SearchStrategy[Any]:
    """Generated requests for one operation: valid, invalid, and valid about what exists."""
    operation = schema[path][method]
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    known = api.known.get(path.removeprefix("/api/v1/").split("/")[0], {})
    in_path = {k: v for k, v in known.items() if k in {p.name for p in operation.path_parameters}}
    in_query = {k: v for k, v in known.items() if k in {p.name for p in operation.query}}
    body = BODIES.get((method, path), NOT_SET)
    if in_path or in_query or body is not NOT_SET:
        strategies.append(
            operation.as_strategy(
                GenerationMode.POSITIVE,
                path_parameters=in_path or None,
                query=in_query or None,
                body=body,
            )
        )
    return st.one_of(strategies)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_api_answers_as_documented(method: str, path: str, api: ContractApi) -> None:
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=_requests(api, method, path), caller=st.sampled_from(api.callers))
    def answers_as_documented(case: schemathesis.Case[Any], caller: dict[str, str]) -> None:
        case.call_and_validate(
            app=api.app, headers=caller, additional_checks=[error_code_is_documented]
        )

    answers_as_documented()


def test_errors_are_documented_as_the_envelope_and_files_as_what_they_are() -> None:
    """Every error answer is documented as the one error envelope (never FastAPI's own 422
    shape), and images, label sheets and ZPL as their own media types, not JSON."""
    for path, methods in PATHS.items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and path != "/readyz":
                    assert response["content"] == {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ErrorEnvelope"}
                        }
                    }, (method, path, status)
    assert "HTTPValidationError" not in schema.raw_schema["components"]["schemas"]

    def media(path: str) -> set[str]:
        return set(PATHS[path]["get"]["responses"]["200"]["content"])

    assert media("/api/v1/items/{code}/qr.{kind}") == {"image/png", "image/svg+xml"}
    assert media("/api/v1/locations/{code}/qr.{kind}") == {"image/png", "image/svg+xml"}
    assert media("/api/v1/items/{code}/datamatrix.png") == {"image/png"}
    assert media("/api/v1/labels.pdf") == {"application/pdf"}
    assert media("/api/v1/labels.zpl") == {"text/plain"}
    assert "304" in PATHS["/api/v1/items/{code}/qr.{kind}"]["get"]["responses"]


async def test_no_content_answers_carry_no_media_type(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    token_id, _ = await create_token(db, "boss")
    revoked = await client.delete(f"/api/v1/tokens/{token_id}", headers=admin.headers)
    assert revoked.status_code == 204
    assert revoked.content == b""
    assert "content-type" not in revoked.headers
    logged_out = await client.post("/api/v1/auth/logout", headers=admin.headers)
    assert logged_out.status_code == 204
    assert "content-type" not in logged_out.headers


# Answers that a longer pass (MAX_EXAMPLES = 150) reached and the bounded one does not: each
# must be an answer the document lists, with its error code (and none a 500). The path as
# documented, and the request as sent.
_BOUNDARY = "d7298e603ed123e75063b17c1a754d15"
FOUND_BY_LONGER_PASSES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("GET", "/api/v1/reports/daily", "/api/v1/reports/daily?site=NOWHERE", {}),
    ("GET", "/api/v1/reports/daily.csv", "/api/v1/reports/daily.csv?site=NOWHERE", {}),
    ("GET", "/api/v1/reports/daily.pdf", "/api/v1/reports/daily.pdf?site=NOWHERE", {}),
    (
        "GET",
        "/api/v1/webhooks/{webhook_id}/deliveries",
        "/api/v1/webhooks/1/deliveries?cursor=null",
        {},
    ),
    (
        "POST",
        "/api/v1/imports",
        "/api/v1/imports?kind=item_types",
        {
            "data": f"--{_BOUNDARY}\r\n[{{}}, []]--{_BOUNDARY}--\r\n".encode(),
            "headers": {"Content-Type": f"multipart/form-data; boundary={_BOUNDARY}"},
        },
    ),
    # "¹" is a digit to str.isdigit() and not to int(): these were 500s.
    ("GET", "/api/v1/orders/{code}", "/api/v1/orders/%C2%B91", {}),
    ("POST", "/api/v1/orders/{code}/cancel", "/api/v1/orders/%C2%B91/cancel", {"json": {}}),
    ("GET", "/api/v1/shipments/{ref}", "/api/v1/shipments/%C2%B91", {}),
    ("GET", "/api/v1/epcis/events", "/api/v1/epcis/events?perPage=%C2%B2", {}),
]


@pytest.mark.parametrize(
    ("method", "path", "url", "sent"),
    FOUND_BY_LONGER_PASSES,
    ids=[f"{m} {u}" for m, _, u, _ in FOUND_BY_LONGER_PASSES],
)
def test_what_longer_passes_found_is_answered_as_documented(
    method: str, path: str, url: str, sent: dict[str, Any], api: ContractApi
) -> None:
    with get_client(cast(Any, api.app)) as client:
        client.headers.update(api.callers[0])  # the administrator may do all of these
        response = client.request(method, url, **sent)
    assert 400 <= response.status_code < 500, response.text
    codes = documented_codes(method, path, response.status_code)
    assert codes is not None, f"{response.status_code} is not documented for {path}"
    assert response.json()["error"]["code"] in codes, (response.json(), codes)
