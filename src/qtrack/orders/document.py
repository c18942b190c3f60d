"""An order on paper: a PDF (reportlab) and a CSV of the same lines."""

import csv
import io

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from qtrack.core import pdffonts
from qtrack.core.cells import spreadsheet_text
from qtrack.core.pdffonts import BOLD, REGULAR
from qtrack.core.quantities import format_amount
from qtrack.labels.qr import qr_matrix
from qtrack.orders.schemas import OrderRead

MARGIN = 40.0
ROW = 13.0
QR_SIDE = 90.0
# Columns of the lines table: (title, x of the left edge, right-aligned?)
COLUMNS = (
    ("#", 0.0, False),
    ("Type", 28.0, False),
    ("Supplier ref", 170.0, False),
    ("Unit", 290.0, False),
    ("Ordered", 330.0, True),
    ("Received", 400.0, True),
    ("Remaining", 470.0, True),
)


def order_url(public_url: str, code: str) -> str:
    """What the order's QR holds: the address of its page; the receive screen reads it too."""
    return f"{public_url.rstrip('/')}/orders/{code}"


def _qr(canvas: Canvas, data: str, x: float, y: float, side: float) -> None:
    matrix = qr_matrix(data, ec="M")
    quiet = 2
    unit = side / (matrix.size + 2 * quiet)
    canvas.saveState()
    canvas.transform(unit, 0, 0, -unit, x + quiet * unit, y + side - quiet * unit)
    canvas.addLiteral(
        " ".join(
            f"{column} {row} {length} 1 re"
            for row, runs in enumerate(matrix.dark_runs())
            for column, length in runs
        )
        + " f"
    )
    canvas.restoreState()


def _when(order: OrderRead, name: str) -> str:
    value = getattr(order, name)
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _header(canvas: Canvas, order: OrderRead, url: str, top: float) -> float:
    canvas.setFont(BOLD, 18)
    canvas.drawString(MARGIN, top - 18, f"Restock order {order.code}")
    facts = [
        ("Status", order.status.replace("_", " ")),
        ("Supplier", order.supplier),
        ("Created by", order.created_by or ""),
        ("Submitted", _when(order, "submitted_at")),
        ("Approved", _when(order, "approved_at")),
        ("Notes", order.notes[:120]),
    ]
    y = top - 40
    for label, value in facts:
        canvas.setFont(BOLD, 10)
        canvas.drawString(MARGIN, y, label)
        canvas.setFont(REGULAR, 10)
        canvas.drawString(MARGIN + 80, y, value)
        y -= ROW
    _qr(canvas, url, A4[0] - MARGIN - QR_SIDE, top - QR_SIDE - 4, QR_SIDE)
    return min(y, top - QR_SIDE - 10) - 6


def _table_head(canvas: Canvas, y: float) -> float:
    canvas.setFont(BOLD, 9)
    for title, x, right in COLUMNS:
        (canvas.drawRightString if right else canvas.drawString)(
            MARGIN + x + (50 if right else 0), y, title
        )
    canvas.line(MARGIN, y - 3, A4[0] - MARGIN, y - 3)
    canvas.setFont(REGULAR, 9)
    return y - ROW


def render_pdf(order: OrderRead, *, public_url: str) -> bytes:
    """The order as an A4 PDF: header and QR (scan it to receive), one row per line."""
    out = io.BytesIO()
    pdffonts.register()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    canvas.setTitle(f"Restock order {order.code}")
    top = A4[1] - MARGIN
    y = _table_head(canvas, _header(canvas, order, order_url(public_url, order.code), top))
    page = 1
    for line in order.lines:
        if y < MARGIN + ROW:
            canvas.setFont(REGULAR, 8)
            canvas.drawRightString(A4[0] - MARGIN, MARGIN / 2, f"{order.code} - page {page}")
            canvas.showPage()
            page += 1
            y = _table_head(canvas, top - 10)
        values = (
            str(line.position),
            f"{line.type} ({line.type_name})"[:30],
            line.supplier_ref[:22],
            line.unit,
            format_amount(line.quantity),
            format_amount(line.received_quantity),
            format_amount(line.remaining),
        )
        for (_, x, right), value in zip(COLUMNS, values, strict=True):
            if right:
                canvas.drawRightString(MARGIN + x + 50, y, value)
            else:
                canvas.drawString(MARGIN + x, y, value)
        y -= ROW
    canvas.setFont(REGULAR, 8)
    canvas.drawRightString(A4[0] - MARGIN, MARGIN / 2, f"{order.code} - page {page}")
    canvas.save()
    return out.getvalue()


def render_csv(order: OrderRead) -> str:
    """The order's lines as CSV, one row per line, after a row naming the order."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["order", order.code, "status", order.status, "supplier", spreadsheet_text(order.supplier)]
    )
    writer.writerow(["line", "type", "supplier_ref", "unit", "quantity", "received", "remaining"])
    for line in order.lines:
        writer.writerow(
            [
                line.position,
                line.type,
                spreadsheet_text(line.supplier_ref),
                spreadsheet_text(line.unit),
                format_amount(line.quantity),
                format_amount(line.received_quantity),
                format_amount(line.remaining),
            ]
        )
    return out.getvalue()
