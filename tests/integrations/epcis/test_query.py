"""GET /api/v1/epcis/events: every qtrack event as a valid EPCIS 2.0 event, found by the
REST binding's query parameters, page after page."""

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from qtrack.core.db import Database
from tests.factories.accounts import bearer, create_token
from tests.integrations.epcis.conftest import (
    BASE,
    LOT_GTIN,
    SUPPLY_GTIN,
    History,
    events_of,
    query,
)
from tests.items.conftest import Crew

LOT = f"https://id.gs1.org/01/{LOT_GTIN}/10/L42"
SGTIN = f"https://id.gs1.org/01/{SUPPLY_GTIN}/21/S%2F1"


def item(code: str) -> str:
    return f"{BASE}/id/item/{code}"


def place(code: str) -> dict[str, str]:
    return {"id": f"{BASE}/id/location/{code}"}


def by_kind(events: list[dict[str, Any]], kind: str, code: str) -> list[dict[str, Any]]:
    return [e for e in events if e["qtrack:type"] == kind and e["qtrack:item"] == code]


async def test_every_kind_of_event_maps_to_epcis(
    client: httpx.AsyncClient, crew: Crew, history: History
) -> None:
    events = await events_of(client, crew.viewer.headers)  # who reads history reads these
    assert len(events) == 13
    assert [e["qtrack:type"] for e in events] == [
        "created", "created", "created", "created", "status_changed", "moved",
        "quantity_changed", "packed", "packed", "unpacked", "status_changed", "edited", "archived",
    ]  # fmt: skip

    # A lot known by GTIN + lot is a quantity of a class; the creation carries its ILMD.
    (created,) = by_kind(events, "created", history.lot)
    assert created["type"] == "ObjectEvent"
    assert created["action"] == "ADD"
    assert created["bizStep"] == "commissioning"
    assert created["disposition"] == "in_progress"  # "received"
    assert created["quantityList"] == [{"epcClass": LOT, "quantity": 25, "uom": "KGM"}]
    assert "epcList" not in created
    assert created["ilmd"] == {
        "cbvmda:lotNumber": "L42",
        "cbvmda:itemExpirationDate": "2027-11-30",
    }
    assert created["readPoint"] == created["bizLocation"] == place("RACK-1")

    # A serialised supply is an SGTIN instance (its serial escaped as Digital Link says).
    (supply,) = by_kind(events, "created", history.serial)
    assert supply["epcList"] == [SGTIN]
    assert supply["quantityList"] == [
        {"epcClass": f"https://id.gs1.org/01/{SUPPLY_GTIN}", "quantity": 100}  # pieces: no uom
    ]
    (bag,) = by_kind(events, "created", history.bag)
    assert bag["epcList"] == [item(history.bag)]
    assert bag["disposition"] == "container_open"

    (quarantined,) = by_kind(events, "status_changed", history.lot)
    assert (quarantined["action"], quarantined["bizStep"], quarantined["disposition"]) == (
        "OBSERVE", "holding", "non_sellable_other",
    )  # fmt: skip
    # A move says where, and the item's state then (still quarantined).
    (moved,) = by_kind(events, "moved", history.lot)
    assert (moved["bizStep"], moved["disposition"]) == ("storing", "non_sellable_other")
    assert moved["readPoint"] == moved["bizLocation"] == place("WH-A")

    (dispensed,) = by_kind(events, "quantity_changed", history.plain)
    assert dispensed["bizStep"] == "dispensing"
    assert dispensed["epcList"] == [item(history.plain)]
    assert dispensed["quantityList"] == [
        {"epcClass": item(history.plain), "quantity": 7.5, "uom": "KGM"}
    ]

    packed_plain, packed_lot = by_kind(events, "packed", history.plain) + by_kind(
        events, "packed", history.lot
    )
    assert packed_plain["type"] == "AggregationEvent"
    assert packed_plain["action"] == "ADD"
    assert packed_plain["parentID"] == item(history.bag)
    assert packed_plain["childEPCs"] == [item(history.plain)]
    assert packed_plain["bizStep"] == "packing"
    assert packed_plain["bizLocation"] == place("WH-B")  # it went where the bag is
    assert packed_lot["childQuantityList"] == [{"epcClass": LOT}]
    (unpacked,) = by_kind(events, "unpacked", history.plain)
    assert (unpacked["type"], unpacked["action"], unpacked["bizStep"]) == (
        "AggregationEvent", "DELETE", "unpacking",
    )  # fmt: skip
    assert unpacked["parentID"] == item(history.bag)

    (sealed,) = by_kind(events, "status_changed", history.bag)
    assert (sealed["bizStep"], sealed["disposition"]) == ("packing", "container_closed")
    (edited,) = by_kind(events, "edited", history.serial)
    assert edited["action"] == "OBSERVE"
    assert "bizStep" not in edited
    (archived,) = by_kind(events, "archived", history.serial)
    assert (archived["action"], archived["bizStep"], archived["disposition"]) == (
        "DELETE", "decommissioning", "inactive",
    )  # fmt: skip

    for event in events:
        assert event["eventTimeZoneOffset"] == "+00:00"
        assert event["eventID"].startswith("urn:uuid:")
    assert len({e["eventID"] for e in events}) == len(events)


