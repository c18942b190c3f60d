"""The workflow editor in a real browser: an admin adds a state and a transition with the
script's buttons, is shown a mistake on the very select that holds it, fixes it, and the new
transition is a button on the items of that workflow."""

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect
from tests.web.conftest import ADMIN_PASSWORD, DESKTOP, PHONE, Console, Server, log_in, shoot

Contexts = Callable[..., Any]


def test_an_admin_adds_a_state_and_a_transition_that_items_then_offer(
    server: Server, new_context: Contexts, console: Console
) -> None:
    console.allow(r"status of 422")  # the editor sent back with its problems marked
    page = new_context(DESKTOP).new_page()
    log_in(page, "admin", ADMIN_PASSWORD, next_url="/admin/workflows/bag")
    expect(page.locator("#workflow-summary")).to_contain_text("open → sealed (seal, item.pack)")
    states = page.locator("#state-rows tr")
    transitions = page.locator("#transition-rows tr")
    expect(states).to_have_count(6)  # bag's four, and two blank rows

    # The script replaces the "Remove" checkboxes with buttons, and renumbers what stays.
    states.nth(4).get_by_role("button", name="Remove this state").click()
    expect(states).to_have_count(5)
    page.get_by_role("button", name="Add state").click()
    expect(states).to_have_count(6)
    added = states.nth(5)
    expect(added.locator("[data-state-key]")).to_be_focused()
    expect(added.locator("[data-state-key]")).to_have_attribute("name", "states.5.key")
    expect(added.get_by_label("Key of state 6")).to_have_count(1)

    page.get_by_role("button", name="Add transition").click()
    inspect = transitions.last
    inspect.get_by_label("Name of transition").fill("inspect")
    inspect.get_by_label("Button label of transition").fill("Inspect bag")
    from_states = inspect.get_by_role("group", name="From of transition")
    # A checkbox for each state, not a list that needs a ctrl-click to pick two.
    expect(from_states.get_by_role("checkbox")).to_have_count(6)  # one per state row
    from_states.get_by_label("open", exact=True).check()
    inspect.get_by_label("Permission of transition").select_option("item.pack")
    # The to-select offers the new state as soon as its key is typed.
    to = inspect.get_by_label("To of transition")
    expect(to.locator("option", has_text="inspected")).to_have_count(0)
    added.locator("[data-state-key]").fill("inspected")
    added.get_by_label("Label of state 6").fill("Inspected")
    added.get_by_label("Colour of state 6").fill("#123456")
    expect(to.locator("option", has_text="inspected")).to_have_count(1)

    # Saved without saying where the transition leads: refused, and said on that select.
    page.get_by_role("button", name="Save workflow").click()
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    row = page.locator("#transition-rows tr", has=page.locator('input[value="inspect"]'))
    to = row.get_by_label("To of transition")
    expect(to).to_have_attribute("aria-invalid", "true")
    error_id = to.get_attribute("aria-describedby")
    assert error_id
    expect(page.locator(f"#{error_id}")).to_have_text("Choose a state")
    expect(summary.get_by_role("link")).to_have_text(["Transition 5, to: Choose a state"])
    assert summary.get_by_role("link").get_attribute("href") == f"#{to.get_attribute('id')}"
    expect(page.locator("#state-rows [data-state-key]").nth(4)).to_have_value("inspected")
    shoot(page, "admin-workflow-error-desktop")
    page.set_viewport_size(PHONE)
    shoot(page, "admin-workflow-error-phone")
    page.set_viewport_size(DESKTOP)
    with server.api() as api:
        stored = api.get("/api/v1/workflows/bag").json()["definition"]
    assert "inspected" not in [s["key"] for s in stored["states"]]

    # Fixed: it saves, and the summary shows the new way through the workflow.
    to.select_option(label="inspected")
    page.get_by_role("button", name="Save workflow").click()
    expect(page.locator("#saved")).to_have_text("Saved.")
    expect(page.locator("#workflow-summary")).to_contain_text(
        "open → inspected (inspect, item.pack)"
    )
    expect(page.locator('#workflow-summary [data-state="inspected"]')).to_have_text("Inspected")

    # A bag now offers it, and taking it puts the bag in the new state.
    (code,) = server.add_items("bag")
    page.goto(f"/items/{code}")
    page.get_by_role("button", name="Inspect bag → inspected").click()
    expect(page.locator(".item-head .badge")).to_have_text("Inspected")


def test_the_admin_pages_fit_a_phone_and_a_desktop(server: Server, new_context: Contexts) -> None:
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = new_context(viewport).new_page()
        log_in(page, "admin", ADMIN_PASSWORD)
        for path, name in (
            ("/admin/workflows", "admin-workflows"),
            ("/admin/workflows/material", "admin-workflow"),
            ("/admin/item-types", "admin-item-types"),
            ("/admin/item-types/material", "admin-item-type"),
        ):
            page.goto(path)
            shoot(page, f"{name}-{size}")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} is {overflow}px wider than a {size} screen"
