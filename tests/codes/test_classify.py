"""The classifier says what any scanned string is, in the documented order, and never raises."""

import base64
from datetime import date
from decimal import Decimal
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qtrack.codes.classify import KINDS, MAX_LENGTH, Classified, Kind, classify

GS = "\x1d"
GTIN = "09506000134352"  # the GS1 General Specifications' example GTIN-14
SSCC = "106141412345678908"
TOKEN = base64.b32encode(bytes(range(75))).decode()  # 120 characters, like a signed token
BASE = "http://127.0.0.1:8000"


def _case(
    data: str,
    kind: Kind,
    value: str,
    symbology: str | None = None,
    error: str | None = None,
    *,
    given_symbology: str | None = None,
    id: str,  # noqa: A002 - pytest's own name for it
) -> object:
    return pytest.param(data, given_symbology, kind, value, symbology, error, id=id)


CASES = [
    # 1. symbology identifiers and the whitespace a keyboard wedge adds
    _case(f"]d201{GTIN}\r\n", "gs1", GTIN, "]d2", id="strip-symbology-and-crlf"),
    _case(f"]d201{GTIN}", "gs1", GTIN, "]Q3", given_symbology="Q3", id="given-symbology-wins"),
    _case("MAT-1", "qtrack_code", "MAT-1", "]Q1", given_symbology=" ]Q1 ", id="given-normalised"),
    _case("MAT-1", "qtrack_code", "MAT-1", None, given_symbology="QR", id="given-junk-ignored"),
    _case("]X0MAT-1", "qtrack_code", "MAT-1", "]X0", id="any-letter-digit"),
    # 2. qtrack tokens
    _case(f"{BASE}/Q/{TOKEN}", "qtrack_token", TOKEN, id="token-url"),
    _case(f"{BASE.upper()}/Q/{TOKEN}", "qtrack_token", TOKEN, id="token-url-uppercase"),
    _case(f"]Q1{BASE.upper()}/Q/{TOKEN}\n", "qtrack_token", TOKEN, "]Q1", id="token-url-qr"),
    _case(f"https://old.example.com/Q/{TOKEN}", "qtrack_token", TOKEN, id="token-old-host"),
    _case(TOKEN, "qtrack_token", TOKEN, id="bare-token"),
    _case(
        f"{BASE.upper()}/Q/{TOKEN[:100]}",
        "invalid",
        f"{BASE.upper()}/Q/{TOKEN[:100]}",
        error="malformed qtrack token",
        id="truncated-token-url",
    ),
    _case(
        f"{BASE}/Q/{TOKEN.lower()}",
        "invalid",
        f"{BASE}/Q/{TOKEN.lower()}",
        error="malformed qtrack token",
        id="lowercased-token",
    ),
    _case(f"{BASE}/items/1", "text", f"{BASE}/items/1", id="other-qtrack-page"),
    # 3. legacy JSON
    _case('{"id":"MAT-000123","v":1}', "legacy_json", "MAT-000123", id="legacy"),
    _case(' { "v": 1,\n "id": "mat-000123" } ', "legacy_json", "MAT-000123", id="legacy-spaced"),
    _case('{"id":"LOC-A1"}', "legacy_json", "LOC-A1", id="legacy-without-v"),
    _case(
        '{"id":"MAT-1"',
        "invalid",
        '{"id":"MAT-1"',
        error="malformed JSON: Expecting ',' delimiter at character 13",
        id="legacy-truncated",
    ),
    _case(
        '{"id":123,"v":1}',
        "invalid",
        '{"id":123,"v":1}',
        error='legacy JSON payload needs an "id" that is a qtrack code',
        id="legacy-id-not-string",
    ),
    _case('{"a":' + "[" * 3000, "invalid", '{"a":' + "[" * 507, error="malformed JSON", id="deep"),
    # 4. GS1 Digital Link
    _case(f"https://id.gs1.org/01/{GTIN}/10/ABC?17=271231", "gs1_digital_link", GTIN, id="dl"),
    _case(
        f"]Q1HTTPS://ID.GS1.ORG/01/{GTIN}/21/S1", "gs1_digital_link", GTIN, "]Q1", id="dl-serial"
    ),
    _case(f"https://id.gs1.org/00/{SSCC}?02={GTIN}", "gs1_digital_link", SSCC, id="dl-sscc"),
    _case(
        "https://id.gs1.org/01/09506000134351",
        "invalid",
        "https://id.gs1.org/01/09506000134351",
        error="GTIN 09506000134351 has a wrong check digit (expected 2)",
        id="dl-wrong-check-digit",
    ),
    _case("https://example.com/about", "text", "https://example.com/about", id="plain-url"),
    # 5. GS1 element strings
    _case(f"01{GTIN}17240200", "gs1", GTIN, id="gs1-no-symbology"),
    _case(f"]C100{SSCC}02{GTIN}3712", "gs1", SSCC, "]C1", id="gs1-128-pallet"),
    _case(f"]e001{GTIN}3103000750", "gs1", GTIN, "]e0", id="gs1-databar"),
    _case(f"(01){GTIN}(17)271231(10)ABC", "gs1", GTIN, id="bracketed"),
    _case(
        "0109506000134351",
        "invalid",
        "0109506000134351",
        error="GTIN 09506000134351 has a wrong check digit (expected 2)",
        id="gs1-wrong-gtin-check-digit",
    ),
    _case(
        f"]d200{SSCC[:-1]}9",
        "invalid",
        f"00{SSCC[:-1]}9",
        "]d2",
        error=f"SSCC {SSCC[:-1]}9 has a wrong check digit (expected 8)",
        id="gs1-wrong-sscc-check-digit",
    ),
    _case(
        "(01)09506000134351(10)X",
        "invalid",
        "(01)09506000134351(10)X",
        error="GTIN 09506000134351 has a wrong check digit (expected 2)",
        id="bracketed-wrong-check-digit",
    ),
    _case("(10) reasons why", "text", "(10) reasons why", id="bracketed-prose"),
    _case(
        "]d2MAT-1",
        "invalid",
        "MAT-1",
        "]d2",
        id="gs1-symbology-not-gs1",
        error="Failed to get GS1 Application Identifier from 'MAT-1'.",
    ),
    # 6. EAN / UPC
    _case("5901234123457", "ean_upc", "05901234123457", id="ean-13"),
    _case("]E05901234123457", "ean_upc", "05901234123457", "]E0", id="ean-13-E0"),
    _case("]E496385074", "ean_upc", "00000096385074", "]E4", id="ean-8"),
    _case("036000291452", "ean_upc", "00036000291452", id="upc-a"),
    _case("]E001234565", "ean_upc", "00012345000065", "]E0", id="upc-e"),
    _case(
        "]E05901234123458",
        "invalid",
        "5901234123458",
        "]E0",
        error="GTIN 5901234123458 has a wrong check digit (expected 7)",
        id="ean-13-wrong-check-digit",
    ),
    _case(
        "]E496385075",
        "invalid",
        "96385075",
        "]E4",
        error="GTIN 96385075 has a wrong check digit (expected 4)",
        id="ean-8-wrong-check-digit",
    ),
    _case("5901234123458", "qtrack_code", "5901234123458", id="wrong-digit-no-symbology"),
    # 7. qtrack codes
    _case("mat-000123", "qtrack_code", "MAT-000123", id="code-uppercased"),
    _case("  LOC_A-01\t", "qtrack_code", "LOC_A-01", id="code-trimmed"),
    _case("A" * 64, "qtrack_code", "A" * 64, id="code-64"),
    _case("A" * 65, "text", "A" * 65, id="code-65-is-text"),
    _case("-MAT", "text", "-MAT", id="code-leading-dash"),
    # 8. text
    _case("hello world", "text", "hello world", id="text"),
    _case("Ünïcødé 🎉", "text", "Ünïcødé 🎉", id="emoji"),
    _case("x y" * 1000, "text", ("x y" * 1000)[:512], id="text-capped"),
    # hostile input
    _case("", "invalid", "", error="empty scan", id="empty"),
    _case(" \r\n\t", "invalid", "", error="empty scan", id="whitespace-only"),
    _case("]d2", "invalid", "", "]d2", error="empty scan", id="symbology-only"),
    _case("]", "text", "]", id="lone-bracket"),
    _case("x" * (MAX_LENGTH + 1), "invalid", "x" * 512, error="too long", id="too-long"),
    _case("9" * 100_000, "invalid", "9" * 512, error="too long", id="100-kb"),
    _case(
        "MAT\x00-1",
        "invalid",
        "MAT\ufffd-1",
        id="nul",
        error="contains NUL characters or unpaired surrogates",
    ),
    _case(
        "MAT-\ud800",
        "invalid",
        "MAT-?",
        id="surrogate",
        error="contains NUL characters or unpaired surrogates",
    ),
]


