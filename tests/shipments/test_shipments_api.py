"""Shipments over the API: building a bill, refusals, dispatch all or nothing, the bill."""

import asyncio
import csv
import io

import httpx
from sqlalchemy import func, select

from qtrack.core.db import Database
from qtrack.events.models import Event
from qtrack.items.models import Item
from qtrack.shipments.models import ShipmentLine
from tests.pdftext import BEYOND_LATIN_1, pdf_text
from tests.shipments.conftest import Team, post, register, sealed_bag

API = "/api/v1/shipments"


async def _new(client: httpx.AsyncClient, team: Team, **fields: object) -> dict[str, object]:
    body = {"consignee": "ACME", "destination": "Lyon", **fields}
    response = await post(client, API, team.biller, body)
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()
    return data


async def test_numbers_are_a_gap_free_series(client: httpx.AsyncClient, team: Team) -> None:
    first = await _new(client, team)
    second = await _new(client, team)
    assert (first["number"], second["number"]) == ("SHP-000001", "SHP-000002")
    assert first["status"] == "draft"
    by_number = await client.get(f"{API}/shp-000002", headers=team.viewer.headers)
    assert by_number.status_code == 403  # a viewer has no shipment.read
    by_number = await client.get(f"{API}/shp-000002", headers=team.dispatcher.headers)
    assert by_number.json()["id"] == second["id"]


async def test_lines_bring_their_contents_and_totals_are_derived(
    client: httpx.AsyncClient, team: Team
) -> None:
    bag1 = await sealed_bag(client, team.operator, tare="0.5", contents=("2", "3"))
    bag2 = await sealed_bag(client, team.operator, tare="0.25", contents=("1.5",))
    ship = await _new(client, team)
    added = await post(client, f"{API}/{ship['id']}/lines", team.biller, {"code": bag1})
    assert added.status_code == 201, added.text
    added = await post(
        client,
        f"{API}/{ship['id']}/lines",
        team.biller,
        {"code": bag2.lower(), "expected_weight_kg": "2"},
    )
    body = added.json()
    totals = body["totals"]
    assert totals["containers"] == 2
    assert totals["items"] == 3
    assert float(totals["net_kg"]) == 6.5
    assert float(totals["gross_kg"]) == 7.25
    assert totals["by_type"] == [{"type": "material", "items": 3, "net_kg": "6.500000"}]
    second = body["lines"][1]
    assert (second["code"], float(second["gross_kg"]), float(second["difference_kg"])) == (
        bag2,
        1.75,
        -0.25,
    )


