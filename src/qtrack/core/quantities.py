"""How a quantity reads to a person: the same on every page, in the scan screen and the CLI."""

from decimal import Decimal, InvalidOperation

# Every quantity is stored with six decimals (NUMERIC(18, 6)) whatever its unit: that is the
# precision a unit is kept to, so a quantity is shown to it and never rounded coarser (showing
# 2.5 pcs as "3 pcs" would be a lie). Zeros past the last significant decimal say nothing.
STORED_DECIMALS = 6
_QUANTUM = Decimal(1).scaleb(-STORED_DECIMALS)


def format_amount(value: Decimal | int | str | None) -> str:
    """A number in plain digits at the stored precision: "20", "0.25", "1500", never "2E+1"
    nor "20.000000"; empty for none."""
    if value is None or value == "":
        return ""
    try:
        number = Decimal(str(value)).quantize(_QUANTUM)
    except InvalidOperation:  # not a number, or too big to have six decimals: as it came
        return str(value)
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def format_quantity(value: Decimal | int | str | None, unit: str | None = None) -> str:
    """A quantity with its unit ("20 kg", "0.5 L"); empty for none."""
    amount = format_amount(value)
    return f"{amount} {unit}" if amount and unit else amount
