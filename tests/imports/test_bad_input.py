"""Bad input to imports: a concurrent twin, a forged form, files that are no table. Each gets
a clear 4xx with a stable code, and nothing is half-written."""

import asyncio
import io
import struct
import zipfile
from collections.abc import Callable

import httpx
from sqlalchemy import func, select

from qtrack.core.db import Database
from qtrack.events.models import Event
from qtrack.imports.models import DataImport
from qtrack.items.models import Item
from tests.factories.accounts import csrf_of
from tests.imports.conftest import Floor, upload

GOOD = b"type,name,location\nmaterial,Lactose,WH-A\nmaterial,Talc,WH-B\nbag,Bag,WH-A\n"


async def count(db: Database, model: type) -> int:
    async with db.session_scope("read") as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_two_runs_of_one_import_at_once_write_it_once(
    client: httpx.AsyncClient, db: Database, floor: Floor
) -> None:
    checked = (await upload(client, floor.operator, GOOD, dry_run=True)).json()
    url = f"/api/v1/imports/{checked['id']}/run"

    answers = await asyncio.gather(
        *(
            client.post(url, json={"dry_run": False}, headers=floor.operator.headers)
            for _ in range(2)
        )
    )

    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409], [a.text for a in answers]
    (refused,) = [a for a in answers if a.status_code == 409]
    assert refused.json()["error"]["code"] == "import_not_runnable"
    assert (await count(db, Item), await count(db, Event)) == (3, 3)
    after = await client.get(f"/api/v1/imports/{checked['id']}", headers=floor.operator.headers)
    assert (after.json()["status"], after.json()["rows_written"]) == ("done", 3)


