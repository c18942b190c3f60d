"""POST /api/v1/imports: a table checked row by row, then written all or nothing."""

import asyncio
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from qtrack.core.db import Database
from qtrack.events.models import Event
from qtrack.imports.models import ImportFile, ImportMapping
from qtrack.item_types.models import ItemType
from qtrack.items.models import Item
from qtrack.locations.models import Location
from qtrack.signing.models import ItemLabel
from tests.factories.xlsx import write_xlsx
from tests.imports.conftest import Floor, upload

GOOD = b"""type,name,location,batch,expiry_on,quantity
material,Lactose,WH-A,B-17,2027-03-31,25
material,Talc,wh-b,T-9,,2.5
bag,Outbound bag,WH-A,,,
"""


async def count(db: Database, model: Any) -> int:
    async with db.session_scope("read") as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def written(db: Database) -> tuple[int, int, int]:
    return (await count(db, Item), await count(db, Event), await count(db, ItemLabel))


async def test_a_dry_run_checks_everything_and_writes_nothing_then_runs_for_real(
    client: httpx.AsyncClient, db: Database, floor: Floor
) -> None:
    checked = await upload(client, floor.operator, GOOD, dry_run=True)

    assert checked.status_code == 201, checked.text
    body = checked.json()
    assert (body["status"], body["dry_run"], body["problems"]) == ("checked", True, [])
    assert (body["rows_total"], body["rows_checked"], body["rows_written"]) == (3, 3, 0)
    assert body["mapping"] == {c: c for c in body["header"]}
    assert await written(db) == (0, 0, 0)

    done = await client.post(
        f"/api/v1/imports/{body['id']}/run", json={"dry_run": False}, headers=floor.operator.headers
    )

    assert done.status_code == 200, done.text
    result = done.json()
    assert (result["status"], result["rows_written"]) == ("done", 3)
    assert result["created"] == [
        {"type": "material", "first": "MAT-000001", "last": "MAT-000002", "count": 2,
         "key": None},
        {"type": "bag", "first": "BAG-000001", "last": "BAG-000001", "count": 1, "key": None},
    ]  # fmt: skip
    assert await written(db) == (3, 3, 3)
    talc = (await client.get("/api/v1/items/MAT-000002", headers=floor.operator.headers)).json()
    assert (talc["name"], talc["location"], talc["batch"]) == ("Talc", "WH-B", "T-9")
    again = await client.get(f"/api/v1/imports/{body['id']}", headers=floor.operator.headers)
    assert again.json()["status"] == "done"
    assert await count(db, ImportFile) == 0, "the file is let go once imported"
    refused = await client.post(
        f"/api/v1/imports/{body['id']}/run", json={"dry_run": False}, headers=floor.operator.headers
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "import_not_runnable")


async def test_every_problem_is_listed_by_row_and_column_and_nothing_is_written(
    client: httpx.AsyncClient, db: Database, floor: Floor
) -> None:
    content = (
        b"Type,Name,Where,Qty\n"
        b"material,Fine,WH-A,1\n"
        b"material,Lost,NOWHERE,\n"
        b"widget,Unknown type,,\n"
        b"bag,Counted bag,,3\n"
        b"material,Negative,,-1\n"
    )
    response = await upload(client, floor.operator, content, mapping='{"Where": "location"}')

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "refused"
    problems = [(p["row"], p["column"], p["field"]) for p in body["problems"]]
    assert problems == [
        (3, "Where", "location"),
        (4, "Type", "type"),
        (5, "Qty", "quantity"),
        (6, "Qty", "quantity"),
    ]
    assert "NOWHERE" in body["problems"][0]["msg"]
    assert await written(db) == (0, 0, 0)


async def test_an_unknown_column_is_a_problem_until_it_is_mapped_or_left_out(
    client: httpx.AsyncClient, db: Database, floor: Floor
) -> None:
    content = b"type,name,Colour\nmaterial,Talc,red\n"

    refused = (await upload(client, floor.operator, content)).json()

    assert refused["status"] == "refused"
    assert refused["problems"] == [
        {"row": 1, "column": "Colour", "field": None,
         "msg": "matches no field: map it to one, or leave it out"},
    ]  # fmt: skip
    done = await client.post(
        f"/api/v1/imports/{refused['id']}/run",
        json={"mapping": {"Colour": None}},
        headers=floor.operator.headers,
    )
    assert done.json()["status"] == "done"
    assert await count(db, Item) == 1


