"""GS1's syntax rules, as strict as GS1's own Barcode Syntax Engine (gs1-syntax-engine).

biip knows every application identifier (AI) with its format and pattern, and parses one
element at a time; on its own it reads too loosely for a scan we act on: a variable-length
value longer than its AI allows is cut short and the rest read as another AI, the same AI
may come twice with different values (the last wins), and a Digital Link's path may carry
key qualifiers out of order. Here every element is split as GS1 says (a predefined length,
or up to the next FNC1/GS), checked whole against biip's pattern (and the check digits biip
leaves out), and the message as a whole is checked for repeated AIs; `gs1_link` does the
same for Digital Links, with their key-qualifier sequences.

Every refusal names the AI and has a stable code (`Gs1Error.code`), so an API answer can
say which AI and why.
"""

import re
from functools import cache

from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_element_strings import GS1ElementString

GS = "\x1d"  # ASCII group separator: what scanners send for FNC1, ending a variable field

# Stable codes of what can be wrong, for API answers.
UNKNOWN_AI = "gs1_unknown_ai"
TOO_LONG = "gs1_value_too_long"
TOO_SHORT = "gs1_value_too_short"
INVALID_VALUE = "gs1_invalid_value"
CHECK_DIGIT = "gs1_check_digit"
DUPLICATE_AI = "gs1_duplicate_ai"
KEY_QUALIFIER_ORDER = "gs1_key_qualifier_order"
QUALIFIER_IN_QUERY = "gs1_qualifier_in_query"
INVALID_PATH = "gs1_invalid_path"
NOT_GS1 = "gs1_not_gs1"

# Keys whose check digit biip does not verify (it does GTIN, SSCC and GLN: 00, 01-03, 41x),
# with where the digits it covers sit in the value: GS1's syntax dictionary marks these
# components "csum".
CHECK_DIGITS: dict[str, tuple[int, int]] = {
    "253": (0, 13),  # GDTI
    "255": (0, 13),  # GCN
    "402": (0, 17),  # GSIN
    "8003": (1, 13),  # GRAI: a zero, then a GTIN-13-like number
    "8006": (0, 14),  # ITIP
    "8017": (0, 18),  # GSRN provider
    "8018": (0, 18),  # GSRN recipient
    "8026": (0, 14),  # ITIP of contained items
}

_COMPONENT = re.compile(r"(\[)?\+?(?:([NXYZ])(\d+)?(?:\.\.[NXYZ]?(\d+))?|(-))\]?")


class Gs1Error(ValueError):
    """Something wrong with GS1 data: a message, a stable code, and the AI when there is one."""

    default_code = NOT_GS1

    def __init__(self, message: str, *, code: str | None = None, ai: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.ai = ai


class NotGs1(Gs1Error):
    """The data does not parse as GS1 (the caller may try other readings)."""


class Gs1SyntaxError(NotGs1):
    """GS1 data that breaks GS1's syntax after a valid start (a value too long, an AI given
    twice, qualifiers out of order): recognisably GS1, and wrong."""


class BadGs1(Gs1Error):
    """The data is GS1 but wrong (a check digit, a UPC-E number system)."""

    default_code = CHECK_DIGIT


def known_ai(text: str) -> GS1ApplicationIdentifier | None:
    """The AI that is exactly `text`, if GS1 defines one."""
    try:
        ai = GS1ApplicationIdentifier.extract(text)
    except ParseError:
        return None
    return ai if ai.ai == text else None


@cache
def limits(ai: GS1ApplicationIdentifier) -> tuple[int, int]:
    """The shortest and longest value the AI's format allows, e.g. (1, 20) for "N2+X..20"."""
    shortest = longest = 0
    for match in _COMPONENT.finditer(ai.format.split("+", 1)[1]):
        optional, kind, fixed, most, dash = match.groups()
        if dash:
            low = high = 1
        elif most is not None:
            low, high = (int(fixed) if fixed else 1), int(most)
        elif kind:
            low = high = int(fixed or 0)
        else:
            continue
        shortest += 0 if optional else low
        longest += high
    return shortest, longest


def element(ai: GS1ApplicationIdentifier, value: str, *, recognised: bool) -> GS1ElementString:
    """One AI's value, checked whole against its format; the refusal says which AI and why.

    `recognised`: the data already read as GS1, so a bad value is a Gs1SyntaxError rather
    than a sign that this is not GS1 at all.
    """
    failure = Gs1SyntaxError if recognised else NotGs1
    shortest, longest = limits(ai)
    code, reason = INVALID_VALUE, ""
    if len(value) > longest:
        code, reason = TOO_LONG, f"is too long ({len(value)} characters, at most {longest})"
    elif len(value) < shortest:
        code, reason = TOO_SHORT, f"is too short ({len(value)} characters, at least {shortest})"
    elif not value.isascii() or re.fullmatch(ai.pattern, ai.ai + value) is None:
        reason = f"{value!r} does not match its format {ai.format.split('+', 1)[1]}"
    if reason:
        raise failure(f"GS1 AI ({ai.ai}) value {reason}", code=code, ai=ai.ai)
    try:
        parsed = GS1ElementString.parse(ai.ai + value)
    except ParseError as exc:  # the shape is right, the meaning is not: a date like 240231
        raise failure(
            f"GS1 AI ({ai.ai}) value {value!r} is not a valid date", code=INVALID_VALUE, ai=ai.ai
        ) from exc
    if ai.ai in CHECK_DIGITS:
        start, size = CHECK_DIGITS[ai.ai]
        digits = value[start : start + size]
        expected = gs1_standard_check_digit(digits[:-1])
        if int(digits[-1]) != expected:
            raise BadGs1(
                f"GS1 AI ({ai.ai}) {value} has a wrong check digit (expected {expected})",
                ai=ai.ai,
            )
    return parsed


def read_element_string(data: str) -> list[GS1ElementString]:
    """Split AI-by-AI data as a GS1 decoder does: an AI of predefined length takes exactly
    that many characters, any other runs to the next GS or the end; GS between elements is
    allowed. Each value is then checked whole, and repeated AIs must agree."""
    elements: list[GS1ElementString] = []
    rest = data
    while rest:
        try:
            ai = GS1ApplicationIdentifier.extract(rest)
        except ParseError as exc:
            failure = Gs1SyntaxError if elements else NotGs1
            raise failure(str(exc), code=UNKNOWN_AI) from exc
        rest = rest[len(ai.ai) :]
        if ai.separator_required:
            value, _, rest = rest.partition(GS)
        else:
            size = limits(ai)[1]
            value, rest = rest[:size], rest[size:]
            if GS in value:  # cut short by a separator: too short, not two elements
                value, rest = value[: value.index(GS)], value[value.index(GS) :] + rest
        elements.append(element(ai, value, recognised=bool(elements)))
        rest = rest.lstrip(GS)
    check_repeats(elements)
    return elements


def check_repeats(elements: list[GS1ElementString]) -> None:
    """The same AI twice is allowed only with the same value (GS1's syntax engine agrees)."""
    seen: dict[str, str] = {}
    for item in elements:
        ai, value = item.ai.ai, item.value
        if seen.setdefault(ai, value) != value:
            raise Gs1SyntaxError(
                f"GS1 AI ({ai}) is given twice with different values ({seen[ai]!r} and {value!r})",
                code=DUPLICATE_AI,
                ai=ai,
            )
