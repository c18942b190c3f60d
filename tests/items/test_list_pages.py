"""The items list and the new-item form."""

import httpx

from qtrack.core.db import Database
from tests.factories.accounts import AppLogin, signed_in
from tests.factories.items import codes_of


async def test_new_item_form_shows_errors_on_the_field(
    client: httpx.AsyncClient, db: Database
) -> None:
    await signed_in(client, db, "op", "operator")
    page = await client.get("/items/new")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = await client.post(
        "/items/new",
        data={"csrf_token": token, "type": "material", "gtin": "123", "count": "2"},
    )
    assert response.status_code == 422
    assert 'id="e-gtin"' in response.text
    assert 'aria-invalid="true"' in response.text
    checksum = await client.post(
        "/items/new", data={"csrf_token": token, "type": "material", "gtin": "12345678"}
    )
    assert checksum.status_code == 422
    assert "wrong check digit" in checksum.text
    unknown = await client.post(
        "/items/new", data={"csrf_token": token, "type": "bag", "location": "NOWHERE"}
    )
    assert unknown.status_code == 404
    assert 'id="e-location"' in unknown.text
    created = await client.post(
        "/items/new", data={"csrf_token": token, "type": "bag", "count": "3", "name": "Sacks"}
    )
    assert created.status_code == 201
    assert 'data-created="BAG-000001,BAG-000002,BAG-000003"' in created.text


async def test_the_items_list_filters_and_says_when_a_filter_is_wrong(
    client: httpx.AsyncClient, db: Database, admin: AppLogin
) -> None:
    lots = await codes_of(client, admin, 2, name="Lactose")
    bags = await codes_of(client, admin, 2, type="bag")
    await signed_in(client, db, "vic", "viewer")
    everything = await client.get("/items")
    assert everything.status_code == 200
    for code in lots + bags:
        assert f'href="/items/{code}"' in everything.text
    only_bags = await client.get("/items", params={"type": "bag"})
    assert only_bags.status_code == 200
    for code in bags:
        assert f'href="/items/{code}"' in only_bags.text
    for code in lots:
        assert f'href="/items/{code}"' not in only_bags.text
    wrong = await client.get("/items", params={"expiring_before": "31.12.2027"})
    assert wrong.status_code == 400
    assert "A filter is not valid" in wrong.text
    # A viewer is not offered to register items.
    assert 'href="/items/new"' not in everything.text
