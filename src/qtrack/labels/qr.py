"""QR codes of label data, as PNG and SVG images and as a module matrix for PDF and ZPL.

Encoder: zxing-cpp's writer (zint inside), chosen over segno by benchmarks/labels.py. On
qtrack label URLs both decode back to the same text at version 6, EC level M, alphanumeric
mode; but segno chooses the mask in pure Python and rendered ~100 PNGs/s per core, zxing-cpp
~1,300/s (docs/benchmarks.md).

PNG: written here as a 1-bit greyscale PNG straight from zxing-cpp's bitmap. Going through
Pillow (frombuffer, expand, save) cost about as much as encoding the symbol and kept a cold
render under the 1,000/s-per-core target; a bilevel PNG is also the smallest file.
"""

import math
import re
import struct
import zlib
from dataclasses import dataclass
from typing import Literal

import zxingcpp

EcLevel = Literal["L", "M", "Q", "H"]

MIN_SCALE, MAX_SCALE = 1, 40
MIN_BORDER, MAX_BORDER = 0, 16
DEFAULT_BORDER = 4  # modules of quiet zone, as ISO/IEC 18004 asks for

_EC_LEVELS = ("L", "M", "Q", "H")
# zxing-cpp's bitmaps hold 0 for a dark module and 255 for a light one.
_TO_BITS = bytes.maketrans(b"\x00\xff", b"01")
_TO_MODULES = bytes.maketrans(b"\x00\xff", b"\x01\x00")
_DARK_RUN = re.compile(b"\x01+")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class QrMatrix:
    """A QR symbol without its quiet zone: `size` x `size` modules, row by row, 1 for dark."""

    size: int
    modules: bytes

    def is_dark(self, x: int, y: int) -> bool:
        """Whether the module in column `x` of row `y` is dark."""
        return self.modules[y * self.size + x] == 1

    def dark_runs(self) -> list[list[tuple[int, int]]]:
        """Per row, the (start column, length) of each run of dark modules."""
        size = self.size
        return [
            [
                (m.start(), m.end() - m.start())
                for m in _DARK_RUN.finditer(self.modules[y * size : (y + 1) * size])
            ]
            for y in range(size)
        ]


def _check(data: str, ec: str, scale: int = MIN_SCALE, border: int = MIN_BORDER) -> None:
    if not data:
        raise ValueError("QR data must not be empty")
    if ec not in _EC_LEVELS:
        raise ValueError(f"ec must be one of L, M, Q, H, not {ec!r}")
    if not MIN_SCALE <= scale <= MAX_SCALE:
        raise ValueError(f"scale must be {MIN_SCALE}..{MAX_SCALE}, not {scale}")
    if not MIN_BORDER <= border <= MAX_BORDER:
        raise ValueError(f"border must be {MIN_BORDER}..{MAX_BORDER}, not {border}")


def _pixels(image: zxingcpp.Image) -> bytes:
    """A zxing-cpp bitmap's bytes, row by row (its stub does not declare the buffer protocol)."""
    return memoryview(image).tobytes()  # type: ignore[arg-type]


def _symbol(data: str, ec: str) -> zxingcpp.Barcode:
    try:
        # zint picks the most compact modes itself: an uppercase URL stays alphanumeric.
        return zxingcpp.create_barcode(data, zxingcpp.BarcodeFormat.QRCode, ec_level=ec)
    except ValueError as exc:  # too long for any version at this EC level
        raise ValueError(f"cannot encode as a QR code: {exc}") from exc


def qr_matrix(data: str, *, ec: EcLevel = "M") -> QrMatrix:
    """The module matrix of `data` (no quiet zone), for vector output such as PDF."""
    _check(data, ec)
    pixels = _pixels(_symbol(data, ec).to_image(scale=1, add_quiet_zones=False))
    return QrMatrix(math.isqrt(len(pixels)), pixels.translate(_TO_MODULES))


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def render_png(
    data: str, *, scale: int = 4, border: int = DEFAULT_BORDER, ec: EcLevel = "M"
) -> bytes:
    """A 1-bit PNG of `data`: `scale` pixels per module, `border` modules of quiet zone."""
    _check(data, ec, scale, border)
    image = _symbol(data, ec).to_image(scale=scale, add_quiet_zones=False)
    pixels = _pixels(image)
    inner = image.shape[1]  # pixels across the symbol itself
    width = inner + 2 * border * scale
    row_bytes = (width + 7) // 8
    # Each scanline: filter type 0, then the bits, 1 = white. The quiet zone and the pad bits
    # at the end of a row are white.
    quiet = b"1" * (border * scale)
    pad = b"1" * (row_bytes * 8 - width)
    blank = b"\x00" + b"\xff" * row_bytes
    lines = [blank] * (border * scale)
    for y in range(0, inner, scale):
        bits = quiet + pixels[y * inner : (y + 1) * inner].translate(_TO_BITS) + quiet + pad
        lines.extend([b"\x00" + int(bits, 2).to_bytes(row_bytes, "big")] * scale)
    lines.extend([blank] * (border * scale))
    header = struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"".join(
        (
            _PNG_SIGNATURE,
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(b"".join(lines), 6)),
            _png_chunk(b"IEND", b""),
        )
    )


def render_svg(data: str, *, border: int = DEFAULT_BORDER, ec: EcLevel = "M") -> str:
    """An SVG of `data` in module units: a viewBox and no fixed size, so it scales cleanly."""
    _check(data, ec, border=border)
    matrix = qr_matrix(data, ec=ec)
    side = matrix.size + 2 * border
    path = "".join(
        f"M{x + border} {y + border}h{length}v1h-{length}z"
        for y, runs in enumerate(matrix.dark_runs())
        for x, length in runs
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" '
        f'shape-rendering="crispEdges">'
        f'<rect width="{side}" height="{side}" fill="#fff"/>'
        f'<path fill="#000" d="{path}"/></svg>'
    )