async def test_an_xlsx_file_is_mapped_and_the_mapping_is_remembered_for_its_layout(
    client: httpx.AsyncClient, db: Database, floor: Floor, tmp_path: Path
) -> None:
    rows: list[list[Any]] = [
        ["Item type", "Product", "Lot", "Expiry", "Amount", "Notes"],
        ["material", "Lactose", "B-1", "2027-03-31", 25, "first"],
        ["material", "Talc", 1234, None, 2.5, None],
    ]
    path = write_xlsx(tmp_path / "stock.xlsx", rows)
    mapping = '{"Product": "name", "Notes": null}'

    first = await upload(client, floor.operator, path, filename="stock.xlsx", mapping=mapping)

    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["format"], body["status"]) == ("xlsx", "done")
    assert body["mapping"] == {
        "Item type": "type", "Product": "name", "Lot": "batch", "Expiry": "expiry_on",
        "Amount": "quantity", "Notes": None,
    }  # fmt: skip
    talc = (await client.get("/api/v1/items/MAT-000002", headers=floor.operator.headers)).json()
    assert (talc["name"], talc["batch"], Decimal(talc["quantity"])) == (
        "Talc",
        "1234",
        Decimal("2.5"),
    )
    assert await count(db, ImportMapping) == 1

    rows[1][1], rows[2][1] = "Lactose again", "Talc again"
    second = await upload(client, floor.operator, write_xlsx(tmp_path / "b.xlsx", rows))

    assert second.json()["status"] == "done", second.text
    assert second.json()["mapping"] == body["mapping"]
    assert await count(db, Item) == 4


async def test_a_formula_is_never_evaluated_and_named_where_it_is(
    client: httpx.AsyncClient, db: Database, floor: Floor, tmp_path: Path
) -> None:
    path = write_xlsx(
        tmp_path / "f.xlsx",
        [["type", "name", "quantity"], ["material", "Talc", 1], ["material", "Sum", ("=", "1+1")]],
    )

    body = (await upload(client, floor.operator, path, filename="f.xlsx")).json()

    assert body["status"] == "refused"
    assert [(p["row"], p["column"]) for p in body["problems"]] == [(3, "quantity")]
    assert "formula" in body["problems"][0]["msg"]
    assert await count(db, Item) == 0


async def test_a_csv_in_another_encoding_or_separated_otherwise_is_explained(
    client: httpx.AsyncClient, db: Database, floor: Floor
) -> None:
    latin = "type,name\nmaterial,Müller\n".encode("latin-1")

    wrong = await upload(client, floor.operator, latin)

    assert wrong.status_code == 422
    error = wrong.json()["error"]
    assert error["code"] == "import_bad_encoding"
    assert error["details"]["line"] == 2
    assert "CSV UTF-8" in error["message"]

    semicolons = b"type;name\nmaterial;Talc\n"
    refused = await upload(client, floor.operator, semicolons)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "import_bad_delimiter"
    assert "delimiter=';'" in refused.json()["error"]["message"]

    named = await upload(client, floor.operator, semicolons, delimiter=";")
    assert named.json()["status"] == "done", named.text
    assert await count(db, Item) == 1


async def test_a_file_that_is_no_table_is_refused(client: httpx.AsyncClient, floor: Floor) -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100
    for content, code in [
        (ole, "import_bad_format"),
        (b"PK\x03\x04 not really a zip", "import_bad_format"),
        (b"", "import_empty"),
    ]:
        response = await upload(client, floor.operator, content)
        assert (response.status_code, response.json()["error"]["code"]) == (422, code), content


async def test_a_decompression_bomb_is_refused_unread(
    client: httpx.AsyncClient, db: Database, floor: Floor, tmp_path: Path
) -> None:
    path = write_xlsx(tmp_path / "bomb.xlsx", [["type", "name"], ["material", "x" * 8_000_000]])

    response = await upload(client, floor.operator, path, filename="bomb.xlsx")

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "import_xlsx_bomb"
    assert error["details"]["member"] == "xl/worksheets/sheet1.xml"
    assert await count(db, Item) == 0


