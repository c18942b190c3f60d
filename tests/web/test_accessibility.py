"""Every page at phone size, checked as an operator's thumb and a screen reader meet it: no
console error, nothing wider than the screen, every field labelled, every image described,
finger-sized targets on the floor pages, readable state badges, and a scan screen that works
from the keyboard alone."""

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect
from tests.web.conftest import ADMIN_PASSWORD, DESKTOP, PASSWORD, PHONE, Console, Server, log_in

Contexts = Callable[..., Any]

# Runs in the page: what a person at this viewport would trip over.
AUDIT = """
() => {
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden";
  };
  const name = (el) => {
    const text = (el.getAttribute("aria-label") || el.textContent || el.value || "").trim();
    return `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""} "${text.slice(0, 40)}"`;
  };
  const out = { overflow: [], unlabelled: [], noAlt: [], small: [], badges: [] };
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > width) {
    out.overflow.push(`page is ${document.documentElement.scrollWidth}px wide in ${width}px`);
  }
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || !(shown(el) || el.closest("label"))) continue;
    const labelled = (el.labels && el.labels.length) || el.getAttribute("aria-label")
      || el.getAttribute("aria-labelledby") || el.title;
    if (!labelled) out.unlabelled.push(name(el));
  }
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) out.noAlt.push(img.getAttribute("src"));
  }
  for (const el of document.querySelectorAll("a[href], button, input, select, textarea, summary")) {
    if (el.type === "hidden" || !shown(el)) continue;
    let r = el.getBoundingClientRect();
    // Off-screen until focused (the skip link), or visually hidden: nothing to tap.
    if (r.right <= 0 || r.width < 2) continue;
    // A checkbox or radio is tapped through the label around it (the whole cell, the mode tile).
    const label = el.closest("label");
    if ((el.type === "checkbox" || el.type === "radio") && label) r = label.getBoundingClientRect();
    if (el.matches(".mode input")) continue;
    if (r.width < 44 || r.height < 44) {
      out.small.push(`${name(el)} ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
  }
  // State badges: the text on the badge's own background, whatever colour an admin chose for
  // the state (that colour is only the dot, which gets a dark edge).
  const lum = (rgb) => {
    const [r, g, b] = rgb.match(/[\\d.]+/g).slice(0, 3).map((v) => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  for (const badge of document.querySelectorAll(".badge")) {
    if (!shown(badge)) continue;
    const s = getComputedStyle(badge);
    const [a, b] = [lum(s.color), lum(s.backgroundColor)];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) out.badges.push(`${name(badge)} text contrast ${ratio.toFixed(2)}`);
    const dot = badge.querySelector(".dot circle");
    if (dot && getComputedStyle(dot).stroke === "none") {
      out.badges.push(`${name(badge)} dot has no edge`);
    }
  }
  return out;
}
"""


def _seed(server: Server) -> dict[str, str]:
    """Locations, several types (one with a white and a yellow state), items in various
    states, a container with contents, and events with reasons and an e-signature."""
    server.add_user("olga", "operator")
    server.add_user("sue", "supervisor")
    server.add_user("vic", "viewer")
    server.add_locations(
        ("SITE", None, "site"),
        ("ZONE-1", "SITE", "zone"),
        ("RACK-1", "ZONE-1", "rack"),
        ("DOCK", "SITE", "zone"),
    )
    with server.api() as admin:
        workflow = {
            "key": "paint",
            "name": "Paint",
            "definition": {
                "initial": "wet",
                "states": [
                    {"key": "wet", "label": "Wet", "colour": "#ffff00"},
                    {"key": "dry", "label": "Dry", "colour": "#ffffff", "terminal": True},
                ],
                "transitions": [{"name": "dry", "from": ["wet"], "to": "dry"}],
            },
        }
        assert admin.post("/api/v1/workflows", json=workflow).status_code == 201
        paint_type = {
            "key": "paint",
            "name": "Paint tin",
            "code_prefix": "PNT",
            "workflow": "paint",
        }
        assert admin.post("/api/v1/item-types", json=paint_type).status_code == 201
    lots = server.add_items(
        "material",
        3,
        name="Microcrystalline cellulose PH-102, 20 kg fibre drum",
        batch="MCC-5531-X",
        location="RACK-1",
        quantity=20,
        expiry_on="2027-03-31",
    )
    bag = server.add_items("bag", name="Outbound bag to Lyon", location="DOCK")[0]
    paint = server.add_items("paint", name="Primer", location="RACK-1")[0]
    with server.api("olga") as olga, server.api("sue") as sue:
        for body in (
            {"transition": "quarantine", "reason": "Seal intact"},
            {"transition": "start_test"},
        ):
            assert olga.post(f"/api/v1/items/{lots[0]}/transitions", json=body).status_code == 200
        signed = {"transition": "reject", "reason": "Assay out of spec", "password": PASSWORD}
        assert sue.post(f"/api/v1/items/{lots[0]}/transitions", json=signed).status_code == 200
        assert (
            olga.post(f"/api/v1/items/{lots[1]}/pack", json={"container": bag}).status_code == 200
        )
    return {"lot": lots[0], "bag": bag, "paint": paint}


