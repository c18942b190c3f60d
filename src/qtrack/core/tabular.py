"""Reading a spreadsheet someone uploaded: CSV or .xlsx, checked before a row is trusted.

    table = tabular.open_table(path, filename="stock.xlsx", max_unpacked=...)
    table.header            # the first row, as text
    for number, cells in table.rows(): ...   # every later row, numbered as the file numbers it

What is refused, each with its own error code, before any row is read:

* a CSV that is not UTF-8 (`import_bad_encoding`, naming the line and the byte): guessing
  an encoding turns "Müller" into "MÃ¼ller" without a word;
* a CSV whose header has one column holding `;`, a tab or `|` (`import_bad_delimiter`):
  it was written with another separator, which the caller may name (`delimiter=`);
* an .xlsx whose members unpack past a limit or at a ratio no spreadsheet has
  (`import_xlsx_bomb`, 413): the zip's directory is read before anything is inflated; and
  one whose first sheet spans far more cells than it fills (a value at A1 and one at
  XFD1048576), since calamine holds every cell between the first and the last;
* anything else that is neither (`import_bad_format`): a PDF or a picture (named by its
  first bytes), binary data, a zip that holds no workbook, or an .xlsx that cannot be read;
  a UTF-16 text is an encoding to explain (`import_bad_encoding`), with or without its BOM.

Formulas are never evaluated: calamine reads the values a spreadsheet program saved, and a
cell that holds a formula is named in `formula_cells` so that the caller can refuse it.
"""

import codecs
import csv
import hashlib
import re
import zipfile
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal

import python_calamine

from qtrack.core.errors import PayloadTooLarge, ValidationFailed

Format = Literal["csv", "xlsx"]
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# A real worksheet's XML packs 5-30 times smaller; a bomb, thousands of times.
MAX_RATIO = 200
# Members smaller than this are never a bomb, whatever their ratio (tiny XML packs well).
RATIO_FROM_BYTES = 1_048_576
MAX_MEMBERS = 10_000
# calamine holds a sheet as one block of every cell from the first filled one to the last,
# blank or not (32 bytes a cell): two values far apart in a workbook of 1.5 KB made it ask for
# gigabytes, or abort the process. A sheet may span this many cells whatever it holds...
SPAN_FROM_CELLS = 1_000_000
# ...and beyond that at most this many cells a filled one (a ragged sheet of optional
# columns is mostly filled), and never more than one cell for every 16 bytes the workbook may
# unpack to (no cell's XML is shorter).
MAX_SPAN_RATIO = 100
SPAN_BYTES = 16
_BLOCK = 1 << 20
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_CELL_WITH_FORMULA = re.compile(
    rb"<(?:\w+:)?c\b[^>]*?\br=\"([A-Z]+)([0-9]+)\"[^>]*>(?:(?!</(?:\w+:)?c>).)*?<(?:\w+:)?f[\s>/]",
    re.S,
)


class TableUnreadable(ValidationFailed):
    code, message = "import_bad_format", "The file is not a CSV or .xlsx file qtrack can read"


class BadEncoding(ValidationFailed):
    code, message = "import_bad_encoding", "The CSV file is not UTF-8"


class BadDelimiter(ValidationFailed):
    code, message = "import_bad_delimiter", "The CSV file is not separated by the delimiter"


class EmptyTable(ValidationFailed):
    code, message = "import_empty", "The file has no header row"


class XlsxBomb(PayloadTooLarge):
    code, message = "import_xlsx_bomb", "The .xlsx file unpacks to far more than it holds"


@dataclass
class Table:
    """A readable table: its header and, on demand (as often as asked), its rows."""

    path: Path
    format: Format
    header: tuple[str, ...]
    size: int  # bytes of the file
    rows_estimate: int  # data rows, counted cheaply (a CSV's line breaks, a sheet's height)
    delimiter: str = ","
    # (row number, column index) of every cell that holds a formula (.xlsx only)
    formula_cells: list[tuple[int, int]] = field(default_factory=list)

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(row number, cells as text) for each data row after the header; blank rows skipped.

        A CSV's row number is its line number (where the row starts); an .xlsx row's is the
        number the spreadsheet shows."""
        return _csv_rows(self) if self.format == "csv" else _xlsx_rows(self)

    @property
    def signature(self) -> str:
        """What identifies the file's layout: a hash of its header (for remembered mappings)."""
        return header_signature(self.header)


