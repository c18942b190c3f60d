"""Label sheets as PDF: N-up on A4/Letter (skipping labels already used) or one per roll page.

Each label: the QR code as vector rectangles at the largest square that fits with its quiet
zone, then the text fields to its right (code in bold, then name, batch, expiry), shrunk down
to a legible minimum and truncated to the label's width.
"""

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from reportlab import rl_config
from reportlab.lib.pagesizes import A4, letter
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from qtrack.core import pdffonts
from qtrack.core.pdffonts import BOLD, REGULAR
from qtrack.labels.qr import EcLevel, qr_matrix

# reportlab wraps compressed streams in ASCII85 by default, in pure Python: that was a third
# of a sheet's time and makes the file 25 % larger, for 7-bit mail transports nobody uses.
# A process-wide setting; binary streams are valid in every PDF reader.
rl_config.useA85 = 0

PageKind = Literal["A4", "Letter", "roll"]
PAGE_SIZES: dict[str, tuple[float, float]] = {"A4": A4, "Letter": letter}  # points
TEXT_FIELDS = ("code", "name", "batch", "expiry")
KNOWN_FIELDS = frozenset(("qr", *TEXT_FIELDS))

MIN_FONT_PT = 6.0  # smaller is not reliably legible on a thermal or laser label
LEADING = 1.2  # line height per point of font size
QUIET_MODULES = 4  # ISO/IEC 18004 quiet zone, inside the QR's square
EDGE_MM = 1.0  # kept clear at the label's edge: sheets and die cuts are never exact
ELLIPSIS = "\u2026"
_FIT_MM = 0.01  # rounding slack when checking that a grid fits its page


@dataclass
class LabelContent:
    """What one label shows."""

    code: str
    qr_data: str
    name: str = ""
    batch: str | None = None
    expiry: str | None = None


class LabelTemplateLike(Protocol):
    """The fields of `qtrack.codes.models.LabelTemplate` that lay out a sheet."""

    @property
    def page(self) -> str: ...
    @property
    def label_width_mm(self) -> float: ...
    @property
    def label_height_mm(self) -> float: ...
    @property
    def columns(self) -> int: ...
    @property
    def rows(self) -> int: ...
    @property
    def margin_top_mm(self) -> float: ...
    @property
    def margin_left_mm(self) -> float: ...
    @property
    def gap_x_mm(self) -> float: ...
    @property
    def gap_y_mm(self) -> float: ...
    @property
    def fields(self) -> str: ...
    @property
    def font_size_pt(self) -> float: ...


