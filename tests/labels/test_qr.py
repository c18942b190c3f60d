"""QR images: what is encoded (mode, version, EC level) and that it reads back unchanged."""

import io
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable

import pytest
import zxingcpp
from PIL import Image, ImageDraw
from redis.asyncio import Redis
from structlog.testing import capture_logs

from qtrack.codes.decode import decode_image
from qtrack.labels.cache import QrCache, render_key
from qtrack.labels.qr import qr_matrix, render_png, render_svg

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
QR = zxingcpp.BarcodeFormat.QRCode


def label_url(seed: int) -> str:
    """A qtrack label URL as issued: uppercase host and path, 120 base32 characters."""
    rng = random.Random(seed)
    return "HTTP://127.0.0.1:8000/Q/" + "".join(rng.choice(BASE32) for _ in range(120))


URL = label_url(1)
GS1 = "0109506000134352\x1d10LOT-42\x1d17271231"  # GTIN, batch, expiry; GS ends the batch
SAMPLES = {"label-url": URL, "plain-code": "MAT-000123", "gs1-with-gs": GS1}

# ISO/IEC 18004 data masks, (row, column) -> whether the mask inverts that module.
MASKS: dict[int, Callable[[int, int], bool]] = {
    0: lambda i, j: (i + j) % 2 == 0,
    1: lambda i, j: i % 2 == 0,
    2: lambda i, j: j % 3 == 0,
    3: lambda i, j: (i + j) % 3 == 0,
    4: lambda i, j: (i // 2 + j // 3) % 2 == 0,
    5: lambda i, j: (i * j) % 2 + (i * j) % 3 == 0,
    6: lambda i, j: ((i * j) % 2 + (i * j) % 3) % 2 == 0,
    7: lambda i, j: ((i + j) % 2 + (i * j) % 3) % 2 == 0,
}
MODE_INDICATORS = {"0001": "numeric", "0010": "alphanumeric", "0100": "byte", "0111": "eci"}


def symbol_facts(png: bytes, *, scale: int, border: int) -> tuple[str, int, str]:
    """(mode of the first segment, version, EC level) read from the rendered pixels.

    The first data codeword starts in the bottom-right corner and runs up the two rightmost
    columns, right module first; its top four bits are the mode indicator once unmasked. The
    mask, version and EC level come from the symbol's format information, via zxing-cpp.
    """
    image = Image.open(io.BytesIO(png)).convert("L")
    barcode = zxingcpp.read_barcode(image, formats=zxingcpp.BarcodeFormats(QR))
    assert barcode is not None
    extra = barcode.extra
    assert isinstance(extra, dict)
    mask = MASKS[int(extra["DataMask"])]
    n = image.width // scale - 2 * border
    pixels = image.tobytes()

    def dark(i: int, j: int) -> bool:
        x, y = ((border + j) * scale + scale // 2, (border + i) * scale + scale // 2)
        return pixels[y * image.width + x] < 128

    corner = ((n - 1, n - 1), (n - 1, n - 2), (n - 2, n - 1), (n - 2, n - 2))
    bits = "".join("1" if dark(i, j) != mask(i, j) else "0" for i, j in corner)
    return MODE_INDICATORS.get(bits, bits), int(extra["Version"]), str(extra["ECLevel"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_label_url_is_alphanumeric_mode_version_6_at_ec_m(seed: int) -> None:
    url = label_url(seed)
    assert len(url) == 144
    mode, version, ec = symbol_facts(render_png(url), scale=4, border=4)
    assert (mode, ec) == ("alphanumeric", "M")
    assert version <= 6
    assert qr_matrix(url).size == 17 + 4 * version


def test_lowercase_url_is_byte_mode() -> None:
    """The control for the test above: the same check sees byte mode when it is there."""
    mode, _, _ = symbol_facts(render_png("http://127.0.0.1:8000/q/abc"), scale=4, border=4)
    assert mode == "byte"


@pytest.mark.parametrize("ec", ["L", "M", "Q", "H"])
def test_ec_level_is_the_one_asked_for(ec: str) -> None:
    png = render_png("MAT-000123", ec=ec)  # type: ignore[arg-type]
    assert symbol_facts(png, scale=4, border=4)[2] == ec


@pytest.mark.parametrize("data", SAMPLES.values(), ids=SAMPLES.keys())
def test_png_round_trip(data: str) -> None:
    symbols = decode_image(render_png(data))
    assert [(s.text, s.format, s.symbology) for s in symbols] == [(data, "QRCode", "]Q1")]


@pytest.mark.parametrize(("scale", "border"), [(1, 0), (4, 4), (3, 2), (7, 16)])
def test_png_size_follows_scale_and_border(scale: int, border: int) -> None:
    image = Image.open(io.BytesIO(render_png(URL, scale=scale, border=border)))
    side = (qr_matrix(URL).size + 2 * border) * scale
    assert image.format == "PNG"
    assert image.mode == "1"
    assert image.size == (side, side)
    # The quiet zone is white, the finder pattern's corner is black.
    assert image.convert("L").getpixel((0, 0)) == (255 if border else 0)
    assert image.convert("L").getpixel((border * scale, border * scale)) == 0


def rasterise_svg(svg: str, scale: int = 4) -> bytes:
    """Paint qtrack's QR SVG (a white rect, one path of unit-high runs) into a PNG."""
    root = ET.fromstring(svg)  # noqa: S314 (our own output)
    side = int(root.attrib["viewBox"].split()[2])
    image = Image.new("L", (side * scale, side * scale), 255)
    draw = ImageDraw.Draw(image)
    path = root.find("{http://www.w3.org/2000/svg}path")
    assert path is not None
    runs = re.findall(r"M(\d+) (\d+)h(\d+)v1h-\3z", path.attrib["d"])
    assert "".join(f"M{x} {y}h{w}v1h-{w}z" for x, y, w in runs) == path.attrib["d"]
    for x, y, w in runs:
        left, top = int(x) * scale, int(y) * scale
        draw.rectangle((left, top, left + int(w) * scale - 1, top + scale - 1), fill=0)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_svg_scales_freely() -> None:
    root = ET.fromstring(render_svg(URL, border=2))  # noqa: S314 (our own output)
    side = qr_matrix(URL).size + 4
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.attrib["viewBox"] == f"0 0 {side} {side}"
    assert "width" not in root.attrib
    assert "height" not in root.attrib


@pytest.mark.parametrize("data", SAMPLES.values(), ids=SAMPLES.keys())
def test_svg_round_trip(data: str) -> None:
    symbols = decode_image(rasterise_svg(render_svg(data)))
    assert [s.text for s in symbols] == [data]


def test_svg_and_png_draw_the_same_symbol() -> None:
    from_svg = Image.open(io.BytesIO(rasterise_svg(render_svg(URL), scale=2))).convert("L")
    from_png = Image.open(io.BytesIO(render_png(URL, scale=2))).convert("L")
    assert from_svg.tobytes() == from_png.tobytes()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scale": 0},
        {"scale": 41},
        {"border": -1},
        {"border": 17},
        {"ec": "X"},
    ],
)
def test_out_of_bounds_parameters_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        render_png(URL, **kwargs)  # type: ignore[arg-type]
    if "scale" not in kwargs:
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            render_svg(URL, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("data", ["", "A" * 5000])
def test_unencodable_data_is_refused(data: str) -> None:
    with pytest.raises(ValueError, match="QR"):
        render_png(data)
    with pytest.raises(ValueError, match="QR"):
        render_svg(data)


# --- QrCache -------------------------------------------------------------------------------


class Renderer:
    """A render callable that counts its calls."""

    def __init__(self, value: bytes = b"png-bytes") -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        return self.value


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["in-process", "redis"])
async def caches(request: pytest.FixtureRequest) -> AsyncIterator[tuple[QrCache, QrCache]]:
    """Two caches as two workers hold them: they share only through Redis."""
    if request.param == "in-process":
        yield QrCache(), QrCache()
        return
    url = request.getfixturevalue("redis_url")
    first, second = Redis.from_url(url), Redis.from_url(url)
    yield QrCache(redis=first), QrCache(redis=second)
    await first.aclose()
    await second.aclose()


async def test_renders_once_then_serves_the_cached_image(
    caches: tuple[QrCache, QrCache],
) -> None:
    cache, _ = caches
    render = Renderer()
    key = render_key("png", URL, scale=4, border=4, ec="M")
    for _ in range(3):
        assert await cache.get_or_render(key, render, ttl_s=60) == b"png-bytes"
    assert render.calls == 1


async def test_workers_share_images_only_through_redis(caches: tuple[QrCache, QrCache]) -> None:
    one, two = caches
    key = render_key("png", URL, scale=4, border=4, ec="M")
    await one.get_or_render(key, Renderer(b"from-one"), ttl_s=60)
    render_two = Renderer(b"from-two")
    value = await two.get_or_render(key, render_two, ttl_s=60)
    if one.redis is not None:
        assert (value, render_two.calls) == (b"from-one", 0)
    else:
        assert (value, render_two.calls) == (b"from-two", 1)


async def test_every_render_parameter_is_part_of_the_key(
    caches: tuple[QrCache, QrCache],
) -> None:
    cache, _ = caches
    base = {"scale": 4, "border": 4, "ec": "M"}
    variants = [
        render_key("png", URL, **base),
        render_key("svg", URL, **base),
        render_key("png", URL + "X", **base),
        render_key("png", URL, **{**base, "scale": 5}),
        render_key("png", URL, **{**base, "border": 2}),
        render_key("png", URL, **{**base, "ec": "H"}),
    ]
    assert len(set(variants)) == len(variants)
    render = Renderer()
    for key in variants:
        await cache.get_or_render(key, render, ttl_s=60)
    assert render.calls == len(variants)
    assert render_key("png", URL, ec="M", scale=4, border=4) == variants[0]  # order-free


async def test_redis_entries_expire_with_the_ttl(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        await QrCache(redis=redis).get_or_render("k", Renderer(), ttl_s=30)
        keys = await redis.keys("qtrack:qr:*")
        assert len(keys) == 1
        assert 0 < await redis.ttl(keys[0]) <= 30
    finally:
        await redis.aclose()


async def test_local_entries_expire_with_the_ttl() -> None:
    clock = Clock()
    cache, render = QrCache(clock=clock), Renderer()
    await cache.get_or_render("k", render, ttl_s=10)
    clock.now += 9.9
    await cache.get_or_render("k", render, ttl_s=10)
    assert render.calls == 1
    clock.now += 0.2
    await cache.get_or_render("k", render, ttl_s=10)
    assert render.calls == 2


async def test_least_recently_used_entry_goes_first() -> None:
    cache = QrCache(max_entries=2)
    renders = {key: Renderer(key.encode()) for key in "abc"}
    for key in "ab":
        await cache.get_or_render(key, renders[key], ttl_s=60)
    await cache.get_or_render("a", renders["a"], ttl_s=60)  # a is now more recent than b
    await cache.get_or_render("c", renders["c"], ttl_s=60)  # evicts b
    assert len(cache) == 2
    await cache.get_or_render("a", renders["a"], ttl_s=60)
    await cache.get_or_render("b", renders["b"], ttl_s=60)
    assert (renders["a"].calls, renders["b"].calls) == (1, 2)


async def test_bytes_are_bounded() -> None:
    cache = QrCache(max_bytes=25)
    for key in "abcd":
        await cache.get_or_render(key, Renderer(b"x" * 10), ttl_s=60)
    assert (len(cache), cache.size_bytes) == (2, 20)
    too_big = Renderer(b"y" * 26)
    assert await cache.get_or_render("big", too_big, ttl_s=60) == b"y" * 26
    await cache.get_or_render("big", too_big, ttl_s=60)
    assert too_big.calls == 2  # never held, and nothing else was evicted for it
    assert (len(cache), cache.size_bytes) == (2, 20)


async def test_redis_outage_falls_back_to_this_process() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    clock = Clock()
    cache, render = QrCache(redis=dead, clock=clock), Renderer()
    try:
        with capture_logs() as logs:
            assert await cache.get_or_render("k", render, ttl_s=60) == b"png-bytes"
            assert await cache.get_or_render("k", render, ttl_s=60) == b"png-bytes"
            assert await cache.get_or_render("other", Renderer(), ttl_s=60) == b"png-bytes"
    finally:
        await dead.aclose()
    assert render.calls == 1
    warnings = [e for e in logs if e["event"] == "qr_cache_redis_failed"]
    # One failure, then Redis is left alone for a while instead of timing out on every call.
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["error"] in {"ConnectionError", "TimeoutError"}
    clock.now += cache.redis_retry_s + 1
    assert cache._redis_usable() is dead


@pytest.mark.parametrize(("entries", "size"), [(0, 1), (1, 0)])
def test_cache_bounds_must_be_positive(entries: int, size: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        QrCache(max_entries=entries, max_bytes=size)


async def test_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        await QrCache().get_or_render("k", Renderer(), ttl_s=0)
