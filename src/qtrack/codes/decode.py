"""Read barcodes from an uploaded photo or camera frame (for browsers without BarcodeDetector).

Hostile input is refused before any pixel is decoded: the byte size first, then the format
from the file's magic bytes, then the pixel count from the header. Decoding is CPU-bound C
code that releases the GIL, so callers run `decode_image` in a thread pool.
"""

import io
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import zxingcpp
from PIL import Image

from qtrack.core.errors import PayloadTooLarge, ValidationFailed

MAX_BYTES = 8_000_000
MAX_PIXELS = 12_000_000

# What labels and goods carry. Asking zxing-cpp for every format costs ~20x the time
# (DESIGN: 1.1 ms vs 23 ms for a 640x480 frame) and finds false positives in noise.
DEFAULT_FORMATS: tuple[zxingcpp.BarcodeFormat, ...] = (
    zxingcpp.BarcodeFormat.QRCode,
    zxingcpp.BarcodeFormat.DataMatrix,
    zxingcpp.BarcodeFormat.EANUPC,
    zxingcpp.BarcodeFormat.Code128,
)

# Pillow format name by leading bytes; only these three are ever handed to a decoder.
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


class ImageTooLarge(PayloadTooLarge):
    code, message = "image_too_large", "The image is too large"


class ImageTooManyPixels(PayloadTooLarge):
    code, message = "image_too_many_pixels", "The image has too many pixels"


class ImageUnsupported(ValidationFailed):
    status_code, code = 415, "image_unsupported"
    message = "Send a JPEG, PNG or WebP image"


class ImageInvalid(ValidationFailed):
    code, message = "image_invalid", "The image is damaged or incomplete"


@dataclass(frozen=True)
class DecodedSymbol:
    """One barcode found in an image.

    `text` keeps control characters such as the GS1 separator (ASCII 29) as they are;
    `symbology` is the AIM symbology identifier (``]Q1`` QR, ``]Q3`` GS1 QR, ``]E0`` EAN-13,
    ``]C1`` GS1-128...), which the scan resolver needs to tell GS1 data from plain text.
    """

    text: str
    format: str
    symbology: str
    position: tuple[tuple[int, int], ...]  # corners: top left, top right, bottom right, left


def sniff_format(data: bytes) -> str | None:
    """The Pillow format name of a JPEG, PNG or WebP file by its magic bytes, else None."""
    if data.startswith(_PNG_MAGIC):
        return "PNG"
    if data.startswith(_JPEG_MAGIC):
        return "JPEG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _open(data: bytes, fmt: str, max_pixels: int) -> Image.Image:
    """Open the image, check its size from the header, then decode its pixels in greyscale."""
    try:
        with warnings.catch_warnings():
            # Pillow warns (and past twice its own limit raises) on decompression bombs; make
            # both an error here rather than rely on the process-wide Image.MAX_IMAGE_PIXELS.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooManyPixels(details={"max_pixels": max_pixels}) from exc
    except (OSError, SyntaxError, ValueError) as exc:  # UnidentifiedImageError is an OSError
        raise ImageInvalid(details={"reason": str(exc)[:200]}) from exc
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooManyPixels(
            f"The image is {width}x{height} pixels; at most {max_pixels:,} are accepted",
            details={"width": width, "height": height, "max_pixels": max_pixels},
        )
    if width == 0 or height == 0:
        raise ImageInvalid(details={"reason": "empty image"})
    try:
        if fmt == "JPEG":
            # Let libjpeg produce the luminance plane directly instead of RGB.
            image.draft("L", image.size)
        image.load()
        return _greyscale(image)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # truncated or corrupt data
        raise ImageInvalid(details={"reason": str(exc)[:200]}) from exc


def _greyscale(image: Image.Image) -> Image.Image:
    if image.mode == "L":
        return image
    if image.mode.startswith("I"):
        # 16- and 32-bit greyscale: Pillow's direct conversion clips instead of scaling.
        return image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if image.mode in ("RGBA", "LA", "PA", "P") or "transparency" in image.info:
        # Transparent pixels are often black underneath: put them on white paper first.
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        paper.alpha_composite(rgba)
        return paper.convert("L")
    return image.convert("L")


def decode_image(
    data: bytes,
    *,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    formats: Iterable[zxingcpp.BarcodeFormat] = DEFAULT_FORMATS,
) -> list[DecodedSymbol]:
    """Every barcode of the given formats in a JPEG, PNG or WebP image; refuses anything else."""
    if len(data) > max_bytes:
        raise ImageTooLarge(
            f"The image is {len(data):,} bytes; at most {max_bytes:,} are accepted",
            details={"size": len(data), "max_bytes": max_bytes},
        )
    if not data:
        raise ImageInvalid("The image is empty", details={"reason": "empty body"})
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageUnsupported()
    image = _open(data, fmt, max_pixels)
    wanted = list(formats)
    if not wanted:
        raise ValueError("formats must name at least one barcode format")
    found = zxingcpp.read_barcodes(
        image,
        formats=zxingcpp.BarcodeFormats(wanted),
        # Plain keeps the bytes as encoded; the default (HRI) would turn GS into "<GS>" or
        # rewrite GS1 data as "(01)...".
        text_mode=zxingcpp.TextMode.Plain,
    )
    return [
        DecodedSymbol(
            text=barcode.text,
            format=barcode.format.name,
            symbology=barcode.symbology_identifier,
            position=tuple(
                (point.x, point.y)
                for point in (
                    barcode.position.top_left,
                    barcode.position.top_right,
                    barcode.position.bottom_right,
                    barcode.position.bottom_left,
                )
            ),
        )
        for barcode in found
    ]
