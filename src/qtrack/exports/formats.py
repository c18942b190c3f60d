"""The three export formats, each written a batch of rows at a time: CSV and JSON Lines as
bytes that can leave at once, `.xlsx` into a file (a zip can only be finished at the end).

A column has a name and a kind; the kind says how a value is written in each format, the
same way the API writes it in JSON (decimals as text, times in UTC ISO 8601 with `Z`).
"""

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import orjson
import xlsxwriter

from qtrack.core.cells import spreadsheet_text

Format = Literal["csv", "xlsx", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "xlsx", "jsonl")
Kind = Literal["text", "int", "decimal", "float", "bool", "datetime", "date", "json"]

MEDIA_TYPES: dict[Format, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "jsonl": "application/x-ndjson",
}
# Excel's limit is 1,048,576 rows a sheet; one is the header.
XLSX_ROWS_PER_SHEET = 1_048_575


@dataclass(frozen=True)
class Column:
    """One column of an export: its name (CSV header, JSON key) and the kind of its values."""

    name: str
    kind: Kind = "text"


Row = Sequence[Any]


def _iso(moment: datetime) -> str:
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _csv_cell(kind: Kind) -> Callable[[Any], str]:
    """How a value of a kind reads in a CSV cell (None is an empty cell)."""
    if kind == "text":
        return lambda v: "" if v is None else spreadsheet_text(str(v))
    if kind == "bool":
        return lambda v: "" if v is None else ("true" if v else "false")
    if kind == "datetime":
        return lambda v: "" if v is None else _iso(v)
    if kind == "date":
        return lambda v: "" if v is None else v.isoformat()
    if kind == "json":
        return lambda v: "" if v is None else orjson.dumps(v).decode()
    return lambda v: "" if v is None else str(v)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


class CsvWriter:
    """RFC 4180 CSV (comma, CRLF, quotes where needed) in UTF-8 with a byte order mark, so
    that spreadsheets read the accents right."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self._cells = [_csv_cell(c.kind) for c in columns]
        self._names = [c.name for c in columns]

    def head(self) -> bytes:
        """The byte order mark and the header line."""
        return b"\xef\xbb\xbf" + self._encode([self._names])

    def rows(self, rows: Sequence[Row]) -> bytes:
        """A batch of rows as CSV lines."""
        cells = self._cells
        return self._encode([[cell(v) for cell, v in zip(cells, row, strict=True)] for row in rows])

    @staticmethod
    def _encode(lines: list[list[str]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(lines)
        return buffer.getvalue().encode()


class JsonLinesWriter:
    """One JSON object a line, keys in column order, values as the API writes them."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self._names = [c.name for c in columns]

    def rows(self, rows: Sequence[Row]) -> bytes:
        """A batch of rows as JSON lines."""
        names = self._names
        dumps, option = orjson.dumps, orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE
        return b"".join(
            dumps(dict(zip(names, row, strict=True)), default=_json_default, option=option)
            for row in rows
        )


class XlsxWriter:
    """An `.xlsx` workbook written row by row to a file (xlsxwriter's constant_memory mode:
    only the current row is held), a new sheet every 1,048,575 rows. Text is always text:
    never read as a formula, a number or a link."""

    def __init__(self, path: Path, columns: Sequence[Column], *, sheet: str) -> None:
        self._book = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "tmpdir": str(path.parent),
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
                "remove_timezone": True,
            },
        )
        self._columns = list(columns)
        self._sheet_name = sheet
        self._sheets = 0
        self._bold = self._book.add_format({"bold": True})
        when = self._book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        day = self._book.add_format({"num_format": "yyyy-mm-dd"})
        self._writers = [self._cell_writer(c.kind, when, day) for c in self._columns]
        self._row = XLSX_ROWS_PER_SHEET  # no sheet yet: the first row opens one
        self._sheet: Any = None

    @staticmethod
    def _cell_writer(kind: Kind, when: Any, day: Any) -> Callable[[Any, int, int, Any], Any]:
        if kind in ("int", "float"):
            return lambda ws, r, c, v: ws.write_number(r, c, v)
        if kind == "decimal":
            return lambda ws, r, c, v: ws.write_number(r, c, float(v))
        if kind == "bool":
            return lambda ws, r, c, v: ws.write_boolean(r, c, v)
        if kind == "datetime":
            return lambda ws, r, c, v: ws.write_datetime(r, c, v, when)
        if kind == "date":
            return lambda ws, r, c, v: ws.write_datetime(r, c, v, day)
        if kind == "json":
            return lambda ws, r, c, v: ws.write_string(r, c, orjson.dumps(v).decode())
        return lambda ws, r, c, v: ws.write_string(r, c, str(v))

    def _new_sheet(self) -> None:
        self._sheets += 1
        name = self._sheet_name if self._sheets == 1 else f"{self._sheet_name} ({self._sheets})"
        self._sheet = self._book.add_worksheet(name)
        for col, column in enumerate(self._columns):
            self._sheet.write_string(0, col, column.name, self._bold)
        self._sheet.freeze_panes(1, 0)
        self._row = 0

    def rows(self, rows: Sequence[Row]) -> None:
        """Write a batch of rows."""
        writers = self._writers
        for values in rows:
            if self._row >= XLSX_ROWS_PER_SHEET:
                self._new_sheet()
            self._row += 1
            sheet, r = self._sheet, self._row
            for c, (write, value) in enumerate(zip(writers, values, strict=True)):
                if value is not None:
                    write(sheet, r, c, value)

    def close(self) -> None:
        """Finish the workbook (an empty export still has its sheet and header)."""
        if self._sheet is None:
            self._new_sheet()
        self._book.close()


def filename(kind: str, fmt: Format, moment: datetime) -> str:
    """The download's file name: the kind and the time it was made, `items-20261205T0800Z.csv`."""
    return f"{kind}-{moment.strftime('%Y%m%dT%H%MZ')}.{fmt}"
