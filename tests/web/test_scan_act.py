"""Act mode on the scan screen, in a real browser: a scan offers what this person may do to
that item now, the action picked is done to it and then to each item scanned after it, and
what does not apply to a scanned item is refused loudly."""

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect
from tests.web.conftest import DESKTOP, PASSWORD, PHONE, Console, Server, log_in, shoot

Contexts = Callable[..., Any]


def _scan(page: Any, data: str) -> None:
    """A keyboard-wedge scanner: type into the focused input, then Enter."""
    expect(page.locator("#scan-input")).to_be_focused()
    page.keyboard.type(data)
    page.keyboard.press("Enter")


def _offered(page: Any) -> list[str]:
    return [text.strip() for text in page.locator("#act-buttons button").all_text_contents()]


def test_act_offers_only_what_applies_to_the_item_and_the_person(
    server: Server, new_context: Contexts, console: Console
) -> None:
    server.add_user("olga", "operator")
    server.add_user("sue", "supervisor")
    lots = server.add_items("material", 3, name="Lactose", quantity="25")
    (bag,) = server.add_items("bag", name="Outbound bag")
    (tested,) = server.add_items("material", name="Talc", quantity="10")
    with server.api("olga") as olga:
        for step in ("quarantine", "start_test"):
            done = olga.post(f"/api/v1/items/{tested}/transitions", json={"transition": step})
            assert done.status_code == 200, done.text
    console.allow(r"status of (409|422)")  # the refusals below are the server's answers

    page = new_context(PHONE).new_page()
    log_in(page, "olga", next_url="/scan")
    page.locator(".mode", has_text="Act").click()
    # Nothing is offered before an item is scanned.
    expect(page.locator("#act-target")).to_have_text("scan an item to see what you may do with it")
    expect(page.locator("#act-buttons button")).to_have_count(0)

    # A received lot: quarantine it, or dispense from it; nothing of another state or
    # workflow, and nothing only QA may do.
    _scan(page, lots[0])
    expect(page.locator("#outcome")).to_contain_text(f"{lots[0]}: Received — choose what to do")
    expect(page.locator("#act-buttons button")).to_have_count(2)
    assert _offered(page) == ["Quarantine → Quarantine", "Dispense an amount"]
    # The card names the type as people know it.
    expect(page.locator("#result dd").first).to_have_text("Material lot")
    shoot(page, "scan-act-choices-phone")

    # Picked, it is done at once (nothing more is needed) and stays chosen for the next scans.
    page.get_by_label("Reason").fill("Supplier seal intact")
    page.get_by_role("button", name="Quarantine → Quarantine").click()
    expect(page.locator("#history li").first).to_contain_text(f"{lots[0]}: Quarantine: done")
    expect(page.locator("#act-target")).to_have_text("Quarantine")
    expect(page.locator("#act-choices")).to_be_hidden()
    expect(page.locator("#scan-input")).to_be_focused()
    for code in lots[1:]:
        _scan(page, code)
        expect(page.locator("#history li").first).to_contain_text(f"{code}: Quarantine: done")
    # What does not apply to the next item scanned is refused, and nothing happens to it.
    _scan(page, bag)
    expect(page.locator("#outcome")).to_have_attribute("data-outcome", "refused")
    expect(page.locator("#history li").first).to_contain_text(f"{bag}: Quarantine: ")
    shoot(page, "scan-act-repeat-phone")

    # Another action: the bag offers what a bag may do.
    page.get_by_role("button", name="Choose another action").click()
    _scan(page, bag)
    expect(page.locator("#act-buttons button")).to_have_count(1)
    assert _offered(page) == ["Seal → Sealed"]

    # Nothing picked yet: the next scan offers what may be done to that item instead.
    expect(page.get_by_role("button", name="Choose another action")).to_be_hidden()
    # A dispense asks for the amount first, on the item scanned.
    _scan(page, lots[0])
    page.get_by_role("button", name="Dispense an amount").click()
    expect(page.get_by_label("Amount")).to_be_focused()
    page.get_by_label("Amount").fill("2.5")
    page.keyboard.press("Enter")
    expect(page.locator("#history li").first).to_contain_text(f"{lots[0]}: Dispense: done")
    expect(page.locator("#result")).to_contain_text("22.5 kg")

    with server.api("olga") as api:
        found = {code: api.get(f"/api/v1/items/{code}").json() for code in [*lots, bag]}
        events = api.get(f"/api/v1/items/{lots[0]}/events").json()["items"]
    assert [found[c]["status"] for c in lots] == ["quarantine"] * 3
    assert found[bag]["status"] == "open"
    assert found[lots[0]]["quantity"] == "22.500000"
    assert [e["type"] for e in events] == ["quantity_changed", "status_changed", "created"]
    assert events[1]["reason"] == "Supplier seal intact"

    # QA, at a desk, on a lot under test: release and reject sign; the reason comes first.
    qa = new_context(DESKTOP).new_page()
    log_in(qa, "sue", next_url="/scan")
    qa.locator(".mode", has_text="Act").click()
    _scan(qa, tested)
    expect(qa.locator("#act-buttons button")).to_have_count(4)
    assert _offered(qa) == [
        "Release → Released (e-signature)",
        "Reject → Rejected (e-signature)",
        "Expire → Expired",
        "Dispense an amount",
    ]
    qa.get_by_role("button", name="Reject → Rejected (e-signature)").click()
    expect(qa.get_by_label("Reason")).to_be_focused()
    expect(qa.locator("#act-reason-hint")).to_have_text("(required)")
    expect(qa.get_by_label("Your password, to sign")).to_be_visible()
    apply = qa.get_by_role("button", name=f"Reject: {tested}")
    apply.click()
    expect(qa.locator("#outcome")).to_contain_text("Enter the reason first")
    qa.get_by_label("Reason").fill("Assay out of specification")
    qa.get_by_label("Your password, to sign").fill(PASSWORD)
    shoot(qa, "scan-act-sign-desktop")
    apply.click()
    expect(qa.locator("#history li").first).to_contain_text(f"{tested}: Reject: done")
    with server.api("sue") as api:
        rejected = api.get(f"/api/v1/items/{tested}/events").json()["items"][0]
    assert rejected["signature"]["by"] == "sue"
    assert re.search("Assay", rejected["reason"])


