"""Order pages as a browser posts them: draft, steps, and the receive screen a scanner
types into."""

import re

import httpx

from tests.factories.accounts import csrf_of, web_login
from tests.orders.conftest import API, Team, approved_order, post


async def test_draft_submit_approve_and_receive_from_the_pages(
    client: httpx.AsyncClient, team: Team
) -> None:
    await web_login(client, "op")
    listing = await client.get("/orders")
    assert listing.status_code == 200
    assert 'id="new-order"' in listing.text
    assert 'href="/orders"' in listing.text  # the navigation names the section
    token = csrf_of(listing.text)
    made = await client.post("/orders", data={"csrf_token": token, "supplier": "MedCo <EU>"})
    assert (made.status_code, made.headers["location"]) == (303, "/orders/ORD-000001")

    refused = await client.post(
        "/orders/ORD-000001/lines",
        data={"csrf_token": token, "type": "supply", "quantity": "-1"},
    )
    assert refused.status_code == 422
    assert 'aria-invalid="true" aria-describedby="e-quantity"' in refused.text
    for line in (
        {"type": "supply", "quantity": "10", "supplier_ref": "09506000134352"},
        {"type": "bag", "quantity": "2"},
    ):
        added = await client.post("/orders/ORD-000001/lines", data={"csrf_token": token, **line})
        assert added.status_code == 303, added.text
    page = await client.get("/orders/ORD-000001")
    assert "MedCo &lt;EU&gt;" in page.text
    assert page.text.count("data-line=") == 2
    assert 'id="step-submit"' in page.text
    assert 'id="step-approve"' not in page.text
    forged = await client.post("/orders/ORD-000001/step", data={"step": "submit"})
    assert forged.status_code == 403
    submitted = await client.post(
        "/orders/ORD-000001/step", data={"csrf_token": token, "step": "submit"}
    )
    assert submitted.status_code == 303
    early = await client.get("/orders/ORD-000001/receive")
    assert 'id="not-receiving"' in early.text

    await web_login(client, "sue")
    page = await client.get("/orders/ORD-000001")
    approved = await client.post(
        "/orders/ORD-000001/step", data={"csrf_token": csrf_of(page.text), "step": "approve"}
    )
    assert approved.status_code == 303
    again = await client.post(
        "/orders/ORD-000001/step", data={"csrf_token": csrf_of(page.text), "step": "approve"}
    )
    assert again.status_code == 409
    assert 'id="order-error"' in again.text

    await web_login(client, "op")
    # Scanning the order's QR (its page's URL) opens its receive screen.
    found = await client.get(
        "/orders/receive", params={"order": "HTTP://127.0.0.1:8000/ORDERS/ORD-000001"}
    )
    assert (found.status_code, found.headers["location"]) == (303, "/orders/ORD-000001/receive")
    screen = await client.get("/orders/ORD-000001/receive")
    token = csrf_of(screen.text)
    attempt = re.search(r'name="client_event_id" value="([0-9a-f]+)"', screen.text)
    assert attempt is not None
    scan = {
        "csrf_token": token,
        "client_event_id": attempt.group(1),
        "data": "(01)09506000134352(17)271231(10)LOT9",
    }
    over = await client.post("/orders/ORD-000001/receive", data={**scan, "quantity": "12"})
    assert over.status_code == 422
    assert "say why more is taken in" in over.text
    # The refusal sits on the reason field, which takes the focus.
    assert 'id="e-reason"' in over.text
    assert re.search(r'<input id="f-reason" name="reason"[^>]* autofocus', over.text)
    assert not re.search(r'<input id="f-data"[^>]* autofocus', over.text)
    received = await client.post("/orders/ORD-000001/receive", data={**scan, "quantity": "10"})
    assert received.status_code == 303, received.text
    # The same form sent twice (a double click) is one receipt.
    twice = await client.post("/orders/ORD-000001/receive", data={**scan, "quantity": "10"})
    assert twice.status_code == 303
    after = await client.get("/orders/ORD-000001/receive")
    assert 'id="last-receipt"' in after.text
    assert "Received 10 on line 1: SUP-000001." in after.text
    # The new lot's label prints from the receive screen.
    labels = re.search(r'id="receipt-labels" href="([^"]+)"', after.text)
    assert labels is not None
    assert labels.group(1) == "/api/v1/labels.pdf?items=SUP-000001"
    pdf = await client.get(labels.group(1))
    assert (pdf.status_code, pdf.content[:4]) == (200, b"%PDF")
    assert after.text.count("data-receipt=") == 1
    bags = await client.post(
        "/orders/ORD-000001/receive",
        data={"csrf_token": token, "line": "2", "quantity": "2", "client_event_id": "b"},
    )
    assert bags.status_code == 303
    done = await client.get("/orders/ORD-000001")
    assert '<span class="muted" id="order-status">received</span>' in done.text
    assert 'id="receive-link"' not in done.text

    await web_login(client, "vic")
    assert (await client.get("/orders")).status_code == 403