@dataclass
class SheetLayout:
    """Where labels sit: a plain copy of a `LabelTemplate`, so rendering needs no database."""

    page: PageKind
    label_width_mm: float
    label_height_mm: float
    columns: int = 1
    rows: int = 1
    margin_top_mm: float = 0
    margin_left_mm: float = 0
    gap_x_mm: float = 0
    gap_y_mm: float = 0
    fields: list[str] = field(default_factory=lambda: ["qr", *TEXT_FIELDS])
    font_size_pt: float = 8

    @classmethod
    def from_template(cls, template: LabelTemplateLike | Mapping[str, Any]) -> "SheetLayout":
        """A layout from a LabelTemplate row or a `defaults.SHIPPED_TEMPLATES` entry."""

        def get(name: str, default: Any = None) -> Any:
            if isinstance(template, Mapping):
                value = template.get(name, default)
            else:
                value = getattr(template, name, default)
            return default if value is None else value

        layout = cls(
            page=get("page"),
            label_width_mm=float(get("label_width_mm")),
            label_height_mm=float(get("label_height_mm")),
            columns=int(get("columns", 1)),
            rows=int(get("rows", 1)),
            margin_top_mm=float(get("margin_top_mm", 0)),
            margin_left_mm=float(get("margin_left_mm", 0)),
            gap_x_mm=float(get("gap_x_mm", 0)),
            gap_y_mm=float(get("gap_y_mm", 0)),
            fields=[f.strip() for f in str(get("fields", "")).split(",") if f.strip()],
            font_size_pt=float(get("font_size_pt", 8)),
        )
        layout.validate()
        return layout

    @property
    def per_page(self) -> int:
        """Labels on one page: the grid on a sheet, one on a roll."""
        return 1 if self.page == "roll" else self.columns * self.rows

    def page_size(self) -> tuple[float, float]:
        """Page width and height in points."""
        if self.page == "roll":
            return self.label_width_mm * mm, self.label_height_mm * mm
        return PAGE_SIZES[self.page]

    def validate(self) -> None:
        """Raise ValueError unless the layout is drawable and fits its page."""
        if self.page not in ("A4", "Letter", "roll"):
            raise ValueError(f"page must be A4, Letter or roll, not {self.page!r}")
        if self.label_width_mm <= 0 or self.label_height_mm <= 0:
            raise ValueError("label width and height must be positive")
        if self.font_size_pt <= 0:
            raise ValueError("font_size_pt must be positive")
        unknown = set(self.fields) - KNOWN_FIELDS
        if unknown:
            raise ValueError(f"unknown label fields: {', '.join(sorted(unknown))}")
        if "qr" in self.fields and min(self.label_width_mm, self.label_height_mm) <= 2 * EDGE_MM:
            raise ValueError("the label is too small for a QR code")
        if self.page == "roll":
            return
        if self.columns < 1 or self.rows < 1:
            raise ValueError("columns and rows must be at least 1")
        if min(self.margin_top_mm, self.margin_left_mm, self.gap_x_mm, self.gap_y_mm) < 0:
            raise ValueError("margins and gaps must not be negative")
        page_w, page_h = (side / mm for side in self.page_size())
        used_w = self.margin_left_mm + self.columns * self.label_width_mm
        used_h = self.margin_top_mm + self.rows * self.label_height_mm
        used_w += (self.columns - 1) * self.gap_x_mm
        used_h += (self.rows - 1) * self.gap_y_mm
        if used_w > page_w + _FIT_MM or used_h > page_h + _FIT_MM:
            raise ValueError(
                f"{self.columns}x{self.rows} labels need {used_w:.1f}x{used_h:.1f} mm; "
                f"the {self.page} page is {page_w:.1f}x{page_h:.1f} mm"
            )


def text_lines(label: LabelContent, layout: SheetLayout) -> list[tuple[str, bool]]:
    """The text a label shows, as (line, bold), in the layout's order, empty fields left out."""
    values = {
        "code": label.code,
        "name": label.name,
        "batch": f"Batch {label.batch}" if label.batch else "",
        "expiry": f"Exp {label.expiry}" if label.expiry else "",
    }
    return [(values[f], f == "code") for f in layout.fields if values.get(f)]


def fit_text(text: str, font: str, size: float, width: float, *, ellipsis: str = ELLIPSIS) -> str:
    """`text` cut with an ellipsis so that it is at most `width` points wide (one of our fonts
    once `pdffonts.register` made it known: `label_pdf` does, before it draws)."""
    if stringWidth(text, font, size) <= width:
        return text
    # Binary search on the prefix length: strings are short, but labels are many.
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if stringWidth(text[:middle] + ellipsis, font, size) <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ellipsis if low else ""


def _draw_qr(canvas: Canvas, data: str, ec: EcLevel, x: float, y: float, side: float) -> float:
    """The symbol with its quiet zone in the square (x, y, side), y being the bottom edge;
    returns the module size."""
    matrix = qr_matrix(data, ec=ec)
    modules = matrix.size + 2 * QUIET_MODULES
    unit = side / modules
    canvas.saveState()
    # Work in module units with y pointing down, so every rectangle has integer coordinates:
    # short operators, and no rounding gaps between neighbouring modules.
    canvas.transform(unit, 0, 0, -unit, x + QUIET_MODULES * unit, y + side - QUIET_MODULES * unit)
    # One fill of every dark run. Written as PDF operators because reportlab's path object
    # formats each number in Python, which made this 80 % of a sheet's time.
    canvas.addLiteral(
        " ".join(
            f"{column} {row} {length} 1 re"
            for row, runs in enumerate(matrix.dark_runs())
            for column, length in runs
        )
        + " f"
    )
    canvas.restoreState()
    return unit


