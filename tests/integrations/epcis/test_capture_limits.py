"""A capture has limits: events per document and identifiers named in all (413
epcis_capture_limit, with the limit said) and bytes per body (the server-wide 413); nothing
of a refused document is recorded."""

import json

import httpx
import pytest

from qtrack.config import Settings
from qtrack.core.db import Database
from tests.conftest import make_settings
from tests.factories.items import register
from tests.integrations.epcis.test_capture import capture, document, event_count, observe
from tests.items.conftest import Crew


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url, epcis_capture_limit=2, epcis_capture_max_identifiers=3,
        max_request_bytes=8192,
    )  # fmt: skip


async def test_too_many_events(client: httpx.AsyncClient, crew: Crew, db: Database) -> None:
    one = await register(client, crew.admin, type="material", quantity="1")
    uri = f"http://127.0.0.1:8000/id/item/{one['code']}"
    before = await event_count(db)
    refused = await capture(client, crew.admin.headers, document(*[observe(uri)] * 3))
    assert refused.status_code == 413
    error = refused.json()["error"]
    assert error["code"] == "epcis_capture_limit"
    assert error["details"] == {"events": 3, "limit": 2}
    assert await event_count(db) == before
    taken = await capture(client, crew.admin.headers, document(*[observe(uri)] * 2))
    assert taken.status_code == 200
    # The same event twice in one document is recorded once.
    assert len(taken.json()["recorded"]) == 1
    assert len(taken.json()["already_recorded"]) == 1


async def test_too_many_bytes(client: httpx.AsyncClient, crew: Crew, db: Database) -> None:
    before = await event_count(db)
    big = document(observe("urn:x:" + "y" * 9000))
    refused = await capture(client, crew.admin.headers, json.dumps(big).encode())
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "payload_too_large"
    assert await event_count(db) == before


async def test_too_many_identifiers(client: httpx.AsyncClient, crew: Crew, db: Database) -> None:
    uris = [f"http://127.0.0.1:8000/id/item/{n}" for n in ("A", "B", "C", "D")]
    before = await event_count(db)
    refused = await capture(
        client, crew.admin.headers, document(observe(*uris[:2]), observe(*uris[2:]))
    )
    assert refused.status_code == 413
    error = refused.json()["error"]
    assert error["code"] == "epcis_capture_limit"
    assert error["details"] == {"identifiers": 4, "limit": 3}
    assert await event_count(db) == before
    taken = await capture(client, crew.admin.headers, document(observe(*uris[:3])))
    assert taken.status_code == 200, taken.text
