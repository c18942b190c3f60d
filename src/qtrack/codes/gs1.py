"""GS1 data in a scan: element strings, bracketed text, Digital Link URIs and EAN/UPC numbers.

`gs1_syntax` reads them as strictly as GS1's syntax engine (with biip's AI tables); this
module turns the result into `Gs1Data` and decides what is "not GS1 at all" (`NotGs1`, the
caller may try other readings) and what is "GS1, but wrong" (`BadGs1`, e.g. a wrong check
digit, or `Gs1SyntaxError`, e.g. a value too long after a valid GTIN: the scan is invalid).
Every error carries a stable `code` and the `ai` it is about.
"""

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from biip.checksums import gs1_standard_check_digit
from biip.gs1_element_strings import GS1ElementString
from biip.gtin import Gtin
from biip.upc import Upc

from qtrack.codes.gs1_link import read_digital_link
from qtrack.codes.gs1_syntax import (
    GS,
    INVALID_VALUE,
    UNKNOWN_AI,
    BadGs1,
    Gs1Error,
    Gs1SyntaxError,
    NotGs1,
    check_repeats,
    element,
    known_ai,
    read_element_string,
)

__all__ = [
    "GS",
    "BadGs1",
    "Gs1Data",
    "Gs1Error",
    "Gs1SyntaxError",
    "NotGs1",
    "looks_like_hri",
    "parse_digital_link",
    "parse_ean_upc",
    "parse_element_string",
    "parse_hri",
]

# Bracketed human-readable form: "(01)09506000134352 (17)271231(10)ABC". Spaces may sit around
# a group but not inside its data, so "(10) reasons why" stays text.
_HRI = re.compile(r"(?:\s*\(\d{2,4}\)\s*[^()\s]+)+\s*", re.ASCII)
_HRI_GROUP = re.compile(r"\((\d{2,4})\)\s*([^()\s]+)", re.ASCII)
_DIGITS = re.compile(r"[0-9]+")
_ID_NAMES = {"00": "SSCC", "01": "GTIN", "02": "GTIN", "03": "GTIN"}  # and 41x: GLN


@dataclass(frozen=True)
class Gs1Data:
    """What a GS1 scan says about the thing it is on."""

    # GTIN-14: GTIN-8/12/13 are left-padded with zeros (GS1 General Specifications 4.3).
    # AI 01, or AI 02 (GTIN of the contained items) on a logistic label that has no 01.
    gtin: str | None
    batch: str | None  # AI 10
    serial: str | None  # AI 21
    expiry_on: date | None  # AI 17; day 00 means the last day of the month
    expiry_raw: str | None  # AI 17 exactly as given, YYMMDD
    quantity: Decimal | None  # AI 30 (variable count) or AI 37 (count in a logistic unit)
    net_weight_kg: Decimal | None  # AI 310n: kilograms with n decimals
    sscc: str | None  # AI 00
    elements: dict[str, str]  # every AI -> value as parsed, for display


@contextmanager
def _biip() -> Iterator[None]:
    """Turn anything biip raises into NotGs1; our own GS1 errors pass as they are."""
    try:
        yield
    except Gs1Error:
        raise
    # Not just biip.ParseError: on odd input biip also raises IndexError ("]"), ValueError
    # (urlsplit on "http://[") and others; a scan must never crash the classifier.
    except Exception as exc:
        raise NotGs1(str(exc)) from exc


def parse_element_string(data: str) -> Gs1Data:
    """Read a GS1 element string: AIs run together, variable-length fields ended by GS."""
    # A scanner may send FNC1 in first position as a leading GS; it carries no data.
    with _biip():
        elements = read_element_string(data.lstrip(GS))
    return _to_data(elements)


def looks_like_hri(data: str) -> bool:
    """Whether the data has the bracketed shape "(AI)data(AI)data"."""
    return _HRI.fullmatch(data) is not None


def parse_hri(data: str) -> Gs1Data:
    """Read the bracketed human-readable form, e.g. "(01)09506000134352(10)ABC"."""
    # biip's own GS1Message.parse_hri is lenient: it drops "(B)" from "(10)A(B)" and
    # deletes spaces inside data. Reading each group strictly keeps every character.
    if not looks_like_hri(data):
        raise NotGs1("not in the bracketed form (AI)data")
    elements: list[GS1ElementString] = []
    for ai_text, value in _HRI_GROUP.findall(data):
        ai = known_ai(ai_text)  # exactly: biip would read "(103)" as AI 10 and a "3"
        failure = Gs1SyntaxError if elements else NotGs1
        if ai is None:
            raise failure(f"unknown GS1 application identifier ({ai_text})", code=UNKNOWN_AI)
        with _biip():
            elements.append(element(ai, value, recognised=bool(elements)))
    check_repeats(elements)
    return _to_data(elements)