@pytest.mark.parametrize(("data", "given", "kind", "value", "symbology", "error"), CASES)
def test_classify(
    data: str,
    given: str | None,
    kind: Kind,
    value: str,
    symbology: str | None,
    error: str | None,
) -> None:
    result = classify(data, given, public_base_url=BASE)
    assert (result.kind, result.value, result.symbology, result.error) == (
        kind,
        value,
        symbology,
        error,
    )


def test_gs1_fields() -> None:
    result = classify(f"]d201{GTIN}17240200" + f"10ABC{GS}21XYZ{GS}3005")
    assert result.gs1 is not None
    assert (result.gs1.gtin, result.gs1.batch, result.gs1.serial) == (GTIN, "ABC", "XYZ")
    assert (result.gs1.expiry_on, result.gs1.expiry_raw) == (date(2024, 2, 29), "240200")
    assert result.gs1.quantity == Decimal(5)


def test_digital_link_fields() -> None:
    result = classify(f"https://id.gs1.org/01/{GTIN}/10/ABC/21/7?17=271231&3103=001250")
    assert result.gs1 is not None
    assert (result.gs1.batch, result.gs1.serial) == ("ABC", "7")
    assert result.gs1.expiry_on == date(2027, 12, 31)
    assert result.gs1.net_weight_kg == Decimal("1.250")