async def test_a_draft_line_s_quantity_is_set_on_the_page_at_the_version_shown(
    client: httpx.AsyncClient, team: Team
) -> None:
    await web_login(client, "op")
    token = csrf_of((await client.get("/orders")).text)
    await client.post("/orders", data={"csrf_token": token, "supplier": "MedCo"})
    for line in ({"type": "supply", "quantity": "10"}, {"type": "bag", "quantity": "2"}):
        await client.post("/orders/ORD-000001/lines", data={"csrf_token": token, **line})
    page = (await client.get("/orders/ORD-000001")).text
    assert 'id="q-1" name="quantity" inputmode="decimal" size="8" value="10"' in page
    shown = re.search(r'name="version" value="(\d+)"', page)
    assert shown is not None
    version = shown.group(1)
    changed = await client.post(
        "/orders/ORD-000001/lines/1",
        data={"csrf_token": token, "version": version, "quantity": "25"},
    )
    assert changed.status_code == 303, changed.text
    page = (await client.get("/orders/ORD-000001")).text
    assert 'id="q-1" name="quantity" inputmode="decimal" size="8" value="25"' in page
    # A second tab still showing the old version changes nothing and says why.
    stale = await client.post(
        "/orders/ORD-000001/lines/2",
        data={"csrf_token": token, "version": version, "quantity": "9"},
    )
    assert stale.status_code == 412
    assert "The order changed since this page was shown" in stale.text
    assert 'id="q-2" name="quantity" inputmode="decimal" size="8" value="2"' in stale.text
    for garbled in ("²", "x", "-1"):
        forged = await client.post(
            "/orders/ORD-000001/lines/2",
            data={"csrf_token": token, "version": garbled, "quantity": "9"},
        )
        assert forged.status_code == 412, (garbled, forged.status_code)
        assert "The order changed since this page was shown" in forged.text
    bad = await client.post(
        "/orders/ORD-000001/lines/2", data={"csrf_token": token, "quantity": "lots"}
    )
    assert bad.status_code == 422
    assert "Line 2:" in bad.text
    missing = await client.post(
        "/orders/ORD-000001/lines/7", data={"csrf_token": token, "quantity": "3"}
    )
    assert missing.status_code == 404
    # Once submitted, the lines show as text and cannot be changed.
    await client.post("/orders/ORD-000001/step", data={"csrf_token": token, "step": "submit"})
    page = (await client.get("/orders/ORD-000001")).text
    assert 'id="q-1"' not in page
    late = await client.post(
        "/orders/ORD-000001/lines/1", data={"csrf_token": token, "quantity": "30"}
    )
    assert late.status_code == 409
    assert "its lines can no longer be changed" in late.text


async def test_a_partly_received_order_is_closed_from_its_page(
    client: httpx.AsyncClient, team: Team
) -> None:
    order = await approved_order(client, team, {"type": "supply", "quantity": "10"})
    code = order["code"]
    await web_login(client, "sue")
    page = await client.get(f"/orders/{code}")
    assert 'id="step-close"' not in page.text  # nothing has come yet: cancel instead
    got = await post(client, f"{API}/{code}/receive", team.operator, {"quantity": "4"})
    assert got.status_code == 200, got.text
    page = await client.get(f"/orders/{code}")
    assert 'id="step-close"' in page.text
    assert 'id="step-cancel"' not in page.text
    token = csrf_of(page.text)
    blank = await client.post(
        f"/orders/{code}/step", data={"csrf_token": token, "step": "close", "reason": ""}
    )
    assert blank.status_code == 422
    assert "Say why the rest of the order will not come" in blank.text
    closed = await client.post(
        f"/orders/{code}/step",
        data={"csrf_token": token, "step": "close", "reason": "Supplier out of stock"},
    )
    assert closed.status_code == 303, closed.text
    shown = await client.get(f"/orders/{code}")
    assert '<span class="muted" id="order-status">closed</span>' in shown.text
    assert "“Supplier out of stock”" in shown.text
    assert 'id="step-close"' not in shown.text
    assert 'id="receive-link"' not in shown.text
