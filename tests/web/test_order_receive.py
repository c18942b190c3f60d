"""Receiving an order in a real browser: scan the order, then the supplier's barcodes (by a
wedge scanner and by the camera); GS1 fills the form; over-receiving asks for a reason."""

import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import segno
from PIL import Image
from playwright.sync_api import expect
from tests.web.conftest import PHONE, Console, Server, launch_chromium, log_in, shoot

GTIN = "09506000134352"


def approved_order(server: Server) -> str:
    """An approved order: 10 of supply (its supplier reference is the GTIN), 2 bags."""
    with server.api() as admin:
        made = admin.post(
            "/api/v1/orders",
            json={
                "supplier": "MedCo",
                "lines": [
                    {"type": "bag", "quantity": "2"},
                    {"type": "supply", "quantity": "10", "supplier_ref": GTIN},
                ],
            },
        )
        assert made.status_code == 201, made.text
        code: str = made.json()["code"]
        for step in ("submit", "approve"):
            done = admin.post(f"/api/v1/orders/{code}/{step}")
            assert done.status_code == 200, done.text
    return code


def test_scan_the_order_then_a_gs1_barcode_fills_the_receipt(
    server: Server, new_context: Any, console: Console
) -> None:
    server.add_user("olga", "operator")
    code = approved_order(server)
    page = new_context(PHONE).new_page()
    log_in(page, "olga", next_url="/orders")
    # The order's QR holds its page's address: scanning it opens the receive screen.
    page.get_by_label("Receive goods: scan the order's QR or type its code").fill(
        f"{server.base}/orders/{code}"
    )
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text(f"Receive {code}")
    expect(page.locator("body")).to_have_attribute("data-receive-ready", "yes")

    # A wedge scanner types the supplier's GS1 barcode and Enter: the form fills in.
    scan = page.locator("#f-data")
    expect(scan).to_be_focused()
    page.keyboard.type(f"(01){GTIN}(17)271231(10)LOT7")
    page.keyboard.press("Enter")
    expect(page.locator("#scan-read")).to_contain_text(f"GTIN {GTIN}, batch LOT7")
    expect(page.locator("#f-batch")).to_have_value("LOT7")
    expect(page.locator("#f-expiry_on")).to_have_value("2027-12-31")
    expect(page.locator("#f-line")).to_have_value("2")  # its supplier reference is the GTIN
    expect(page.locator("#f-quantity")).to_be_focused()
    shoot(page, "order-receive-phone")

    # More than was ordered: refused, nothing written, and the reason field asks why.
    page.locator("#f-quantity").fill("12")
    console.allow(r"status of 422")  # the refused form comes back as a 422 page
    page.get_by_role("button", name="Receive", exact=True).click()
    expect(page.locator("#receive-error")).to_contain_text("say why more is taken in")
    expect(page.locator("#f-reason")).to_be_focused()
    expect(page.locator("#e-reason")).to_be_visible()
    expect(page.locator("#f-batch")).to_have_value("LOT7")
    page.locator("#f-reason").fill("Supplier sent a full box")
    page.get_by_role("button", name="Receive", exact=True).click()
    expect(page.locator("#last-receipt")).to_contain_text("Received 12 on line 2")
    expect(page.locator("#order-status")).to_have_text("partly received")

    with server.api() as admin:
        order = admin.get(f"/api/v1/orders/{code}").json()
        (receipt,) = order["receipts"]
        assert (receipt["batch"], receipt["expiry_on"], receipt["gtin"]) == (
            "LOT7", "2027-12-31", GTIN,
        )  # fmt: skip
        assert receipt["reason"] == "Supplier sent a full box"
        (lot,) = receipt["items"]
        item = admin.get(f"/api/v1/items/{lot}").json()
        # The form carried the scan's own date: the raw YYMMDD is kept with it.
        assert (item["batch"], item["expiry_on"], item["expiry_raw"]) == (
            "LOT7", "2027-12-31", "271231",
        )  # fmt: skip
        assert Decimal(item["quantity"]) == 12


def _y4m_of(png: bytes, path: Path) -> None:
    """A short Y4M video (what Chromium's fake camera plays) of a code on a grey desk."""
    width, height = 640, 480
    code = Image.open(io.BytesIO(png)).convert("L")
    side = 360
    frame = Image.new("L", (width, height), 170)
    frame.paste(
        code.resize((side, side), Image.Resampling.NEAREST),
        ((width - side) // 2, (height - side) // 2),
    )
    chroma = bytes([128]) * (width // 2) * (height // 2)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(10):
            out.write(b"FRAME\n" + frame.tobytes() + chroma + chroma)


def test_the_camera_on_the_receive_screen_reads_a_gs1_code(
    server: Server, playwright_driver: Any, console: Console, tmp_path: Path
) -> None:
    server.add_user("olga", "operator")
    code = approved_order(server)
    # A GS1 Digital Link in a QR, as suppliers print them: GTIN, batch and expiry.
    png = io.BytesIO()
    segno.make(f"https://id.gs1.org/01/{GTIN}/10/CAM1?17=280630", error="m").save(
        png, kind="png", scale=8, border=4
    )
    video = tmp_path / "box.y4m"
    _y4m_of(png.getvalue(), video)
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
        log_in(page, "olga", next_url=f"/orders/{code}/receive")
        page.get_by_role("button", name="Scan with the camera").click()
        expect(page.locator("#camera-video")).to_be_visible()
        expect(page.locator("#f-batch")).to_have_value("CAM1", timeout=15_000)
        expect(page.locator("#f-expiry_on")).to_have_value("2028-06-30")
        expect(page.locator("#f-line")).to_have_value("2")
        page.get_by_role("button", name="Stop the camera").click()
        page.locator("#f-quantity").fill("4")
        page.get_by_role("button", name="Receive", exact=True).click()
        expect(page.locator("#last-receipt")).to_contain_text("Received 4 on line 2")
        context.close()
    finally:
        chromium.close()
    assert not console.problems, "\n".join(console.problems)
