"""The printable bill: a PDF (reportlab) and a CSV of the same lines and totals."""

import csv
import io
from decimal import Decimal

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from qtrack.core import pdffonts
from qtrack.core.cells import spreadsheet_text
from qtrack.core.pdffonts import BOLD, REGULAR
from qtrack.labels.qr import qr_matrix
from qtrack.shipments.schemas import ShipmentRead

MARGIN = 40.0
ROW = 13.0
QR_SIDE = 90.0
# Columns of the lines table: (title, x of the left edge, right-aligned?)
COLUMNS = (
    ("#", 0.0, False),
    ("Container", 28.0, False),
    ("Type", 140.0, False),
    ("Items", 250.0, True),
    ("Tare kg", 310.0, True),
    ("Net kg", 370.0, True),
    ("Gross kg", 430.0, True),
    ("Expected kg", 490.0, True),
)


def kg(value: Decimal | None) -> str:
    """A weight as the bill prints it: three decimals, or blank when unknown."""
    return "" if value is None else f"{value:.3f}"


def bill_url(public_url: str, number: str) -> str:
    """What the bill's QR holds: the address of its page, which the scan screen also reads."""
    return f"{public_url.rstrip('/')}/shipments/{number}"


def _qr(canvas: Canvas, data: str, x: float, y: float, side: float) -> None:
    matrix = qr_matrix(data, ec="M")
    quiet = 2
    unit = side / (matrix.size + 2 * quiet)
    canvas.saveState()
    canvas.transform(unit, 0, 0, -unit, x + quiet * unit, y + side - quiet * unit)
    # One fill of every dark run, written as PDF operators (as labels/pdf.py does, for speed).
    canvas.addLiteral(
        " ".join(
            f"{column} {row} {length} 1 re"
            for row, runs in enumerate(matrix.dark_runs())
            for column, length in runs
        )
        + " f"
    )
    canvas.restoreState()


def _header(canvas: Canvas, bill: ShipmentRead, url: str, top: float) -> float:
    width = A4[0]
    canvas.setFont(BOLD, 18)
    canvas.drawString(MARGIN, top - 18, f"Shipment {bill.number}")
    canvas.setFont(REGULAR, 10)
    facts = [
        ("Status", bill.status),
        ("Consignee", bill.consignee),
        (
            "Destination",
            bill.destination
            + (f" ({bill.destination_location})" if bill.destination_location else ""),
        ),
        ("Carrier", bill.carrier),
        ("Vehicle", bill.vehicle),
        ("Issued", bill.issued_at.strftime("%Y-%m-%d %H:%M UTC") if bill.issued_at else ""),
        ("Notes", bill.notes[:120]),
    ]
    y = top - 40
    for label, value in facts:
        canvas.setFont(BOLD, 10)
        canvas.drawString(MARGIN, y, label)
        canvas.setFont(REGULAR, 10)
        canvas.drawString(MARGIN + 80, y, value)
        y -= ROW
    _qr(canvas, url, width - MARGIN - QR_SIDE, top - QR_SIDE - 4, QR_SIDE)
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


def _totals(canvas: Canvas, bill: ShipmentRead, y: float) -> float:
    t = bill.totals
    canvas.line(MARGIN, y + ROW - 3, A4[0] - MARGIN, y + ROW - 3)
    canvas.setFont(BOLD, 10)
    rows = [
        f"Containers: {t.containers}    Items: {t.items}",
        f"Net: {kg(t.net_kg)} kg    Gross: {kg(t.gross_kg)} kg"
        + (
            f"    Expected: {kg(t.expected_kg)} kg    Difference: {kg(t.difference_kg)} kg"
            if t.expected_kg is not None
            else ""
        ),
    ]
    rows += [f"  {b.type}: {b.items} items, {kg(b.net_kg) or '-'} kg" for b in t.by_type]
    for text in rows:
        canvas.drawString(MARGIN, y, text)
        canvas.setFont(REGULAR, 9)
        y -= ROW
    return y


def _signatures(canvas: Canvas, y: float) -> None:
    box_w = (A4[0] - 2 * MARGIN - 20) / 3
    for i, title in enumerate(("Dispatched by", "Carrier", "Received by")):
        x = MARGIN + i * (box_w + 10)
        canvas.rect(x, y - 60, box_w, 60)
        canvas.setFont(REGULAR, 8)
        canvas.drawString(x + 4, y - 10, title)
        canvas.drawString(x + 4, y - 56, "Name, date, signature")


def render_pdf(bill: ShipmentRead, *, public_url: str) -> bytes:
    """The bill as an A4 PDF: header and QR, one row per container, totals, signatures."""
    out = io.BytesIO()
    pdffonts.register()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    canvas.setTitle(f"Shipment {bill.number}")
    url = bill_url(public_url, bill.number)
    top = A4[1] - MARGIN
    y = _table_head(canvas, _header(canvas, bill, url, top))
    page = 1
    for line in bill.lines:
        if y < MARGIN + ROW:
            canvas.setFont(REGULAR, 8)
            canvas.drawRightString(A4[0] - MARGIN, MARGIN / 2, f"{bill.number} - page {page}")
            canvas.showPage()
            page += 1
            y = _table_head(canvas, top - 10)
        values = (
            str(line.position),
            line.code,
            line.type,
            str(line.items),
            kg(line.tare_kg),
            kg(line.net_kg),
            kg(line.gross_kg),
            kg(line.expected_weight_kg),
        )
        for (_, x, right), value in zip(COLUMNS, values, strict=True):
            if right:
                canvas.drawRightString(MARGIN + x + 50, y, value)
            else:
                canvas.drawString(MARGIN + x, y, value)
        y -= ROW
    if y < MARGIN + 80 + ROW * (3 + len(bill.totals.by_type)):
        canvas.showPage()
        page += 1
        y = top - 10
    y = _totals(canvas, bill, y - 4)
    _signatures(canvas, y - 10)
    canvas.setFont(REGULAR, 8)
    canvas.drawRightString(A4[0] - MARGIN, MARGIN / 2, f"{bill.number} - page {page}")
    canvas.save()
    return out.getvalue()


def render_csv(bill: ShipmentRead) -> str:
    """The bill's lines as CSV, one row per container, then the totals."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "shipment",
            bill.number,
            "status",
            bill.status,
            "consignee",
            spreadsheet_text(bill.consignee),
        ]
    )
    writer.writerow(
        [
            "position",
            "container",
            "type",
            "status",
            "items",
            "tare_kg",
            "net_kg",
            "gross_kg",
            "expected_kg",
            "difference_kg",
        ]
    )
    for line in bill.lines:
        writer.writerow(
            [
                line.position,
                line.code,
                line.type,
                line.status,
                line.items,
                kg(line.tare_kg),
                kg(line.net_kg),
                kg(line.gross_kg),
                kg(line.expected_weight_kg),
                kg(line.difference_kg),
            ]
        )
    t = bill.totals
    writer.writerow(
        [
            "total",
            t.containers,
            "",
            "",
            t.items,
            "",
            kg(t.net_kg),
            kg(t.gross_kg),
            kg(t.expected_kg),
            kg(t.difference_kg),
        ]
    )
    # What the bill carries by item type, as its PDF and its JSON give it.
    for by_type in t.by_type:
        writer.writerow(
            ["by type", "", by_type.type, "", by_type.items, "", kg(by_type.net_kg), "", "", ""]
        )
    return out.getvalue()