def header_signature(header: tuple[str, ...] | list[str]) -> str:
    """A short hash of a header's column names, case and spacing aside."""
    names = "\x1f".join(" ".join(name.lower().split()) for name in header)
    return hashlib.sha256(names.encode()).hexdigest()[:32]


def open_table(
    path: Path, *, filename: str | None = None, delimiter: str = ",", max_unpacked: int
) -> Table:
    """Check a file and read its header; raises one of this module's errors when it is not a
    table qtrack can read. `filename` (as uploaded) decides nothing: the content does."""
    with path.open("rb") as stream:
        head = stream.read(8)
    if head.startswith(b"PK\x03\x04"):
        return _open_xlsx(path, max_unpacked=max_unpacked)
    if head.startswith(b"\xd0\xcf\x11\xe0"):  # OLE2: .xls, or an encrypted .xlsx
        raise TableUnreadable(
            "The file is an old Excel (.xls) or a password-protected workbook; save it as "
            ".xlsx without a password, or as CSV UTF-8",
            details={"filename": filename},
        )
    _refuse_binary(path, filename)
    if delimiter not in DELIMITERS:
        raise BadDelimiter(
            f"The delimiter {delimiter!r} is not one of , ; tab |",
            details={"delimiter": delimiter, "allowed": list(DELIMITERS)},
        )
    return _open_csv(path, delimiter)


# What people upload by mistake, by the bytes it starts with.
_NOT_TABLES = {
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG picture",
    b"\xff\xd8\xff": "a JPEG picture",
    b"GIF8": "a GIF picture",
    b"\x1f\x8b": "a gzip archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"Rar!": "a RAR archive",
    b"{\\rtf": "an RTF document",
}
_SNIFF_BYTES = 65_536


def _refuse_binary(path: Path, filename: str | None) -> None:
    """Refuse what is plainly no CSV, saying what it seems to be: a known kind of file, a
    UTF-16 text without its byte order mark, or binary data (NUL bytes, which no UTF-8 CSV
    holds). Anything else is left to the CSV reader, which explains an encoding."""
    with path.open("rb") as stream:
        head = stream.read(_SNIFF_BYTES)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return  # explained as an encoding by the CSV reader
    for magic, what in _NOT_TABLES.items():
        if head.startswith(magic):
            raise TableUnreadable(
                f"The file is {what}, not a table: upload a CSV (UTF-8) or an .xlsx workbook",
                details={"filename": filename, "seems": what},
            )
    nuls = head.count(b"\0")
    if not nuls:
        return
    even, odd = head[0::2].count(b"\0"), head[1::2].count(b"\0")
    if len(head) >= 4 and max(even, odd) >= len(head) // 2 * 0.4 and min(even, odd) <= nuls // 10:
        raise BadEncoding(
            "The CSV file is UTF-16 (without a byte order mark); save it as 'CSV UTF-8' and "
            "upload it again",
            details={"encoding": "utf-16", "line": 1},
        )
    raise TableUnreadable(
        "The file holds binary data (NUL bytes), so it is no CSV; upload a CSV (UTF-8) or an "
        ".xlsx workbook",
        details={"filename": filename, "byte": head.index(b"\0")},
    )


def _cell_text(value: Any) -> str:
    """A spreadsheet value as the text a CSV would hold: 25 not 25.0, dates in ISO form."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return "" if value is None else str(value)


# CSV


def _check_encoding(path: Path) -> int:
    """Decode the whole file as UTF-8 in blocks (it is never held whole); return how many line
    breaks it has. BadEncoding names the line and the byte of the first that is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    with path.open("rb") as stream:
        first = stream.read(4)
        if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise BadEncoding(
                "The CSV file is UTF-16; save it as 'CSV UTF-8' and upload it again",
                details={"encoding": "utf-16", "line": 1},
            )
        stream.seek(0)
        consumed = 0
        while block := stream.read(_BLOCK):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                before = block[: exc.start]
                line = lines + before.count(b"\n") + 1
                bad = block[exc.start : exc.start + 1].hex().upper()
                raise BadEncoding(
                    f"The CSV file is not UTF-8: line {line} has the byte 0x{bad}, which "
                    "UTF-8 does not allow there (the file may be Latin-1 or Windows-1252). "
                    "Save it as 'CSV UTF-8' and upload it again",
                    details={"line": line, "byte": consumed + exc.start, "value": f"0x{bad}"},
                ) from None
            lines += block.count(b"\n")
            consumed += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise BadEncoding(
                f"The CSV file is not UTF-8: it ends in the middle of a character (line "
                f"{lines + 1}). Save it as 'CSV UTF-8' and upload it again",
                details={"line": lines + 1, "byte": consumed},
            ) from None
    return lines


