"""The web UI in a real browser: what an operator, a viewer and a phone that loses its network
see and do."""

import io
import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.sync_api import expect
from tests.web.conftest import (
    DESKTOP,
    PASSWORD,
    PHONE,
    SCAN_PREFIX,
    Console,
    Server,
    launch_chromium,
    log_in,
    shoot,
)

Contexts = Callable[..., Any]


def scan(page: Any, data: str) -> None:
    """What a keyboard-wedge scanner does: type the code into the focused input, then Enter."""
    expect(page.locator("#scan-input")).to_be_focused()
    page.keyboard.type(data)
    page.keyboard.press("Enter")


def outcome(page: Any) -> Any:
    return page.locator("#outcome")


def test_operator_creates_scans_and_transitions_an_item(
    server: Server, new_context: Contexts, console: Console
) -> None:
    server.add_user("olga", "operator")
    server.add_user("sue", "supervisor")
    page = new_context(PHONE).new_page()
    log_in(page, "olga")
    expect(page.locator("h2", has_text="Hello")).to_be_visible()
    shoot(page, "dashboard-phone")

    # Create an item through the form, then its label prints as a PDF.
    page.get_by_role("link", name="New item").first.click()
    page.get_by_label("Type").select_option("material")
    page.get_by_label("Name").fill("Talc, 25 kg bag")
    page.get_by_label("Batch / lot").fill("T-2026-11")
    shoot(page, "item-new-phone")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("h1")).to_have_text("1 item created")
    code = page.locator("[data-created]").get_attribute("data-created")
    assert code
    assert re.fullmatch(r"MAT-\d+", code)
    pdf = page.request.get(page.locator("#print-labels").get_attribute("href"))
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")

    # Scan its code through the wedge input: look up.
    page.locator(".mainnav").get_by_role("link", name="Scan").click()
    scan(page, code)
    expect(outcome(page)).to_have_attribute("data-outcome", "ok")
    expect(outcome(page)).to_contain_text(f"{code}: Received")
    expect(page.locator("#result")).to_contain_text("Talc, 25 kg bag")

    # Act mode: the scan offers what may be done to the item; quarantine it, with a reason.
    page.locator(".mode", has_text="Act").click()
    scan(page, code)
    page.get_by_label("Reason").fill("Arrived from supplier, seal intact")
    page.get_by_role("button", name="Quarantine → Quarantine").click()
    expect(page.locator("#history li").first).to_contain_text(f"{code}: Quarantine: done")
    expect(outcome(page)).to_have_attribute("data-outcome", "ok")
    shoot(page, "scan-act-phone")

    # A scan of nothing known is "unknown", not "ok" (the browser logs the API's 422).
    console.allow(r"status of 422")
    scan(page, "NOT-A-CODE-123")
    expect(outcome(page)).to_have_attribute("data-outcome", "unknown")

    # The item page's timeline shows the change and why; its buttons need a reason.
    page.goto(f"/items/{code}")
    timeline = page.locator(".timeline")
    expect(timeline.locator("li").first).to_contain_text("status changed")
    expect(timeline.locator("li").first).to_contain_text("Why: Arrived from supplier, seal intact")
    page.get_by_role("button", name="Start testing → under test").click()
    expect(page.locator(".badge").first).to_contain_text("Under test")
    shoot(page, "item-phone")

    # QA rejects it: the dialog asks for the reason and the password that signs.
    qa = new_context(DESKTOP).new_page()
    log_in(qa, "sue", next_url=f"/items/{code}")
    qa.get_by_text("Reject → rejected (e-signature)").click()
    qa.locator("#reason-reject").fill("Assay out of specification")
    qa.locator("#password-reject").fill("not my password")
    console.allow(r"status of 403")  # the page that says the signature failed
    qa.get_by_role("button", name="Reject", exact=True).click()
    expect(qa.locator("#action-error")).to_be_visible()
    # The refused dialog is open again, the reason kept, the password asked for again.
    expect(qa.locator("#reason-reject")).to_have_value("Assay out of specification")
    expect(qa.locator("#password-reject")).to_have_value("")
    qa.locator("#password-reject").fill(PASSWORD)
    qa.get_by_role("button", name="Reject", exact=True).click()
    expect(qa.locator(".badge").first).to_contain_text("Rejected")
    latest = qa.locator(".timeline li").first
    expect(latest).to_contain_text("Why: Assay out of specification")
    expect(latest).to_contain_text("Signed by sue")
    shoot(qa, "item-desktop")

    with server.api("olga") as api:
        events = api.get(f"/api/v1/items/{code}/events").json()["items"]
    assert [e["type"] for e in events] == [
        "status_changed",
        "status_changed",
        "status_changed",
        "created",
    ]
    assert events[2]["reason"] == "Arrived from supplier, seal intact"
    assert events[2]["actor"] == "olga"
    assert events[0]["signature"]["by"] == "sue"


