"""Locations in a real browser: a supervisor builds a tree through the forms, opens a place,
sees what it holds and prints its label; on a phone and on a desktop."""

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect
from tests.web.conftest import DESKTOP, PHONE, Console, Server, log_in, shoot

Contexts = Callable[..., Any]


def _create(page: Any, code: str, name: str, kind: str) -> None:
    """Fill the new-location form (its parent already chosen) and send it."""
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_label("Name").fill(name)
    page.get_by_label("Kind").select_option(kind)
    page.get_by_role("button", name="Create location").click()
    expect(page.locator("h1")).to_have_text(code)


def test_a_supervisor_builds_a_tree_and_prints_a_label(
    server: Server, new_context: Contexts, console: Console
) -> None:
    server.add_user("sue", "supervisor")
    page = new_context(PHONE).new_page()
    log_in(page, "sue", next_url="/locations")
    expect(page.get_by_text("No locations yet.")).to_be_visible()

    page.get_by_role("link", name="New location").click()
    page.get_by_label("Latitude (optional)").fill("59.3293")
    page.get_by_label("Longitude (optional)").fill("18.0686")
    _create(page, "PLANT", "North plant", "site")
    expect(page.locator("#geo")).to_contain_text("59.329300, 18.068600")
    page.get_by_role("link", name="New location here").click()
    expect(page.get_by_label("Parent location")).to_have_value("PLANT")
    _create(page, "WH-A", "Warehouse A", "building")
    page.get_by_role("link", name="New location here").click()
    shoot(page, "location-new-phone")
    _create(page, "Z1", "Cold zone", "zone")
    expect(page.locator(".breadcrumb")).to_contain_text("PLANT")
    expect(page.locator(".breadcrumb")).to_contain_text("WH-A")

    # A code that is taken: the form says so next to the field, and keeps what was typed.
    console.allow(r"status of 409")  # the browser logs the refusals' status; they are expected
    page.goto("/locations/new?parent=WH-A")
    page.get_by_label("Code", exact=True).fill("z1")
    page.get_by_label("Name").fill("Second zone")
    page.get_by_role("button", name="Create location").click()
    expect(page.locator("#e-code")).to_contain_text("already exists")
    expect(page.get_by_label("Code", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name")).to_have_value("Second zone")

    lots = server.add_items("material", 2, location="Z1", name="Talc")
    (deep,) = server.add_items("bag", location="WH-A")

    # From the tree to the zone, by its code.
    page.goto("/locations")
    page.locator(".tree").get_by_role("link", name="Z1", exact=True).click()
    expect(page.locator("h1")).to_have_text("Z1")
    rows = page.locator("#contents tbody tr")
    expect(rows).to_have_count(2)
    for code in lots:
        expect(page.locator(f"tr[data-item-code='{code}']")).to_contain_text("Received")
    shoot(page, "location-phone")

    # Its label prints as a PDF.
    href = page.locator("#print-label").get_attribute("href")
    assert href == "/api/v1/labels.pdf?locations=Z1"
    pdf = page.request.get(href)
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")

    # The building: nothing of the zone's directly, everything with the toggle.
    desk = new_context(DESKTOP).new_page()
    log_in(desk, "sue", next_url="/locations/WH-A")
    expect(desk.locator(".children li")).to_contain_text("2 here · 2 in all")
    expect(desk.locator("#contents tbody tr")).to_have_count(1)
    expect(desk.locator(f"tr[data-item-code='{deep}']")).to_contain_text("holds 0")
    desk.get_by_role("link", name=re.compile(r"Everything below \(3\)")).click()
    expect(desk.locator("#contents tbody tr")).to_have_count(3)
    shoot(desk, "location-desktop")

    # Archiving what still holds items is refused, with why.
    desk.get_by_text("Archive…").click()
    desk.get_by_role("button", name="Archive WH-A").click()
    expect(desk.locator("#archive-error")).to_contain_text("still holds 1 item(s)")

    # Moving the zone to the top of the tree, through the edit form.
    desk.goto("/locations/Z1")
    desk.get_by_text("Edit or move").click()
    desk.get_by_label("Parent location").fill("")
    desk.get_by_label("Name").fill("Cold zone (moved)")
    desk.get_by_role("button", name="Save").click()
    expect(desk.locator(".lead")).to_have_text("Cold zone (moved)")
    expect(desk.locator(".breadcrumb li")).to_have_count(2)  # Locations, then Z1
    with server.api("sue") as api:
        moved = api.get("/api/v1/locations/Z1").json()
    assert moved["parent"] is None
    assert moved["name"] == "Cold zone (moved)"


def test_a_viewer_sees_a_location_but_no_forms(server: Server, new_context: Contexts) -> None:
    server.add_user("vic", "viewer")
    server.add_locations(("SITE", None, "site"), ("RACK-1", "SITE", "rack"))
    server.add_items("supply", 3, location="RACK-1")
    page = new_context(PHONE).new_page()
    log_in(page, "vic", next_url="/locations/RACK-1")
    expect(page.locator("#contents tbody tr")).to_have_count(3)
    expect(page.locator("form[method=post]:not(#logout-form)")).to_have_count(0)
    expect(page.locator("#print-label")).to_have_count(0)
    token = page.locator("body").get_attribute("data-csrf")
    refused = page.request.post("/locations/RACK-1/archive", form={"csrf_token": token})
    assert refused.status == 403
    assert page.request.get("/locations/nowhere").status == 404
