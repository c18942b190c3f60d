"""The typeface of every PDF qtrack draws: labels, bills, orders and the daily summary.

PDF's built-in Helvetica holds only Western European letters: a lot named "Łódź", a consignee
in Greek or a supplier in Cyrillic printed as black boxes. qtrack ships DejaVu Sans Condensed
(regular and bold, `core/fonts/`, with their license), which covers the Latin, Greek and
Cyrillic alphabets and more, and is about as wide as Helvetica, so that text set for one fits
as well in the other. reportlab embeds only the glyphs a document uses.

It does not cover Chinese, Japanese or Korean, and draws right-to-left scripts in the order
they are stored: such text still prints as boxes or reversed (docs/architecture.md).
"""

import functools
from importlib import resources

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

REGULAR = "QtrackSans"
BOLD = "QtrackSans-Bold"
_FILES = {REGULAR: "DejaVuSansCondensed.ttf", BOLD: "DejaVuSansCondensed-Bold.ttf"}


@functools.cache
def register() -> None:
    """Make REGULAR and BOLD known to reportlab (once a process; reading them takes ~50 ms,
    so not at import, where every CLI command would pay it)."""
    folder = resources.files("qtrack.core") / "fonts"
    for name, filename in _FILES.items():
        with resources.as_file(folder / filename) as path:
            pdfmetrics.registerFont(TTFont(name, str(path)))
    pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD)