def test_put_away_many_then_undo_the_last(server: Server, new_context: Contexts) -> None:
    server.add_user("olga", "operator")
    server.add_locations(
        ("PLANT", None, "site"), ("RACK-1", "PLANT", "rack"), ("RACK-2", "PLANT", "rack")
    )
    codes = server.add_items("bag", 3, location="RACK-1")
    page = new_context(DESKTOP).new_page()
    log_in(page, "olga", next_url="/scan")

    page.locator(".mode", has_text="Put away").click()
    scan(page, "RACK-2")
    expect(page.locator("#putaway-target")).to_contain_text("RACK-2")
    for code in codes:
        scan(page, code)
        expect(page.locator("#history li").first).to_contain_text(f"{code} → RACK-2: done")
    shoot(page, "scan-putaway-desktop")

    page.get_by_role("button", name=re.compile("Undo:")).click()
    expect(page.locator("#history li").first).to_contain_text(f"Undo: {codes[-1]} back to RACK-1")
    expect(page.locator("#history li").first).to_have_attribute("data-outcome", "ok")

    with server.api("olga") as api:
        places = [api.get(f"/api/v1/items/{c}").json()["location"] for c in codes]
    assert places == ["RACK-2", "RACK-2", "RACK-1"]


def test_a_prefixed_scan_is_caught_on_any_page(server: Server, new_context: Contexts) -> None:
    server.add_user("olga", "operator")
    (code,) = server.add_items("bag")
    page = new_context(DESKTOP).new_page()
    log_in(page, "olga", next_url="/items")
    page.get_by_label("Search code, name or batch").focus()
    page.keyboard.type(f"{SCAN_PREFIX}{code}")
    page.keyboard.press("Enter")
    page.wait_for_url("**/scan")
    expect(outcome(page)).to_contain_text(f"{code}: Open")
    # The prefix and the code did not end up in the search field of the page left behind.
    page.go_back()
    expect(page.get_by_label("Search code, name or batch")).to_have_value("")


def test_a_viewer_sees_no_write_buttons_and_forged_posts_are_refused(
    server: Server, new_context: Contexts
) -> None:
    server.add_user("vic", "viewer")
    server.add_user("olga", "operator")
    (code,) = server.add_items("material", name="Lactose")

    viewer = new_context(PHONE).new_page()
    log_in(viewer, "vic", next_url=f"/items/{code}")
    expect(viewer.locator("h1")).to_have_text(code)
    expect(viewer.locator("form[action$='/transitions']")).to_have_count(0)
    expect(viewer.get_by_role("link", name="New item")).to_have_count(0)
    expect(viewer.get_by_role("link", name="Print label")).to_have_count(0)
    shoot(viewer, "item-viewer-phone")
    viewer.goto("/scan")
    expect(viewer.locator("input[name=mode]")).to_have_count(0)  # look-up only
    assert viewer.request.get("/items/new", max_redirects=0).status == 403
    token = viewer.locator("body").get_attribute("data-csrf")
    refused = viewer.request.post(
        f"/items/{code}/transitions", form={"transition": "quarantine", "csrf_token": token}
    )
    assert refused.status == 403
    assert "permission_denied" in refused.text()

    # An operator may quarantine, but not through a form another site forged (no token).
    operator = new_context(PHONE).new_page()
    log_in(operator, "olga", next_url=f"/items/{code}")
    for form in (
        {"transition": "quarantine"},
        {"transition": "quarantine", "csrf_token": "0" * 64},
    ):
        forged = operator.request.post(f"/items/{code}/transitions", form=form)
        assert forged.status == 403
        assert "csrf_failed" in forged.text()
    with server.api() as api:
        assert api.get(f"/api/v1/items/{code}").json()["status"] == "received"

    # The real button works.
    operator.get_by_role("button", name="Quarantine → quarantine").click()
    expect(operator.locator(".badge").first).to_contain_text("Quarantine")


