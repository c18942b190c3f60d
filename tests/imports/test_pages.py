"""/imports: upload, map over a preview, check, import, follow a background run, print."""

import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from qtrack.config import Settings
from qtrack.core.state import AppState
from qtrack.jobs.runner import Runner
from tests.conftest import make_settings
from tests.factories.accounts import csrf_of
from tests.factories.xlsx import write_xlsx


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Files over 2 KiB are imported in the background."""
    return make_settings(database_url, import_inline_max_bytes=2048)


async def _upload(
    client: httpx.AsyncClient, content: bytes, filename: str = "stock.csv", kind: str = "items"
) -> str:
    form = await client.get("/imports")
    assert form.status_code == 200
    response = await client.post(
        "/imports",
        data={"csrf_token": csrf_of(form.text), "kind": kind, "delimiter": ","},
        files={"file": (filename, content)},
    )
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


async def _run(client: httpx.AsyncClient, url: str, action: str, **mapping: str) -> str:
    page = (await client.get(url)).text
    # what each column's select shows chosen (the mapping the page offers)
    shown = re.findall(
        r'<select id="(map-\d+)"[^>]*>.*?<option value="([^"]*)" selected', page, re.S
    )
    form = {**dict(shown), **mapping, "csrf_token": csrf_of(page), "action": action}
    response = await client.post(f"{url}/run", data=form)
    assert response.status_code == 303, response.text
    return (await client.get(url)).text


async def test_upload_preview_map_check_then_import_and_print(
    web_admin: httpx.AsyncClient, tmp_path: Path
) -> None:
    path = write_xlsx(
        tmp_path / "stock.xlsx",
        [["Kind", "Name", "Notes"], ["material", "Lactose", "keep dry"], ["bag", "Bag", ""]],
    )

    url = await _upload(web_admin, path.read_bytes(), "stock.xlsx")
    page = (await web_admin.get(url)).text

    assert "Uploaded, 2 rows" in page
    assert '<td data-label="Name">Lactose</td>' in page  # the preview
    assert "Print their labels" not in page

    checked = await _run(web_admin, url, "check", **{"map-0": "type", "map-2": ""})
    assert "No problems" in checked
    assert "Nothing was written" in checked

    done = await _run(web_admin, url, "import")
    assert "Imported 2 items" in done
    assert "MAT-000001" in done
    assert "BAG-000001" in done
    link = re.search(r'href="(/api/v1/imports/\d+/labels\.pdf\?part=1)"', done)
    assert link, done
    pdf = await web_admin.get(link.group(1))
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")

    listing = (await web_admin.get("/imports")).text
    assert "stock.xlsx" in listing


async def test_problems_are_shown_by_row_and_column(web_admin: httpx.AsyncClient) -> None:
    url = await _upload(web_admin, b"type,name,quantity\nmaterial,Talc,-1\nwidget,W,\n")

    page = await _run(web_admin, url, "import")

    assert "2 problems" in page
    assert '<tr data-row="2">' in page
    assert '<tr data-row="3">' in page
    assert "no item type &#39;widget&#39;" in page


async def test_a_file_that_is_not_utf8_is_explained_on_the_upload_page(
    web_admin: httpx.AsyncClient,
) -> None:
    form = await web_admin.get("/imports")
    response = await web_admin.post(
        "/imports",
        data={"csrf_token": csrf_of(form.text), "kind": "items"},
        files={"file": ("x.csv", "type,name\nmaterial,Müller\n".encode("latin-1"))},
    )

    assert response.status_code == 422
    assert "not UTF-8" in response.text
    assert "CSV UTF-8" in response.text


async def test_a_large_file_runs_in_the_background_and_its_page_follows_it(
    web_admin: httpx.AsyncClient, app: FastAPI
) -> None:
    content = b"type,name\n" + b"".join(f"material,Lot {n}\n".encode() for n in range(300))
    url = await _upload(web_admin, content)

    queued = await _run(web_admin, url, "import")

    assert "Waiting for a background worker" in queued
    assert 'id="progress-bar"' in queued
    assert "js/imports.js" in queued
    state: AppState = app.state.qtrack
    await Runner(state, kind="worker", concurrency=1).run_until_idle()
    done = (await web_admin.get(url)).text
    assert "Imported 300 items" in done
    assert "js/imports.js" not in done


async def test_the_mapping_is_remembered_for_the_next_file_of_that_layout(
    web_admin: httpx.AsyncClient,
) -> None:
    first = await _upload(web_admin, b"Kind,Label,Notes\nmaterial,Lactose,dry\n")
    chosen = await _run(
        web_admin, first, "check", **{"map-0": "type", "map-1": "name", "map-2": ""}
    )
    assert "No problems" in chosen

    # Another file, the same columns (in another case and spacing): the page offers that mapping.
    second = await _upload(web_admin, b"kind, LABEL ,notes\nbag,Bag 1,x\nbag,Bag 2,y\n")
    page = (await web_admin.get(second)).text
    offered = dict(
        re.findall(r'<select id="(map-\d+)"[^>]*>.*?<option value="([^"]*)" selected', page, re.S)
    )
    assert offered == {"map-0": "type", "map-1": "name", "map-2": ""}
    done = await _run(web_admin, second, "import")
    assert "Imported 2 items" in done

    # A file of another layout is not mapped by it.
    other = await _upload(web_admin, b"Kind,Label\nbag,Bag 3\n")
    offered = dict(
        re.findall(
            r'<select id="(map-\d+)"[^>]*>.*?<option value="([^"]*)" selected',
            (await web_admin.get(other)).text,
            re.S,
        )
    )
    assert offered == {"map-0": "", "map-1": ""}
