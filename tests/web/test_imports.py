"""The import pages in a real browser: upload, map, check, import in the background while the
page follows the progress (polling the API), then print the labels; no console errors."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from tests.web.conftest import ADMIN_PASSWORD, DESKTOP, PHONE, Console, Server, log_in, shoot

Contexts = Callable[..., Any]


def test_an_import_from_upload_to_labels(
    server: Server, new_context: Contexts, tmp_path: Path
) -> None:
    # Every upload runs in the background, by the server's own runner.
    server.stop()
    server.env["QTRACK_IMPORT_INLINE_MAX_BYTES"] = "0"
    server.start()
    path = tmp_path / "stock.csv"
    path.write_text(
        "Kind,Name,Notes\n" + "".join(f"material,Lot {n},note {n}\n" for n in range(3000)),
        encoding="utf-8",
    )
    page = new_context(PHONE).new_page()
    log_in(page, "admin", password=ADMIN_PASSWORD)

    page.get_by_role("link", name="Import").first.click()
    page.get_by_label("File").set_input_files(str(path))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator("#import-status")).to_contain_text("Uploaded, 3,000 rows")
    expect(page.locator("#preview")).to_contain_text("Lot 0")
    shoot(page, "import-preview-phone")

    # "Kind" matches no field, so it is left out: the check says no column holds the type.
    page.get_by_role("button", name="Check every row").click()
    expect(page.locator("#problems")).to_contain_text("no column holds 'type'", timeout=30_000)
    page.get_by_label("Kind").select_option("type")
    page.get_by_label("Notes").select_option("")
    page.get_by_role("button", name="Import, all or nothing").click()
    expect(page.locator("#import-status")).to_contain_text("Imported 3,000 items", timeout=60_000)
    expect(page.locator("#created")).to_contain_text("MAT-000001")
    expect(page.locator("#created")).to_contain_text("MAT-003000")
    shoot(page, "import-done-phone")
    link = page.locator("#print-labels a").first.get_attribute("href")
    assert link
    pdf = page.request.get(link)
    assert pdf.status == 200
    assert pdf.body().startswith(b"%PDF")

    desk = new_context(DESKTOP).new_page()
    log_in(desk, "admin", password=ADMIN_PASSWORD, next_url="/imports")
    expect(desk.locator("#imports")).to_contain_text("stock.csv")
    shoot(desk, "imports-desk")


def test_a_background_import_shows_its_progress_and_can_be_left_and_come_back(
    server: Server, new_context: Contexts, console: Console, tmp_path: Path
) -> None:
    # Every upload runs in the background, and at first no worker runs it.
    server.stop()
    server.env["QTRACK_IMPORT_INLINE_MAX_BYTES"] = "0"
    server.env["QTRACK_JOBS_IN_PROCESS"] = "off"
    server.start()
    path = tmp_path / "lots.csv"
    path.write_text(
        "type,name\n" + "".join(f"material,Lot {n}\n" for n in range(500)), encoding="utf-8"
    )
    page = new_context(DESKTOP).new_page()
    log_in(page, "admin", password=ADMIN_PASSWORD, next_url="/imports")
    page.get_by_label("File").set_input_files(str(path))
    page.get_by_role("button", name="Upload and preview").click()
    page.get_by_role("button", name="Import, all or nothing").click()
    expect(page.locator("#import-status")).to_contain_text("Waiting for a background worker")
    expect(page.locator("#progress-bar")).to_be_visible()
    url = page.url

    # What the page makes of the progress the API reports while a worker writes.
    def writing(route: Any) -> None:
        route.fulfill(
            status=200,
            content_type="application/json",
            body=json.dumps(
                {"status": "writing", "dry_run": False, "rows_total": 500,
                 "rows_checked": 500, "rows_written": 200, "time_left_s": 12.4}
            ),
        )  # fmt: skip

    page.route("**/api/v1/imports/*", writing)
    expect(page.locator("#import-status")).to_have_text("Writing…")
    expect(page.locator("#rows-checked")).to_have_text("500")
    expect(page.locator("#rows-written")).to_have_text("200")
    expect(page.locator("#rows-total")).to_have_text("500")
    expect(page.locator("#time-left")).to_have_text("about 12 s left")
    expect(page.locator("#progress-bar")).to_have_attribute("value", "700")
    expect(page.locator("#progress-bar")).to_have_attribute("max", "1000")
    shoot(page, "import-progress-desk")
    page.unroute("**/api/v1/imports/*")

    # Leave, and come back: the import is still there, waiting.
    page.goto("/items")
    page.goto(url)
    expect(page.locator("#import-status")).to_contain_text("Waiting for a background worker")
    expect(page.locator("#import-progress")).to_contain_text("You can leave this page")

    # A server that runs jobs starts; the page, still open, follows the run to its end.
    console.allow(r"ERR_CONNECTION_REFUSED|Failed to load resource|Failed to fetch")
    server.stop()
    server.env["QTRACK_JOBS_IN_PROCESS"] = "on"
    server.start()
    expect(page.locator("#import-status")).to_contain_text("Imported 500 items", timeout=60_000)
    expect(page.locator("#created")).to_contain_text("MAT-000500")
    assert page.url == url
