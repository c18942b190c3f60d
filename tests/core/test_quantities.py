"""One way to write a quantity for people: plain digits at the stored precision."""

from decimal import Decimal

import pytest

from qtrack.core.quantities import format_amount, format_quantity


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (Decimal("20.000000"), "kg", "20 kg"),
        (Decimal("2E+1"), "kg", "20 kg"),  # what Decimal.normalize() makes of 20
        (Decimal("5E+2"), "mL", "500 mL"),
        (Decimal("0.250000"), "L", "0.25 L"),
        (Decimal("1500"), "pcs", "1500 pcs"),
        (Decimal("0"), "kg", "0 kg"),
        (Decimal("-0.000000"), "kg", "0 kg"),
        (Decimal("0.0000001"), "g", "0 g"),  # finer than a quantity is kept
        (Decimal("0.000001"), "g", "0.000001 g"),
        (Decimal("123456789012.123456"), "kg", "123456789012.123456 kg"),
        ("17.500000", "kg", "17.5 kg"),  # as events keep it in their JSON
        (3, None, "3"),
        (None, "kg", ""),
        ("", "kg", ""),
        ("lots", "kg", "lots kg"),  # not a number: shown as it came, never an error page
    ],
)
def test_quantities_read_in_plain_digits(value: object, unit: str | None, shown: str) -> None:
    assert format_quantity(value, unit) == shown  # type: ignore[arg-type]


def test_an_amount_has_no_unit() -> None:
    assert format_amount(Decimal("2.500000")) == "2.5"
    assert format_amount(Decimal("Infinity")) == "Infinity"