def _csv_refused(exc: csv.Error, line: int) -> TableUnreadable:
    """What Python's csv reader refuses (a field past its size limit...), said as the file's
    fault with its line, not left to become a 500."""
    limit = csv.field_size_limit()
    if "field larger than field limit" in str(exc):
        return TableUnreadable(
            f"Line {line} holds a value longer than {limit:,} characters",
            details={"line": line, "max": limit},
        )
    return TableUnreadable(f"Line {line} cannot be read as CSV: {exc}", details={"line": line})


def _open_csv(path: Path, delimiter: str) -> Table:
    breaks = _check_encoding(path)
    with path.open(newline="", encoding="utf-8-sig") as stream:
        try:
            first = next(csv.reader(stream, delimiter=delimiter), [])
        except csv.Error as exc:
            raise _csv_refused(exc, 1) from None
        header = tuple(name.strip() for name in first)
    if not any(header):
        raise EmptyTable("The file is empty: its first line must name the columns")
    if len(header) == 1:
        for other, name in DELIMITERS.items():
            if other != delimiter and other in header[0]:
                raise BadDelimiter(
                    f"The header has one column holding '{other}': the file seems separated "
                    f"by {name}s, not {DELIMITERS[delimiter]}s. Save it comma-separated, or "
                    f"say delimiter={other!r} when you upload it",
                    details={"delimiter": delimiter, "found": other, "header": header[0][:200]},
                )
    return Table(path, "csv", header, path.stat().st_size, max(0, breaks - 1), delimiter)


def _csv_rows(table: Table) -> Iterator[tuple[int, list[str]]]:
    with table.path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.reader(stream, delimiter=table.delimiter)
        next(reader, None)  # the header
        start = reader.line_num + 1
        while True:
            try:
                cells = next(reader, None)
            except csv.Error as exc:
                raise _csv_refused(exc, reader.line_num) from None
            if cells is None:
                return
            if cells and any(cells):  # a blank line, as csv.DictReader skips them
                yield start, cells
            start = reader.line_num + 1


# XLSX


# The general purpose flag of a zip entry whose data is encrypted.
_ENCRYPTED = 0x1


def _check_zip(path: Path, max_unpacked: int) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise TableUnreadable("The file looks like a zip but cannot be opened") from None
    try:
        _check_members(archive, max_unpacked)
    except BaseException:
        archive.close()
        raise
    return archive


def _check_members(archive: zipfile.ZipFile, max_unpacked: int) -> None:
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise XlsxBomb(
            f"The .xlsx file has {len(members)} parts; a workbook has a few dozen",
            details={"members": len(members), "max": MAX_MEMBERS},
        )
    total = 0
    for member in members:
        # Excel neither encrypts a part of the zip (a password-protected workbook is an OLE2
        # file) nor compresses one other than stored or deflated; zipfile would raise on
        # reading such a part, past every check here.
        if member.flag_bits & _ENCRYPTED:
            raise TableUnreadable(
                "The .xlsx file cannot be read: a part of it is encrypted; save it from Excel "
                "without a password",
                details={"member": member.filename},
            )
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise TableUnreadable(
                "The .xlsx file cannot be read: a part of it is compressed in a way Excel "
                "does not use; save it again from Excel",
                details={"member": member.filename},
            )
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size >= RATIO_FROM_BYTES and ratio > MAX_RATIO:
            raise XlsxBomb(
                f"The part {member.filename!r} of the .xlsx file unpacks {ratio:,.0f} times "
                f"larger than it is stored (at most {MAX_RATIO}); it was refused unread",
                details={"member": member.filename, "ratio": round(ratio), "max": MAX_RATIO},
            )
    if total > max_unpacked:
        raise XlsxBomb(
            f"The .xlsx file unpacks to {total:,} bytes, more than {max_unpacked:,}",
            details={"unpacked": total, "max": max_unpacked},
        )