async def test_the_document_says_what_it_is(
    client: httpx.AsyncClient, crew: Crew, history: History
) -> None:
    response = await query(client, crew.admin.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["gs1-epcis-version"] == "2.0.0"
    assert response.headers["gs1-cbv-version"] == "2.0.0"
    document = response.json()
    assert document["type"] == "EPCISQueryDocument"
    assert document["schemaVersion"] == "2.0"
    assert document["@context"][0] == (
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
    )
    assert document["epcisBody"]["queryResults"]["queryName"] == "SimpleEventQuery"
    ld = await client.get(
        "/api/v1/epcis/events",
        headers={**crew.admin.headers, "Accept": "application/ld+json"},
    )
    assert ld.headers["content-type"].startswith("application/ld+json")


async def test_event_ids_stay_the_same(
    client: httpx.AsyncClient, crew: Crew, history: History
) -> None:
    first = [e["eventID"] for e in await events_of(client, crew.admin.headers)]
    await client.post(
        f"/api/v1/items/{history.plain}/move", json={"location": "RACK-1"},
        headers=crew.admin.headers,
    )  # fmt: skip
    again = [e["eventID"] for e in await events_of(client, crew.admin.headers)]
    assert again[: len(first)] == first
    assert len(again) == len(first) + 1


async def test_each_event_is_found_by_what_it_says(
    client: httpx.AsyncClient, crew: Crew, history: History
) -> None:
    """The filters invert the mapping: every event is found by each of its own values, and a
    filter finds only events that have the value."""
    who = crew.admin.headers
    events = await events_of(client, who)
    ids = {e["eventID"] for e in events}

    def has(event: dict[str, Any], name: str, value: str) -> bool:
        if name == "eventType":
            return bool(event["type"] == value)
        if name == "EQ_action":
            return bool(event["action"] == value)
        if name == "EQ_bizStep":
            return event.get("bizStep") == value
        if name == "EQ_disposition":
            return event.get("disposition") == value
        if name == "EQ_bizLocation":
            return bool(event.get("bizLocation", {}).get("id") == value)
        if name == "EQ_eventID":
            return bool(event["eventID"] == value)
        if name == "EQ_readPoint":
            return bool(event.get("readPoint", {}).get("id") == value)
        if name == "MATCH_anyEPC":
            return value in [*event.get("epcList", []), *event.get("childEPCs", [])] or (
                event.get("parentID") == value
            )
        classes = event.get("quantityList", []) + event.get("childQuantityList", [])
        return value in [q["epcClass"] for q in classes]

    asked = 0
    for event in events:
        values = {
            "eventType": [event["type"]],
            "EQ_action": [event["action"]],
            "EQ_eventID": [event["eventID"]],
            "EQ_bizStep": [event.get("bizStep")],
            "EQ_disposition": [event.get("disposition")],
            "EQ_bizLocation": [event.get("bizLocation", {}).get("id")],
            "EQ_readPoint": [event.get("readPoint", {}).get("id")],
            "MATCH_anyEPC": [*event.get("epcList", []), *event.get("childEPCs", [])]
            + ([event["parentID"]] if "parentID" in event else []),
            "MATCH_anyEPCClass": [
                q["epcClass"]
                for q in event.get("quantityList", []) + event.get("childQuantityList", [])
            ],
        }
        for name, wanted in values.items():
            for value in wanted:
                if value is None:
                    continue
                found = await events_of(client, who, **{name: value})
                asked += 1
                found_ids = {e["eventID"] for e in found}
                assert event["eventID"] in found_ids, (name, value, event)
                assert found_ids <= ids
                expected = {e["eventID"] for e in events if has(e, name, value)}
                assert found_ids == expected, (name, value)
    assert asked > 90


async def test_filters_narrow_as_the_binding_says(
    client: httpx.AsyncClient, crew: Crew, history: History
) -> None:
    who = crew.admin.headers
    packs = await events_of(client, who, eventType="AggregationEvent")
    assert [e["qtrack:type"] for e in packs] == ["packed", "packed", "unpacked"]
    assert await events_of(client, who, eventType="TransactionEvent") == []
    either = await events_of(client, who, EQ_bizStep="storing|dispensing")
    assert [e["qtrack:type"] for e in either] == ["moved", "quantity_changed"]
    repeated = await client.get(
        "/api/v1/epcis/events?EQ_bizStep=storing&EQ_bizStep=dispensing", headers=who
    )
    assert len(repeated.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]) == 2
    # A CBV URI means its bare term.
    uri = await events_of(client, who, EQ_bizStep="https://ref.gs1.org/cbv/BizStep-storing")
    assert [e["qtrack:type"] for e in uri] == ["moved"]
    # The bag's events: its own, and the packs and the unpack it is the parent of.
    bag = await events_of(client, who, MATCH_anyEPC=item(history.bag))
    assert [e["qtrack:type"] for e in bag] == [
        "created", "packed", "packed", "unpacked", "status_changed",
    ]  # fmt: skip
    # The lot is a class: it is not an instance, so MATCH_anyEPC does not find it.
    assert await events_of(client, who, MATCH_anyEPC=LOT) == []
    assert len(await events_of(client, who, MATCH_anyEPCClass=LOT)) == 4
    assert [e["qtrack:type"] for e in await events_of(client, who, MATCH_anyEPC=SGTIN)] == [
        "created", "edited", "archived",
    ]  # fmt: skip
    at_b = await events_of(client, who, EQ_bizLocation=f"{BASE}/id/location/WH-B")
    assert {e["qtrack:type"] for e in at_b} == {"created", "packed", "unpacked", "status_changed"}
    # A place and everything inside it: WH-A holds RACK-1; the plant holds all.
    within = await events_of(client, who, WD_bizLocation=f"{BASE}/id/location/WH-A")
    assert {e["bizLocation"]["id"] for e in within} == {
        f"{BASE}/id/location/WH-A",
        f"{BASE}/id/location/RACK-1",
    }
    assert len(within) == len(
        [e for e in await events_of(client, who) if "WH-B" not in e["bizLocation"]["id"]]
    )
    everything = await events_of(client, who, WD_readPoint=f"{BASE}/id/location/PLANT")
    assert len(everything) == 13
    # Identifiers qtrack never made match nothing.
    assert await events_of(client, who, MATCH_anyEPC="urn:epc:id:sgtin:0614141.107346.2017") == []
    assert await events_of(client, who, EQ_bizLocation="urn:epc:id:sgln:0614141.07346.1234") == []
    assert await events_of(client, who, EQ_eventID="urn:uuid:00000000-0000-8000-8000-0") == []
    assert await events_of(client, who, EQ_eventID="ni:///sha-256;abc") == []


