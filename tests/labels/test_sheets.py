"""Label sheets: PDF pages read back by rasterising them and decoding every QR; ZPL structure."""

import random
import re
from dataclasses import replace

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
import zxingcpp

from qtrack.codes.models import LabelTemplate
from qtrack.labels.defaults import SHIPPED_TEMPLATES
from qtrack.labels.pdf import MIN_FONT_PT, LabelContent, SheetLayout, label_pdf
from qtrack.labels.zpl import label_zpl
from tests.pdftext import BEYOND_LATIN_1, pdf_text

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
DPI = 300
MM = 72 / 25.4  # points per millimetre


def make_labels(count: int, seed: int = 7) -> list[LabelContent]:
    rng = random.Random(seed)
    return [
        LabelContent(
            code=f"MAT-{i:06d}",
            qr_data="HTTP://127.0.0.1:8000/Q/" + "".join(rng.choice(BASE32) for _ in range(120)),
            name=f"Sodium chloride {i}",
            batch=f"B{i:04d}",
            expiry="2027-12-31",
        )
        for i in range(count)
    ]


def layout(key: str) -> SheetLayout:
    return SheetLayout.from_template(SHIPPED_TEMPLATES[key])


def read_pages(pdf: bytes) -> list[tuple[tuple[float, float], list[tuple[str, float, float]]]]:
    """Per page: its size in points, and each QR's text with its centre in points from the
    page's top-left corner."""
    document = pdfium.PdfDocument(pdf)
    pages = []
    try:
        for page in document:
            image = page.render(scale=DPI / 72, grayscale=True).to_pil()
            found = zxingcpp.read_barcodes(
                image,
                formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode),
                text_mode=zxingcpp.TextMode.Plain,
            )
            codes = []
            for barcode in found:
                corners = (barcode.position.top_left, barcode.position.bottom_right)
                x = sum(p.x for p in corners) / 2 * 72 / DPI
                y = sum(p.y for p in corners) / 2 * 72 / DPI
                codes.append((barcode.text, x, y))
            pages.append((page.get_size(), codes))
    finally:
        document.close()
    return pages


def slot_of(sheet: SheetLayout, x: float, y: float) -> int:
    """Which grid position of the sheet holds the point (x, y), in points from the top left."""
    column = (x / MM - sheet.margin_left_mm) // (sheet.label_width_mm + sheet.gap_x_mm)
    row = (y / MM - sheet.margin_top_mm) // (sheet.label_height_mm + sheet.gap_y_mm)
    assert 0 <= column < sheet.columns
    assert 0 <= row < sheet.rows
    return int(row * sheet.columns + column)


@pytest.mark.parametrize("key", ["a4-21", "letter-30"])
def test_sheet_skips_used_labels_and_holds_every_label_once(key: str) -> None:
    sheet = layout(key)
    labels = make_labels(25)
    pages = read_pages(label_pdf(labels, sheet, skip=3))

    per_page = sheet.columns * sheet.rows
    assert [len(codes) for _, codes in pages] == ([21 - 3, 25 - 18] if per_page == 21 else [25])
    found = [text for _, codes in pages for text, _, _ in codes]
    assert sorted(found) == sorted(label.qr_data for label in labels)
    # Each label sits in its slot: rows left to right from the top, after the skipped ones.
    expected = {label.qr_data: 3 + i for i, label in enumerate(labels)}
    for number, (_, codes) in enumerate(pages):
        for text, x, y in codes:
            assert number * per_page + slot_of(sheet, x, y) == expected[text]


def test_roll_prints_one_label_per_page_of_its_size() -> None:
    roll = layout("roll-50x30")
    labels = make_labels(25)
    pages = read_pages(label_pdf(labels, roll))
    assert len(pages) == 25
    for (size, codes), label in zip(pages, labels, strict=True):
        assert size == pytest.approx((50 * MM, 30 * MM), abs=0.01)
        assert [text for text, _, _ in codes] == [label.qr_data]


def page_text(pdf: bytes) -> list[tuple[str, tuple[float, float, float, float], float]]:
    """Every character on the first page with its box (points) and font size."""
    document = pdfium.PdfDocument(pdf)
    try:
        text_page = document[0].get_textpage()
        chars = []
        for i in range(text_page.count_chars()):
            char = text_page.get_text_range(i, 1)
            if char.strip():
                size = pdfium_c.FPDFText_GetFontSize(text_page, i)
                chars.append((char, text_page.get_charbox(i), size))
        return chars
    finally:
        document.close()


def test_text_fields_follow_the_qr_in_order() -> None:
    label = LabelContent("MAT-000042", "HTTP://X/Q/ABC", "Acetone", "L-17", "2027-01-31")
    roll = layout("roll-50x30")
    roll.fields = ["qr", "code", "name", "batch", "expiry"]
    document = pdfium.PdfDocument(label_pdf([label], roll))
    try:
        text = document[0].get_textpage().get_text_range()
    finally:
        document.close()
    assert text.split() == ["MAT-000042", "Acetone", "Batch", "L-17", "Exp", "2027-01-31"]


def test_text_in_other_alphabets_is_printed() -> None:
    label = LabelContent("MAT-000042", "HTTP://X/Q/ABC", BEYOND_LATIN_1, "Партия-7", "2027-01-31")
    roll = layout("roll-50x30")
    roll.fields = ["qr", "name", "batch"]
    roll.font_size_pt = 6
    text = pdf_text(label_pdf([label], replace(roll, label_width_mm=120)))
    assert BEYOND_LATIN_1 in text
    assert "Партия-7" in text