async def test_refusals_name_the_reason_and_write_nothing(
    client: httpx.AsyncClient, team: Team, db: Database
) -> None:
    ship = await _new(client, team)
    other = await _new(client, team)
    bag = await sealed_bag(client, team.operator)
    open_bag = await register(client, team.operator, type="bag")
    lot = await register(client, team.operator, type="material")
    assert (
        await post(client, f"{API}/{ship['id']}/lines", team.biller, {"code": bag})
    ).status_code == 201

    cases = [
        ({"code": bag}, other, 409, "container_on_other_shipment"),
        ({"code": bag}, ship, 409, "container_already_on_shipment"),
        ({"code": open_bag}, other, 409, "container_wrong_state"),
        ({"code": lot}, other, 409, "not_a_container"),
        ({"code": "BAG-999999"}, other, 404, "code_unknown"),
        ({"code": ""}, other, 422, "validation_error"),
    ]
    for body, target, status, code in cases:
        response = await post(client, f"{API}/{target['id']}/lines", team.biller, body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
    on_other = await post(client, f"{API}/{other['id']}/lines", team.biller, {"code": bag})
    assert on_other.json()["error"]["details"]["shipment"] == ship["number"]
    assert ship["number"] in on_other.json()["error"]["message"]
    async with db.session_scope("read") as session:
        assert await session.scalar(select(func.count()).select_from(ShipmentLine)) == 1
    viewer = await post(client, f"{API}/{other['id']}/lines", team.viewer, {"code": bag})
    assert viewer.status_code == 403


async def test_dispatch_moves_every_container_and_its_contents(
    client: httpx.AsyncClient, team: Team, db: Database
) -> None:
    bags = [await sealed_bag(client, team.operator, contents=("1",)) for _ in range(2)]
    ship = await _new(client, team)
    for bag in bags:
        await post(client, f"{API}/{ship['id']}/lines", team.biller, {"code": bag})
    early = await post(client, f"{API}/{ship['id']}/dispatch", team.dispatcher)
    assert (early.status_code, early.json()["error"]["code"]) == (409, "shipment_wrong_status")
    assert (await post(client, f"{API}/{ship['id']}/issue", team.dispatcher)).status_code == 403
    assert (await post(client, f"{API}/{ship['id']}/issue", team.biller)).status_code == 200
    assert (await post(client, f"{API}/{ship['id']}/dispatch", team.biller)).status_code == 403
    sent = await post(client, f"{API}/{ship['id']}/dispatch", team.dispatcher)
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "dispatched"
    assert {line["status"] for line in sent.json()["lines"]} == {"dispatched"}
    async with db.session_scope("read") as session:
        kinds = (
            await session.execute(
                select(Event.type, Event.reason)
                .where(Event.type.in_(("status_changed", "shipment")))
                .where(Event.reason.is_not(None))
            )
        ).all()
    assert sorted(k for k, _ in kinds) == [
        "shipment",
        "shipment",
        "status_changed",
        "status_changed",
    ]
    assert {r for _, r in kinds} == {f"Shipment {ship['number']} dispatched"}
    edit = await client.patch(
        f"{API}/{ship['id']}", json={"notes": "x"}, headers=team.biller.headers
    )
    assert (edit.status_code, edit.json()["error"]["code"]) == (409, "shipment_not_editable")
    cancel = await post(client, f"{API}/{ship['id']}/cancel", team.admin)
    assert (cancel.status_code, cancel.json()["error"]["code"]) == (409, "shipment_wrong_status")
    done = await post(client, f"{API}/{ship['id']}/deliver", team.dispatcher)
    assert done.status_code == 200
    assert done.json()["status"] == "delivered"
    assert {line["status"] for line in done.json()["lines"]} == {"delivered"}


async def test_dispatch_is_all_or_nothing_and_names_every_blocker(
    client: httpx.AsyncClient, team: Team, db: Database
) -> None:
    bags = [await sealed_bag(client, team.operator) for _ in range(3)]
    ship = await _new(client, team)
    for bag in bags:
        await post(client, f"{API}/{ship['id']}/lines", team.biller, {"code": bag})
    await post(client, f"{API}/{ship['id']}/issue", team.biller)
    # Two bags are reopened behind the bill's back.
    for bag in bags[:2]:
        reopened = await post(
            client,
            f"/api/v1/items/{bag}/transitions",
            team.operator,
            {"transition": "reopen", "reason": "forgot one"},
        )
        assert reopened.status_code == 200
    refused = await post(client, f"{API}/{ship['id']}/dispatch", team.dispatcher)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "containers_blocked"
    assert sorted(b["code"] for b in error["details"]["blocking"]) == sorted(bags[:2])
    async with db.session_scope("read") as session:
        statuses = set(
            (await session.scalars(select(Item.status).where(Item.code.in_(bags)))).all()
        )
    assert statuses == {"open", "sealed"}
    again = await client.get(f"{API}/{ship['id']}", headers=team.biller.headers)
    assert again.json()["status"] == "issued"


async def test_cancel_releases_the_containers(client: httpx.AsyncClient, team: Team) -> None:
    bag = await sealed_bag(client, team.operator)
    first = await _new(client, team)
    second = await _new(client, team)
    await post(client, f"{API}/{first['id']}/lines", team.biller, {"code": bag})
    assert (await post(client, f"{API}/{first['id']}/cancel", team.biller)).status_code == 403
    cancelled = await post(client, f"{API}/{first['id']}/cancel", team.admin)
    assert cancelled.json()["status"] == "cancelled"
    moved = await post(client, f"{API}/{second['id']}/lines", team.biller, {"code": bag})
    assert moved.status_code == 201, moved.text


async def test_scan_adds_refuses_and_undoes(client: httpx.AsyncClient, team: Team) -> None:
    bag = await sealed_bag(client, team.operator)
    open_bag = await register(client, team.operator, type="bag")
    ship = await _new(client, team)
    url = f"{API}/{ship['number']}/scan"
    added = await post(client, url, team.biller, {"data": bag})
    assert (added.json()["outcome"], added.json()["code"]) == ("added", bag)
    refused = await post(client, url, team.biller, {"data": open_bag})
    assert refused.status_code == 200
    assert (refused.json()["outcome"], refused.json()["error"]) == (
        "refused",
        "container_wrong_state",
    )
    unknown = await post(client, url, team.biller, {"data": "nonsense text"})
    assert unknown.json()["error"] == "code_unknown"
    undone = await post(client, url, team.biller, {"undo": True})
    assert (undone.json()["outcome"], undone.json()["shipment"]["totals"]["containers"]) == (
        "removed",
        0,
    )
    history = (await client.get(f"{API}/{ship['id']}/history", headers=team.biller.headers)).json()
    assert [h["type"] for h in history] == [
        "created",
        "line_added",
        "scan_refused",
        "scan_refused",
        "line_removed",
    ]


async def test_bill_pdf_and_csv(client: httpx.AsyncClient, team: Team) -> None:
    bag = await sealed_bag(client, team.operator, contents=("2",))
    ship = await _new(client, team, consignee="=cmd|' /C calc'!A0")
    await post(client, f"{API}/{ship['id']}/lines", team.biller, {"code": bag})
    pdf = await client.get(f"{API}/{ship['id']}/bill.pdf", headers=team.viewer.headers)
    assert pdf.status_code == 403
    pdf = await client.get(f"{API}/{ship['id']}/bill.pdf", headers=team.biller.headers)
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    text = (await client.get(f"{API}/{ship['id']}/bill.csv", headers=team.biller.headers)).text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][5].startswith("'=")  # no formula reaches a spreadsheet
    assert rows[2][1] == bag
    assert rows[2][6] == "2.000"
    total = next(i for i, row in enumerate(rows) if row[0] == "total")
    assert rows[total + 1 :] == [["by type", "", "material", "", "1", "", "2.000", "", "", ""]]
    missing = await client.get(f"{API}/SHP-999999/bill.pdf", headers=team.biller.headers)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "shipment_not_found")
    # A digit to str.isdigit(), not to int(): a number, not an id (it was a 500).
    odd = await client.get(f"{API}/¹1/bill.pdf", headers=team.biller.headers)
    assert (odd.status_code, odd.json()["error"]["code"]) == (404, "shipment_not_found")


