"""GS1 DataMatrix for items that carry GS1 data (GTIN, batch, expiry, serial)."""

import io
from datetime import date

import zxingcpp
from PIL import Image


def gs1_element_string(
    *,
    gtin: str,
    batch: str | None,
    expiry_raw: str | None,
    expiry_on: date | None,
    serial: str | None,
) -> str:
    """The item's GS1 data in bracketed form: (01) GTIN, (17) expiry, (10) batch, (21) serial.

    Fixed-length elements first and variable ones last, as the GS1 General Specifications
    recommend, so fewer separators are needed.
    """
    parts = [f"(01){gtin.zfill(14)}"]
    if expiry_raw:
        parts.append(f"(17){expiry_raw}")
    elif expiry_on:
        parts.append(f"(17){expiry_on:%y%m%d}")
    if batch:
        parts.append(f"(10){batch}")
    if serial:
        parts.append(f"(21){serial}")
    return "".join(parts)


def render_png(elements: str, *, scale: int = 6) -> bytes:
    """A GS1 DataMatrix (FNC1 first: scanners report ]d2) as a PNG."""
    if not 1 <= scale <= 40:
        raise ValueError("scale must be 1..40")
    symbol = zxingcpp.create_barcode(elements, zxingcpp.BarcodeFormat.DataMatrix, gs1=True)
    buffer = io.BytesIO()
    Image.fromarray(symbol.to_image(scale=scale)).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