def _draw_text(
    canvas: Canvas,
    lines: list[tuple[str, bool]],
    size: float,
    x: float,
    top: float,
    width: float,
    height: float,
) -> None:
    """Lines from `top` down, shrunk to fit `height` (not below MIN_FONT_PT) and `width`."""
    if not lines or width < size:
        return
    size = max(MIN_FONT_PT, min(size, height / (len(lines) * LEADING)))
    fitting = max(0, int(height // (size * LEADING)))
    baseline = top - size  # cap height is below the line's top
    for text, bold in lines[:fitting]:
        font = BOLD if bold else REGULAR
        shown = fit_text(text, font, size, width)
        if shown:
            canvas.setFont(font, size)
            canvas.drawString(x, baseline, shown)
        baseline -= size * LEADING


def _draw_label(
    canvas: Canvas, label: LabelContent, layout: SheetLayout, left: float, top: float, ec: EcLevel
) -> None:
    """One label whose top-left corner is at (left, top) in points."""
    width, height = layout.label_width_mm * mm, layout.label_height_mm * mm
    edge = EDGE_MM * mm
    canvas.saveState()
    clip = canvas.beginPath()
    clip.rect(left, top - height, width, height)
    canvas.clipPath(clip, stroke=0, fill=0)
    text_left, text_top = left + edge, top - edge
    if "qr" in layout.fields:
        side = min(width, height) - 2 * edge
        unit = _draw_qr(canvas, label.qr_data, ec, left + edge, top - edge - side, side)
        text_left = left + edge + side  # the QR's own quiet zone separates it from the text
        text_top = top - edge - QUIET_MODULES * unit  # align the first line with the symbol's top
    _draw_text(
        canvas,
        text_lines(label, layout),
        layout.font_size_pt,
        text_left,
        text_top,
        left + width - edge - text_left,
        text_top - (top - height + edge),
    )
    canvas.restoreState()


def label_pdf(
    labels: Sequence[LabelContent], layout: SheetLayout, *, skip: int = 0, ec: EcLevel = "M"
) -> bytes:
    """A PDF of the labels: rows left to right from the top, the first sheet's first `skip`
    positions left empty (a half-used sheet); one label per page of its own size on a roll."""
    layout.validate()
    if not labels:
        raise ValueError("no labels to print")
    if not 0 <= skip < layout.per_page:
        raise ValueError(f"skip must be 0..{layout.per_page - 1} for this layout, not {skip}")
    out = io.BytesIO()
    page_w, page_h = layout.page_size()
    pdffonts.register()
    canvas = Canvas(out, pagesize=(page_w, page_h), pageCompression=1, invariant=1)
    canvas.setTitle("qtrack labels")
    step_x = (layout.label_width_mm + layout.gap_x_mm) * mm
    step_y = (layout.label_height_mm + layout.gap_y_mm) * mm
    slot = skip
    for index, label in enumerate(labels):
        if index and slot % layout.per_page == 0:
            canvas.showPage()
        position = slot % layout.per_page
        if layout.page == "roll":
            left, top = 0.0, page_h
        else:
            row, column = divmod(position, layout.columns)
            left = layout.margin_left_mm * mm + column * step_x
            top = page_h - layout.margin_top_mm * mm - row * step_y
        _draw_label(canvas, label, layout, left, top, ec)
        slot += 1
    canvas.showPage()
    canvas.save()
    return out.getvalue()
