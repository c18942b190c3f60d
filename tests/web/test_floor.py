"""Floor features in a real browser: bulk actions on the items list, the item's chain mark,
printing labels from the scan screen."""

import re
import sqlite3
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect
from tests.web.conftest import DESKTOP, PHONE, Server, log_in, shoot

Contexts = Callable[..., Any]


def _scan(page: Any, data: str) -> None:
    """A keyboard-wedge scanner: type into the focused input, then Enter."""
    expect(page.locator("#scan-input")).to_be_focused()
    page.keyboard.type(data)
    page.keyboard.press("Enter")


def _fits(page: Any) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"


def _is_pdf(page: Any, href: str | None) -> None:
    assert href
    response = page.request.get(href)
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF")


def test_bulk_transition_of_two_selected_items(server: Server, new_context: Contexts) -> None:
    server.add_user("olga", "operator")
    codes = server.add_items("material", 3, name="Lactose")
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = new_context(viewport).new_page()
        log_in(page, "olga", next_url="/items")
        apply = page.get_by_role("button", name=re.compile("^Apply to"))
        expect(apply).to_be_disabled()  # nothing ticked yet
        _fits(page)
        shoot(page, f"items-bulk-{size}")
    # The desktop page goes on: tick two, quarantine them with a reason.
    page.get_by_label(f"Select {codes[0]}").check()
    page.get_by_label(f"Select {codes[2]}").check()
    expect(page.locator("#bulk-count")).to_have_text("2 selected.")
    page.get_by_label("Do", exact=True).select_option(label="Change status")
    page.get_by_label("New status, by").select_option(label="Quarantine")
    expect(page.get_by_label("To location (code)")).to_be_hidden()
    page.get_by_label("Reason").fill("Supplier seal checked")
    shoot(page, "items-bulk-selected-desktop")
    page.get_by_role("button", name="Apply to 2 selected").click()

    expect(page.locator("h1")).to_have_text("Change of status: Quarantine")
    expect(page.locator("[data-result=ok]")).to_have_count(2)
    expect(page.locator(f"[data-code='{codes[0]}']")).to_contain_text("Received → Quarantine")
    expect(page.locator(".bulk-summary")).to_have_text("2 done.")
    shoot(page, "items-bulk-result-desktop")

    # The item page shows the change, and that its history verifies.
    page.get_by_role("link", name=codes[0]).click()
    expect(page.locator(".timeline li").first).to_contain_text("Why: Supplier seal checked")
    expect(page.locator("#chain-mark")).to_have_text("✓ Chain verified: 2 events, intact")
    page.go_back()
    page.get_by_role("link", name="Back to the list").click()
    expect(page).to_have_url(re.compile(r"/items\??$"))

    with server.api("olga") as api:
        statuses = [api.get(f"/api/v1/items/{c}").json()["status"] for c in codes]
    assert statuses == ["quarantine", "received", "quarantine"]

    # The phone sees the same result page, narrow.
    phone = new_context(PHONE).new_page()
    log_in(phone, "olga", next_url="/items")
    phone.get_by_label(f"Select {codes[1]}").check()
    phone.get_by_label(f"Select {codes[2]}").check()
    phone.get_by_label("New status, by").select_option(label="Quarantine")
    phone.get_by_role("button", name="Apply to 2 selected").click()
    expect(phone.locator("[data-result=ok]")).to_have_count(1)
    expect(phone.locator(f"[data-code='{codes[2]}']")).to_have_attribute("data-result", "refused")
    expect(phone.locator(".bulk-summary")).to_contain_text("1 done, 1 not done")
    shoot(phone, "items-bulk-result-phone")


def test_print_labels_from_the_scan_screen(server: Server, new_context: Contexts) -> None:
    server.add_user("olga", "operator")
    server.add_user("vic", "viewer")
    codes = server.add_items("bag", 2)
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = new_context(viewport).new_page()
        log_in(page, "olga", next_url="/scan")
        expect(page.locator("#print-recent")).to_be_hidden()  # no scans yet
        _scan(page, codes[0])
        expect(page.locator("#outcome")).to_have_attribute("data-outcome", "ok")
        link = page.get_by_role("link", name="Print label", exact=True)
        expect(link).to_be_visible()
        expect(link).to_have_attribute("target", "_blank")
        _is_pdf(page, link.get_attribute("href"))
        _scan(page, codes[1])
        expect(page.locator("#result")).to_contain_text(codes[1])
        recent = page.get_by_role("link", name="Print labels for the last scans (2)")
        expect(recent).to_be_visible()
        href = recent.get_attribute("href")
        assert href == f"/api/v1/labels.pdf?items={codes[1]}%2C{codes[0]}"
        _is_pdf(page, href)
        _fits(page)
        page.wait_for_timeout(900)  # let the outcome's colour flash fade
        shoot(page, f"scan-print-{size}")

    # Someone who may not print labels is not offered the link.
    viewer = new_context(PHONE).new_page()
    log_in(viewer, "vic", next_url="/scan")
    _scan(viewer, codes[0])
    expect(viewer.locator("#result")).to_contain_text(codes[0])
    expect(viewer.get_by_role("link", name="Print label", exact=True)).to_have_count(0)
    expect(viewer.locator("#print-recent")).to_have_count(0)


def test_a_tampered_history_is_shown_broken(server: Server, new_context: Contexts) -> None:
    server.add_user("olga", "operator")
    (code,) = server.add_items("material", name="Talc")
    with server.api("olga") as api:
        done = api.post(f"/api/v1/items/{code}/transitions", json={"transition": "quarantine"})
        assert done.status_code == 200, done.text
    # Someone with the database file rewrites a reason behind qtrack's back.
    path = server.env["QTRACK_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER event_no_update")
        db.execute(
            "UPDATE event SET reason = 'all fine' WHERE seq = 2 AND item_id = "
            "(SELECT id FROM item WHERE code = ?)",
            (code,),
        )
    db.close()
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = new_context(viewport).new_page()
        log_in(page, "olga", next_url=f"/items/{code}")
        mark = page.get_by_role("alert")
        expect(mark).to_contain_text("Chain broken at event #2: it was altered")
        expect(page.locator("li.chain-break")).to_have_attribute("data-event-seq", "2")
        _fits(page)
        shoot(page, f"item-chain-broken-{size}")


def test_bulk_move_works_without_javascript(server: Server, new_context: Contexts) -> None:
    server.add_user("olga", "operator")
    server.add_locations(("PLANT", None, "site"), ("RACK-7", "PLANT", "rack"))
    codes = server.add_items("bag", 3)
    page = new_context(PHONE, java_script_enabled=False).new_page()
    log_in(page, "olga", next_url="/items")
    page.get_by_label(f"Select {codes[0]}").check()
    page.get_by_label(f"Select {codes[1]}").check()
    page.get_by_label("Do", exact=True).select_option(label="Move to a location")
    page.get_by_label("To location (code)").fill("rack-7")
    page.get_by_role("button", name="Apply to the selected").click()
    expect(page.locator("h1")).to_have_text("Move to RACK-7")
    expect(page.locator("[data-result=ok]")).to_have_count(2)
    with server.api("olga") as api:
        places = [api.get(f"/api/v1/items/{c}").json()["location"] for c in codes]
    assert places == ["RACK-7", "RACK-7", None]
