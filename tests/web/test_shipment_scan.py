"""The scan screen's shipment mode in a real browser: the bill's code, then bags."""

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect
from tests.web.conftest import PHONE, Server, log_in, shoot

Contexts = Callable[..., Any]


def _scan(page: Any, data: str) -> None:
    expect(page.locator("#scan-input")).to_be_focused()
    page.keyboard.type(data)
    page.keyboard.press("Enter")


def test_build_a_bill_by_scanning(server: Server, new_context: Contexts) -> None:
    server.add_user("bill", "biller")
    bags = server.add_items("bag", 2)
    with server.api() as admin:
        for bag in bags[:1]:
            sealed = admin.post(f"/api/v1/items/{bag}/transitions", json={"transition": "seal"})
            assert sealed.status_code == 200, sealed.text
        number = admin.post("/api/v1/shipments", json={"consignee": "ACME"}).json()["number"]
    page = new_context(PHONE).new_page()
    log_in(page, "bill", next_url="/scan")
    page.get_by_role("radio", name="Shipment").check()
    expect(page.locator("#panel-shipment")).to_be_visible()
    _scan(page, f"http://127.0.0.1/shipments/{number}")
    expect(page.locator("#shipment-target")).to_have_text(number)
    _scan(page, bags[0])
    expect(page.locator("#outcome")).to_have_attribute("data-outcome", "ok")
    expect(page.locator("#outcome")).to_contain_text("1 containers")
    _scan(page, bags[1])  # still open: refused, with the reason
    expect(page.locator("#outcome")).to_have_attribute("data-outcome", "refused")
    expect(page.locator("#outcome")).to_contain_text(f"{bags[1]} is open")
    page.get_by_role("button", name="Take off the last container").click()
    expect(page.locator("#outcome")).to_contain_text(f"{bags[0]} taken off {number}")
    shoot(page, "scan-shipment-phone")
    with server.api() as admin:
        assert admin.get(f"/api/v1/shipments/{number}").json()["totals"]["containers"] == 0