def test_offline_actions_are_kept_across_a_reload_and_applied_once(
    server: Server, new_context: Contexts, console: Console
) -> None:
    server.add_user("olga", "operator")
    server.add_locations(
        ("PLANT", None, "site"), ("DOCK", "PLANT", "zone"), ("RACK-9", "PLANT", "rack")
    )
    codes = server.add_items("bag", 3, location="DOCK")
    context = new_context(PHONE)
    page = context.new_page()
    log_in(page, "olga", next_url="/scan")
    page.evaluate("navigator.serviceWorker.ready")
    page.reload()  # now under the service worker, which keeps the scan screen
    page.wait_for_function("navigator.serviceWorker.controller !== null")

    page.locator(".mode", has_text="Put away").click()
    scan(page, "RACK-9")
    expect(page.locator("#putaway-target")).to_contain_text("RACK-9")

    # The network goes: the browser says so, and the server is gone too.
    console.allow(r"ERR_INTERNET_DISCONNECTED|ERR_CONNECTION_REFUSED|Failed to fetch")
    context.set_offline(True)
    server.stop()
    expect(page.locator("#net-status")).to_be_visible()
    for code in codes:
        scan(page, code)
        expect(page.locator("#history li").first).to_contain_text(f"{code} → RACK-9: kept")
    expect(page.locator("#outbox-badge")).to_have_text("3 waiting")
    shoot(page, "scan-offline-phone")

    # A reload with no network: the scan screen comes from the service worker, queue intact.
    response = page.reload()
    assert response is not None
    assert response.from_service_worker
    expect(page.locator("#outbox-count")).to_have_text("3")
    expect(page.locator("#outbox-list li")).to_have_count(3)
    expect(page.locator("#putaway-target")).to_contain_text("RACK-9")

    # The network is back: everything is sent, once.
    server.start()
    context.set_offline(False)
    expect(page.locator("#outbox-count")).to_have_text("0", timeout=20_000)
    expect(page.locator("#outbox-badge")).to_be_hidden()
    page.reload()  # a second chance to send anything twice
    expect(page.locator("#outbox-count")).to_have_text("0")

    moved_by: dict[str, str] = {}
    with server.api("olga") as api:
        for code in codes:
            assert api.get(f"/api/v1/items/{code}").json()["location"] == "RACK-9"
            events = api.get(f"/api/v1/items/{code}/events").json()["items"]
            assert [e["type"] for e in events] == ["moved", "created"], code
            assert events[0]["client_event_id"]
            moved_by[events[0]["client_event_id"]] = code

    # They went through the offline sync's push endpoint, as a mobile app's changes do: each
    # is a pushed change of this browser's device, applied once under its event's id.
    database = server.env["QTRACK_DATABASE_URL"].split("///", 1)[1]
    with closing(sqlite3.connect(database)) as connection:
        pushed = connection.execute(
            "SELECT change_id, type, outcome, device_id, item_code FROM sync_change"
        ).fetchall()
    by_change = {row[0]: row[1:] for row in pushed}
    assert set(moved_by) <= set(by_change)
    for change_id, code in moved_by.items():
        kind, outcome, device, item = by_change[change_id]
        assert (kind, outcome, item) == ("scan", "applied", code)
        assert device.startswith("web-"), device


def test_pages_at_phone_and_desktop_sizes(server: Server, new_context: Contexts) -> None:
    server.add_user("sue", "supervisor")
    server.add_locations(
        ("PLANT", None, "site"), ("WH-A", "PLANT", "building"), ("RACK-1", "WH-A", "rack")
    )
    server.add_items("material", 3, location="RACK-1", name="Magnesium stearate", batch="MS-1")
    server.add_items("supply", 2, location="WH-A", name="Gloves", quantity="4")
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = new_context(viewport).new_page()
        log_in(page, "sue")
        for path, name in (
            ("/", "dashboard"),
            ("/scan", "scan"),
            ("/items", "items"),
            ("/locations", "locations"),
            ("/items/new", "item-new"),
        ):
            page.goto(path)
            shoot(page, f"{name}-{size}")
        # Nothing is wider than the screen (the items table scrolls inside its own box).
        for path in ("/", "/scan", "/items", "/locations", "/items/new"):
            page.goto(path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} is {overflow}px wider than a {size} screen"
    page.goto("/items?type=material")
    expect(page.locator("tbody tr")).to_have_count(3)
    page.goto("/items?q=glov")
    expect(page.locator("tbody tr")).to_have_count(2)


def _y4m_of(png: bytes, path: Path) -> None:
    """A short Y4M video (what Chromium's fake camera plays) of a QR code on a grey desk."""
    width, height = 640, 480
    qr = Image.open(io.BytesIO(png)).convert("L")
    side = 360
    frame = Image.new("L", (width, height), 170)
    frame.paste(
        qr.resize((side, side), Image.Resampling.NEAREST),
        ((width - side) // 2, (height - side) // 2),
    )
    chroma = bytes([128]) * (width // 2) * (height // 2)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(10):
            out.write(b"FRAME\n" + frame.tobytes() + chroma + chroma)


def test_the_camera_reads_a_label(
    server: Server, playwright_driver: Any, console: Console, tmp_path: Path
) -> None:
    server.add_user("olga", "operator")
    (code,) = server.add_items("material", name="Camera test lot")
    with server.api() as api:
        qr = api.get(f"/api/v1/items/{code}/qr.png")
        assert qr.status_code == 200
    video = tmp_path / "label.y4m"
    _y4m_of(qr.content, video)
    chromium = launch_chromium(
        playwright_driver,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    )
    try:
        context = chromium.new_context(viewport=PHONE, base_url=server.base, permissions=["camera"])
        console.watch(context)
        page = context.new_page()
        log_in(page, "olga", next_url="/scan")
        page.get_by_role("button", name="Scan with the camera").click()
        expect(page.locator("#camera-video")).to_be_visible()
        # Linux Chromium has no BarcodeDetector: frames go to /api/v1/scan/decode.
        expect(outcome(page)).to_contain_text(f"{code}: Received", timeout=15_000)
        expect(outcome(page)).to_have_attribute("data-outcome", "ok")
        shoot(page, "scan-camera-phone")
        page.get_by_role("button", name="Stop the camera").click()
        expect(page.locator("#camera-video")).to_be_hidden()
        context.close()
    finally:
        chromium.close()
    assert not console.problems, "\n".join(console.problems)
