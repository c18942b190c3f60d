"""EPCIS fixtures: a history with every kind of event, and GS1's schema to hold documents to."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft7Validator

from qtrack.integrations.epcis import validation
from tests.factories.items import register
from tests.items.conftest import Crew, crew, site

__all__ = ["crew", "site"]  # fixtures shared with the items tests

DATA = Path(__file__).parent / "data"
SCHEMA_FILE = (
    Path(__file__).parents[3] / "src/qtrack/integrations/epcis/schema/EPCIS-JSON-Schema.json"
)
BASE = "http://127.0.0.1:8000"  # QTRACK_PUBLIC_BASE_URL of the test settings


def gtin(body: str) -> str:
    """A GTIN-14 with its check digit, from 13 digits."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


LOT_GTIN = gtin("0950110153000")
SUPPLY_GTIN = gtin("0400000000012")


def assert_valid(document: Any) -> None:
    """The document is valid EPCIS 2.0: GS1's schema with plain draft 7, and with formats."""
    schema = json.loads(SCHEMA_FILE.read_text())
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in Draft7Validator(schema).iter_errors(document)
    ]
    assert errors == []
    assert validation.problems(document) == []


def example(name: str) -> bytes:
    """One of GS1's example documents, as a partner would send it."""
    return (DATA / name).read_bytes()


@dataclass
class History:
    """Items with a history holding every kind of event qtrack records."""

    lot: str  # material known by GTIN + lot: a class in EPCIS
    plain: str  # material without GTIN: our own URI
    serial: str  # a supply with GTIN + serial: an SGTIN
    bag: str  # a container


async def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def history(client: httpx.AsyncClient, crew: Crew, site: list[str]) -> History:
    """Registrations, a transition, a move, a dispense, packs, an unpack, a seal, an edit and
    an archive, in that order."""
    who = crew.admin.headers
    lot = await register(
        client, crew.admin, type="material", name="Lactose", gtin=LOT_GTIN, batch="L42",
        quantity="25", location="RACK-1", expiry_raw="271130",
    )  # fmt: skip
    plain = await register(client, crew.admin, type="material", quantity="10", location="WH-A")
    serial = await register(
        client, crew.admin, type="supply", gtin=SUPPLY_GTIN, serial="S/1", quantity="100",
        location="WH-A",
    )  # fmt: skip
    bag = await register(client, crew.admin, type="bag", location="WH-B")
    codes = History(str(lot["code"]), str(plain["code"]), str(serial["code"]), str(bag["code"]))

    async def act(path: str, body: dict[str, Any], **headers: str) -> None:
        response = await client.post(f"/api/v1/items/{path}", json=body, headers={**who, **headers})
        await _ok(response)

    await act(f"{codes.lot}/transitions", {"transition": "quarantine"})
    await act(f"{codes.lot}/move", {"location": "WH-A"})
    await act(f"{codes.plain}/quantity", {"kind": "dispense", "amount": "2.5"})
    await act(f"{codes.plain}/pack", {"container": codes.bag})
    await act(f"{codes.lot}/pack", {"container": codes.bag})
    await act(f"{codes.plain}/unpack", {})
    await act(f"{codes.bag}/transitions", {"transition": "seal"})
    read = await client.get(f"/api/v1/items/{codes.serial}", headers=who)
    edited = await client.patch(
        f"/api/v1/items/{codes.serial}",
        json={"name": "Gloves"},
        headers={**who, "If-Match": read.headers["etag"]},
    )
    await _ok(edited)
    await act(f"{codes.serial}/archive", {"reason": "used up"})
    return codes


async def query(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> httpx.Response:
    """GET /api/v1/epcis/events with these parameters."""
    return await client.get("/api/v1/epcis/events", params=params, headers=headers)


async def events_of(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    """The events one page of the query holds (checked to be a valid document)."""
    response = await query(client, headers, perPage=200, **params)
    assert response.status_code == 200, response.text
    document = response.json()
    assert_valid(document)
    events: list[dict[str, Any]] = document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return events
