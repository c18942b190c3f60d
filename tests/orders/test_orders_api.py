"""Restock orders over the API: drafting, steps and their permissions, refusals, receiving
(typed, scanned GS1, over-receipts, twins), and the order as CSV and PDF."""

import asyncio
import csv
import io
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from qtrack.core.db import Database
from qtrack.events.models import Event
from qtrack.items.models import Item
from qtrack.orders.models import RestockReceipt
from tests.orders.conftest import API, Team, approved_order, new_order, post
from tests.pdftext import BEYOND_LATIN_1, pdf_text
from tests.sync.conftest import Replica

SUPPLY = {"type": "supply", "quantity": "100", "supplier_ref": "SYR-5ML"}
BAGS = {"type": "bag", "quantity": "3"}


async def test_happy_path_from_draft_to_received(
    client: httpx.AsyncClient, team: Team, db: Database
) -> None:
    order = await new_order(client, team.operator, SUPPLY)
    second = await new_order(client, team.operator)
    assert (order["code"], second["code"]) == ("ORD-000001", "ORD-000002")
    assert order["status"] == "draft"
    assert order["created_by"] == "op"
    code = order["code"]

    added = await post(client, f"{API}/{code}/lines", team.operator, BAGS)
    assert added.status_code == 201, added.text
    assert [ln["position"] for ln in added.json()["lines"]] == [1, 2]
    changed = await client.patch(
        f"{API}/{code.lower()}/lines/1", json={"quantity": "50"}, headers=team.operator.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["lines"][0]["quantity"] == "50.000000"
    assert changed.json()["lines"][1]["unit"] == "items"

    for step, who, status in [
        ("submit", team.operator, "submitted"),
        ("approve", team.supervisor, "approved"),
    ]:
        response = await post(client, f"{API}/{code}/{step}", who)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status

    first = await post(
        client, f"{API}/{code}/receive", team.operator, {"line": 1, "quantity": "30", "batch": "B1"}
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["line"], body["over_received"], body["repeated"]) == (1, False, False)
    assert body["order"]["status"] == "partly_received"
    assert body["order"]["lines"][0]["received_quantity"] == "30.000000"
    assert body["order"]["lines"][0]["remaining"] == "20.000000"
    (lot,) = body["items"]
    assert lot.startswith("SUP-")

    rest = await post(
        client, f"{API}/{code}/receive", team.operator, {"type": "supply", "quantity": "20"}
    )
    assert rest.status_code == 200, rest.text
    bags = await post(
        client, f"{API}/{code}/receive", team.operator, {"type": "bag", "quantity": 3}
    )
    assert bags.status_code == 200, bags.text
    assert len(bags.json()["items"]) == 3
    final = bags.json()["order"]
    assert final["status"] == "received"
    assert final["received_at"] is not None
    assert [r["line"] for r in final["receipts"]] == [1, 1, 2]

    # Each lot is registered like any other (created, with a label) and names the order.
    async with db.session_scope("read") as session:
        item = await session.scalar(select(Item).where(Item.code == lot))
        assert item is not None
        assert (str(item.quantity), item.batch) == ("30.000000", "B1")
        kinds = (
            await session.scalars(
                select(Event.type).where(Event.item_id == item.id).order_by(Event.seq)
            )
        ).all()
        assert list(kinds) == ["created", "order_received"]
        after = await session.scalar(
            select(Event.after).where(Event.item_id == item.id, Event.type == "order_received")
        )
        assert after == {"order": code, "line": 1, "over_received": False}

    listed = await client.get(f"{API}?status=received", headers=team.viewer.headers)
    assert listed.status_code == 403  # a viewer has no order.read
    listed = await client.get(f"{API}?status=received", headers=team.supervisor.headers)
    assert [o["code"] for o in listed.json()] == [code]
    history = await client.get(f"{API}/{code}/history", headers=team.operator.headers)
    assert [h["type"] for h in history.json()] == [
        "created", "line_added", "line_added", "line_changed", "submitted", "approved",
        "received", "received", "received",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("step", "who", "allowed"),
    [
        ("create", "operator", True),
        ("create", "biller", False),
        ("submit", "operator", True),
        ("submit", "viewer", False),
        ("approve", "operator", False),
        ("approve", "supervisor", True),
        ("cancel", "operator", False),
        ("cancel", "supervisor", True),
    ],
)
async def test_each_step_needs_its_permission(
    client: httpx.AsyncClient, team: Team, step: str, who: str, allowed: bool
) -> None:
    caller = getattr(team, who)
    if step == "create":
        response = await post(client, API, caller, {"lines": [SUPPLY]})
        assert response.status_code == (201 if allowed else 403), response.text
        return
    order = await new_order(client, team.admin, SUPPLY)
    if step == "approve":
        await post(client, f"{API}/{order['code']}/submit", team.admin)
    response = await post(client, f"{API}/{order['code']}/{step}", caller)
    assert response.status_code == (200 if allowed else 403), response.text
    if not allowed:
        assert response.json()["error"]["code"] == "permission_denied"


async def test_receiving_needs_order_receive(client: httpx.AsyncClient, team: Team) -> None:
    order = await approved_order(client, team, SUPPLY)
    url = f"{API}/{order['code']}/receive"
    refused = await post(client, url, team.biller, {"quantity": "1"})
    assert refused.status_code == 403
    assert (await post(client, url, team.supervisor, {"quantity": "1"})).status_code == 200


async def test_bad_transitions_are_409_and_change_nothing(
    client: httpx.AsyncClient, team: Team
) -> None:
    empty = await new_order(client, team.operator)
    refused = await post(client, f"{API}/{empty['code']}/submit", team.operator)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "order_empty")

    order = await new_order(client, team.operator, SUPPLY)
    code = order["code"]
    cases = [
        ("approve", {}, "order_wrong_status"),  # still a draft
        ("receive", {"quantity": "1"}, "order_wrong_status"),
    ]
    for step, body, error in cases:
        response = await post(client, f"{API}/{code}/{step}", team.supervisor, body)
        assert (response.status_code, response.json()["error"]["code"]) == (409, error), step
    await post(client, f"{API}/{code}/submit", team.operator)
    again = await post(client, f"{API}/{code}/submit", team.operator)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "order_wrong_status")
    assert again.json()["error"]["details"]["status"] == "submitted"
    locked = await post(client, f"{API}/{code}/lines", team.operator, BAGS)
    assert (locked.status_code, locked.json()["error"]["code"]) == (409, "order_not_editable")
    gone = await client.delete(f"{API}/{code}/lines/1", headers=team.operator.headers)
    assert gone.status_code == 409

    received = await approved_order(client, team, {"type": "supply", "quantity": "1"})
    await post(client, f"{API}/{received['code']}/receive", team.operator, {"quantity": "1"})
    late = await post(client, f"{API}/{received['code']}/cancel", team.supervisor)
    assert (late.status_code, late.json()["error"]["code"]) == (409, "order_wrong_status")

    cancelled = await post(client, f"{API}/{code}/cancel", team.supervisor, {"reason": "dup"})
    assert cancelled.json()["status"] == "cancelled"
    after = await post(client, f"{API}/{code}/approve", team.supervisor)
    assert after.status_code == 409
    read = await client.get(f"{API}/{code}", headers=team.operator.headers)
    assert read.json()["status"] == "cancelled"


