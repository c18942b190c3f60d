"""Decoding uploaded images: every expected symbology, and refusal of hostile input."""

import io
import struct
import zlib
from collections.abc import Callable

import pytest
import zxingcpp
from PIL import Image

from qtrack.codes.decode import (
    DecodedSymbol,
    ImageInvalid,
    ImageTooLarge,
    ImageTooManyPixels,
    ImageUnsupported,
    decode_image,
)
from qtrack.core.errors import PayloadTooLarge, QtrackError, ValidationFailed
from qtrack.labels.qr import render_png

URL = "HTTP://127.0.0.1:8000/Q/" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" * 3


def symbol_image(data: str, fmt: zxingcpp.BarcodeFormat, **options: object) -> Image.Image:
    """A barcode drawn by zxing-cpp's writer, as a greyscale Pillow image."""
    bitmap = zxingcpp.create_barcode(data, fmt, **options).to_image(scale=4)
    height, width = bitmap.shape
    return Image.frombytes("L", (width, height), memoryview(bitmap).tobytes())  # type: ignore[arg-type]


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def noisy_frame(symbol: Image.Image, size: tuple[int, int], at: tuple[int, int]) -> Image.Image:
    """A camera-like greyscale frame: grey noise with the symbol pasted in."""
    frame = Image.effect_noise(size, 40).point(lambda v: v // 2 + 64)
    frame.paste(symbol, at)
    return frame


@pytest.mark.parametrize(
    ("data", "fmt", "expected"),
    [
        ("MAT-000123", zxingcpp.BarcodeFormat.QRCode, ("QRCode", "]Q1")),
        ("MAT-000123", zxingcpp.BarcodeFormat.DataMatrix, ("DataMatrix", "]d1")),
        ("9501101530003", zxingcpp.BarcodeFormat.EAN13, ("EAN13", "]E0")),
        # zxing-cpp 3 reports a UPC-A as the EAN-13 it is (GTIN-13, leading 0) whenever
        # EAN-13 is enabled; the scan resolver sees one GTIN form for both.
        ("036000291452", zxingcpp.BarcodeFormat.UPCA, ("EAN13", "]E0")),
        ("MAT-000123", zxingcpp.BarcodeFormat.Code128, ("Code128", "]C0")),
    ],
    ids=["qr", "datamatrix", "ean13", "upca", "code128"],
)
def test_reads_each_expected_symbology(
    data: str, fmt: zxingcpp.BarcodeFormat, expected: tuple[str, str]
) -> None:
    symbols = decode_image(encode(symbol_image(data, fmt), "PNG"))
    text = data.rjust(13, "0") if expected[0] == "EAN13" else data
    assert [(s.text, s.format, s.symbology) for s in symbols] == [(text, *expected)]


def test_gs1_128_keeps_its_group_separator_and_identifier() -> None:
    image = symbol_image(
        "(01)09506000134352(10)LOT42(17)271231", zxingcpp.BarcodeFormat.Code128, gs1=True
    )
    [symbol] = decode_image(encode(image, "PNG"))
    assert symbol.text == "010950600013435210LOT42\x1d17271231"
    assert symbol.symbology == "]C1"


@pytest.mark.parametrize(
    ("fmt", "params"),
    [("PNG", {}), ("JPEG", {"quality": 80}), ("WEBP", {"quality": 80})],
)
@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_reads_a_camera_frame_in_each_container(
    fmt: str, params: dict[str, object], mode: str
) -> None:
    qr = Image.open(io.BytesIO(render_png(URL, scale=3))).convert("L")
    frame = noisy_frame(qr, (640, 480), (200, 100)).convert(mode)
    [symbol] = decode_image(encode(frame, fmt, **params))
    assert symbol.text == URL
    assert len(symbol.position) == 4
    for x, y in symbol.position:
        assert 200 <= x <= 200 + qr.width
        assert 100 <= y <= 100 + qr.height


def test_transparent_background_counts_as_white() -> None:
    # Black everywhere underneath, the symbol only in the alpha channel: read naively, the
    # image is solid black.
    qr = Image.open(io.BytesIO(render_png("MAT-000123"))).convert("L")
    alpha = qr.point(lambda v: 255 - v)
    image = Image.new("RGBA", qr.size, (0, 0, 0, 0))
    image.putalpha(alpha)
    assert [s.text for s in decode_image(encode(image, "PNG"))] == ["MAT-000123"]


def test_sixteen_bit_greyscale_is_scaled_not_clipped() -> None:
    qr = Image.open(io.BytesIO(render_png("MAT-000123"))).convert("L")
    # Dark modules at 30,000 of 65,535: clipped to 8 bits they would be white.
    deep = qr.point(lambda v: 60_000 if v else 30_000, mode="I")
    data = encode(deep.convert("I;16"), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    assert [s.text for s in decode_image(data)] == ["MAT-000123"]


def test_only_the_requested_formats_are_read() -> None:
    ean = encode(symbol_image("9501101530003", zxingcpp.BarcodeFormat.EAN13), "PNG")
    assert decode_image(ean, formats=[zxingcpp.BarcodeFormat.QRCode]) == []
    assert [s.format for s in decode_image(ean)] == ["EAN13"]


def test_several_symbols_in_one_image() -> None:
    frame = Image.new("L", (900, 400), 255)
    for i, x in enumerate((20, 470)):
        frame.paste(Image.open(io.BytesIO(render_png(f"MAT-00000{i}"))).convert("L"), (x, 50))
    found = decode_image(encode(frame, "PNG"))
    assert sorted(s.text for s in found) == ["MAT-000000", "MAT-000001"]
    assert all(isinstance(s, DecodedSymbol) for s in found)


def test_an_image_without_codes_gives_nothing() -> None:
    assert decode_image(encode(Image.effect_noise((320, 240), 60), "JPEG")) == []


# --- hostile input -------------------------------------------------------------------------


def png_claiming(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG header for a huge image: a decompression bomb's shape."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    # Rows of zeros compress to almost nothing: a few kB would inflate to gigabytes.
    body = zlib.compress(b"\x00" * 1_000_000, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("width", "height"),
    [(50_000, 50_000), (10_000, 10_000), (4_000, 3_001)],
    ids=["beyond-pillow-error", "beyond-pillow-warning", "beyond-our-limit"],
)
def test_decompression_bomb_is_refused_from_its_header(width: int, height: int) -> None:
    bomb = png_claiming(width, height)
    assert len(bomb) < 5_000
    max_pixels_before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageTooManyPixels) as caught:
        decode_image(bomb)
    assert (caught.value.status_code, caught.value.code) == (413, "image_too_many_pixels")
    assert max_pixels_before == Image.MAX_IMAGE_PIXELS  # no process-wide setting touched


def test_pixel_limit_is_configurable() -> None:
    small = encode(Image.new("L", (100, 100), 255), "PNG")
    assert decode_image(small, max_pixels=10_000) == []
    with pytest.raises(ImageTooManyPixels):
        decode_image(small, max_pixels=9_999)


def test_oversized_body_is_refused_before_anything_else() -> None:
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(b"\x00" * 101, max_bytes=100)
    assert (caught.value.status_code, caught.value.code) == (413, "image_too_large")
    assert decode_image(encode(Image.new("L", (8, 8), 255), "PNG"), max_bytes=100) == []


def gif() -> bytes:
    return encode(Image.new("L", (16, 16), 255), "GIF")


def truncated_png() -> bytes:
    whole = render_png(URL, scale=8)
    return whole[: len(whole) // 2]


def corrupt_jpeg() -> bytes:
    whole = encode(Image.effect_noise((64, 64), 50), "JPEG")
    return whole[:200] + b"\x00" * 50 + whole[250:330]


HOSTILE: dict[str, tuple[Callable[[], bytes], type[QtrackError], int, str]] = {
    "garbage": (lambda: b"this is not an image at all", ImageUnsupported, 415, "image_unsupported"),
    "gif": (gif, ImageUnsupported, 415, "image_unsupported"),
    "bmp": (
        lambda: encode(Image.new("L", (4, 4)), "BMP"),
        ImageUnsupported,
        415,
        "image_unsupported",
    ),
    "empty": (lambda: b"", ImageInvalid, 422, "image_invalid"),
    "truncated-png": (truncated_png, ImageInvalid, 422, "image_invalid"),
    "png-signature-only": (lambda: b"\x89PNG\r\n\x1a\n", ImageInvalid, 422, "image_invalid"),
    "corrupt-jpeg": (corrupt_jpeg, ImageInvalid, 422, "image_invalid"),
    "webp-header-only": (
        lambda: b"RIFF\x10\x00\x00\x00WEBPVP8 ",
        ImageInvalid,
        422,
        "image_invalid",
    ),
}


@pytest.mark.parametrize("case", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_input_gets_a_clear_error(
    case: tuple[Callable[[], bytes], type[QtrackError], int, str],
) -> None:
    make, error, status, code = case
    with pytest.raises(error) as caught:
        decode_image(make())
    assert (caught.value.status_code, caught.value.code) == (status, code)


def test_errors_are_domain_errors() -> None:
    assert issubclass(ImageTooLarge, PayloadTooLarge)
    assert issubclass(ImageTooManyPixels, PayloadTooLarge)
    assert issubclass(ImageUnsupported, ValidationFailed)
    assert issubclass(ImageInvalid, ValidationFailed)
