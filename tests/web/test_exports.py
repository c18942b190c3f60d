"""Exports in a real browser: the items list's filters, then its Export links download what it
shows; the daily summary's Export events form downloads the days asked for."""

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from tests.web.conftest import ADMIN_PASSWORD, DESKTOP, Server, log_in

Contexts = Callable[..., Any]


def test_the_items_list_downloads_what_its_filters_show(
    server: Server, new_context: Contexts
) -> None:
    lots = server.add_items("material", 3)
    bags = server.add_items("bag", 2)
    page = new_context(DESKTOP, accept_downloads=True).new_page()
    log_in(page, "admin", password=ADMIN_PASSWORD, next_url="/items")
    page.get_by_label("Type").select_option("bag")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("main")).not_to_contain_text(lots[0])

    exports = page.get_by_role("navigation", name="Export")
    with page.expect_download() as csv_download:
        exports.get_by_role("link", name="CSV").click()
    saved = csv_download.value
    assert saved.suggested_filename.endswith(".csv")
    text = Path(saved.path()).read_text(encoding="utf-8-sig")
    assert sorted(row["code"] for row in csv.DictReader(io.StringIO(text))) == sorted(bags)

    with page.expect_download() as xlsx_download:
        exports.get_by_role("link", name="Excel").click()
    workbook = Path(xlsx_download.value.path()).read_bytes()
    assert workbook.startswith(b"PK\x03\x04")

    page.goto("/reports/daily")
    form = page.locator("#events-export")
    form.get_by_label("As").select_option("jsonl")
    with page.expect_download() as events_download:
        form.get_by_role("button", name="Export events").click()
    lines = Path(events_download.value.path()).read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["item"] for line in lines) == sorted(lots + bags)