async def test_two_runs_of_one_import_from_its_page_at_once_write_it_once(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    form = await web_admin.get("/imports")
    uploaded = await web_admin.post(
        "/imports",
        data={"csrf_token": csrf_of(form.text), "kind": "items"},
        files={"file": ("stock.csv", b"type,name\nmaterial,A\nmaterial,B\n")},
    )
    url = uploaded.headers["location"]
    token = csrf_of((await web_admin.get(url)).text)
    data = {"csrf_token": token, "map-0": "type", "map-1": "name", "action": "import"}

    answers = await asyncio.gather(*(web_admin.post(f"{url}/run", data=data) for _ in range(2)))

    assert sorted(a.status_code for a in answers) == [303, 409], [a.text for a in answers]
    assert await count(db, Item) == 2


async def test_a_form_without_its_csrf_token_or_with_a_forged_one_is_refused(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    for token in (None, "0" * 64, "not hex at all"):
        data = {"kind": "items"} | ({"csrf_token": token} if token else {})
        refused = await web_admin.post("/imports", data=data, files={"file": ("stock.csv", GOOD)})
        assert refused.status_code == 403, token
        assert "csrf_failed" in refused.text or "CSRF" in refused.text
    assert await count(db, DataImport) == 0

    form = await web_admin.get("/imports")
    uploaded = await web_admin.post(
        "/imports",
        data={"csrf_token": csrf_of(form.text), "kind": "items"},
        files={"file": ("stock.csv", GOOD)},
    )
    url = uploaded.headers["location"]
    forged = await web_admin.post(f"{url}/run", data={"csrf_token": "f" * 64, "action": "import"})
    assert forged.status_code == 403
    assert await count(db, Item) == 0
    assert "Uploaded, 3 rows" in (await web_admin.get(url)).text


async def test_a_kind_that_is_no_kind_is_422_on_the_page(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    form = await web_admin.get("/imports")
    page = await web_admin.post(
        "/imports",
        data={"csrf_token": csrf_of(form.text), "kind": "widgets"},
        files={"file": ("stock.csv", GOOD)},
    )
    assert page.status_code == 422
    assert "widgets" in page.text
    assert await count(db, DataImport) == 0


async def test_a_kind_that_is_no_kind_is_422_in_the_api(
    client: httpx.AsyncClient, floor: Floor, db: Database
) -> None:
    api = await upload(client, floor.operator, GOOD, kind="widgets")
    assert (api.status_code, api.json()["error"]["code"]) == (422, "validation_error")
    assert await count(db, DataImport) == 0


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


async def test_files_of_the_wrong_type_are_refused_with_what_they_are(
    client: httpx.AsyncClient, floor: Floor, db: Database
) -> None:
    cases = [
        ("photo.csv", PNG, "import_bad_format", "a PNG picture"),
        ("report.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "import_bad_format",
         "a PDF document"),
        ("dump.csv", b"type,name\n" + bytes(range(256)) * 4, "import_bad_format", "binary data"),
        ("letter.docx", _zip({"word/document.xml": b"<w:document/>"}), "import_bad_format",
         "no Excel workbook"),
        ("stock.xlsx", _zip({"xl/workbook.xml": b"<workbook"}), "import_bad_format", "damaged"),
        ("utf16.csv", "type,name\nmaterial,A\n".encode("utf-16-le"), "import_bad_encoding",
         "UTF-16"),
    ]  # fmt: skip
    for filename, content, code, says in cases:
        response = await upload(client, floor.operator, content, filename=filename)
        assert response.status_code == 422, (filename, response.text)
        error = response.json()["error"]
        assert error["code"] == code, (filename, error)
        assert says in error["message"], (filename, error["message"])
    assert await count(db, DataImport) == 0


# A workbook whose first sheet has a formula: reading it looks into the zip's parts before
# calamine does (the formula cells are found by qtrack, core/tabular.py).
_MAIN = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = b"http://schemas.openxmlformats.org/package/2006/relationships"
_DOC = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_SHEET_PART = "xl/worksheets/sheet1.xml"
_SHEET = (
    b'<worksheet xmlns="' + _MAIN + b'"><sheetData>'
    b'<row r="1"><c r="A1" t="inlineStr"><is><t>type</t></is></c></row>'
    b'<row r="2"><c r="A2"><f>1+1</f><v>2</v></c></row></sheetData></worksheet>'
)


def _workbook(target: bytes = b"worksheets/sheet1.xml", sheet: bytes = _SHEET) -> bytes:
    xml = b"application/vnd.openxmlformats-officedocument.spreadsheetml"
    return _zip(
        {
            "[Content_Types].xml": b'<Types xmlns="http://schemas.openxmlformats.org/package/'
            b'2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
            b'<Override PartName="/xl/workbook.xml" ContentType="' + xml + b'.sheet.main+xml"/>'
            b'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="'
            + xml
            + b'.worksheet+xml"/></Types>',
            "_rels/.rels": b'<Relationships xmlns="' + _RELS + b'"><Relationship Id="rId1" '
            b'Type="' + _DOC + b'/officeDocument" Target="xl/workbook.xml"/></Relationships>',
            "xl/workbook.xml": b'<workbook xmlns="' + _MAIN + b'" xmlns:r="' + _DOC + b'">'
            b'<sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
            "xl/_rels/workbook.xml.rels": b'<Relationships xmlns="' + _RELS + b'">'
            b'<Relationship Id="rId1" Type="'
            + _DOC
            + b'/worksheet" Target="'
            + target
            + b'"/></Relationships>',
            _SHEET_PART: sheet,
        }
    )


def _sheet_entry(data: bytes, change: Callable[[bytearray, int, int], None]) -> bytes:
    """The workbook with the sheet's local and central zip headers changed by `change`
    (given the data and the offsets of the local header and of the central one)."""
    out = bytearray(data)
    name = _SHEET_PART.encode()
    local = out.rfind(b"PK\x03\x04", 0, out.find(name))
    central = out.rfind(b"PK\x01\x02", 0, out.rfind(name))
    change(out, local, central)
    return bytes(out)


def _encrypted(out: bytearray, local: int, central: int) -> None:
    out[local + 6] |= 1
    out[central + 8] |= 1


def _unknown_method(out: bytearray, local: int, central: int) -> None:
    struct.pack_into("<H", out, local + 8, 99)
    struct.pack_into("<H", out, central + 10, 99)


def _scrambled(out: bytearray, local: int, central: int) -> None:
    start = local + 30 + len(_SHEET_PART)
    for at in range(start + 5, start + 25):
        out[at] ^= 0xFF


async def test_a_workbook_damaged_inside_its_zip_is_422_not_500(
    client: httpx.AsyncClient, floor: Floor, db: Database
) -> None:
    """Each of these was a 500: zipfile raised on reading the part, or the name was no text."""
    cases = [
        (_sheet_entry(_workbook(), _scrambled), "damaged"),
        (_workbook(b"worksheets/sheet1\xff.xml"), "damaged"),
        (_sheet_entry(_workbook(), _encrypted), "encrypted"),
        (_sheet_entry(_workbook(), _unknown_method), "compressed in a way Excel does not use"),
    ]
    whole = await upload(client, floor.operator, _workbook(), filename="stock.xlsx", dry_run=True)
    assert whole.status_code in (200, 201), whole.text  # the same workbook, undamaged, reads
    for content, says in cases:
        response = await upload(client, floor.operator, content, filename="stock.xlsx")
        assert response.status_code == 422, (says, response.text)
        error = response.json()["error"]
        assert (error["code"], says in error["message"]) == ("import_bad_format", True), error
    assert await count(db, DataImport) == 1  # the undamaged one's dry run


def _sheet_with(far: bytes) -> bytes:
    """A sheet with a header and one more cell, far from it."""
    return (
        b'<worksheet xmlns="' + _MAIN + b'"><sheetData><row r="1">'
        b'<c r="A1" t="inlineStr"><is><t>type</t></is></c>'
        b'<c r="B1" t="inlineStr"><is><t>name</t></is></c></row>'
        + far
        + b"</sheetData></worksheet>"
    )


async def test_a_workbook_of_two_cells_far_apart_is_refused_unread(
    client: httpx.AsyncClient, floor: Floor, db: Database
) -> None:
    """calamine holds every cell between the first and the last: these 1.5 KB files made it
    ask for 330 MB (and read 400,000 empty rows), and for 550 GB, which aborted the process."""
    cases = [
        (b'<row r="400000"><c r="Z400000"><v>1</v></c></row>', "Z400000"),
        # A cell without its own `r` is placed after the one before it, in its row.
        (b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>', "XFD1048576"),
        (b'<row r="1"><c r="XFD1"><v>1</v></c></row><row r="1048576"><c><v>1</v></c></row>',
         "XFD1048576"),
    ]  # fmt: skip
    for far, corner in cases:
        content = _workbook(sheet=_sheet_with(far))
        response = await upload(client, floor.operator, content, filename="stock.xlsx")
        assert response.status_code == 413, (corner, response.text)
        error = response.json()["error"]
        assert (error["code"], error["details"]["last_cell"]) == ("import_xlsx_bomb", corner)
        assert "far from the table" in error["message"]
    # A styled blank far away holds nothing, and calamine leaves it out.
    blank = _workbook(sheet=_sheet_with(b'<row r="1048576"><c r="XFD1048576" s="1"/></row>'))
    read = await upload(client, floor.operator, blank, filename="stock.xlsx", dry_run=True)
    assert read.status_code == 201, read.text
    assert await count(db, Item) == 0


async def test_a_request_that_is_no_upload_is_422(
    client: httpx.AsyncClient, floor: Floor, db: Database
) -> None:
    as_json = await client.post(
        "/api/v1/imports", json={"file": "type,name"}, headers=floor.operator.headers
    )
    no_file = await client.post(
        "/api/v1/imports", data={"mapping": "{}"}, files={"other": ("x.csv", GOOD)},
        headers=floor.operator.headers,
    )  # fmt: skip
    bad_mapping = await upload(client, floor.operator, GOOD, mapping="[1, 2]")
    bad_delimiter = await upload(client, floor.operator, GOOD, delimiter=":")
    for response in (as_json, no_file, bad_mapping, bad_delimiter):
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] in ("validation_error", "import_bad_delimiter")
    assert await count(db, DataImport) == 0


async def test_a_run_with_a_forged_mapping_names_the_problem_and_writes_nothing(
    client: httpx.AsyncClient, floor: Floor, db: Database
) -> None:
    checked = (await upload(client, floor.operator, GOOD, dry_run=True)).json()
    url = f"/api/v1/imports/{checked['id']}/run"

    bad = await client.post(
        url,
        json={"dry_run": False, "mapping": {"type": "owner", "Nope": "name"}},
        headers=floor.operator.headers,
    )

    assert bad.status_code == 200, bad.text
    body = bad.json()
    assert body["status"] == "refused"
    assert {"row": 1, "column": "type", "field": "owner",
            "msg": "'owner' is not a field of items"} in body["problems"]  # fmt: skip
    assert await count(db, Item) == 0
    wrong_type = await client.post(url, json={"dry_run": "perhaps"}, headers=floor.operator.headers)
    assert wrong_type.status_code == 422


# A row of an import, and the same item sent to POST /api/v1/items.
SAME_CHECKS = [
    ({"quantity": "-1"}, "quantity"),
    ({"expiry_on": "2027-13-01"}, "expiry_on"),
    ({"gtin": "123"}, "gtin"),
    ({"weight_kg": "abc"}, "weight_kg"),
    ({"location": "NOWHERE"}, "location"),
    ({"type": "widget"}, "type"),
]


async def test_a_row_is_refused_for_what_post_items_refuses_the_same_item_for(
    client: httpx.AsyncClient, floor: Floor, db: Database
) -> None:
    columns = ["type", "name", "quantity", "expiry_on", "gtin", "weight_kg", "location"]
    lines = [",".join(columns)]
    bodies = []
    for number, (change, _) in enumerate(SAME_CHECKS):
        body = {"type": "material", "name": f"Lot {number}"} | change
        bodies.append(body)
        lines.append(",".join(body.get(c, "") for c in columns))
    lines.append("material,Fine,1,2027-03-31,04012345000009,2.5,WH-A")
    imported = await upload(client, floor.operator, "\n".join(lines).encode())

    assert imported.json()["status"] == "refused"
    problems = {p["row"]: p for p in imported.json()["problems"]}
    assert sorted(problems) == list(range(2, 2 + len(SAME_CHECKS)))  # not the fine row
    for row, (body, (_, field)) in enumerate(zip(bodies, SAME_CHECKS, strict=True), start=2):
        answer = await client.post("/api/v1/items", json=body, headers=floor.operator.headers)
        assert answer.status_code in (404, 422), answer.text
        error = answer.json()["error"]
        said = (
            error["details"][0]["msg"] if error["code"] == "validation_error" else error["message"]
        )
        assert (problems[row]["field"], problems[row]["msg"].lower()) == (field, said.lower())
    assert await count(db, Item) == 0


async def test_the_labels_of_what_an_import_created(
    client: httpx.AsyncClient, floor: Floor
) -> None:
    places = b"code,name,kind,parent\nRACK-7,Rack 7,rack,WH-A\nSHELF-7,Shelf 7,shelf,RACK-7\n"
    located = (await upload(client, floor.admin, places, kind="locations")).json()
    pdf = await client.get(
        f"/api/v1/imports/{located['id']}/labels.pdf", headers=floor.admin.headers
    )
    assert (pdf.status_code, pdf.content[:4]) == (200, b"%PDF")

    lots = b"type,name\n" + b"".join(b"material,Lot %d\n" % n for n in range(1001))
    made = (await upload(client, floor.admin, lots)).json()
    assert made["status"] == "done", made
    url = f"/api/v1/imports/{made['id']}/labels.pdf"
    for part, status in [(1, 200), (2, 200), (3, 409)]:  # a thousand labels a PDF
        answer = await client.get(url, params={"part": part}, headers=floor.admin.headers)
        assert answer.status_code == status, (part, answer.text[:200])
    assert (await client.get(url, headers=floor.viewer.headers)).status_code in (403, 404)

    types = b"key,name,code_prefix,workflow\npowder,Powder,POW,material\n"
    typed = (await upload(client, floor.admin, types, kind="item_types")).json()
    none = await client.get(
        f"/api/v1/imports/{typed['id']}/labels.pdf", headers=floor.admin.headers
    )
    assert (none.status_code, none.json()["error"]["code"]) == (409, "import_not_runnable")


async def test_the_api_refuses_a_cookie_upload_without_its_csrf_token(
    web_admin: httpx.AsyncClient, db: Database
) -> None:
    refused = await web_admin.post("/api/v1/imports", files={"file": ("stock.csv", GOOD)})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "csrf_failed")
    assert await count(db, DataImport) == 0


async def test_a_csv_field_past_the_reader_s_limit_is_422_not_500(
    client: httpx.AsyncClient, floor: Floor, db: Database
) -> None:
    """Python's csv reader refuses a field over 131,072 characters: a 500 in the header or
    in a row, before it was said as the file's fault."""
    huge = "x" * 200_000
    for content in (f"type,name\nmaterial,{huge}\n", f"type,name{huge}\nmaterial,a\n"):
        for dry_run in (True, False):
            response = await upload(client, floor.operator, content.encode(), dry_run=dry_run)
            assert response.status_code == 422, response.text
            error = response.json()["error"]
            assert error["code"] == "import_bad_format", error
            assert "longer than" in error["message"], error
    assert await count(db, DataImport) == 0