async def test_draft_lines_and_refusals(client: httpx.AsyncClient, team: Team) -> None:
    order = await new_order(client, team.operator, SUPPLY, BAGS)
    code = order["code"]
    removed = await client.delete(f"{API}/{code}/lines/1", headers=team.operator.headers)
    assert [ln["position"] for ln in removed.json()["lines"]] == [2]
    lines = f"{API}/{code}/lines"
    cases: list[tuple[str, str, Any, int, str]] = [
        ("post", lines, {"type": "nope", "quantity": "1"}, 404, "item_type_not_found"),
        ("post", lines, {"type": "supply", "quantity": "0"}, 422, "validation_error"),
        ("patch", f"{API}/{code}/lines/9", {"quantity": "2"}, 404, "order_line_not_found"),
        ("delete", f"{API}/{code}/lines/1", None, 404, "order_line_not_found"),
        ("get", f"{API}/ORD-999999", None, 404, "order_not_found"),
        # A digit to str.isdigit(), not to int(): a code, not an id (it was a 500).
        ("get", f"{API}/¹1", None, 404, "order_not_found"),
    ]  # fmt: skip
    for method, url, body, status, error in cases:
        kwargs: dict[str, Any] = {"headers": team.operator.headers}
        if body is not None:
            kwargs["json"] = body
        response = await client.request(method.upper(), url, **kwargs)
        assert (response.status_code, response.json()["error"]["code"]) == (status, error), url


async def test_over_receiving_needs_a_reason(
    client: httpx.AsyncClient, team: Team, db: Database
) -> None:
    order = await approved_order(client, team, {"type": "supply", "quantity": "10"})
    url = f"{API}/{order['code']}/receive"
    refused = await post(client, url, team.operator, {"quantity": "12"})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "over_receive_reason_required"
    assert error["details"]["ordered"] == "10.000000"
    async with db.session_scope("read") as session:
        assert await session.scalar(select(func.count()).select_from(Item)) == 0
    taken = await post(client, url, team.operator, {"quantity": "12", "reason": "bonus pack"})
    assert taken.status_code == 200, taken.text
    assert taken.json()["over_received"] is True
    assert taken.json()["order"]["status"] == "received"
    assert taken.json()["order"]["lines"][0]["remaining"] == "0"
    assert taken.json()["order"]["receipts"][0]["reason"] == "bonus pack"


