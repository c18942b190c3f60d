"""Admins build the location tree over the API; everyone who reads items can read it."""

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from qtrack.core.db import Database
from qtrack.locations import service as locations_service
from qtrack.locations.models import Location
from tests.factories.accounts import AppLogin, create_user, login
from tests.factories.locations import create_location

URL = "/api/v1/locations"


async def _plant(client: httpx.AsyncClient, who: AppLogin) -> None:
    """PLANT1 > WH-A > Z1 > RACK-3, and an empty PLANT2."""
    await create_location(client, who, "PLANT1", "site")
    await create_location(client, who, "WH-A", "building", "PLANT1")
    await create_location(client, who, "Z1", "zone", "WH-A")
    await create_location(client, who, "RACK-3", "rack", "Z1")
    await create_location(client, who, "PLANT2", "site")


async def _get(client: httpx.AsyncClient, who: AppLogin, code: str) -> dict[str, Any]:
    response = await client.get(f"{URL}/{code}", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _paths(db: Database) -> dict[str, str]:
    """Every location's stored path, checked against its parent's: path = parent path + id."""
    async with db.session_scope("read") as session:
        rows = (
            await session.execute(
                select(Location.id, Location.code, Location.parent_id, Location.path)
            )
        ).all()
    by_id = {row.id: row for row in rows}
    for row in rows:
        above = by_id[row.parent_id].path if row.parent_id is not None else "/"
        assert row.path == f"{above}{row.id}/", row
    return {row.code: row.path for row in rows}


async def test_a_four_level_tree_reads_its_path(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    await create_location(
        client, admin, "PLANT1", "site", latitude=51.5, longitude=-0.12, radius_m=300
    )
    await create_location(client, admin, "WH-A", "building", "PLANT1")
    await create_location(client, admin, "Z1", "zone", "WH-A")
    rack = await create_location(client, admin, "RACK-3", "rack", "Z1")
    assert rack["path_codes"] == ["PLANT1", "WH-A", "Z1", "RACK-3"]
    assert rack["parent"] == "Z1"
    assert rack["archived"] is False

    plant = await _get(client, admin, "PLANT1")
    assert plant["parent"] is None
    assert plant["path_codes"] == ["PLANT1"]
    assert (plant["latitude"], plant["longitude"], plant["radius_m"]) == (51.5, -0.12, 300)
    assert (await _get(client, admin, "RACK-3"))["path_codes"] == rack["path_codes"]
    paths = await _paths(db)
    assert paths["RACK-3"].startswith(paths["Z1"])
    assert paths["Z1"].startswith(paths["PLANT1"])


async def test_codes_are_upper_cased(client: httpx.AsyncClient, admin: AppLogin) -> None:
    await create_location(client, admin, "plant1", "site")
    created = await create_location(client, admin, " wh_b-2 ", "building", "Plant1")
    assert created["code"] == "WH_B-2"
    assert created["path_codes"] == ["PLANT1", "WH_B-2"]
    assert (await _get(client, admin, "wh_b-2"))["code"] == "WH_B-2"


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"code": "PLANT1"}, 409, "conflict"),
        ({"code": "plant1"}, 409, "conflict"),
        ({"parent": "NOWHERE"}, 404, "location_not_found"),
        ({"kind": "planet"}, 422, "validation_error"),
        ({"code": "X" * 65}, 422, "validation_error"),
        ({"code": ""}, 422, "validation_error"),
        ({"code": "A B"}, 422, "validation_error"),
        ({"code": "A/B"}, 422, "validation_error"),
        ({"name": "  "}, 422, "validation_error"),
        ({"latitude": 90.5, "longitude": 0}, 422, "validation_error"),
        ({"latitude": 0, "longitude": -181}, 422, "validation_error"),
        ({"latitude": 10}, 422, "validation_error"),
        ({"longitude": 10}, 422, "validation_error"),
        ({"radius_m": -1}, 422, "validation_error"),
        ({"path": "/1/"}, 422, "validation_error"),
    ],
)
async def test_create_refuses_bad_input(
    client: httpx.AsyncClient,
    admin: AppLogin,
    db: Database,
    changes: dict[str, Any],
    status: int,
    code: str,
) -> None:
    await create_location(client, admin, "PLANT1", "site")
    body = {"code": "NEW-1", "name": "New", "kind": "zone", **changes}
    response = await client.post(URL, headers=admin.headers, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert set(await _paths(db)) == {"PLANT1"}  # nothing half-written


async def test_coordinates_must_be_finite(client: httpx.AsyncClient, admin: AppLogin) -> None:
    response = await client.post(
        URL,
        headers={**admin.headers, "Content-Type": "application/json"},
        content=b'{"code": "A", "name": "A", "kind": "site", "latitude": NaN, "longitude": 1}',
    )
    assert response.status_code == 422


async def test_list_filters_and_pages(client: httpx.AsyncClient, admin: AppLogin) -> None:
    await _plant(client, admin)
    for n in range(1, 6):
        await create_location(client, admin, f"BIN-{n}", "shelf", "RACK-3")
    await create_location(client, admin, "COLD", "area", "PLANT2")

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, "parent": "rack-3"}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(URL, headers=admin.headers, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [loc["code"] for loc in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"BIN-{n}" for n in range(1, 6)]
    assert pages == 3

    async def codes(**params: Any) -> list[str]:
        response = await client.get(URL, headers=admin.headers, params=params)
        assert response.status_code == 200, response.text
        return [loc["code"] for loc in response.json()["items"]]

    assert len(await codes()) == 11
    assert await codes(kind="site") == ["PLANT1", "PLANT2"]
    assert await codes(q="bin-") == [f"BIN-{n}" for n in range(1, 6)]
    assert await codes(q="COLD NA") == ["COLD"]  # the name, "COLD name", in any case
    assert await codes(q="%") == []  # a wildcard is a plain character
    assert await codes(parent="PLANT2", kind="area") == ["COLD"]
    listed = (await client.get(URL, headers=admin.headers, params={"q": "bin-5"})).json()
    assert listed["items"][0]["path_codes"] == ["PLANT1", "WH-A", "Z1", "RACK-3", "BIN-5"]

    missing = await client.get(URL, headers=admin.headers, params={"parent": "NOWHERE"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "location_not_found"
    bad: list[dict[str, Any]] = [
        {"kind": "planet"},
        {"limit": 201},
        {"cursor": "!!!"},
        {"q": "x" * 201},
    ]
    for query in bad:
        response = await client.get(URL, headers=admin.headers, params=query)
        assert response.status_code in (400, 422), query


async def test_tree_nests_every_location(client: httpx.AsyncClient, admin: AppLogin) -> None:
    await _plant(client, admin)
    await create_location(client, admin, "Z0", "zone", "WH-A")
    response = await client.get(f"{URL}/tree", headers=admin.headers)
    assert response.status_code == 200
    assert response.json() == [
        {
            "code": "PLANT1",
            "name": "PLANT1 name",
            "kind": "site",
            "children": [
                {
                    "code": "WH-A",
                    "name": "WH-A name",
                    "kind": "building",
                    "children": [
                        {"code": "Z0", "name": "Z0 name", "kind": "zone", "children": []},
                        {
                            "code": "Z1",
                            "name": "Z1 name",
                            "kind": "zone",
                            "children": [
                                {
                                    "code": "RACK-3",
                                    "name": "RACK-3 name",
                                    "kind": "rack",
                                    "children": [],
                                }
                            ],
                        },
                    ],
                }
            ],
        },
        {"code": "PLANT2", "name": "PLANT2 name", "kind": "site", "children": []},
    ]


async def test_moving_a_location_moves_its_subtree(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    await _plant(client, admin)
    before = await _paths(db)
    moved = await client.patch(f"{URL}/wh-a", headers=admin.headers, json={"parent": "plant2"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["path_codes"] == ["PLANT2", "WH-A"]
    assert (await _get(client, admin, "RACK-3"))["path_codes"] == ["PLANT2", "WH-A", "Z1", "RACK-3"]
    after = await _paths(db)  # checks every row against its parent
    assert after["PLANT1"] == before["PLANT1"]
    assert after["RACK-3"].startswith(after["PLANT2"])

    to_top = await client.patch(f"{URL}/Z1", headers=admin.headers, json={"parent": None})
    assert to_top.status_code == 200
    assert to_top.json()["parent"] is None
    assert (await _get(client, admin, "RACK-3"))["path_codes"] == ["Z1", "RACK-3"]
    await _paths(db)
    tree = (await client.get(f"{URL}/tree", headers=admin.headers)).json()
    assert [node["code"] for node in tree] == ["PLANT1", "PLANT2", "Z1"]


@pytest.mark.parametrize("new_parent", ["WH-A", "Z1", "RACK-3"])
async def test_a_location_cannot_move_into_itself(
    client: httpx.AsyncClient, admin: AppLogin, db: Database, new_parent: str
) -> None:
    await _plant(client, admin)
    before = await _paths(db)
    response = await client.patch(
        f"{URL}/WH-A", headers=admin.headers, json={"parent": new_parent, "name": "Renamed"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "location_cycle"
    assert await _paths(db) == before
    assert (await _get(client, admin, "WH-A"))["name"] == "WH-A name"


async def test_update_fields(client: httpx.AsyncClient, admin: AppLogin) -> None:
    await _plant(client, admin)
    response = await client.patch(
        f"{URL}/z1",
        headers=admin.headers,
        json={"name": "Cold zone", "kind": "area", "latitude": 1.5, "longitude": 2.5},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["kind"], body["latitude"], body["longitude"]) == (
        "Cold zone",
        "area",
        1.5,
        2.5,
    )
    assert body["path_codes"] == ["PLANT1", "WH-A", "Z1"]
    # Only one coordinate changes: fine once there is a point; clearing one alone is not.
    assert (await client.patch(f"{URL}/Z1", headers=admin.headers, json={"latitude": -3})).json()[
        "latitude"
    ] == -3
    same_parent = await client.patch(f"{URL}/Z1", headers=admin.headers, json={"parent": "WH-A"})
    assert same_parent.status_code == 200

    refused = [
        ({"latitude": None}, 422),
        ({"name": None}, 422),
        ({"kind": None}, 422),
        ({"kind": "planet"}, 422),
        ({"code": "Z2"}, 422),
        ({"radius_m": -5}, 422),
        ({"parent": "NOWHERE"}, 404),
    ]
    for changes, status in refused:
        response = await client.patch(f"{URL}/Z1", headers=admin.headers, json=changes)
        assert response.status_code == status, (changes, response.text)
    plain = await client.patch(f"{URL}/PLANT2", headers=admin.headers, json={"longitude": 4})
    assert plain.status_code == 422
    assert plain.json()["error"]["details"][0]["loc"] == ["body", "latitude"]
    missing = await client.patch(f"{URL}/NOWHERE", headers=admin.headers, json={"name": "x"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "location_not_found"
    assert (await _get(client, admin, "Z1"))["latitude"] == -3


async def test_archive_only_empty_locations(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    await _plant(client, admin)
    full = await client.post(f"{URL}/Z1/archive", headers=admin.headers)
    assert full.status_code == 409
    assert full.json()["error"]["code"] == "location_not_empty"
    assert (await _get(client, admin, "Z1"))["archived"] is False

    leaf = await client.post(f"{URL}/rack-3/archive", headers=admin.headers)
    assert leaf.status_code == 200
    assert leaf.json()["archived"] is True
    again = await client.post(f"{URL}/RACK-3/archive", headers=admin.headers)
    assert again.status_code == 200
    # Only archived children left: the zone can go too.
    assert (await client.post(f"{URL}/Z1/archive", headers=admin.headers)).status_code == 200

    listed = (await client.get(URL, headers=admin.headers)).json()["items"]
    assert [loc["code"] for loc in listed] == ["PLANT1", "WH-A", "PLANT2"]
    everything = (
        await client.get(URL, headers=admin.headers, params={"include_archived": True})
    ).json()["items"]
    assert len(everything) == 5
    assert (await _get(client, admin, "RACK-3"))["archived"] is True
    tree = (await client.get(f"{URL}/tree", headers=admin.headers)).json()
    assert tree[0]["children"][0]["children"] == []

    for response in (
        await client.post(
            URL,
            headers=admin.headers,
            json={"code": "B", "name": "B", "kind": "shelf", "parent": "Z1"},
        ),
        await client.patch(f"{URL}/PLANT2", headers=admin.headers, json={"parent": "Z1"}),
    ):
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "location_archived"
    await _paths(db)


async def test_nesting_is_limited(client: httpx.AsyncClient, admin: AppLogin, db: Database) -> None:
    parent = None
    for level in range(1, locations_service.MAX_DEPTH + 1):
        await create_location(client, admin, f"L{level}", "area", parent)
        parent = f"L{level}"
    too_deep = await client.post(
        URL,
        headers=admin.headers,
        json={"code": "DEEP", "name": "D", "kind": "area", "parent": parent},
    )
    assert too_deep.status_code == 409
    assert too_deep.json()["error"]["code"] == "location_too_deep"

    await create_location(client, admin, "TOP", "site")
    await create_location(client, admin, "UNDER", "zone", "TOP")
    before = await _paths(db)
    # TOP would fit at the deepest level but UNDER would not.
    moved = await client.patch(
        f"{URL}/TOP", headers=admin.headers, json={"parent": f"L{locations_service.MAX_DEPTH - 1}"}
    )
    assert moved.status_code == 409
    assert moved.json()["error"]["code"] == "location_too_deep"
    assert await _paths(db) == before


async def test_an_operator_reads_but_does_not_manage(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    await _plant(client, admin)
    await create_user(db, "opal", "operator")
    operator = await login(client, "opal")
    writes = [
        ("POST", URL, {"code": "X", "name": "X", "kind": "site"}),
        ("PATCH", f"{URL}/Z1", {"name": "Mine"}),
        ("POST", f"{URL}/RACK-3/archive", None),
    ]
    for method, url, body in writes:
        response = await client.request(method, url, headers=operator.headers, json=body)
        assert response.status_code == 403, (method, url)
        assert response.json()["error"]["code"] == "permission_denied"
    assert (await _get(client, operator, "RACK-3"))["archived"] is False
    assert (await _get(client, operator, "Z1"))["name"] == "Z1 name"
    assert len((await client.get(URL, headers=operator.headers)).json()["items"]) == 5


async def test_a_viewer_reads(client: httpx.AsyncClient, admin: AppLogin, db: Database) -> None:
    await _plant(client, admin)
    await create_user(db, "vic", "viewer")
    viewer = await login(client, "vic")
    assert (await _get(client, viewer, "RACK-3"))["path_codes"][0] == "PLANT1"
    tree = await client.get(f"{URL}/tree", headers=viewer.headers)
    assert [node["code"] for node in tree.json()] == ["PLANT1", "PLANT2"]
    page = await client.get(URL, headers=viewer.headers, params={"kind": "rack"})
    assert [loc["code"] for loc in page.json()["items"]] == ["RACK-3"]
    assert (await client.get(URL)).status_code == 401


async def test_lookups_for_other_domains(
    client: httpx.AsyncClient, admin: AppLogin, db: Database
) -> None:
    await _plant(client, admin)
    async with db.session_scope("read") as session:
        rack = await locations_service.get_by_code(session, "rack-3")
        assert rack.code == "RACK-3"
        subtree = await locations_service.subtree_ids_select(session, "WH-A")
        inside = (
            await session.scalars(select(Location.code).where(Location.id.in_(subtree)))
        ).all()
        assert sorted(inside) == ["RACK-3", "WH-A", "Z1"]
        codes = await locations_service.codes_by_id(session, [rack.id, 999_999])
        assert codes == {rack.id: "RACK-3"}
        assert await locations_service.codes_by_id(session, []) == {}
        with pytest.raises(locations_service.LocationNotFound):
            await locations_service.get_by_code(session, "NOWHERE")
