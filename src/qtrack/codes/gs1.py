"""GS1 data in a scan: element strings, bracketed text, Digital Link URIs and EAN/UPC numbers.

biip does the parsing; this module turns its results into `Gs1Data` and decides what is
"not GS1 at all" (`NotGs1`, the caller may try other readings) and what is "GS1, but wrong"
(`BadGs1`, e.g. a wrong check digit: the scan is invalid).
"""

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from biip.checksums import gs1_standard_check_digit
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementString
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin
from biip.upc import Upc

GS = "\x1d"  # ASCII group separator: what scanners send for FNC1, ending a variable field

# Bracketed human-readable form: "(01)09506000134352 (17)271231(10)ABC". Spaces may sit around
# a group but not inside its data, so "(10) reasons why" stays text.
_HRI = re.compile(r"(?:\s*\(\d{2,4}\)\s*[^()\s]+)+\s*", re.ASCII)
_HRI_GROUP = re.compile(r"\((\d{2,4})\)\s*([^()\s]+)", re.ASCII)
_DIGITS = re.compile(r"[0-9]+")
_ID_NAMES = {"00": "SSCC", "01": "GTIN", "02": "GTIN", "03": "GTIN"}  # and 41x: GLN


class NotGs1(ValueError):
    """The data does not parse as GS1."""


class BadGs1(ValueError):
    """The data is GS1 but wrong (a check digit, a UPC-E number system)."""


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
    """Turn anything biip raises into NotGs1."""
    try:
        yield
    # Not just biip.ParseError: on odd input biip also raises IndexError ("]"), ValueError
    # (urlsplit on "http://[") and others; a scan must never crash the classifier.
    except Exception as exc:
        raise NotGs1(str(exc)) from exc


def parse_element_string(data: str) -> Gs1Data:
    """Read a GS1 element string: AIs run together, variable-length fields ended by GS."""
    # A scanner may send FNC1 in first position as a leading GS; it carries no data.
    with _biip():
        message = GS1Message.parse(data.lstrip(GS))
    return _to_data(message.element_strings)


def looks_like_hri(data: str) -> bool:
    """Whether the data has the bracketed shape "(AI)data(AI)data"."""
    return _HRI.fullmatch(data) is not None


def parse_hri(data: str) -> Gs1Data:
    """Read the bracketed human-readable form, e.g. "(01)09506000134352(10)ABC"."""
    # biip's own GS1Message.parse_hri is lenient: it drops "(B)" from "(10)A(B)" and
    # deletes spaces inside data. Reading each group strictly keeps every character.
    if not looks_like_hri(data):
        raise NotGs1("not in the bracketed form (AI)data")
    elements = []
    for ai, value in _HRI_GROUP.findall(data):
        with _biip():
            element = GS1ElementString.parse(ai + value)
        if element.ai.ai != ai:  # biip matched a shorter AI at the start, e.g. "(103)" as 10
            raise NotGs1(f"unknown GS1 application identifier ({ai})")
        elements.append(element)
    return _to_data(elements)


def parse_digital_link(uri: str) -> Gs1Data:
    """Read a GS1 Digital Link URI whose primary key is a GTIN (/01/) or an SSCC (/00/)."""
    with _biip():
        link = GS1DigitalLinkURI.parse(uri)
    # biip skips any leading path segments until one is a primary key, so
    # "https://news.example/401/12" would be a GINC; only product and pallet links count here.
    if link.element_strings[0].ai.ai not in ("00", "01"):
        raise NotGs1("not a GS1 Digital Link to a GTIN or an SSCC")
    return _to_data(link.element_strings)


def parse_ean_upc(digits: str, symbology: str | None) -> Gs1Data:
    """Read an EAN-13, EAN-8, UPC-A or UPC-E number as a GTIN-14."""
    if not _DIGITS.fullmatch(digits) or len(digits) not in (8, 12, 13):
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
        raise BadGs1(f"UPC-E {digits} must start with 0 or 1")
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
    for element in elements:
        ai, value = element.ai.ai, element.value
        # biip's patterns use \d, which matches any Unicode digit, and AI 30 accepts no
        # digits at all; GS1 data is ASCII and never empty.
        if not value or not value.isascii():
            raise NotGs1(f"GS1 AI ({ai}) has no valid data")
        # biip records a wrong check digit inside a message as gtin_error & co., not a raise.
        if element.gtin_error or element.sscc_error or element.gln_error:
            expected = gs1_standard_check_digit(value[:-1])
            raise BadGs1(_wrong_check_digit(_ID_NAMES.get(ai, "GLN"), value, expected))
    by_ai = {element.ai.ai: element for element in elements}
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
        elements={ai: element.value for ai, element in by_ai.items()},
    )


def _value(by_ai: dict[str, GS1ElementString], ai: str) -> str | None:
    element = by_ai.get(ai)
    return element.value if element else None