async def test_receiving_a_gs1_scan_fills_gtin_batch_and_expiry(
    client: httpx.AsyncClient, team: Team, db: Database
) -> None:
    order = await approved_order(
        client, team, {"type": "supply", "quantity": "40", "supplier_ref": "09506000134352"}, BAGS
    )
    url = f"{API}/{order['code']}/receive"
    # The line is found by the GTIN on the supplier reference; AI 30 gives the count.
    scanned = await post(
        client, url, team.operator, {"data": "(01)09506000134352(17)271200(10)LOT42(30)40"}
    )
    assert scanned.status_code == 200, scanned.text
    body = scanned.json()
    assert (body["line"], body["quantity"]) == (1, "40")
    receipt = body["order"]["receipts"][0]
    assert (receipt["gtin"], receipt["batch"], receipt["expiry_on"]) == (
        "09506000134352",
        "LOT42",
        "2027-12-31",
    )
    async with db.session_scope("read") as session:
        item = await session.scalar(select(Item).where(Item.code == body["items"][0]))
        assert item is not None
        assert (item.gtin, item.batch, item.expiry_raw) == ("09506000134352", "LOT42", "271200")
        assert str(item.quantity) == "40.000000"

    # A later lot of the same GTIN finds its line through the lots already received.
    other = await approved_order(client, team, {"type": "supply", "quantity": "10"}, BAGS)
    again = await post(
        client,
        f"{API}/{other['code']}/receive",
        team.operator,
        {"data": "]d20109506000134352" + "10LOT43", "quantity": "5"},
    )
    assert again.status_code == 200, again.text
    assert again.json()["line"] == 1

    bad_cases = [
        ({"data": "(01)09506000134353"}, "receipt_invalid"),  # wrong check digit
        ({"data": "hello there", "quantity": "1"}, "receipt_invalid"),  # not GS1
        ({"quantity": "1"}, "receipt_line_unknown"),  # two lines, nothing to tell them apart
        ({"line": 2, "quantity": "1.5"}, "receipt_invalid"),  # bags come whole
        ({"line": 1}, "receipt_invalid"),  # a supply needs its quantity
    ]
    for payload, error in bad_cases:
        response = await post(client, f"{API}/{other['code']}/receive", team.operator, payload)
        assert response.status_code == 422, (payload, response.text)
        assert response.json()["error"]["code"] == error, payload


async def test_a_retried_receipt_changes_nothing(
    client: httpx.AsyncClient, team: Team, db: Database
) -> None:
    order = await approved_order(client, team, {"type": "supply", "quantity": "10"})
    url = f"{API}/{order['code']}/receive"
    body = {"quantity": "4", "client_event_id": "scan-1"}
    first = await post(client, url, team.operator, body)
    second = await post(client, url, team.operator, body)
    assert second.status_code == 200, second.text
    assert second.json()["repeated"] is True
    assert second.json()["items"] == first.json()["items"]
    assert second.json()["order"]["lines"][0]["received_quantity"] == "4.000000"


async def test_a_receipt_id_sent_again_with_other_goods_is_refused(
    client: httpx.AsyncClient, team: Team, db: Database
) -> None:
    """A scanner's retry says what its first attempt said; the same id with another quantity
    (or line, batch, expiry) is a mistake, not a retry: 422, and nothing more is received."""
    order = await approved_order(client, team, {"type": "supply", "quantity": "10"})
    url = f"{API}/{order['code']}/receive"
    first = await post(client, url, team.operator, {"quantity": "4", "client_event_id": "s-1"})
    assert first.status_code == 200, first.text
    for other in ({"quantity": "5"}, {"quantity": "4", "batch": "B2"}):
        refused = await post(client, url, team.operator, {**other, "client_event_id": "s-1"})
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "idempotency_key_reused"
        assert error["details"] == {"order": order["code"], "client_event_id": "s-1"}
    again = await post(client, url, team.operator, {"quantity": "4", "client_event_id": "s-1"})
    assert again.json()["repeated"] is True
    assert again.json()["items"] == first.json()["items"]
    shown = (await client.get(f"{API}/{order['code']}", headers=team.operator.headers)).json()
    assert shown["lines"][0]["received_quantity"] == "4.000000"
    async with db.session_scope("read") as session:
        receipts = await session.scalar(select(func.count()).select_from(RestockReceipt))
    assert receipts == 1


