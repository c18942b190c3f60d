"""EPCIS documents checked against GS1's official EPCIS 2.0 JSON schema (draft 7).

The schema names formats (`date-time`, `uri`) that jsonschema checks only with optional
packages; we check those two ourselves, so a partner's `eventTime: "yesterday"` is refused
with the rest of the document's problems instead of failing later.
"""

import json
import re
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

MAX_PROBLEMS = 50
_MESSAGE_CHARS = 300
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _formats() -> FormatChecker:
    checker = FormatChecker(formats=())

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        return not isinstance(value, str) or bool(_URI.match(value))

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _DATE_TIME.match(value):
            return False
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        return True

    return checker


@cache
def schema() -> dict[str, Any]:
    """GS1's EPCIS 2.0 JSON schema, as shipped in this package."""
    text = resources.files("qtrack.integrations.epcis").joinpath("schema/EPCIS-JSON-Schema.json")
    loaded: dict[str, Any] = json.loads(text.read_text(encoding="utf-8"))
    return loaded


@cache
def validator() -> Draft7Validator:
    """A draft-7 validator for the schema, with the formats it names checked."""
    return Draft7Validator(schema(), format_checker=_formats())


def pointer(path: Any) -> str:
    """An RFC 6901 JSON pointer for a path of keys and indexes."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _describe(error: ValidationError) -> dict[str, str]:
    # "not valid under any of the given schemas" names the whole instance; the alternative
    # that came closest says more (e.g. which value of `action` was expected).
    if error.context:
        error = best_match(error.context) or error
    message = error.message
    if len(message) > _MESSAGE_CHARS:
        message = message[: _MESSAGE_CHARS - 1] + "…"
    return {"pointer": pointer(error.absolute_path), "message": message}


def problems(document: Any) -> list[dict[str, str]]:
    """Where a document is not valid EPCIS 2.0 and why (empty: it is), at most 50."""
    found: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    ordered = sorted(validator().iter_errors(document), key=lambda e: [str(p) for p in e.path])
    for error in ordered:
        described = _describe(error)
        key = (described["pointer"], described["message"])
        if key not in seen:
            seen.add(key)
            found.append(described)
        if len(found) >= MAX_PROBLEMS:
            break
    return found