def _first_sheet_member(archive: zipfile.ZipFile) -> str | None:
    """The zip member of the workbook's first sheet (what calamine reads as index 0)."""
    try:
        workbook = archive.read("xl/workbook.xml")
        rels = archive.read("xl/_rels/workbook.xml.rels")
    except KeyError:
        return None
    sheet = re.search(rb"<(?:\w+:)?sheet\b[^>]*?\br:id=\"([^\"]+)\"", workbook)
    if sheet is None:
        return None
    for rel in re.finditer(rb"<(?:\w+:)?Relationship\b[^>]*>", rels):
        if re.search(rb"\bId=\"" + re.escape(sheet.group(1)) + rb"\"", rel.group(0)):
            target = re.search(rb"\bTarget=\"([^\"]+)\"", rel.group(0))
            if target is None:
                return None
            name = target.group(1).decode()
            return name.lstrip("/") if name.startswith("/") else f"xl/{name}"
    return None


def _column_index(letters: bytes) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + (letter - 64)
    return index - 1


def _formula_cells(archive: zipfile.ZipFile) -> list[tuple[int, int]]:
    """(row number, column index) of each formula cell of the first sheet. The sheet's XML is
    streamed once looking for a formula tag; only a sheet that has one is searched cell by
    cell."""
    member = _first_sheet_member(archive)
    if member is None or member not in archive.namelist():
        return []
    found = False
    tail = b""
    with archive.open(member) as stream:
        while block := stream.read(_BLOCK):
            if _FORMULA.search(tail + block):
                found = True
                break
            tail = block[-16:]
    if not found:
        return []
    xml = archive.read(member)
    return [(int(row), _column_index(col)) for col, row in _CELL_WITH_FORMULA.findall(xml)]


# A filled cell that names its place: (column letters, row digits); <c r="B2" s="1"/> is a
# styled blank, which calamine leaves out. Only cells have an `r` with letters.
_FILLED_REF = re.compile(rb'\br="([A-Z]+)([0-9]+)"[^>]*(?<!/)>')
_CELL_WITHOUT_REF = re.compile(rb'<(?:\w+:)?c(?:\s(?![^>]*\br=")[^>]*)?/?>')
_SHEET_TAG = re.compile(rb"<(?:\w+:)?(row|c)\b([^>]*)>")
_REF = re.compile(rb'\br="([A-Z]*)([0-9]*)"')


@dataclass
class _Span:
    """Where a sheet's filled cells lie (0-based), and how many there are."""

    top: int = 1 << 62
    bottom: int = -1
    left: int = 1 << 62
    right: int = -1
    filled: int = 0

    def add(self, rows: Collection[int], columns: Collection[int], filled: int) -> None:
        """Take in `filled` cells in these rows and columns (0-based)."""
        if filled:
            self.top, self.bottom = min(self.top, min(rows)), max(self.bottom, max(rows))
            self.left, self.right = min(self.left, min(columns)), max(self.right, max(columns))
            self.filled += filled


def _xml_blocks(stream: Any) -> Iterator[bytes]:
    """The XML in blocks that end between tags (a tag cut by a block goes to the next)."""
    carry = b""
    while block := stream.read(_BLOCK):
        text = carry + block
        cut = text.rfind(b"<")
        if cut == -1 or text.find(b">", cut) != -1:
            cut = len(text)
        yield text[:cut]
        carry = text[cut:]
    if carry:
        yield carry


def _span_of_references(block: bytes, span: _Span) -> bool:
    """Add the block's filled cells to the span, if every cell names its place (as Excel,
    LibreOffice and the libraries write them); False if one does not."""
    if _CELL_WITHOUT_REF.search(block):
        return False
    cells = _FILLED_REF.findall(block)
    if cells:
        rows = list(map(int, map(itemgetter(1), cells)))
        columns = [_column_index(name) for name in set(map(itemgetter(0), cells))]
        span.add([min(rows) - 1, max(rows) - 1], columns, len(cells))
    return True


def _span_in_order(stream: Any) -> _Span:
    """The span with each row and cell placed as calamine places it: by its `r`, else after
    the one before it (slower: for sheets whose cells do not all name their place)."""
    span = _Span()
    row = column = -1
    for block in _xml_blocks(stream):
        rows: list[int] = []
        columns: list[int] = []
        for tag, attributes in _SHEET_TAG.findall(block):
            ref = _REF.search(attributes)
            if tag == b"row":
                row = int(ref.group(2)) - 1 if ref and ref.group(2) else row + 1
                column = -1
                continue
            if ref and ref.group(1):
                column = _column_index(ref.group(1))
                if ref.group(2):
                    row = int(ref.group(2)) - 1
            else:
                column += 1
            if not attributes.endswith(b"/"):  # <c r="B2" s="1"/>: a styled blank
                rows.append(row)
                columns.append(column)
        span.add(rows, columns, len(rows))
    return span


