"""GS1 readings: element strings, bracketed text, Digital Links and EAN/UPC, checked strictly."""

from datetime import date
from decimal import Decimal

import pytest

from qtrack.codes.gs1 import (
    GS,
    BadGs1,
    Gs1Data,
    NotGs1,
    parse_digital_link,
    parse_ean_upc,
    parse_element_string,
    parse_hri,
)

# GTIN 09506000134352 and SSCC 106141412345678908 are the GS1 General Specifications' and
# biip's documentation examples; both check digits are right.
GTIN = "09506000134352"
SSCC = "106141412345678908"


def _fields(data: Gs1Data) -> dict[str, object]:
    """The fields that a test names, without the display-only elements."""
    return {k: v for k, v in vars(data).items() if v is not None and k != "elements"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(f"01{GTIN}", {"gtin": GTIN}, id="gtin-14"),
        pytest.param(
            f"01{GTIN}17240200" + f"10ABC{GS}21XYZ",
            {
                "gtin": GTIN,
                "expiry_on": date(2024, 2, 29),
                "expiry_raw": "240200",
                "batch": "ABC",
                "serial": "XYZ",
            },
            id="day-00-leap-year-and-batch-ended-by-GS",
        ),
        pytest.param(
            f"01{GTIN}17251200",
            {"gtin": GTIN, "expiry_on": date(2025, 12, 31), "expiry_raw": "251200"},
            id="day-00-december",
        ),
        pytest.param(
            f"01{GTIN}10LOT-7/A{GS}3103001250",
            {"gtin": GTIN, "batch": "LOT-7/A", "net_weight_kg": Decimal("1.250")},
            id="batch-then-net-weight",
        ),
        pytest.param(f"01{GTIN}3005", {"gtin": GTIN, "quantity": Decimal(5)}, id="ai-30-count"),
        pytest.param(
            f"00{SSCC}0200614141123452" + "3725",
            {"sscc": SSCC, "gtin": "00614141123452", "quantity": Decimal(25)},
            id="pallet-sscc-content-count",
        ),
        pytest.param(f"{GS}01{GTIN}", {"gtin": GTIN}, id="leading-GS-for-FNC1"),
        pytest.param(f"01{GTIN}21S1{GS}", {"gtin": GTIN, "serial": "S1"}, id="trailing-GS"),
    ],
)
def test_element_string(data: str, expected: dict[str, object]) -> None:
    assert _fields(parse_element_string(data)) == expected


def test_element_string_keeps_every_ai_for_display() -> None:
    data = parse_element_string(f"01{GTIN}10ABC{GS}400PO-17{GS}17271231")
    assert data.elements == {"01": GTIN, "10": "ABC", "400": "PO-17", "17": "271231"}


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        pytest.param(
            "0109506000134351",
            BadGs1,
            "GTIN 09506000134351 has a wrong check digit (expected 2)",
            id="gtin-check-digit",
        ),
        pytest.param(
            "00106141412345678909",
            BadGs1,
            "SSCC 106141412345678909 has a wrong check digit (expected 8)",
            id="sscc-check-digit",
        ),
        pytest.param(
            "4145901234123458",
            BadGs1,
            "GLN 5901234123458 has a wrong check digit (expected 7)",
            id="gln-check-digit",
        ),
        pytest.param(f"01{GTIN}17241301", NotGs1, "(17)", id="month-13"),
        pytest.param(f"01{GTIN}17240231", NotGs1, "date", id="february-31"),
        pytest.param(f"01{GTIN}30", NotGs1, "(30)", id="ai-30-without-digits"),
        pytest.param("01" + "\u0660" * 13 + "0", NotGs1, "(01)", id="arabic-indic-digits"),
        pytest.param(f"01{GTIN}10ABC DEF", NotGs1, "", id="space-in-batch"),
        pytest.param("hello", NotGs1, "", id="not-gs1"),
    ],
)
def test_element_string_rejects(data: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        parse_element_string(data)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            f"(01){GTIN}(17)271231(10)ABC",
            {"gtin": GTIN, "expiry_on": date(2027, 12, 31), "expiry_raw": "271231", "batch": "ABC"},
            id="product",
        ),
        pytest.param(
            f"(00){SSCC} (02)00614141123452 (37)25",
            {"sscc": SSCC, "gtin": "00614141123452", "quantity": Decimal(25)},
            id="pallet-with-spaces-between-groups",
        ),
        pytest.param(f"(01){GTIN}(3103)001250", {"gtin": GTIN, "net_weight_kg": Decimal("1.25")}),
    ],
)
def test_hri(data: str, expected: dict[str, object]) -> None:
    assert _fields(parse_hri(data)) == expected


