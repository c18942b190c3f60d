"""Shipment pages and the daily summary's page, as a browser posts them."""

import re
from datetime import date

import httpx

from tests.factories.accounts import csrf_of, web_login
from tests.shipments.conftest import Team, register, sealed_bag


async def test_build_issue_and_dispatch_from_the_pages(
    client: httpx.AsyncClient, team: Team
) -> None:
    bag = await sealed_bag(client, team.operator, contents=("2",))
    open_bag = await register(client, team.operator, type="bag")
    await web_login(client, "bill")
    listing = await client.get("/shipments")
    assert listing.status_code == 200
    assert 'id="new-shipment"' in listing.text
    token = csrf_of(listing.text)
    made = await client.post(
        "/shipments", data={"csrf_token": token, "consignee": "ACME <Lyon>", "destination": "Lyon"}
    )
    assert (made.status_code, made.headers["location"]) == (303, "/shipments/SHP-000001")
    added = await client.post(
        "/shipments/SHP-000001/lines", data={"csrf_token": token, "code": bag.lower()}
    )
    assert added.status_code == 303
    refused = await client.post(
        "/shipments/SHP-000001/lines", data={"csrf_token": token, "code": open_bag}
    )
    assert refused.status_code == 409
    assert f"{open_bag} is open" in refused.text
    assert f'data-line="{bag}"' in refused.text  # the page still shows what is on the bill
    forged = await client.post("/shipments/SHP-000001/lines", data={"code": open_bag})
    assert forged.status_code == 403
    bill_page = await client.get("/shipments/SHP-000001")
    assert "ACME &lt;Lyon&gt;" in bill_page.text
    assert 'id="step-issue"' in bill_page.text
    assert 'id="step-dispatch"' not in bill_page.text
    issued = await client.post(
        "/shipments/SHP-000001/step", data={"csrf_token": token, "step": "issue"}
    )
    assert issued.status_code == 303
    not_allowed = await client.post(
        "/shipments/SHP-000001/step", data={"csrf_token": token, "step": "dispatch"}
    )
    assert not_allowed.status_code == 403

    await web_login(client, "dee")
    page = await client.get("/shipments/SHP-000001")
    token = csrf_of(page.text)
    assert 'id="step-dispatch"' in page.text
    assert 'id="add-line"' not in page.text
    sent = await client.post(
        "/shipments/SHP-000001/step", data={"csrf_token": token, "step": "dispatch"}
    )
    assert sent.status_code == 303
    page = await client.get("/shipments/SHP-000001")
    assert re.search(r'id="bill-status">dispatched<', page.text)
    filtered = await client.get("/shipments?status=dispatched&q=acme")
    assert 'data-shipment="SHP-000001"' in filtered.text
    none = await client.get("/shipments?status=draft")
    assert "No shipments match." in none.text
    assert (await client.get("/reports/daily")).status_code == 403


async def test_daily_page_shows_the_day(client: httpx.AsyncClient, team: Team) -> None:
    await sealed_bag(client, team.operator, contents=("1",))
    await web_login(client, "boss")
    today = (await client.get("/api/v1/reports/daily", headers=team.admin.headers)).json()["date"]
    page = await client.get(f"/reports/daily?date={today}")
    assert page.status_code == 200
    assert re.search(
        r'<meter min="0" max="\d+" value="2" aria-label="Items registered">', page.text
    )
    assert '<th scope="row">sealed</th>' in page.text
    assert '<th scope="row">op</th>' in page.text
    empty = await client.get(f"/reports/daily?date={date(2020, 1, 1)}")
    assert "Nobody yet." in empty.text
    bad = await client.get("/reports/daily?date=yesterday")
    assert bad.status_code == 422
