"""POST /api/v1/epcis/capture: a partner's events land on the histories of the items qtrack
knows, once; what qtrack cannot place is said; a bad document changes nothing."""

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from qtrack.core.db import Database
from qtrack.events.models import Event
from tests.factories.accounts import bearer, create_token
from tests.factories.items import register
from tests.integrations.epcis.conftest import DATA, events_of, example, gtin
from tests.items.conftest import Crew

DIGITAL_LINK_EXAMPLE = "Example_9.6.1-ObjectEventWithDigitalLink.jsonld"
URN_EXAMPLE = "Example_9.6.1-ObjectEvent.jsonld"
PARTNER_GTIN = "70614141123451"  # in GS1's Digital Link example
URN_GTIN = gtin("1061414107346")  # urn:epc:id:sgtin:0614141.107346.*
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]


def query_document(events: list[dict[str, Any]]) -> dict[str, Any]:
    results = {"queryName": "q", "resultsBody": {"eventList": events}}
    return {
        "@context": CONTEXT,
        "type": "EPCISQueryDocument",
        "epcisBody": {"queryResults": results},
    }


QUERY_DOCUMENT = query_document([])  # valid EPCIS, but not something to capture


async def capture(client: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(
        "/api/v1/epcis/capture",
        content=content,
        headers={**headers, "Content-Type": "application/ld+json"},
    )


def document(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-12-01T08:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }


def observe(*epcs: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "eventTime": "2026-12-01T07:30:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": list(epcs),
        **fields,
    }


async def event_count(db: Database) -> int:
    async with db.session_scope("read") as session:
        return int(await session.scalar(select(func.count()).select_from(Event)) or 0)


async def item_history(client: httpx.AsyncClient, crew: Crew, code: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/items/{code}/events", headers=crew.admin.headers)
    assert response.status_code == 200
    return list(reversed(response.json()["items"]))  # oldest first


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.jsonld")))
async def test_gs1_examples_are_taken_and_every_identifier_is_reported(
    client: httpx.AsyncClient, crew: Crew, db: Database, name: str
) -> None:
    before = await event_count(db)
    response = await capture(client, crew.admin.headers, example(name))
    assert response.status_code == 200, response.text
    report = response.json()
    sent = json.loads(example(name))["epcisBody"]["eventList"]
    assert report["events"] == len(sent)
    assert report["recorded"] == report["already_recorded"] == []
    # Every identifier of every event is listed, none dropped.
    mentioned = sum(
        len(e.get("epcList", [])) + len(e.get("childEPCs", [])) + ("parentID" in e)
        + len(e.get("quantityList", [])) + len(e.get("childQuantityList", []))
        for e in sent
    )  # fmt: skip
    assert len(report["unknown"]) == mentioned > 0
    for unknown in report["unknown"]:
        pointed: Any = json.loads(example(name))
        for part in unknown["pointer"].split("/")[1:]:
            pointed = pointed[int(part)] if isinstance(pointed, list) else pointed[part]
        assert pointed == unknown["identifier"]
        assert unknown["reason"] in {"no_item", "not_understood"}
    assert await event_count(db) == before


async def test_reasons_for_what_qtrack_cannot_place(
    client: httpx.AsyncClient, crew: Crew, db: Database
) -> None:
    response = await capture(
        client, crew.admin.headers, example("Example_9.6.3-AggregationEvent.jsonld")
    )
    reasons = {u["identifier"]: u["reason"] for u in response.json()["unknown"]}
    assert reasons == {
        "urn:epc:id:sscc:0614141.1234567890": "not_understood",  # qtrack has no SSCCs
        "urn:epc:id:sgtin:0614141.107346.2017": "no_item",
        "urn:epc:id:sgtin:0614141.107346.2018": "no_item",
        "urn:epc:idpat:sgtin:4012345.098765.*": "no_item",
        "urn:epc:class:lgtin:4012345.012345.998877": "no_item",
    }


async def test_an_item_qtrack_knows_gets_the_partners_events_once(
    client: httpx.AsyncClient, crew: Crew, db: Database
) -> None:
    known = await register(
        client, crew.admin, type="supply", gtin=PARTNER_GTIN, serial="2018", quantity="1"
    )
    code = str(known["code"])
    response = await capture(client, crew.admin.headers, example(DIGITAL_LINK_EXAMPLE))
    assert response.status_code == 200, response.text
    assert response.headers["gs1-epcis-capture-limit"] == "1000"
    assert response.headers["gs1-epcis-version"] == "2.0.0"
    report = response.json()
    assert [(r["event_index"], r["pointer"], r["item"], r["seq"]) for r in report["recorded"]] == [
        (0, "/epcisBody/eventList/0/epcList/1", code, 2),
        (1, "/epcisBody/eventList/1/epcList/0", code, 3),
    ]
    assert report["recorded"][0]["epcis_event_id"].startswith("ni:///sha-256;9fa42e8b")
    assert [(u["pointer"], u["reason"]) for u in report["unknown"]] == [
        ("/epcisBody/eventList/0/epcList/0", "no_item")  # serial 2017: not ours
    ]

    shipped, received = (await item_history(client, crew, code))[1:]
    assert shipped["type"] == received["type"] == "observed"
    assert shipped["actor"] == "boss"  # attributed to the caller
    assert shipped["occurred_at"].startswith("2005-04-04T02:33:31.116")  # -06:00 in UTC
    assert shipped["client_event_id"].startswith("epcis:")
    assert shipped["after"]["biz_step"] == "shipping"
    assert shipped["after"]["disposition"] == "in_transit"
    assert shipped["after"]["read_point"] == "urn:epc:id:sgln:0614141.07346.1234"
    assert shipped["after"]["identifier"] == f"https://id.gs1.org/01/{PARTNER_GTIN}/21/2018"
    assert shipped["after"]["biz_transactions"] == [
        {"type": "po", "bizTransaction": "http://transaction.acme.com/po/12345678"}
    ]
    assert received["after"]["biz_location"] == "urn:epc:id:sgln:0012345.11111.0"
    chain = await client.get(f"/items/{code}", headers=crew.admin.headers)
    assert chain.status_code == 200

    # The same document again: nothing new, and the report says so.
    count = await event_count(db)
    again = (await capture(client, crew.admin.headers, example(DIGITAL_LINK_EXAMPLE))).json()
    assert again["recorded"] == []
    assert [(r["pointer"], r["item"], r["seq"]) for r in again["already_recorded"]] == [
        ("/epcisBody/eventList/0/epcList/1", code, None),
        ("/epcisBody/eventList/1/epcList/0", code, None),
    ]
    assert await event_count(db) == count

    # qtrack's own EPCIS shows them as the partner said them.
    shown = await events_of(
        client, crew.admin.headers, MATCH_anyEPC=f"https://id.gs1.org/01/{PARTNER_GTIN}/21/2018"
    )
    observed = [e for e in shown if e["qtrack:type"] == "observed"]
    assert [(e["bizStep"], e["disposition"]) for e in observed] == [
        ("shipping", "in_transit"), ("receiving", "in_progress"),
    ]  # fmt: skip
    assert observed[1]["readPoint"] == {"id": "urn:epc:id:sgln:0012345.11111.400"}
    assert observed[1]["eventTimeZoneOffset"] == "-06:00"
    found = await events_of(
        client, crew.admin.headers, EQ_bizLocation="urn:epc:id:sgln:0012345.11111.0"
    )
    assert [e["eventID"] for e in found] == [observed[1]["eventID"]]
    verified = await client.get(f"/items/{code}", headers=crew.admin.headers)
    assert "Chain verified: 3 events, intact" in " ".join(verified.text.split())


async def test_epc_urns_name_items_by_their_gtin(client: httpx.AsyncClient, crew: Crew) -> None:
    known = await register(
        client, crew.admin, type="supply", gtin=URN_GTIN, serial="2017", quantity="1"
    )
    report = (await capture(client, crew.admin.headers, example(URN_EXAMPLE))).json()
    assert [(r["pointer"], r["item"]) for r in report["recorded"]] == [
        ("/epcisBody/eventList/0/epcList/0", known["code"])
    ]
    assert len(report["unknown"]) == 2  # 2018, in both events


async def test_an_invalid_document_is_400_with_each_problem_and_records_nothing(
    client: httpx.AsyncClient, crew: Crew, db: Database
) -> None:
    known = await register(
        client, crew.admin, type="supply", gtin=URN_GTIN, serial="7", quantity="1"
    )
    uri = f"https://id.gs1.org/01/{URN_GTIN}/21/7"
    before = await event_count(db)
    bad = document(
        observe(uri),  # fine on its own
        observe(uri, action="LOOK", eventTime="yesterday"),
        {"type": "AggregationEvent", "action": "ADD", "eventTimeZoneOffset": "+25:00"},
    )
    response = await capture(client, crew.admin.headers, bad)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "epcis_document_invalid"
    problems = {(d["pointer"], d["message"]) for d in error["details"]}
    pointers = {p for p, _ in problems}
    assert "/epcisBody/eventList/1/action" in pointers
    assert ("/epcisBody/eventList/1/eventTime", "'yesterday' is not a 'date-time'") in problems
    assert "/epcisBody/eventList/2" in pointers  # eventTime is required
    assert "/epcisBody/eventList/2/eventTimeZoneOffset" in pointers
    assert not any(p.startswith("/epcisBody/eventList/0") for p in pointers)
    assert await event_count(db) == before
    assert len(await item_history(client, crew, str(known["code"]))) == 1


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (b"{not json", ""),
        (b"[]", ""),
        (b"null", ""),
        (json.dumps(QUERY_DOCUMENT).encode(), "/type"),
        (json.dumps({**document(), "schemaVersion": "two"}).encode(), "/schemaVersion"),
    ],
)
async def test_what_is_not_an_epcis_document_is_400(
    client: httpx.AsyncClient, crew: Crew, body: bytes, pointer: str
) -> None:
    response = await capture(client, crew.admin.headers, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "epcis_document_invalid"
    assert pointer in [d["pointer"] for d in error["details"]]


async def test_unplaceable_items_are_said_why(
    client: httpx.AsyncClient, crew: Crew, db: Database
) -> None:
    lot_gtin = gtin("0950110153000")
    for _ in range(2):
        await register(client, crew.admin, type="material", gtin=lot_gtin, batch="L7", quantity="1")
    gone = await register(
        client, crew.admin, type="supply", gtin=URN_GTIN, serial="X", quantity="1"
    )
    archived = await client.post(
        f"/api/v1/items/{gone['code']}/archive", json={"reason": "lost"}, headers=crew.admin.headers
    )
    assert archived.status_code == 200
    one = await register(client, crew.admin, type="material", quantity="1")
    sent = document(
        observe(
            f"http://127.0.0.1:8000/id/item/{one['code']}",
            f"https://id.gs1.org/01/{URN_GTIN}/21/X",
            "http://127.0.0.1:8000/id/item/MAT-999999",
            quantityList=[
                {"epcClass": f"https://id.gs1.org/01/{lot_gtin}/10/L7", "quantity": 3, "uom": "KGM"}
            ],
        )
    )
    report = (await capture(client, crew.admin.headers, sent)).json()
    assert [r["item"] for r in report["recorded"]] == [one["code"]]
    assert {u["identifier"].rsplit("/", 1)[-1]: u["reason"] for u in report["unknown"]} == {
        "X": "archived",
        "MAT-999999": "no_item",
        "L7": "ambiguous",  # two items of that lot
    }


async def test_an_event_without_an_id_is_still_recorded_once(
    client: httpx.AsyncClient, crew: Crew
) -> None:
    one = await register(client, crew.admin, type="material", quantity="1")
    sent = document(
        observe(
            f"http://127.0.0.1:8000/id/item/{one['code']}",
            bizStep="https://ref.gs1.org/cbv/BizStep-inspecting",
            readPoint={"id": "urn:epc:id:sgln:0614141.07346.1234"},
        )
    )
    first = (await capture(client, crew.admin.headers, sent)).json()
    assert len(first["recorded"]) == 1
    assert first["recorded"][0]["epcis_event_id"] is None
    again = (await capture(client, crew.admin.headers, sent)).json()
    assert again["recorded"] == []
    assert len(again["already_recorded"]) == 1
    observed = (await item_history(client, crew, str(one["code"])))[-1]
    assert observed["after"]["biz_step"] == "inspecting"  # the CBV URI as its bare term
    found = await events_of(client, crew.admin.headers, EQ_bizStep="inspecting")
    assert [e["qtrack:type"] for e in found] == ["observed"]
    assert found[0]["readPoint"] == {"id": "urn:epc:id:sgln:0614141.07346.1234"}


async def test_who_may_capture(client: httpx.AsyncClient, crew: Crew, db: Database) -> None:
    sent = example(URN_EXAMPLE)
    for who in (crew.operator, crew.qa, crew.viewer):
        refused = await capture(client, who.headers, sent)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "permission_denied"
    assert (await capture(client, {}, sent)).status_code == 401
    _, partner = await create_token(db, "boss", scopes=["epcis.capture"], name="partner")
    assert (await capture(client, bearer(partner), sent)).status_code == 200
    _, reader = await create_token(db, "boss", scopes=["event.read"], name="reader")
    assert (await capture(client, bearer(reader), sent)).status_code == 403
