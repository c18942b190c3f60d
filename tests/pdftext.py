"""The text of a PDF as a reader extracts it (pdfium): what a person sees, glyph by glyph."""

import pypdfium2 as pdfium

# Letters of the alphabets qtrack's typeface covers (core/pdffonts.py) that PDF's built-in
# Helvetica lacks: each printed as a black box before.
BEYOND_LATIN_1 = "Łódź Ωμέγα Привет Čeština Ğüneş"


def pdf_text(pdf: bytes) -> str:
    """Every page's text, pages joined by a newline."""
    document = pdfium.PdfDocument(pdf)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()
