"""Categories: a small tree for item types, and the stock list's category filter."""

import asyncio

import httpx
import pytest

from qtrack.core.db import Database
from tests.factories.accounts import AppLogin, signed_in
from tests.factories.items import register


async def create(
    client: httpx.AsyncClient, who: AppLogin, key: str, name: str, parent: str | None = None
) -> httpx.Response:
    return await client.post("/api/v1/categories", json={"key": key, "name": name,
                             "parent": parent}, headers=who.headers)  # fmt: skip


async def test_a_tree_of_categories_filters_the_stock_list(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin
) -> None:
    assert (await create(client, admin, "consumables", "Consumables")).status_code == 201
    made = await create(client, admin, "syringes", "Syringes", "consumables")
    assert made.status_code == 201, made.text
    assert made.json() | {
        "parent": "consumables", "path": ["Consumables", "Syringes"],
        "label": "Consumables \u203a Syringes",
    } == made.json()  # fmt: skip
    changed = await client.patch(
        "/api/v1/item-types/supply", json={"category": "syringes", "critical": True},
        headers=admin.headers,
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert (changed.json()["category"], changed.json()["critical"]) == ("syringes", True)
    stock = await client.get("/api/v1/stock", params={"category": "consumables"},
                             headers=operator.headers)  # fmt: skip
    assert [r["type"] for r in stock.json()] == ["supply"]
    everything = await client.get("/api/v1/stock", headers=operator.headers)
    assert everything.json()[0]["type"] == "supply"  # critical first
    unknown = await client.get("/api/v1/stock", params={"category": "nope"},
                               headers=operator.headers)  # fmt: skip
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "category_not_found")
    listed = await client.get("/api/v1/categories", headers=operator.headers)
    assert [c["key"] for c in listed.json()] == ["consumables", "syringes"]


async def test_the_tree_refuses_cycles_twins_and_archiving_a_parent(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin
) -> None:
    await create(client, admin, "a", "A")
    await create(client, admin, "b", "B", "a")
    twin = await create(client, admin, "a", "Again")
    assert (twin.status_code, twin.json()["error"]["code"]) == (409, "conflict")
    cycle = await client.patch("/api/v1/categories/a", json={"parent": "b"},
                               headers=admin.headers)  # fmt: skip
    assert (cycle.status_code, cycle.json()["error"]["code"]) == (409, "category_cycle")
    busy = await client.post("/api/v1/categories/a/archive", headers=admin.headers)
    assert (busy.status_code, busy.json()["error"]["code"]) == (409, "category_not_empty")
    moved = await client.patch("/api/v1/categories/b", json={"parent": None, "name": "Bee"},
                               headers=admin.headers)  # fmt: skip
    assert (moved.json()["parent"], moved.json()["label"]) == (None, "Bee")
    archived = await client.post("/api/v1/categories/a/archive", headers=admin.headers)
    assert archived.json()["archived"] is True
    denied = await create(client, operator, "c", "C")
    assert denied.status_code == 403
    unknown_parent = await create(client, admin, "d", "D", "zzz")
    assert unknown_parent.status_code == 404
    bad_type = await client.patch("/api/v1/item-types/supply", json={"category": "zzz"},
                                  headers=admin.headers)  # fmt: skip
    assert (bad_type.status_code, bad_type.json()["error"]["code"]) == (404, "category_not_found")


async def test_the_items_list_filters_by_category_and_those_under_it(
    client: httpx.AsyncClient, admin: AppLogin, operator: AppLogin
) -> None:
    await create(client, admin, "consumables", "Consumables")
    await create(client, admin, "syringes", "Syringes", "consumables")
    await client.patch("/api/v1/item-types/supply", json={"category": "syringes"},
                       headers=admin.headers)  # fmt: skip
    supply = await register(client, operator, type="supply", quantity="3")
    await register(client, operator, type="material")
    for key in ("consumables", "syringes"):
        listed = await client.get("/api/v1/items", params={"category": key},
                                  headers=operator.headers)  # fmt: skip
        assert [i["code"] for i in listed.json()["items"]] == [supply["code"]]
    unknown = await client.get("/api/v1/items", params={"category": "zzz"},
                               headers=operator.headers)  # fmt: skip
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "category_not_found")


async def test_the_items_page_filters_by_category_and_those_under_it(
    client: httpx.AsyncClient, db: Database, admin: AppLogin, operator: AppLogin
) -> None:
    await create(client, admin, "consumables", "Consumables")
    await create(client, admin, "syringes", "Syringes", "consumables")
    await client.patch("/api/v1/item-types/supply", json={"category": "syringes"},
                       headers=admin.headers)  # fmt: skip
    supply = (await register(client, operator, type="supply", quantity="3"))["code"]
    material = (await register(client, operator, type="material"))["code"]
    await signed_in(client, db, "viewer1", "viewer")
    everything = await client.get("/items")
    assert supply in everything.text
    assert material in everything.text
    # The filter offers the tree by its labels.
    assert '<option value="syringes">Consumables \u203a Syringes</option>' in everything.text
    for key in ("consumables", "syringes"):
        listed = await client.get("/items", params={"category": key})
        assert listed.status_code == 200
        assert supply in listed.text
        assert material not in listed.text
        assert f'<option value="{key}" selected>' in listed.text
        # Its export link keeps the filter.
        assert f"category={key}" in listed.text
    # An unknown category is the filter form's problem, said on the page.
    unknown = await client.get("/items", params={"category": "zzz"})
    assert unknown.status_code == 400
    assert 'role="alert"' in unknown.text
    assert "zzz" in unknown.text


@pytest.mark.postgres_only
async def test_twin_changes_of_the_tree_at_once_take_turns(
    client: httpx.AsyncClient, admin: AppLogin
) -> None:
    twins = await asyncio.gather(*(create(client, admin, "gloves", "Gloves") for _ in range(3)))
    assert sorted(r.status_code for r in twins) == [201, 409, 409]
    assert {r.json()["error"]["code"] for r in twins if r.status_code == 409} == {"conflict"}
    # Each under the other at once: the second to run would close a cycle and is refused.
    await create(client, admin, "a", "A")
    await create(client, admin, "b", "B")
    moves = await asyncio.gather(
        client.patch("/api/v1/categories/a", json={"parent": "b"}, headers=admin.headers),
        client.patch("/api/v1/categories/b", json={"parent": "a"}, headers=admin.headers),
    )
    assert sorted(r.status_code for r in moves) == [200, 409], [r.text for r in moves]
    refused = next(r for r in moves if r.status_code == 409)
    assert refused.json()["error"]["code"] == "category_cycle"
    tree = (await client.get("/api/v1/categories", headers=admin.headers)).json()
    parents = {c["key"]: c["parent"] for c in tree}
    assert {parents["a"], parents["b"]} in ({"b", None}, {"a", None})  # one under the other
    # A category archived while another is created under it: never a live child of an
    # archived parent.
    await create(client, admin, "masks", "Masks")
    raced = await asyncio.gather(
        client.post("/api/v1/categories/masks/archive", headers=admin.headers),
        create(client, admin, "ffp2", "FFP2", "masks"),
    )
    tree = {c["key"]: c for c in (await client.get(
        "/api/v1/categories", params={"include_archived": "true"}, headers=admin.headers
    )).json()}  # fmt: skip
    if tree["masks"]["archived"]:
        assert "ffp2" not in tree
        assert raced[1].json()["error"]["code"] == "category_archived"
    else:
        assert raced[0].status_code == 409
        assert raced[0].json()["error"]["code"] == "category_not_empty"