async def test_order_pdf_prints_other_alphabets(client: httpx.AsyncClient, team: Team) -> None:
    order = await new_order(
        client, team.operator, {**SUPPLY, "supplier_ref": "Шприц-5"}, supplier=BEYOND_LATIN_1
    )
    pdf = await client.get(f"{API}/{order['code']}/order.pdf", headers=team.operator.headers)
    assert pdf.status_code == 200
    text = pdf_text(pdf.content)
    assert BEYOND_LATIN_1 in text
    assert "Шприц-5" in text


async def test_csv_and_pdf(client: httpx.AsyncClient, team: Team) -> None:
    # A unit is free text too (an administrator's, up to 16 characters).
    unit = await client.patch(
        "/api/v1/item-types/supply", json={"unit": "=1+1"}, headers=team.admin.headers
    )
    assert unit.status_code == 200, unit.text
    order = await new_order(
        client, team.operator, {**SUPPLY, "supplier_ref": "=HYPERLINK()"}, BAGS, supplier="@evil"
    )
    code = order["code"]
    text = (await client.get(f"{API}/{code}/order.csv", headers=team.operator.headers)).text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["order", code, "status", "draft"]
    assert rows[0][5] == "'@evil"  # no formula reaches a spreadsheet
    assert rows[2] == ["1", "supply", "'=HYPERLINK()", "'=1+1", "100", "0", "100"]
    assert rows[3][:5] == ["2", "bag", "", "items", "3"]
    pdf = await client.get(f"{API}/{code}/order.pdf", headers=team.operator.headers)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    refused = await client.get(f"{API}/{code}/order.pdf", headers=team.viewer.headers)
    assert refused.status_code == 403


@pytest.mark.postgres_only
async def test_twin_receipts_never_receive_twice(
    client: httpx.AsyncClient, team: Team, db: Database
) -> None:
    order = await approved_order(client, team, {"type": "supply", "quantity": "10"})
    url = f"{API}/{order['code']}/receive"

    # Two people receive most of it at once: one wins, the other is told it would go past
    # the order.
    results = await asyncio.gather(
        *(post(client, url, team.operator, {"quantity": "6"}) for _ in range(2))
    )
    assert sorted(r.status_code for r in results) == [200, 422]
    loser = next(r for r in results if r.status_code == 422)
    assert loser.json()["error"]["code"] == "over_receive_reason_required"

    # The same scan sent twice at once (a retry racing its original): recorded once.
    other = await approved_order(client, team, {"type": "supply", "quantity": "10"})
    twins = await asyncio.gather(
        *(
            post(
                client,
                f"{API}/{other['code']}/receive",
                team.operator,
                {"quantity": "3", "client_event_id": "twin"},
            )
            for _ in range(3)
        )
    )
    assert [r.status_code for r in twins] == [200, 200, 200]
    assert sorted(r.json()["repeated"] for r in twins) == [False, True, True]
    async with db.session_scope("read") as session:
        receipts = await session.scalar(select(func.count()).select_from(RestockReceipt))
        lots = await session.scalar(select(func.count()).select_from(Item))
    assert (receipts, lots) == (2, 2)

    # One id sent at once with two different quantities: one is received, the other refused.
    third = await approved_order(client, team, {"type": "supply", "quantity": "10"})
    crossed = await asyncio.gather(
        *(
            post(
                client,
                f"{API}/{third['code']}/receive",
                team.operator,
                {"quantity": quantity, "client_event_id": "crossed"},
            )
            for quantity in ("2", "7")
        )
    )
    assert sorted(r.status_code for r in crossed) == [200, 422]
    refused = next(r for r in crossed if r.status_code == 422)
    assert refused.json()["error"]["code"] == "idempotency_key_reused"
    taken = next(r for r in crossed if r.status_code == 200).json()
    assert taken["order"]["lines"][0]["received_quantity"] == f"{taken['quantity']}.000000"
    async with db.session_scope("read") as session:
        receipts = await session.scalar(select(func.count()).select_from(RestockReceipt))
    assert receipts == 3


async def test_devices_sync_orders_as_the_api_shows_them(
    client: httpx.AsyncClient, team: Team
) -> None:
    device = Replica(team.operator)
    await device.pull(client)
    order = await approved_order(client, team, {"type": "supply", "quantity": "5"})
    await post(client, f"{API}/{order['code']}/receive", team.operator, {"quantity": "2"})
    await device.pull_until(
        client,
        lambda d: any(
            k == "order" and r["status"] == "partly_received" for (k, _), r in d.records.items()
        ),
    )
    (record,) = [r for (k, _), r in device.records.items() if k == "order"]
    shown = (await client.get(f"{API}/{order['code']}", headers=team.operator.headers)).json()
    assert {k: v for k, v in record.items() if k != "updated_at"} == shown
    # Nobody without order.read gets the kind.
    biller = Replica(team.biller)
    await biller.pull(client)
    assert "order" not in {kind for kind, _ in biller.records}