def test_ean_has_gtin_only() -> None:
    result = classify("5901234123457")
    assert result.gs1 is not None
    assert result.gs1.gtin == "05901234123457"
    assert result.gs1.elements == {}


def test_base_url_with_a_path() -> None:
    base = "https://example.org/qtrack/"
    result = classify(f"HTTPS://EXAMPLE.ORG/QTRACK/Q/{TOKEN}", public_base_url=base)
    assert (result.kind, result.value) == ("qtrack_token", TOKEN)


def test_kinds_match_the_literal() -> None:
    assert set(get_args(Kind)) == KINDS


_SCANNY = st.text(alphabet='0123456789()]{}:/?=&%.-_\x1d\x00 \r\nQdCEeHTPShtps"idv,AZ27')


@settings(max_examples=400, deadline=None)
@given(
    data=st.one_of(st.text(st.characters()), _SCANNY, _SCANNY.map(lambda s: f"01{GTIN}" + s)),
    symbology=st.one_of(st.none(), st.sampled_from(["]d2", "]Q3", "]C1", "]E0", "]E4"]), st.text()),
)
def test_never_raises(data: str, symbology: str | None) -> None:
    result = classify(data, symbology)
    assert isinstance(result, Classified)
    assert result.kind in KINDS
    assert (result.error is not None) == (result.kind == "invalid")
    result.value.encode("utf-8")  # always safe to store and to send as JSON
