"""The daily summary as text (the e-mail's body), CSV and PDF."""

import csv
import io

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from qtrack.core import pdffonts
from qtrack.core.cells import spreadsheet_text
from qtrack.core.pdffonts import BOLD, REGULAR
from qtrack.reports.schemas import DailySummary, ShipmentDay


def rows(summary: DailySummary) -> list[tuple[str, str, str]]:
    """(section, what, value) for every figure of the summary."""
    out = [
        ("activity", "events", str(summary.events)),
        ("activity", "items registered", str(summary.registered)),
        ("activity", "scans", str(summary.scans)),
        ("activity", "moves", str(summary.moves)),
    ]
    out += [("status changes", c.key, str(c.count)) for c in summary.status_changes]
    out += [
        ("shipments", "issued", str(summary.shipments_issued)),
        ("shipments", "dispatched", str(summary.shipments_dispatched)),
        ("shipments", "containers dispatched", str(summary.dispatched_containers)),
        ("shipments", "items dispatched", str(summary.dispatched_items)),
        ("shipments", "gross kg dispatched", f"{summary.dispatched_gross_kg:.3f}"),
    ]
    out += [
        ("dispatched", s.number, f"{s.consignee}; {s.containers} containers; {s.gross_kg:.3f} kg")
        for s in summary.shipments
    ]
    out += [
        ("exceptions", "rejected", str(summary.rejected)),
        ("exceptions", "expired", str(summary.expired)),
        ("exceptions", "refused scans", str(summary.refused_scans)),
    ]
    out += [
        ("weight differences", s.number, weight_difference(s)) for s in summary.weight_differences
    ]
    out += [("who did most", c.key, str(c.count)) for c in summary.top_people]
    return out


def weight_difference(bill: ShipmentDay) -> str:
    """A bill's weight difference in all, and how many containers differ."""
    containers = "container differs" if bill.containers_off == 1 else "containers differ"
    return f"{bill.difference_kg or 0:+.3f} kg; {bill.containers_off} {containers}"


def title(summary: DailySummary) -> str:
    """The summary's heading (and the e-mail's subject)."""
    site = f" - {summary.site}" if summary.site else ""
    return f"qtrack daily summary {summary.date.isoformat()}{site}"


def render_text(summary: DailySummary) -> str:
    """Plain text, one figure a line, grouped by section."""
    lines = [title(summary), f"({summary.timezone})", ""]
    section = None
    for group, what, value in rows(summary):
        if group != section:
            lines += ["", group.upper()] if section else [group.upper()]
            section = group
        lines.append(f"  {what}: {value}")
    return "\n".join(lines) + "\n"


def render_csv(summary: DailySummary) -> str:
    """section,what,value rows; a consignee's or a user's text never runs as a formula."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "what", "value"])
    for group, what, value in rows(summary):
        writer.writerow([group, spreadsheet_text(what), spreadsheet_text(value)])
    return out.getvalue()


def render_pdf(summary: DailySummary) -> bytes:
    """An A4 page (or more) listing the figures."""
    out = io.BytesIO()
    pdffonts.register()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    canvas.setTitle(title(summary))
    top, margin = A4[1] - 40, 40
    canvas.setFont(BOLD, 16)
    canvas.drawString(margin, top, title(summary))
    y = top - 30
    section = None
    for group, what, value in rows(summary):
        if y < margin + 20:
            canvas.showPage()
            y = top
        if group != section:
            canvas.setFont(BOLD, 11)
            y -= 6
            canvas.drawString(margin, y, group.capitalize())
            y -= 14
            section = group
        canvas.setFont(REGULAR, 10)
        canvas.drawString(margin + 12, y, what)
        canvas.drawRightString(A4[0] - margin, y, value)
        y -= 13
    canvas.save()
    return out.getvalue()