def test_act_warns_when_a_lot_other_than_the_first_to_expire_is_scanned(
    server: Server, new_context: Contexts
) -> None:
    """First expired, first out: at one shelf, the lot expiring later is scanned to dispense
    from; the screen says which lot to use first, and the right one passes without a word."""
    server.add_user("olga", "operator")
    server.add_locations(("STORE", None, "site"), ("SHELF-A", "STORE", "shelf"))
    (early,) = server.add_items(
        "supply", quantity="10", location="SHELF-A", expiry_on="2031-01-31", batch="EARLY"
    )
    (late,) = server.add_items(
        "supply", quantity="10", location="SHELF-A", expiry_on="2031-06-30", batch="LATE"
    )
    page = new_context(PHONE).new_page()
    log_in(page, "olga", next_url="/scan")
    page.locator(".mode", has_text="Act").click()
    _scan(page, late)
    outcome = page.locator("#outcome")
    expect(outcome).to_contain_text(
        f"{early} at SHELF-A expires earlier (2031-01-31): use it first"
    )
    expect(outcome).to_have_attribute("data-outcome", "unknown")  # amber, not green
    shoot(page, "scan-act-fefo-phone")
    # Nothing picked yet: the next scan is looked at afresh.
    _scan(page, early)
    expect(outcome).to_contain_text(f"{early}: ")
    expect(outcome).not_to_contain_text("use it first")
    expect(outcome).to_have_attribute("data-outcome", "ok")