async def test_bill_pdf_prints_other_alphabets(client: httpx.AsyncClient, team: Team) -> None:
    ship = await _new(client, team, consignee=BEYOND_LATIN_1, destination="Київ")
    pdf = await client.get(f"{API}/{ship['id']}/bill.pdf", headers=team.biller.headers)
    assert pdf.status_code == 200
    text = pdf_text(pdf.content)
    assert BEYOND_LATIN_1 in text
    assert "Київ" in text


async def test_concurrent_scans_leave_a_bag_on_exactly_one_bill(
    client: httpx.AsyncClient, team: Team, db: Database
) -> None:
    bags = [await sealed_bag(client, team.operator) for _ in range(3)]
    bills = [await _new(client, team) for _ in range(4)]

    async def scan(bill: dict[str, object], bag: str) -> str:
        response = await post(client, f"{API}/{bill['id']}/scan", team.biller, {"data": bag})
        assert response.status_code == 200, response.text
        return str(response.json()["outcome"])

    outcomes = await asyncio.gather(*(scan(bill, bag) for bag in bags for bill in bills))
    assert sorted(outcomes).count("added") == len(bags)
    async with db.session_scope("read") as session:
        per_bag = (
            await session.execute(
                select(ShipmentLine.item_id, func.count())
                .where(ShipmentLine.open_item_id.is_not(None))
                .group_by(ShipmentLine.item_id)
            )
        ).all()
    assert [n for _, n in per_bag] == [1, 1, 1]