def _pages(seeded: dict[str, str]) -> list[str]:
    """Every page an admin can open, with the seeded data in it."""
    return [
        "/",
        "/scan",
        "/items",
        "/items?type=material",
        "/items/new",
        f"/items/{seeded['lot']}",
        f"/items/{seeded['bag']}",
        f"/items/{seeded['paint']}",
        "/locations",
        "/locations/RACK-1",
        "/locations/RACK-1?below=1",
        "/locations/new",
        "/admin",
        "/admin/users",
        "/admin/users/olga",
        "/admin/roles",
        "/admin/roles/operator",
        "/admin/tokens",
        "/admin/security-log",
        "/admin/item-types",
        "/admin/item-types/new",
        "/admin/item-types/material",
        "/admin/workflows",
        "/admin/workflows/new",
        "/admin/workflows/paint",
        "/admin/label-templates",
        "/admin/label-templates/new",
        "/admin/keys",
        "/items/NO-SUCH-1",  # the error page
    ]


def _problems(page: Any, path: str) -> list[str]:
    """What the audit found on this page; target sizes count on the floor pages only."""
    found = page.evaluate(AUDIT)
    # The floor pages, used with a thumb all day: every control at least 44 x 44 CSS px.
    floor = path == "/scan" or path.startswith("/items")
    return [
        f"{path}: {kind}: {what}"
        for kind, whats in found.items()
        if kind != "small" or floor
        for what in whats
    ]


def test_every_page_at_phone_size(server: Server, new_context: Contexts, console: Console) -> None:
    seeded = _seed(server)
    console.allow(r"status of 404")  # the error page is a 404 on purpose
    page = new_context(PHONE).new_page()
    log_in(page, "admin", password=ADMIN_PASSWORD)
    problems: list[str] = []
    for path in _pages(seeded):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        problems += _problems(page, path)
    # The login page, signed out.
    signed_out = new_context(PHONE).new_page()
    signed_out.goto("/login")
    problems += _problems(signed_out, "/login")
    assert not problems, "\n".join(problems)


def test_the_floor_pages_of_an_operator_and_a_viewer(server: Server, new_context: Contexts) -> None:
    seeded = _seed(server)
    for username in ("olga", "vic"):
        page = new_context(PHONE).new_page()
        log_in(page, username)
        problems: list[str] = []
        for path in ("/", "/scan", "/items", f"/items/{seeded['lot']}", f"/items/{seeded['bag']}"):
            page.goto(path)
            page.wait_for_load_state("networkidle")
            problems += _problems(page, path)
        assert not problems, f"{username}:\n" + "\n".join(problems)


def test_the_navigation_shows_every_link_on_a_phone(server: Server, new_context: Contexts) -> None:
    page = new_context(PHONE).new_page()
    log_in(page, "admin", password=ADMIN_PASSWORD)
    # Admin has the most links; none may hide past the right edge of a 360 px screen.
    for link in page.locator(".mainnav a").all():
        box = link.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= PHONE["width"], link.text_content()


def test_the_scan_screen_from_the_keyboard_alone(server: Server, new_context: Contexts) -> None:
    seeded = _seed(server)
    page = new_context(DESKTOP).new_page()
    log_in(page, "olga", next_url="/scan")
    expect(page.locator("body[data-scan-ready]")).to_have_count(1)
    scan_input = page.locator("#scan-input")
    expect(scan_input).to_be_focused()

    # Tab reaches the modes; the arrow keys move between them without the focus jumping away.
    page.keyboard.press("Tab")  # Go
    page.keyboard.press("Tab")  # the chosen mode
    expect(page.locator("input[name=mode][value=lookup]")).to_be_focused()
    # The focus can be seen: a ring around the mode's tile.
    ring = page.evaluate(
        "() => getComputedStyle(document.querySelector('.mode input:checked + span')).outlineStyle"
    )
    assert ring == "solid"
    page.keyboard.press("ArrowRight")
    expect(page.locator("input[name=mode][value=putaway]")).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(page.locator("input[name=mode][value=pack]")).to_be_focused()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("input[name=mode][value=lookup]")).to_be_checked()
    # Enter: done choosing, back to scanning.
    page.keyboard.press("Enter")
    expect(scan_input).to_be_focused()

    # A scan typed and sent with Enter answers, and the input is ready for the next one.
    page.keyboard.type(seeded["lot"])
    page.keyboard.press("Enter")
    expect(page.locator("#outcome")).to_have_attribute("data-outcome", "ok")
    expect(page.locator("#result")).to_contain_text("Rejected")  # the state's label, not its key
    expect(scan_input).to_be_focused()
    expect(scan_input).to_have_value("")

    # A tap on a mode still sends the focus straight back to the scan input.
    page.locator(".mode", has_text="Put away").click()
    expect(scan_input).to_be_focused()