@pytest.mark.parametrize(
    ("data", "error"),
    [
        # biip's own parse_hri would return batch "A" and silently drop "(B)".
        pytest.param(f"(01){GTIN}(10)A(B)", NotGs1, id="bracket-in-data"),
        pytest.param(f"(01){GTIN}(103)X", NotGs1, id="unknown-ai"),
        pytest.param("(10) reasons why", NotGs1, id="prose"),
        pytest.param("(01)0950600013435", NotGs1, id="truncated-gtin"),
        pytest.param("(01)09506000134351", BadGs1, id="wrong-check-digit"),
    ],
)
def test_hri_rejects(data: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_hri(data)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        pytest.param(
            f"https://id.gs1.org/01/{GTIN}/10/ABC?17=271231",
            {"gtin": GTIN, "batch": "ABC", "expiry_on": date(2027, 12, 31), "expiry_raw": "271231"},
            id="batch-and-expiry",
        ),
        pytest.param(
            f"HTTPS://ID.GS1.ORG/01/{GTIN}/21/SER1?17=280200",
            {
                "gtin": GTIN,
                "serial": "SER1",
                "expiry_on": date(2028, 2, 29),
                "expiry_raw": "280200",
            },
            id="uppercase-serial-day-00",
        ),
        pytest.param(
            "https://shop.example.com/p/01/9506000134352/10/AB%2FC/21/7?3103=001250&utm=x",
            {"gtin": GTIN, "batch": "AB/C", "serial": "7", "net_weight_kg": Decimal("1.250")},
            id="path-prefix-short-gtin-escaped-slash-extra-query",
        ),
        pytest.param(
            f"https://id.gs1.org/00/{SSCC}?02=00614141123452&37=25&10=ABC123",
            {"sscc": SSCC, "gtin": "00614141123452", "quantity": Decimal(25), "batch": "ABC123"},
            id="sscc",
        ),
    ],
)
def test_digital_link(uri: str, expected: dict[str, object]) -> None:
    assert _fields(parse_digital_link(uri)) == expected


@pytest.mark.parametrize(
    ("uri", "error"),
    [
        pytest.param("https://id.gs1.org/01/09506000134351", BadGs1, id="wrong-check-digit"),
        pytest.param("https://news.example/401/12", NotGs1, id="primary-key-not-gtin-or-sscc"),
        pytest.param("https://blog.example/2024/01/05/", NotGs1, id="date-path"),
        pytest.param(f"https://id.gs1.org/01/{GTIN}/21/S/10/B", NotGs1, id="qualifiers-order"),
        # biip documents "/lot/" and "?exp=" keys but only reads numeric AIs.
        pytest.param(f"https://id.gs1.org/01/{GTIN}/lot/ABC", NotGs1, id="alias-keys"),
        pytest.param("http://[::1/01/1", NotGs1, id="broken-ipv6-host"),
        pytest.param("ftp://id.gs1.org/01/09506000134352", NotGs1, id="scheme"),
    ],
)
def test_digital_link_rejects(uri: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_digital_link(uri)


@pytest.mark.parametrize(
    ("digits", "symbology", "gtin"),
    [
        pytest.param("5901234123457", None, "05901234123457", id="ean-13"),
        pytest.param("5901234123457", "]E0", "05901234123457", id="ean-13-E0"),
        pytest.param("96385074", "]E4", "00000096385074", id="ean-8"),
        pytest.param("036000291452", None, "00036000291452", id="upc-a"),
        pytest.param("01234565", "]E0", "00012345000065", id="upc-e-under-E0"),
        # The same eight digits are also a valid GTIN-8: without ]E0 that reading wins.
        pytest.param("01234565", None, "00000001234565", id="eight-digits-as-ean-8"),
        pytest.param("06543217", None, "00065100004327", id="upc-e-when-not-ean-8"),
    ],
)
def test_ean_upc(digits: str, symbology: str | None, gtin: str) -> None:
    assert parse_ean_upc(digits, symbology).gtin == gtin


@pytest.mark.parametrize(
    ("digits", "symbology", "message"),
    [
        ("5901234123458", "]E0", "GTIN 5901234123458 has a wrong check digit (expected 7)"),
        ("0401234567890", None, "GTIN 0401234567890 has a wrong check digit (expected 3)"),
        ("96385075", "]E4", "GTIN 96385075 has a wrong check digit (expected 4)"),
        ("036000291453", "]E0", "GTIN 036000291453 has a wrong check digit (expected 2)"),
        ("01234566", "]E0", "UPC-E 01234566 has a wrong check digit (expected 5)"),
    ],
)
def test_ean_upc_wrong_check_digit(digits: str, symbology: str | None, message: str) -> None:
    with pytest.raises(BadGs1) as caught:
        parse_ean_upc(digits, symbology)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "digits",
    [
        "12345",
        "59012341234570",
        "5901234l23457",
        "\uff15\uff19\uff10\uff11\uff12\uff13\uff14\uff11\uff12\uff13\uff14\uff15\uff17",
    ],
)
def test_ean_upc_wrong_shape(digits: str) -> None:
    with pytest.raises(NotGs1):
        parse_ean_upc(digits, None)