async def test_time_windows(client: httpx.AsyncClient, crew: Crew, history: History) -> None:
    who = crew.admin.headers
    events = await events_of(client, who)
    middle = events[6]["eventTime"]
    before = await events_of(client, who, LT_eventTime=middle)
    after = await events_of(client, who, GE_eventTime=middle)
    assert before + after == events
    assert len(before) == 6
    recorded = await events_of(
        client, who, GE_recordTime=middle, LT_recordTime=events[8]["recordTime"]
    )
    assert [e["eventID"] for e in recorded] == [e["eventID"] for e in events[6:8]]
    # Another offset, the same instant.
    assert await events_of(client, who, GE_eventTime="2000-01-01T01:00:00+01:00") == events


async def test_the_device_time_is_the_event_time(
    client: httpx.AsyncClient, crew: Crew, history: History
) -> None:
    response = await client.post(
        f"/api/v1/items/{history.plain}/move",
        json={"location": "RACK-1", "occurred_at": "2026-01-02T03:04:05+02:00"},
        headers=crew.admin.headers,
    )
    assert response.status_code == 200, response.text
    (moved,) = await events_of(
        client, crew.admin.headers, EQ_bizStep="storing", MATCH_anyEPC=item(history.plain)
    )
    assert moved["eventTime"] == "2026-01-02T01:04:05+00:00"
    assert moved["recordTime"] > moved["eventTime"]


