"""Labels as ZPL II for Zebra-compatible thermal printers: one ^XA...^XZ format per label.

The printer draws the QR itself (^BQ, model 2) from the data; the layout mirrors the PDF's:
the QR at the largest square of the label with its quiet zone, the text fields to its right.
"""

from collections.abc import Sequence

from qtrack.labels.pdf import (
    EDGE_MM,
    LEADING,
    MIN_FONT_PT,
    QUIET_MODULES,
    LabelContent,
    SheetLayout,
    fit_text,
    text_lines,
)
from qtrack.labels.qr import EcLevel, qr_matrix

MIN_DPI, MAX_DPI = 100, 600
MAX_MAGNIFICATION = 10  # ^BQ accepts 1..10 dots per module
# Text width is estimated with Helvetica Bold's metrics: wider than the printer's font 0
# (CG Triumvirate Bold Condensed), so a line that fits here fits on the label.
_METRICS_FONT = "Helvetica-Bold"
# ^FH hex-escapes a field's data with "_": the command prefixes (^, ~), the escape character
# itself and control characters (a GS1 group separator among them) are sent as _XX.
_HEX_ESCAPE = "_"
_NEEDS_HEX = frozenset(f"^~{_HEX_ESCAPE}") | frozenset(map(chr, [*range(32), 127]))


def _field_data(text: str) -> str:
    """`^FD<text>`, hex-escaped behind ^FH when it holds anything ZPL would read as a command."""
    if not any(c in _NEEDS_HEX for c in text):
        return f"^FD{text}"
    escaped = "".join(f"_{ord(c):02X}" if c in _NEEDS_HEX else c for c in text)
    return f"^FH{_HEX_ESCAPE}^FD{escaped}"


def _label(label: LabelContent, layout: SheetLayout, dpi: int, ec: EcLevel) -> str:
    def dots(length_mm: float) -> int:
        return round(length_mm * dpi / 25.4)

    width, height, edge = dots(layout.label_width_mm), dots(layout.label_height_mm), dots(EDGE_MM)
    parts = ["^XA", "^CI28", f"^PW{width}", f"^LL{height}", "^LH0,0"]
    text_left, text_top = edge, edge
    if "qr" in layout.fields:
        side = min(width, height) - 2 * edge
        modules = qr_matrix(label.qr_data, ec=ec).size + 2 * QUIET_MODULES
        magnification = max(1, min(MAX_MAGNIFICATION, side // modules))
        quiet = QUIET_MODULES * magnification
        parts.append(
            f"^FO{edge + quiet},{edge + quiet}^BQN,2,{magnification}"
            f"{_field_data(f'{ec}A,{label.qr_data}')}^FS"
        )
        text_left, text_top = edge + side, edge + quiet
    lines = text_lines(label, layout)
    room_w, room_h = width - edge - text_left, height - edge - text_top
    if lines and room_w > 0:
        size_pt = max(
            MIN_FONT_PT, min(layout.font_size_pt, room_h * 72 / dpi / len(lines) / LEADING)
        )
        font_h = max(1, round(size_pt * dpi / 72))
        y = text_top
        for text, _bold in lines:  # font 0 is bold: every line looks like the code
            if y + font_h > height - edge:
                break  # no room for another line
            shown = fit_text(text, _METRICS_FONT, size_pt, room_w * 72 / dpi, ellipsis="...")
            if shown:
                parts.append(f"^FO{text_left},{y}^A0N,{font_h},{font_h}{_field_data(shown)}^FS")
            y += round(font_h * LEADING)
    parts.append("^XZ")
    return "\n".join(parts)


def label_zpl(
    labels: Sequence[LabelContent], layout: SheetLayout, dpi: int = 203, *, ec: EcLevel = "M"
) -> str:
    """ZPL for the labels, one format each, sized from the layout's label at `dpi`."""
    layout.validate()
    if not MIN_DPI <= dpi <= MAX_DPI:
        raise ValueError(f"dpi must be {MIN_DPI}..{MAX_DPI}, not {dpi}")
    if not labels:
        raise ValueError("no labels to print")
    return "\n".join(_label(label, layout, dpi, ec) for label in labels) + "\n"
