"""Say what any scanned string is, without touching the database: the first step of a scan."""

import json
import re
from dataclasses import dataclass
from typing import Final, Literal, get_args

from qtrack.codes.gs1 import (
    BadGs1,
    Gs1Data,
    Gs1Error,
    Gs1SyntaxError,
    NotGs1,
    looks_like_ean_upc,
    looks_like_hri,
    parse_digital_link,
    parse_ean_upc,
    parse_element_string,
    parse_hri,
)
from qtrack.core.jsonvalues import encodable
from qtrack.signing.tokens import well_formed

__all__ = ["KINDS", "MAX_LENGTH", "Classified", "Gs1Data", "Kind", "classify"]

Kind = Literal[
    "qtrack_token",
    "qtrack_code",
    "legacy_json",
    "gs1",
    "gs1_digital_link",
    "ean_upc",
    "text",
    "invalid",
]
KINDS: Final[frozenset[str]] = frozenset(get_args(Kind))

MAX_LENGTH: Final = 4096  # longer than any barcode a scanner reads; beyond it, no parsing
TEXT_CAP: Final = 512  # how much of an unrecognised scan is echoed back

_TRIM = " \t\r\n"  # what keyboard-wedge scanners add; not \x1d, which is GS1 data
_SYMBOLOGY = re.compile(r"\][A-Za-z][0-9]", re.ASCII)
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", re.ASCII)
_URL = re.compile(r"https?://([^/?#]*)([^?#]*)", re.ASCII | re.IGNORECASE)
_GS1_LEAD = re.compile(r"00[0-9]{18}|0[12][0-9]{14}", re.ASCII)
# Symbology identifiers (ISO/IEC 15424) that promise GS1 data after an implied FNC1.
_GS1_SYMBOLOGIES = frozenset({"]C1", "]e0", "]e1", "]e2", "]d2", "]Q3", "]J1"})
_EAN_SYMBOLOGIES = frozenset({"]E0", "]E4"})


@dataclass(frozen=True)
class Classified:
    """What a scanned string is, and the part of it that identifies something."""

    kind: Kind
    value: str  # token / code (uppercased) / SSCC, else GTIN-14 / the text itself
    symbology: str | None  # the symbology identifier given or found at the start, e.g. "]d2"
    gs1: Gs1Data | None = None
    error: str | None = None  # for kind "invalid": why
    problem: str | None = None  # for invalid GS1: a stable code, e.g. "gs1_value_too_long"
    ai: str | None = None  # for invalid GS1: the application identifier it is about


def classify(
    data: str,
    symbology: str | None = None,
    *,
    public_base_url: str = "http://127.0.0.1:8000",
) -> Classified:
    """Classify a scanned string; never raises, whatever the input."""
    given = _normal_symbology(symbology)
    if len(data) > MAX_LENGTH:
        return Classified("invalid", _echo(data), given, error="too long")
    text = data.strip(_TRIM)
    found = None
    if _SYMBOLOGY.match(text):
        found, text = text[:3], text[3:]
    return _classify(text, given or found, public_base_url.rstrip("/"))


