"""Reading back what an `.xlsx` export holds, from its XML (no spreadsheet library needed)."""

import io
import re
import zipfile
from typing import Any
from xml.etree import ElementTree

_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def _xml(data: bytes) -> ElementTree.Element:
    return ElementTree.fromstring(data)  # noqa: S314  (qtrack's own export, read in a test)


def _column(ref: str) -> int:
    letters = re.match(r"[A-Z]+", ref)
    assert letters
    number = 0
    for ch in letters.group(0):
        number = number * 26 + ord(ch) - 64
    return number - 1


def sheets(data: bytes) -> dict[str, list[list[Any]]]:
    """Each sheet's rows (name -> rows of cells; empty cells are None) as the file holds them."""
    book = zipfile.ZipFile(io.BytesIO(data))
    shared: list[str] = []
    if "xl/sharedStrings.xml" in book.namelist():
        root = _xml(book.read("xl/sharedStrings.xml"))
        shared = ["".join(t.text or "" for t in si.iter(f"{{{_NS['m']}}}t")) for si in root]
    workbook = _xml(book.read("xl/workbook.xml"))
    names = [s.get("name") or "" for s in workbook.iterfind("m:sheets/m:sheet", _NS)]
    found: dict[str, list[list[Any]]] = {}
    for index, name in enumerate(names, start=1):
        root = _xml(book.read(f"xl/worksheets/sheet{index}.xml"))
        rows: list[list[Any]] = []
        for row in root.iterfind("m:sheetData/m:row", _NS):
            cells: list[Any] = []
            for cell in row.iterfind("m:c", _NS):
                col = _column(cell.get("r") or "")
                cells.extend([None] * (col - len(cells)))
                kind, value = cell.get("t"), cell.findtext("m:v", None, _NS)
                if kind == "s":
                    cells.append(shared[int(value or 0)])
                elif kind == "inlineStr":
                    cells.append("".join(t.text or "" for t in cell.iter(f"{{{_NS['m']}}}t")))
                elif kind == "b":
                    cells.append(value == "1")
                elif kind == "str":
                    cells.append(value)
                else:
                    cells.append(None if value is None else float(value))
            rows.append(cells)
        found[name] = rows
    return found