async def test_pages_follow_the_link_header(
    client: httpx.AsyncClient, crew: Crew, history: History
) -> None:
    who = crew.admin.headers
    everything = [e["eventID"] for e in await events_of(client, who)]
    seen: list[str] = []
    url: str | None = "/api/v1/epcis/events?perPage=4&EQ_action=OBSERVE|ADD|DELETE"
    pages = 0
    while url:
        response = await client.get(url, headers=who)
        assert response.status_code == 200, response.text
        page = response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        assert len(page) <= 4
        seen += [e["eventID"] for e in page]
        pages += 1
        link = response.headers.get("link")
        if link is None:
            url = None
            continue
        assert link.endswith('>; rel="next"')
        url = link[1 : link.index(">")]
        params = parse_qs(urlsplit(url).query)
        assert params["perPage"] == ["4"]
        assert params["EQ_action"] == ["OBSERVE|ADD|DELETE"]
    assert seen == everything
    assert pages == 4
    last = await query(client, who, perPage=13)
    assert "link" not in last.headers


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"nextPageToken": "not-a-token"}, "nextPageToken"),
        ({"nextPageToken": "WyJ4Il0"}, "nextPageToken"),  # valid base64 JSON, not ours
        ({"perPage": "0"}, "perPage"),
        ({"perPage": "201"}, "perPage"),
        ({"perPage": "ten"}, "perPage"),
        ({"perPage": "²"}, "perPage"),  # a digit to str.isdigit(), not to int()
        ({"GE_eventTime": "yesterday"}, "GE_eventTime"),
        ({"LT_eventTime": "2026-12-04T10:00:00"}, "LT_eventTime"),  # no offset
        ({"eventType": "ShipmentEvent"}, "eventType"),
        ({"EQ_action": "LOOK"}, "EQ_action"),
        ({"EQ_bizSteps": "storing"}, "EQ_bizSteps"),  # misspelt: refused, not ignored
        ({"EQ_quantity": "5"}, "EQ_quantity"),  # a binding parameter qtrack does not answer
    ],
)
async def test_a_bad_parameter_is_400_and_named(
    client: httpx.AsyncClient, crew: Crew, params: dict[str, str], parameter: str
) -> None:
    response = await query(client, crew.admin.headers, **params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "epcis_query_invalid"
    assert [d["parameter"] for d in error["details"]] == [parameter]


async def test_a_list_too_long_for_one_statement_is_400_and_named(
    client: httpx.AsyncClient, crew: Crew
) -> None:
    # 1,100 SGTINs: each one a condition, an expression SQLite refused as too deep (a 500).
    sgtins = "|".join(f"https://id.gs1.org/01/{SUPPLY_GTIN}/21/{n}" for n in range(1_100))
    response = await client.get(
        f"/api/v1/epcis/events?MATCH_anyEPC={sgtins}", headers=crew.admin.headers
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "epcis_query_invalid"
    assert error["details"] == [{"parameter": "MATCH_anyEPC", "message": "at most 200 values"}]
    # Up to the limit, repeated or separated, the list is a filter as any other.
    within = await query(client, crew.admin.headers, MATCH_anyEPC=sgtins.split("|")[:200])
    assert within.status_code == 200, within.text


async def test_who_may_read(client: httpx.AsyncClient, crew: Crew, db: Database) -> None:
    assert (await client.get("/api/v1/epcis/events")).status_code == 401
    _, items_only = await create_token(db, "vic", scopes=["item.read"])
    refused = await client.get("/api/v1/epcis/events", headers=bearer(items_only))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    _, history_reader = await create_token(db, "vic", scopes=["event.read"], name="erp")
    assert (
        await client.get("/api/v1/epcis/events", headers=bearer(history_reader))
    ).status_code == 200