def _classify(text: str, symbology: str | None, base_url: str) -> Classified:
    def invalid(error: str | Gs1Error) -> Classified:
        if isinstance(error, Gs1Error):
            return Classified(
                "invalid", _echo(text), symbology, error=str(error), problem=error.code, ai=error.ai
            )
        return Classified("invalid", _echo(text), symbology, error=error)

    if not text:
        return invalid("empty scan")
    if "\x00" in text or not encodable(text):
        # Neither can be stored in PostgreSQL text nor sent as JSON; no label carries them.
        return invalid("contains NUL characters or unpaired surrogates")

    token = _token(text, base_url)
    if token is not None:
        if well_formed(token):
            return Classified("qtrack_token", token, symbology)
        return invalid("malformed qtrack token")

    if text.startswith("{"):
        return _legacy_json(text, symbology)

    if _URL.match(text):
        try:
            link = parse_digital_link(text)
        except (BadGs1, Gs1SyntaxError) as exc:  # a Digital Link, but a wrong one
            return invalid(exc)
        except NotGs1:
            pass  # an ordinary web address: text, below
        else:
            return Classified("gs1_digital_link", _gs1_value(link, text), symbology, link)

    gs1 = _gs1(text, symbology)
    if isinstance(gs1, Gs1Data):
        return Classified("gs1", _gs1_value(gs1, text), symbology, gs1)
    if gs1 is not None:
        return invalid(gs1)

    if (symbology is None or symbology in _EAN_SYMBOLOGIES) and looks_like_ean_upc(text):
        try:
            ean = parse_ean_upc(text, symbology)
        except BadGs1 as exc:
            if symbology is not None:
                return invalid(exc)
        except NotGs1:
            pass
        else:
            return Classified("ean_upc", ean.gtin or text, symbology, ean)

    if _CODE.fullmatch(text):
        return Classified("qtrack_code", text.upper(), symbology)
    return Classified("text", text[:TEXT_CAP], symbology)


def _token(text: str, base_url: str) -> str | None:
    """The token part of a qtrack label: the bare text, or what follows /Q/ in a URL."""
    if well_formed(text):
        return text
    url = _URL.match(text)
    if url is None:
        return None
    # Labels print the URL in uppercase (QR alphanumeric mode), so compare without case.
    rest = text[len(base_url) :]
    if base_url and text[: len(base_url)].lower() == base_url.lower() and rest[:1] == "/":
        path = re.split(r"[?#]", rest, maxsplit=1)[0]
    else:
        path = url.group(2)  # a label printed before the public URL changed still resolves
    if path[:3].upper() != "/Q/":
        return None
    return path[3:]


def _legacy_json(text: str, symbology: str | None) -> Classified:
    """Labels printed before signed tokens carry {"id": "MAT-000123", "v": 1}."""
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        error = f"malformed JSON: {exc.msg} at character {exc.pos}"
    except (ValueError, RecursionError):  # e.g. nested too deeply, or a huge integer
        error = "malformed JSON"
    else:
        code = payload.get("id") if isinstance(payload, dict) else None
        if isinstance(code, str) and _CODE.fullmatch(code):
            return Classified("legacy_json", code.upper(), symbology)
        error = 'legacy JSON payload needs an "id" that is a qtrack code'
    return Classified("invalid", _echo(text), symbology, error=error)


def _gs1(text: str, symbology: str | None) -> Gs1Data | Gs1Error | None:
    """GS1 data, or why it is broken GS1, or None when it is not GS1 at all."""
    if text.startswith("(") and looks_like_hri(text):
        try:
            return parse_hri(text)
        except (BadGs1, Gs1SyntaxError) as exc:
            return exc
        except NotGs1 as exc:
            # "(01)" or "(00)" opens nothing but GS1; other brackets may be prose.
            if text.lstrip()[:4] in ("(00)", "(01)", "(02)"):
                return exc
            return None
    says_gs1 = symbology in _GS1_SYMBOLOGIES
    guess = symbology not in _EAN_SYMBOLOGIES and _GS1_LEAD.match(text) is not None
    if not (says_gs1 or guess):
        return None
    try:
        return parse_element_string(text)
    except (BadGs1, Gs1SyntaxError) as exc:  # after a valid key: GS1, and wrong
        return exc
    except NotGs1 as exc:
        return exc if says_gs1 else None


def _gs1_value(data: Gs1Data, text: str) -> str:
    # On a pallet label the SSCC names the pallet; AI 02 there only says what it holds.
    return data.sscc or data.gtin or text[:TEXT_CAP]


def _normal_symbology(symbology: str | None) -> str | None:
    """Normalise "d2" or "]d2" to "]d2"; anything else is ignored."""
    if symbology is None:
        return None
    bare = symbology.strip().removeprefix("]")
    return f"]{bare}" if _SYMBOLOGY.fullmatch(f"]{bare}") else None


def _echo(text: str) -> str:
    """The start of a scan, safe to store and to send as JSON."""
    return text[:TEXT_CAP].encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
