"""The import pages in a real browser: upload, map, check, import in the background while the
page follows the progress (polling the API), then print the labels; no console errors."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from tests.web.conftest import ADMIN_PASSWORD, DESKTOP, PHONE, Server, log_in, shoot

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
