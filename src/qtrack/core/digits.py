"""Whole numbers typed by people and sent by programs: ASCII digits only.

`str.isdigit()` is true for "¹", "²" and other digits that `int()` refuses, so a check by it
alone let a `ValueError` through as a 500 (an order named `¹1`, a form's version `²`). Where a
number comes from outside, it is checked here before `int()` reads it."""


def ascii_digits(text: str) -> bool:
    """Whether `text` is one or more of 0-9 and nothing else (no sign, space or other digit)."""
    return text.isascii() and text.isdigit()


def id_or_code(ref: str | int) -> tuple[int | None, str]:
    """A record named by its id, its code, or the URL its QR holds (the URL's last path
    segment): the id when that is a number, and the text upper-cased, to look a code up by."""
    text = str(ref).strip().rstrip("/").rsplit("/", 1)[-1].upper()
    return (int(text), text) if ascii_digits(text) else (None, text)
