"""Text written into a CSV that a person will open in a spreadsheet program.

A spreadsheet runs a cell that starts like a formula (`=`, `+`, `-`, `@`, a tab or a carriage
return) as one, whatever file it came from: a consignee typed as `=HYPERLINK(...)` would become
a link in the daily summary (OWASP's "CSV injection"). Every CSV qtrack writes passes its text
through `spreadsheet_text`, which puts an apostrophe before such text; the spreadsheet shows
the text and hides the apostrophe. A plain number (`-5`, `+0.500`) is left as it is, so that it
stays a number.
"""

import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def spreadsheet_text(value: str) -> str:
    """The text as a cell a spreadsheet shows as it is, never runs (see the module's doc)."""
    if value.startswith(FORMULA_START) and _NUMBER.fullmatch(value) is None:
        return "'" + value
    return value
