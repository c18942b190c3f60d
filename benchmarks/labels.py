"""Labels and decoding: QR renders (segno vs zxing-cpp), cached gets, PDF sheets, decoding.

    python -m benchmarks.labels [--count 2000] [--redis-url redis://127.0.0.1:6379/14]

Everything runs in this one process, on one thread, so "per s (CPU)" is per core: it divides
by the process's CPU time, which a busy machine disturbs less than the wall clock. Each QR is
a fresh qtrack label URL (144 uppercase characters), so every render is cold.
"""

import argparse
import asyncio
import io
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import segno
import zxingcpp
from PIL import Image, ImageFilter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from benchmarks.common import print_table
from qtrack.codes.decode import DEFAULT_FORMATS, decode_image
from qtrack.labels.cache import QrCache, render_key
from qtrack.labels.defaults import SHIPPED_TEMPLATES
from qtrack.labels.pdf import LabelContent, SheetLayout, label_pdf
from qtrack.labels.qr import render_png, render_svg

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def label_urls(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [
        "HTTP://127.0.0.1:8000/Q/" + "".join(rng.choice(BASE32) for _ in range(120))
        for _ in range(count)
    ]


def segno_png(data: str) -> bytes:
    out = io.BytesIO()
    qr = segno.make(data, error="m", boost_error=False, micro=False)
    qr.save(out, kind="png", scale=4, border=4)
    return out.getvalue()


def segno_svg(data: str) -> str:
    out = io.BytesIO()
    segno.make(data, error="m", boost_error=False, micro=False).save(
        out, kind="svg", border=4, omitsize=True
    )
    return out.getvalue().decode()


def rate(fn: Callable[[str], object], inputs: Sequence[str]) -> tuple[float, float]:
    """Calls per second of wall time and of CPU time."""
    wall, cpu = time.perf_counter(), time.process_time()
    for item in inputs:
        fn(item)
    return len(inputs) / (time.perf_counter() - wall), len(inputs) / (time.process_time() - cpu)


def check_png(render: Callable[[str], bytes], inputs: Sequence[str]) -> str:
    """How many renders decode back to their text, and the versions/EC levels seen."""
    good, seen = 0, set()
    for data in inputs:
        image = Image.open(io.BytesIO(render(data))).convert("L")
        barcode = zxingcpp.read_barcode(image, formats=QR_ONLY)
        if barcode is None:
            continue
        extra = barcode.extra
        assert isinstance(extra, dict)
        seen.add(f"v{extra['Version']}-{extra['ECLevel']}")
        good += barcode.text == data
    return f"{good}/{len(inputs)} ({', '.join(sorted(seen))})"


def render_rows(count: int) -> list[list[object]]:
    urls = label_urls(count)
    sample = urls[:200]
    engines: list[tuple[str, str, Callable[[str], object], str]] = [
        ("zxing-cpp (chosen)", "PNG", render_png, check_png(render_png, sample)),
        ("segno", "PNG", segno_png, check_png(segno_png, sample)),
        ("zxing-cpp (chosen)", "SVG", render_svg, "same matrix as PNG"),
        ("segno", "SVG", segno_svg, "n/a"),
    ]
    rows: list[list[object]] = []
    for engine, kind, fn, check in engines:
        # segno is ~10x slower: a quarter of the inputs keeps the run short.
        inputs = urls if engine.startswith("zxing") else urls[: max(200, count // 4)]
        fn(urls[-1])  # warm imports and code paths
        wall, cpu = rate(fn, inputs)
        rows.append([engine, kind, len(inputs), f"{wall:,.0f}", f"{cpu:,.0f}", check])
    return rows


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


async def timed_gets(cache: QrCache, keys: Sequence[str]) -> list[float]:
    def never() -> bytes:
        raise AssertionError("a cached get rendered")

    samples = []
    for key in keys:
        started = time.perf_counter()
        await cache.get_or_render(key, never, ttl_s=3600)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def cache_rows(count: int, redis_url: str) -> list[list[object]]:
    urls = label_urls(min(count, 1000), seed=2)
    keys = [render_key("png", u, scale=4, border=4, ec="M") for u in urls]
    renders = {k: render_png(u) for k, u in zip(keys, urls, strict=True)}
    rows: list[list[object]] = []

    def stored(key: str) -> Callable[[], bytes]:
        return lambda: renders[key]

    local = QrCache()
    for key in keys:
        await local.get_or_render(key, stored(key), ttl_s=3600)
    p50, p99 = percentiles(await timed_gets(local, keys * 5))
    rows.append(["in-process LRU hit", f"{p50 * 1000:.1f} µs", f"{p99 * 1000:.1f} µs"])

    prefix = "qtrack:bench:qr:"
    writer, reader = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        await writer.ping()
        filler = QrCache(redis=writer, prefix=prefix)
        for key in keys:
            await filler.get_or_render(key, stored(key), ttl_s=3600)
        # Another worker: its own LRU holds one entry, so every get goes to Redis.
        other = QrCache(redis=reader, prefix=prefix, max_entries=1)
        p50, p99 = percentiles(await timed_gets(other, keys * 3))
        rows.append(["Redis hit (other worker)", f"{p50 * 1000:.0f} µs", f"{p99 * 1000:.0f} µs"])
        stale = [k async for k in writer.scan_iter(f"{prefix}*")]
        if stale:
            await writer.delete(*stale)
    except (RedisError, OSError) as exc:
        rows.append(["Redis hit (other worker)", f"unavailable: {exc}", ""])
    finally:
        await writer.aclose()
        await reader.aclose()
    return rows


def pdf_row(runs: int = 3) -> list[object]:
    urls = label_urls(1000, seed=3)
    labels = [
        LabelContent(f"MAT-{i:06d}", url, "Sodium chloride 99.5 %", f"B{i:05d}", "2027-12-31")
        for i, url in enumerate(urls)
    ]
    layout = SheetLayout.from_template(SHIPPED_TEMPLATES["a4-21"])
    walls, cpus, size = [], [], 0
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        size = len(label_pdf(labels, layout))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return [
        "1,000 labels, A4 21-up (48 pages)",
        f"{statistics.median(walls):.2f} s",
        f"{statistics.median(cpus):.2f} s",
        f"{size / 1e6:.1f} MB",
    ]


def frame(size: tuple[int, int], scale: int, seed: int, *, blur: bool) -> Image.Image:
    """A greyscale camera-like frame with one label QR pasted at a random spot: over white
    noise (the worst case for a detector) or over noise blurred like an out-of-focus
    background."""
    rng = random.Random(seed)
    qr = Image.open(io.BytesIO(render_png(label_urls(1, seed)[0], scale=scale))).convert("L")
    image = Image.effect_noise(size, 40).point(lambda v: v // 2 + 64)
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(1.5))
    image.paste(qr, (rng.randrange(size[0] - qr.width), rng.randrange(size[1] - qr.height)))
    return image


def decode_rows(frames_per_case: int = 20) -> list[list[object]]:
    expected = zxingcpp.BarcodeFormats(DEFAULT_FORMATS)

    def zxing_expected(image: Image.Image) -> list[Any]:
        return zxingcpp.read_barcodes(image, formats=expected)

    def zxing_qr(image: Image.Image) -> list[Any]:
        return zxingcpp.read_barcodes(image, formats=QR_ONLY)

    rows: list[list[object]] = []
    for size, scale in (((640, 480), 3), ((1280, 720), 4)):
        for blur in (False, True):
            frames = [frame(size, scale, seed, blur=blur) for seed in range(frames_per_case)]
            jpegs = []
            for image in frames:
                out = io.BytesIO()
                image.save(out, "JPEG", quality=85)
                jpegs.append(out.getvalue())
            cases: list[tuple[str, Callable[[Any], list[Any]], Sequence[Any]]] = [
                ("decode_image(JPEG), default formats", decode_image, jpegs),
                ("zxing-cpp, default formats", zxing_expected, frames),
                ("zxing-cpp, QR only", zxing_qr, frames),
                ("zxing-cpp, all formats", zxingcpp.read_barcodes, frames),
            ]
            for name, fn, inputs in cases:
                found = sum(len(fn(item)) == 1 for item in inputs)
                cpu = time.process_time()
                for item in inputs:
                    fn(item)
                per_frame = (time.process_time() - cpu) / len(inputs)
                rows.append(
                    [
                        f"{size[0]}x{size[1]}",
                        "blurred noise" if blur else "white noise",
                        name,
                        f"{per_frame * 1000:.1f} ms",
                        f"{1 / per_frame:,.0f}",
                        f"{found}/{len(inputs)}",
                    ]
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000, help="cold renders per engine")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()

    print_table(
        ["engine", "output", "renders", "per s (wall)", "per s (CPU)", "decodes back (sample)"],
        render_rows(args.count),
    )
    print()
    print_table(["cached get", "p50", "p99"], asyncio.run(cache_rows(args.count, args.redis_url)))
    print()
    print_table(["label PDF", "wall", "CPU", "size"], [pdf_row()])
    print()
    print_table(
        ["frame", "background", "decoder", "CPU per frame", "frames/s (1 core)", "found"],
        decode_rows(),
    )


if __name__ == "__main__":
    main()
