"""Every list page reads on a phone: at 360 and 390 px (and at a desk) nothing is cut off at
the right, not the page and not a table scrolling inside its own box; every column of a row
is on screen."""

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect
from tests.web.conftest import ADMIN_PASSWORD, DESKTOP, PASSWORD, Server, log_in, shoot

Contexts = Callable[..., Any]
PHONES = {"360": {"width": 360, "height": 740}, "390": {"width": 390, "height": 844}}
SIZES = {**PHONES, "1280": DESKTOP}

# Runs in the page: whatever a person would have to scroll sideways to read.
CUT_OFF = """
() => {
  const width = document.documentElement.clientWidth;
  const classes = (el) => (typeof el.className === "string" && el.className.trim()
    ? "." + el.className.trim().split(/\\s+/).join(".") : "");
  const name = (el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${classes(el)}`
    + ` "${(el.textContent || "").trim().slice(0, 30)}"`;
  const out = [];
  if (document.documentElement.scrollWidth > width) {
    out.push(`the page is ${document.documentElement.scrollWidth}px wide in ${width}px`);
  }
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest(".visually-hidden, .skip, template, input, select, textarea")) continue;
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden") continue;
    // A box that scrolls sideways hides what is past its edge.
    const scrolls = ["auto", "scroll", "hidden"].includes(style.overflowX);
    if (scrolls && el.scrollWidth > el.clientWidth + 1) {
      out.push(`${name(el)} hides ${el.scrollWidth - el.clientWidth}px to the right`);
    }
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.height > 0 && box.right > width + 1) {
      out.push(`${name(el)} ends at ${Math.round(box.right)}px`);
    }
  }
  return out;
}
"""


def _seed(server: Server) -> dict[str, str]:
    """Lists with long values in every column: items, users, tokens, the security log."""
    server.add_locations(
        ("PLANT-NORTH", None, "site"),
        ("WAREHOUSE-A", "PLANT-NORTH", "building"),
        ("RACK-A-01-LEVEL-3", "WAREHOUSE-A", "rack"),
    )
    server.add_items(
        "material",
        3,
        name="Microcrystalline cellulose PH-102, 20 kg fibre drum",
        batch="MCC-5531-X-2026-11-LONG",
        location="RACK-A-01-LEVEL-3",
        quantity="20",
        expiry_on="2027-03-31",
    )
    (bag,) = server.add_items("bag", name="Outbound bag to Lyon", location="RACK-A-01-LEVEL-3")
    server.add_items(
        "supply", 2, name="Nitrile gloves, size M", location="WAREHOUSE-A", quantity="4"
    )
    server.add_user("olga.marchetti-lindqvist", "operator")
    with server.api() as api:
        assert api.post("/api/v1/items/MAT-000001/pack", json={"container": bag}).status_code == 200
        token = {
            "name": "Line 3 scanner by the loading dock",
            "username": "olga.marchetti-lindqvist",
            "scopes": ["item.read", "item.move", "item.pack", "item.transition"],
        }
        assert api.post("/api/v1/tokens", json=token).status_code == 201
        # A rotation, so the keys page lists more than one key.
        assert api.post("/api/v1/items/MAT-000002/labels").status_code in {200, 201}
    return {"bag": bag}


LISTS = (
    "/items",
    "/admin/users",
    "/admin/roles",
    "/admin/tokens",
    "/admin/security-log",
    "/admin/item-types",
    "/admin/workflows",
    "/admin/label-templates",
    "/admin/keys",
    "/locations",
    "/locations/RACK-A-01-LEVEL-3",
    "/locations/PLANT-NORTH?below=1",
)


@pytest.mark.parametrize("size", sorted(SIZES))
def test_every_list_reads_on_a_phone_and_a_desk(
    server: Server, new_context: Contexts, size: str
) -> None:
    _seed(server)
    page = new_context(SIZES[size]).new_page()
    log_in(page, "admin", ADMIN_PASSWORD)
    problems: list[str] = []
    for path in LISTS:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        problems += [f"{path}: {p}" for p in page.evaluate(CUT_OFF)]
        if size in {"360", "1280"}:
            name = path.replace("/", "-").replace("?", "-").replace("=", "")
            shoot(page, f"list{name}-{'phone' if size == '360' else 'desktop'}")
    assert not problems, "\n".join(problems)


def test_a_list_row_on_a_phone_shows_every_column_labelled(
    server: Server, new_context: Contexts
) -> None:
    _seed(server)
    page = new_context(PHONES["390"]).new_page()
    log_in(page, "admin", ADMIN_PASSWORD)
    page.goto("/items")
    row = page.locator("tr[data-item-code='MAT-000002']")
    # Every value is there to read, each named as its column is, and the code still leads.
    for text in ("MAT-000002", "Received", "Microcrystalline cellulose", "Material lot",
                 "RACK-A-01-LEVEL-3", "20 kg", "2027-03-31"):  # fmt: skip
        expect(row).to_contain_text(text)
    location = row.locator("td[data-label='Location']")
    expect(location).to_be_visible()
    label = location.evaluate("(el) => getComputedStyle(el, '::before').content")
    assert label == '"Location: "'
    # The tick box still selects the row.
    row.get_by_label("Select MAT-000002").check()
    expect(page.locator("#bulk-count")).to_have_text("1 selected.")
    # At a desk the same list is a table with its header.
    desk = page.context.browser.new_context(viewport=DESKTOP, base_url=page.url.split("/items")[0])
    try:
        wide = desk.new_page()
        log_in(wide, "olga.marchetti-lindqvist", PASSWORD, next_url="/items")
        expect(wide.locator("table.list thead")).to_be_visible()
        assert wide.evaluate(CUT_OFF) == []
        shoot(wide, "list-items-desktop")
    finally:
        desk.close()
