"""The item page's forms in a real browser: an operator moves and dispenses from a lot's page on
a phone, is told what happened, and a refusal is shown at the field with the form kept; a
supervisor edits and archives at a desk."""

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect
from tests.web.conftest import DESKTOP, PHONE, Console, Server, log_in, shoot

Contexts = Callable[..., Any]


def _fits(page: Any) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"


def test_an_operator_moves_and_dispenses_from_the_item_page(
    server: Server, new_context: Contexts, console: Console
) -> None:
    server.add_user("olga", "operator")
    server.add_user("sue", "supervisor")
    server.add_locations(
        ("PLANT", None, "site"), ("DOCK", "PLANT", "zone"), ("RACK-2", "PLANT", "rack")
    )
    (code,) = server.add_items("material", name="Lactose", quantity="20", location="DOCK")
    console.allow(r"status of (409|412|422)")  # the refusals below are the server's answers

    page = new_context(PHONE).new_page()
    log_in(page, "olga", next_url=f"/items/{code}")
    expect(page.locator("dd", has_text="20 kg")).to_be_visible()
    # An operator may move, pack and count; editing and archiving are not offered.
    expect(page.get_by_text("Edit details")).to_have_count(0)
    expect(page.get_by_text("Archive…")).to_have_count(0)
    page.get_by_text("Move to a location").click()
    page.get_by_label("To location (code)").fill("rack-2")
    shoot(page, "item-actions-phone")
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator("#outcome")).to_have_text("Moved to RACK-2.")
    expect(page.locator(".timeline li").first).to_contain_text("location: DOCK → RACK-2")

    # More than there is: refused at the amount, the form open and kept, nothing written.
    page.get_by_text("Change the quantity").click()
    page.get_by_label("What happened").select_option(label="Dispense")
    page.get_by_label("Amount (kg)").fill("25")
    page.get_by_role("button", name="Record").click()
    amount = page.get_by_label("Amount (kg)")
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(amount).to_have_value("25")
    expect(page.locator("#e-quantity-amount")).to_have_text("Only 20 kg left")
    _fits(page)
    shoot(page, "item-refused-phone")
    amount.fill("2.5")
    page.get_by_role("button", name="Record").click()
    expect(page.locator("#outcome")).to_have_text("Dispensed 2.5 kg: 17.5 kg left.")
    expect(page.locator("dd", has_text="17.5 kg")).to_be_visible()
    _fits(page)

    # A supervisor at a desk corrects the batch, then archives the lot.
    desk = new_context(DESKTOP).new_page()
    log_in(desk, "sue", next_url=f"/items/{code}")
    desk.get_by_text("Edit details").click()
    desk.get_by_label("Batch / lot").fill("L-2026-7")
    desk.locator("#edit-reason").fill("Batch was missing")
    shoot(desk, "item-edit-desktop")
    desk.get_by_role("button", name="Save", exact=True).click()
    expect(desk.locator("#outcome")).to_have_text("Saved: batch changed.")
    expect(desk.locator(".timeline li").first).to_contain_text("batch: — → L-2026-7")
    desk.get_by_text("Archive…").click()
    desk.get_by_role("button", name=f"Archive {code}").click()
    expect(desk.locator("#e-archive-reason")).to_have_text("Required")
    desk.locator("#archive-reason").fill("Spilled")
    desk.get_by_role("button", name=f"Archive {code}").click()
    expect(desk.locator("#outcome")).to_contain_text("Archived")
    expect(desk.get_by_text("What you can do now")).to_have_count(0)
    shoot(desk, "item-archived-desktop")

    with server.api("sue") as api:
        events = api.get(f"/api/v1/items/{code}/events").json()["items"]
    assert [e["type"] for e in events] == [
        "archived",
        "edited",
        "quantity_changed",
        "moved",
        "created",
    ]