def parse_digital_link(uri: str) -> Gs1Data:
    """Read a GS1 Digital Link URI whose primary key is a GTIN (/01/) or an SSCC (/00/)."""
    # Other keys are valid GS1 ("https://news.example/401/12" would be a GINC), but only
    # product and pallet links name things qtrack tracks.
    with _biip():
        elements = read_digital_link(uri, keys=("00", "01"))
    return _to_data(elements)


def looks_like_ean_upc(text: str) -> bool:
    """Whether the text has the shape of an EAN-13, EAN-8, UPC-A or UPC-E number: 8, 12 or
    13 digits (a scan classified as anything else skips raising and catching `NotGs1`)."""
    return len(text) in (8, 12, 13) and _DIGITS.fullmatch(text) is not None


def parse_ean_upc(digits: str, symbology: str | None) -> Gs1Data:
    """Read an EAN-13, EAN-8, UPC-A or UPC-E number as a GTIN-14."""
    if not looks_like_ean_upc(digits):
        raise NotGs1("not an EAN/UPC number")
    if len(digits) != 8:
        readings = [_gtin]
    elif symbology == "]E0":  # ]E0 is EAN-13, UPC-A or UPC-E; EAN-8 has its own ]E4
        readings = [_upc_e, _gtin]
    elif symbology == "]E4":
        readings = [_gtin]
    else:
        readings = [_gtin, _upc_e]
    errors = []
    for reading in readings:
        try:
            gtin = reading(digits)
        except BadGs1 as exc:
            errors.append(str(exc))
        else:
            return Gs1Data(gtin, None, None, None, None, None, None, None, {})
    raise BadGs1(errors[0])


def _gtin(digits: str) -> str:
    expected = gs1_standard_check_digit(digits[:-1])
    if int(digits[-1]) != expected:
        raise BadGs1(_wrong_check_digit("GTIN", digits, expected))
    with _biip():
        return Gtin.parse(digits).as_gtin_14()


def _upc_e(digits: str) -> str:
    if digits[0] not in "01":
        raise BadGs1(f"UPC-E {digits} must start with 0 or 1", code=INVALID_VALUE)
    with _biip():
        # Given seven digits biip computes the check digit; UPC-A ends with it.
        expected = int(Upc.parse(digits[:7]).as_upc_a()[-1])
    if int(digits[-1]) != expected:
        raise BadGs1(_wrong_check_digit("UPC-E", digits, expected))
    with _biip():
        return Upc.parse(digits).as_gtin_14()


def _wrong_check_digit(name: str, value: str, expected: int) -> str:
    return f"{name} {value} has a wrong check digit (expected {expected})"


def _to_data(elements: Sequence[GS1ElementString]) -> Gs1Data:
    """Check what biip left unchecked and pick out the fields qtrack uses."""
    for item in elements:
        ai, value = item.ai.ai, item.value
        # biip's patterns use \d, which matches any Unicode digit, and AI 30 accepts no
        # digits at all; GS1 data is ASCII and never empty.
        if not value or not value.isascii():
            raise NotGs1(f"GS1 AI ({ai}) has no valid data", code=INVALID_VALUE, ai=ai)
        # biip records a wrong check digit inside a message as gtin_error & co., not a raise.
        if item.gtin_error or item.sscc_error or item.gln_error:
            expected = gs1_standard_check_digit(value[:-1])
            raise BadGs1(_wrong_check_digit(_ID_NAMES.get(ai, "GLN"), value, expected), ai=ai)
    by_ai = {item.ai.ai: item for item in elements}
    gtin = by_ai.get("01") or by_ai.get("02")
    expiry = by_ai.get("17")
    count = by_ai.get("30") or by_ai.get("37")
    weight = next((e for e in elements if e.ai.ai.startswith("310")), None)
    sscc = by_ai.get("00")
    return Gs1Data(
        gtin=gtin.value if gtin else None,
        batch=_value(by_ai, "10"),
        serial=_value(by_ai, "21"),
        expiry_on=expiry.date if expiry else None,
        expiry_raw=expiry.value if expiry else None,
        quantity=Decimal(count.value) if count else None,
        net_weight_kg=weight.decimal if weight else None,
        sscc=sscc.value if sscc else None,
        elements={ai: item.value for ai, item in by_ai.items()},
    )


def _value(by_ai: dict[str, GS1ElementString], ai: str) -> str | None:
    found = by_ai.get(ai)
    return found.value if found else None