def column_letters(index: int) -> str:
    """A spreadsheet column's letters from its 0-based index (0: A, 26: AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _check_span(archive: zipfile.ZipFile, max_unpacked: int) -> None:
    """Refuse a first sheet whose cells lie so far apart that calamine's block of them (every
    cell from the first filled one to the last) would be far larger than the workbook."""
    member = _first_sheet_member(archive)
    if member is None or member not in archive.namelist():
        return
    span = _Span()
    with archive.open(member) as stream:
        placed = all(_span_of_references(block, span) for block in _xml_blocks(stream))
    if not placed:
        with archive.open(member) as stream:
            span = _span_in_order(stream)
    if not span.filled:
        return
    rows, columns = span.bottom - span.top + 1, span.right - span.left + 1
    cells = rows * columns
    allowed = min(max(SPAN_FROM_CELLS, MAX_SPAN_RATIO * span.filled), max_unpacked // SPAN_BYTES)
    if cells > allowed:
        corner = f"{column_letters(span.right)}{span.bottom + 1}"
        raise XlsxBomb(
            f"The first sheet spans {rows:,} rows by {columns:,} columns ({cells:,} cells, up "
            f"to {corner}) but only {span.filled:,} of them hold a value; delete the cells far "
            "from the table, or copy the table to a new sheet",
            details={"cells": cells, "filled": span.filled, "last_cell": corner, "max": allowed},
        )


def _open_xlsx(path: Path, *, max_unpacked: int) -> Table:
    with _check_zip(path, max_unpacked) as archive:
        if not any(name.startswith("xl/") for name in archive.namelist()):
            raise TableUnreadable(
                "The file is a zip archive but no Excel workbook (nothing in it under xl/: "
                "a Word or OpenDocument file, or another archive); save the sheet as .xlsx",
                details={"members": archive.namelist()[:5]},
            )
        try:
            formulas = _formula_cells(archive)
            _check_span(archive, max_unpacked)
        except (zipfile.BadZipFile, zlib.error, EOFError, UnicodeDecodeError):
            # A part that does not inflate, or that fails its checksum; a name in the
            # workbook's relationships that is not UTF-8.
            raise TableUnreadable("The .xlsx file cannot be read: it is damaged") from None
    try:
        with python_calamine.CalamineWorkbook.from_path(str(path)) as workbook:
            if not workbook.sheet_names:
                raise EmptyTable("The workbook has no sheet")
            sheet = workbook.get_sheet_by_index(0)
            height = sheet.height
            start_col = (sheet.start or (0, 0))[1]
            first = next(iter(sheet.iter_rows()), [])
    except (python_calamine.CalamineError, python_calamine.ZipError, python_calamine.XmlError):
        raise TableUnreadable("The .xlsx file cannot be read: it is damaged") from None
    except python_calamine.PasswordError:
        raise TableUnreadable("The workbook is password-protected; save it without") from None
    header = tuple(_cell_text(cell).strip() for cell in first)
    while header and not header[-1]:
        header = header[:-1]
    if not any(header):
        raise EmptyTable("The first sheet's first row must name the columns")
    # Cells are numbered from the sheet's first used column, as calamine gives them.
    formulas = [(row, column - start_col) for row, column in formulas]
    return Table(
        path, "xlsx", header, path.stat().st_size, max(0, height - 1), formula_cells=formulas
    )


def _xlsx_rows(table: Table) -> Iterator[tuple[int, list[str]]]:
    with python_calamine.CalamineWorkbook.from_path(str(table.path)) as workbook:
        sheet = workbook.get_sheet_by_index(0)
        start_row = (sheet.start or (0, 0))[0]
        rows = sheet.iter_rows()
        next(rows, None)  # the header
        number = start_row + 1
        width = len(table.header)
        for values in rows:
            number += 1
            cells = [_cell_text(value) for value in values]
            while len(cells) > width and not cells[-1]:
                cells.pop()
            if any(cells):
                yield number, cells