def test_long_text_is_truncated_inside_the_label_and_never_below_6_pt() -> None:
    roll = replace(layout("roll-50x30"), font_size_pt=2)
    label = LabelContent("MAT-000001", "HTTP://X/Q/A", "A very long material name " * 8, "B1")
    chars = page_text(label_pdf([label], roll))
    text = "".join(c for c, _, _ in chars)
    assert "MAT-000001" in text
    assert "\u2026" in text  # the name was cut
    assert "name A very long material name A very" not in text
    for _, (left, bottom, right, top), size in chars:
        assert size >= MIN_FONT_PT
        assert left >= 0
        assert right <= 50 * MM
        assert bottom >= 0
        assert top <= 30 * MM


def test_lines_that_do_not_fit_are_left_out_rather_than_drawn_outside() -> None:
    tiny = SheetLayout("roll", label_width_mm=40, label_height_mm=8, font_size_pt=8)
    label = LabelContent("MAT-000001", "HTTP://X/Q/A", "Name", "B1", "2027-01-31")
    chars = page_text(label_pdf([label], tiny))
    text = "".join(c for c, _, _ in chars)
    assert text.startswith("MAT-000001")
    assert "2027" not in text
    for _, (_, bottom, _, top), _ in chars:
        assert bottom >= 0
        assert top <= 8 * MM


def test_a_layout_without_qr_prints_only_text() -> None:
    roll = replace(layout("roll-50x30"), fields=["code", "name"])
    pdf = label_pdf(make_labels(1), roll)
    assert read_pages(pdf)[0][1] == []
    assert "".join(c for c, _, _ in page_text(pdf)).startswith("MAT-000000")


def test_layout_from_a_label_template_row() -> None:
    row = LabelTemplate(key="a4-21", builtin=True, **SHIPPED_TEMPLATES["a4-21"])
    sheet = SheetLayout.from_template(row)
    assert sheet == layout("a4-21")
    assert (sheet.per_page, sheet.fields) == (21, ["qr", "code", "name", "batch", "expiry"])


@pytest.mark.parametrize(("key", "skip"), [("a4-21", 21), ("a4-21", -1), ("roll-50x30", 1)])
def test_skip_must_leave_room_on_the_first_page(key: str, skip: int) -> None:
    with pytest.raises(ValueError, match="skip"):
        label_pdf(make_labels(1), layout(key), skip=skip)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"columns": 4}, "need"),
        ({"margin_top_mm": 100}, "need"),
        ({"page": "A3"}, "page"),
        ({"label_width_mm": 0}, "positive"),
        ({"fields": ["qr", "colour"]}, "colour"),
        ({"gap_x_mm": -1}, "negative"),
        ({"label_height_mm": 2}, "too small"),
    ],
)
def test_layouts_that_cannot_print_are_refused(change: dict[str, object], message: str) -> None:
    bad = replace(layout("a4-21"), **change)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        label_pdf(make_labels(1), bad)
    with pytest.raises(ValueError, match=message):
        label_zpl(make_labels(1), bad)


def test_no_labels_is_an_error() -> None:
    with pytest.raises(ValueError, match="no labels"):
        label_pdf([], layout("a4-21"))
    with pytest.raises(ValueError, match="no labels"):
        label_zpl([], layout("roll-50x30"))


# --- ZPL -----------------------------------------------------------------------------------


def test_zpl_has_one_format_per_label_with_the_exact_qr_data() -> None:
    labels = make_labels(5)
    zpl = label_zpl(labels, layout("roll-50x30"))
    assert zpl.count("^XA") == zpl.count("^XZ") == 5
    formats = re.findall(r"\^XA.*?\^XZ", zpl, re.DOTALL)
    assert len(formats) == 5
    for label, fmt in zip(labels, formats, strict=True):
        assert fmt.count("^BQN,2,") == 1
        assert f"^FDMA,{label.qr_data}^FS" in fmt
        assert f"^FD{label.code}^FS" in fmt
        assert "^PW400" in fmt  # 50 mm at 203 dpi
        assert "^LL240" in fmt  # 30 mm


def test_zpl_sizes_follow_the_dpi() -> None:
    zpl = label_zpl(make_labels(1), layout("roll-50x30"), dpi=300)
    assert "^PW591" in zpl
    assert "^LL354" in zpl
    # The QR is bigger at 300 dpi: more dots per module.
    magnification = {
        dpi: int(
            re.findall(r"\^BQN,2,(\d+)", label_zpl(make_labels(1), layout("roll-50x30"), dpi=dpi))[
                0
            ]
        )
        for dpi in (203, 300)
    }
    assert magnification[300] > magnification[203]


def test_zpl_commands_in_text_are_escaped() -> None:
    label = LabelContent("MAT-1", "HTTP://X/Q/A", name="^XZ~JR_x", batch="^FS")
    zpl = label_zpl([label], layout("a4-21"))
    assert zpl.count("^XA") == zpl.count("^XZ") == 1
    assert "~" not in zpl
    assert "^FH_^FD_5EXZ_7EJR_5Fx^FS" in zpl
    assert "^FH_^FDBatch _5EFS^FS" in zpl


def test_zpl_gs1_data_keeps_the_group_separator_as_hex() -> None:
    data = "0109506000134352\x1d10LOT-42"
    zpl = label_zpl([LabelContent("X", data)], layout("roll-50x30"))
    assert "^FH_^FDMA,0109506000134352_1D10LOT-42^FS" in zpl
    assert "\x1d" not in zpl


@pytest.mark.parametrize("dpi", [99, 601])
def test_zpl_dpi_is_bounded(dpi: int) -> None:
    with pytest.raises(ValueError, match="dpi"):
        label_zpl(make_labels(1), layout("roll-50x30"), dpi=dpi)