async def test_locations_come_parents_first_whatever_the_order_of_the_rows(
    client: httpx.AsyncClient, db: Database, floor: Floor
) -> None:
    content = b"code,name,kind,parent\nSHELF-1,Shelf 1,shelf,RACK-1\nRACK-1,Rack 1,rack,WH-A\n"

    body = (await upload(client, floor.admin, content, kind="locations")).json()

    assert body["status"] == "done", body
    assert body["created"] == [
        {"type": None, "first": None, "last": None, "count": None, "key": "RACK-1"},
        {"type": None, "first": None, "last": None, "count": None, "key": "SHELF-1"},
    ]
    shelf = (await client.get("/api/v1/locations/SHELF-1", headers=floor.admin.headers)).json()
    assert shelf["parent"] == "RACK-1"


async def test_location_problems_are_all_named(
    client: httpx.AsyncClient, db: Database, floor: Floor
) -> None:
    before = await count(db, Location)
    content = (
        b"code,name,kind,parent\n"
        b"WH-A,Again,building,PLANT\n"  # exists
        b"Z-1,Zone,zone,NOWHERE\n"
        b"Z-2,Zone,planet,\n"
        b"L-1,Loop,zone,L-2\n"
        b"L-2,Loop,zone,L-1\n"
        b"Z-3,Zone,zone,\n"
        b"Z-3,Twice,zone,\n"
    )

    body = (await upload(client, floor.admin, content, kind="locations")).json()

    assert body["status"] == "refused"
    assert [(p["row"], p["field"]) for p in body["problems"]] == [
        (2, "code"), (3, "parent"), (4, "kind"), (5, "parent"), (6, "parent"), (8, "code"),
    ]  # fmt: skip
    assert await count(db, Location) == before


async def test_item_types_are_imported_through_their_use_case(
    client: httpx.AsyncClient, db: Database, floor: Floor
) -> None:
    before = await count(db, ItemType)
    content = (
        b"key,name,code_prefix,workflow,tracks_quantity,unit\n"
        b"powder,Powder,POW,material,yes,kg\n"
        b"crate,Crate,CRT,nope,no,\n"
    )
    refused = (await upload(client, floor.admin, content, kind="item_types")).json()
    assert [(p["row"], p["field"], p["msg"]) for p in refused["problems"]] == [
        (3, "workflow", "no workflow 'nope'")
    ]
    assert await count(db, ItemType) == before

    fixed = content.replace(b"nope", b"bag")
    done = (await upload(client, floor.admin, fixed, kind="item_types")).json()
    assert done["status"] == "done", done
    powder = (await client.get("/api/v1/item-types/powder", headers=floor.admin.headers)).json()
    assert (powder["code_prefix"], powder["tracks_quantity"], powder["unit"]) == ("POW", True, "kg")


async def test_who_may_import_what(client: httpx.AsyncClient, floor: Floor) -> None:
    types = b"key,name,code_prefix,workflow\npowder,Powder,POW,material\n"
    assert (await upload(client, floor.viewer, GOOD)).status_code == 403
    refused = await upload(client, floor.operator, types, kind="item_types")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "permission_denied")
    mine = (await upload(client, floor.operator, GOOD, dry_run=True)).json()
    seen = await client.get(f"/api/v1/imports/{mine['id']}", headers=floor.operator.headers)
    assert seen.status_code == 200
    listed = await client.get("/api/v1/imports", headers=floor.operator.headers)
    assert [i["id"] for i in listed.json()] == [mine["id"]]
    missing = await client.get("/api/v1/imports/999", headers=floor.operator.headers)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "import_not_found")


async def test_two_imports_at_once_get_gap_free_codes(
    client: httpx.AsyncClient, db: Database, floor: Floor
) -> None:
    def rows(name: str) -> bytes:
        return b"type,name\n" + b"".join(f"material,{name} {n}\n".encode() for n in range(40))

    first, second = await asyncio.gather(
        upload(client, floor.operator, rows("A")), upload(client, floor.admin, rows("B"))
    )

    assert (first.json()["status"], second.json()["status"]) == ("done", "done")
    ranges = sorted(
        (r["first"], r["last"]) for r in (first.json()["created"][0], second.json()["created"][0])
    )
    assert ranges == [("MAT-000001", "MAT-000040"), ("MAT-000041", "MAT-000080")]
    assert await written(db) == (80, 80, 80)
    codes = re.findall(r"MAT-\d+", str(ranges))
    assert len(set(codes)) == 4
