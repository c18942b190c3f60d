"""The stock, alerts and categories pages, as a browser posts them; the dashboard's card."""

import re

import httpx

from qtrack.core.db import Database
from tests.factories.accounts import AppLogin, csrf_of, signed_in
from tests.factories.items import register
from tests.stock.test_api import quantity


async def test_levels_set_on_the_stock_page_show_the_state_and_the_alert(
    client: httpx.AsyncClient, operator: AppLogin, db: Database
) -> None:
    lot = await register(client, operator, type="supply", quantity="12")
    await signed_in(client, db, "sam", "supervisor")
    listing = await client.get("/stock")
    assert listing.status_code == 200
    assert 'id="levels-form"' in listing.text
    token = csrf_of(listing.text)
    refused = await client.post(
        "/stock/levels",
        data={"csrf_token": token, "type": "supply", "minimum_level": "9", "reorder_level": "3"},
    )
    assert refused.status_code == 422
    assert "reorder_level must not be below minimum_level" in refused.text
    nowhere = await client.post(
        "/stock/levels",
        data={"csrf_token": token, "type": "supply", "location": "MOON", "reorder_level": "3"},
    )
    assert nowhere.status_code == 422
    assert "MOON" in nowhere.text
    saved = await client.post(
        "/stock/levels", data={"csrf_token": token, "type": "supply", "reorder_level": "10"}
    )
    assert saved.status_code == 303
    await quantity(client, operator, lot["code"], "dispense", "4")
    stock = await client.get("/stock", params={"low": "true"})
    assert 'data-type="supply" data-location="" data-state="low"' in stock.text
    home = await client.get("/")
    assert 'id="stock-card"' in home.text
    assert 'data-alerts="1"' in home.text
    alerts = await client.get("/alerts")
    assert "Supply is low on stock: 8 pcs on hand (reorder at 10)" in alerts.text
    (alert_id,) = [
        line.split('data-alert="')[1].split('"')[0]
        for line in alerts.text.splitlines()
        if "data-alert=" in line
    ]
    forged = await client.post(f"/alerts/{alert_id}/acknowledge")
    assert forged.status_code == 403
    seen = await client.post(f"/alerts/{alert_id}/acknowledge", data={"csrf_token": token})
    assert seen.status_code == 303
    assert ">sam<" in (await client.get("/alerts")).text
    assert 'data-alerts="0"' in (await client.get("/")).text


async def test_a_viewer_reads_stock_but_sets_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    await signed_in(client, db, "vera", "viewer")
    listing = await client.get("/stock")
    assert listing.status_code == 200
    assert 'id="levels-form"' not in listing.text
    token = csrf_of(listing.text)
    denied = await client.post("/stock/levels", data={"csrf_token": token, "type": "supply"})
    assert denied.status_code == 403


async def test_categories_are_made_and_archived_from_their_page(
    client: httpx.AsyncClient, db: Database
) -> None:
    await signed_in(client, db, "sam", "supervisor")
    listing = await client.get("/categories")
    token = csrf_of(listing.text)
    made = await client.post(
        "/categories", data={"csrf_token": token, "key": "consumables", "name": "Consumables"}
    )
    assert made.status_code == 303
    child = await client.post(
        "/categories",
        data={"csrf_token": token, "key": "syringes", "name": "Syringes", "parent": "consumables"},
    )
    assert child.status_code == 303
    twin = await client.post(
        "/categories", data={"csrf_token": token, "key": "syringes", "name": "Again"}
    )
    assert twin.status_code == 422
    assert "already exists" in twin.text
    page = await client.get("/categories")
    assert "Consumables \u203a Syringes" in page.text
    busy = await client.post("/categories/consumables/archive", data={"csrf_token": token})
    assert busy.status_code == 409
    gone = await client.post("/categories/syringes/archive", data={"csrf_token": token})
    assert gone.status_code == 303
    assert "Syringes (archived)" in (await client.get("/categories")).text
    items = await client.get("/items", params={"category": "consumables"})
    assert items.status_code == 200
    assert 'id="f-category"' in items.text


async def test_the_stock_page_puts_critical_types_first_then_out_then_low(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin, db: Database
) -> None:
    await register(client, operator, type="supply", quantity="50")
    await register(client, operator, type="material", quantity="2")
    for body in (
        {"type": "supply", "reorder_level": "10"},  # ok
        {"type": "material", "minimum_level": "5", "reorder_level": "8"},  # out
        {"type": "bag", "reorder_level": "0"},  # none on hand: out
    ):
        done = await client.put("/api/v1/stock/levels", json=body, headers=admin.headers)
        assert done.status_code == 200, done.text
    marked = await client.patch(
        "/api/v1/item-types/supply", json={"critical": True}, headers=admin.headers
    )
    assert marked.status_code == 200, marked.text
    await signed_in(client, db, "vic", "viewer")
    page = (await client.get("/stock")).text
    rows = re.findall(r'<tr data-type="([a-z_]+)" data-location="" data-state="([a-z]*)"', page)
    assert rows[:3] == [("supply", "ok"), ("bag", "out"), ("material", "out")]
    supply_row = page.split('data-type="supply"', 1)[1].split("</tr>", 1)[0]
    assert 'title="Critical"' in supply_row
    material_row = page.split('data-type="material"', 1)[1].split("</tr>", 1)[0]
    assert '<span class="badge stock-out">Out</span>' in material_row
    low_only = (await client.get("/stock", params={"low": "true"})).text
    assert 'data-type="supply"' not in low_only
    assert 'data-type="material"' in low_only


async def test_categories_are_renamed_and_moved_from_their_page(
    client: httpx.AsyncClient, db: Database
) -> None:
    await signed_in(client, db, "sam", "supervisor")
    token = csrf_of((await client.get("/categories")).text)
    for key, name, parent in (("a", "A", ""), ("b", "B", "a"), ("c", "C", "")):
        made = await client.post(
            "/categories", data={"csrf_token": token, "key": key, "name": name, "parent": parent}
        )
        assert made.status_code == 303, made.text
    page = (await client.get("/categories")).text
    assert 'id="category-edit-form"' in page

    def edit(**fields: str) -> dict[str, str]:
        return {"csrf_token": token, **{f"edit_{k}": v for k, v in fields.items()}}

    moved = await client.post("/categories/edit", data=edit(key="a", name="Alpha", parent="c"))
    assert moved.status_code == 303, moved.text
    page = (await client.get("/categories")).text
    assert "C \u203a Alpha \u203a B" in page  # b moved with it
    cycle = await client.post("/categories/edit", data=edit(key="c", parent="b"))
    assert cycle.status_code == 422
    assert '<p class="field-error">A category cannot move into itself' in cycle.text
    gone = await client.post("/categories/edit", data=edit(key="zzz", name="Z"))
    assert gone.status_code == 422
    key_field = gone.text.split('id="e-key"', 1)[1].split("</div>", 1)[0]
    assert '<p class="field-error">No category &#39;zzz&#39;</p>' in key_field
    blank = await client.post("/categories/edit", data=edit(key="c", name=" " * 3, parent=""))
    assert blank.status_code == 303  # nothing to change
    top = await client.post("/categories/edit", data=edit(key="a", parent="(top)"))
    assert top.status_code == 303
    assert "Alpha \u203a B" in (await client.get("/categories")).text
    await signed_in(client, db, "vic", "viewer")
    viewer_page = (await client.get("/categories")).text
    assert 'id="category-edit-form"' not in viewer_page
    refused = await client.post(
        "/categories/edit", data={"csrf_token": csrf_of(viewer_page), "edit_key": "a"}
    )
    assert refused.status_code == 403
