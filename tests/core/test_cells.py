"""Text for a spreadsheet's cell: nothing a spreadsheet would run, numbers left as numbers."""

from hypothesis import given
from hypothesis import strategies as st

from qtrack.core.cells import FORMULA_START, spreadsheet_text


def test_formulas_are_quoted_and_numbers_kept() -> None:
    assert spreadsheet_text('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert spreadsheet_text("@SUM(A1)") == "'@SUM(A1)"
    assert spreadsheet_text("+0.500 kg") == "'+0.500 kg"
    assert spreadsheet_text("-cmd|' /C calc'!A0") == "'-cmd|' /C calc'!A0"
    assert spreadsheet_text("\tx") == "'\tx"
    assert spreadsheet_text("\r=1") == "'\r=1"
    assert spreadsheet_text("-inf") == "'-inf"  # float() reads it; a spreadsheet runs it
    assert spreadsheet_text("-1_000") == "'-1_000"
    for number in ("-5", "+5", "-0.500", "-.5", "-1e5", "+2.5E-3"):
        assert spreadsheet_text(number) == number
    for text in ("ACME", "", "a=b", "5-3", " =1", "'=1"):
        assert spreadsheet_text(text) == text


@given(st.text())
def test_no_cell_starts_a_formula(value: str) -> None:
    cell = spreadsheet_text(value)
    assert cell in (value, "'" + value)
    if cell.startswith(FORMULA_START):
        float(cell)  # only a plain number is left to start like a formula
