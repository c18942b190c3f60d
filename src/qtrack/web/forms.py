"""Forms on pages: reading what was posted, and showing each problem next to its field.

Every page form is validated by a pydantic model or refused by a use case (a `QtrackError`
whose details are `[{"loc": [...], "msg": ..., "type": ...}]`, as the API answers them).
`field_errors` turns either into field name -> message for the template, the same way on
every page; `checked` validates a form with a model.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from qtrack.core.errors import QtrackError

CHECK_FIELDS = "Check the fields marked below."

# Plainer words for a problem, by pydantic's error type or by (field, error type).
Words = Mapping[str | tuple[str, str], str]
# Which form field a problem's location names (the location without a leading "body").
FieldOf = Callable[[Sequence[str]], str]


def text(form: FormData, name: str) -> str:
    """A text field of a submitted form, trimmed; empty when missing or a file."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def texts(form: FormData, name: str) -> list[str]:
    """Every value of a repeated field (checkboxes)."""
    return [v for v in form.getlist(name) if isinstance(v, str)]


def first_part(loc: Sequence[str]) -> str:
    """The field of a flat form: the first part of the location."""
    return loc[0]


def last_part(loc: Sequence[str]) -> str:
    """The field of one entry in a list the form stands for (`items.0.quantity`)."""
    return loc[-1]


def _problems(error: ValidationError | QtrackError) -> list[tuple[list[str], str, str]]:
    """(location, error type, message) of each problem; a use case's location loses its
    leading "body", so both kinds are located the same way."""
    if isinstance(error, ValidationError):
        return [([str(p) for p in e["loc"]], e["type"], str(e["msg"])) for e in error.errors()]
    found = []
    for problem in error.details if isinstance(error.details, list) else []:
        if not isinstance(problem, dict):
            continue
        loc = [str(p) for p in problem.get("loc") or []]
        if loc[:1] == ["body"]:
            loc = loc[1:]
        message = str(problem.get("msg") or error.message)
        found.append((loc, str(problem.get("type") or ""), message))
    return found


def field_errors(
    error: ValidationError | QtrackError,
    *,
    words: Words | None = None,
    rename: Mapping[str, str] | None = None,
    field_of: FieldOf = first_part,
    unlocated: str = "",
    capitalise: bool = False,
    inside: bool = False,
) -> dict[str, str]:
    """Field name -> what to tell the person, for each problem of a refused form.

    `words` replaces pydantic's wording (by field and type, else by type); `rename` maps a
    model's field to the form's; a problem with no location goes under `unlocated` ("" is
    the form as a whole). Several problems of one field are joined; pydantic's "Value error, "
    is left out; `capitalise` starts each message with a capital letter (use cases word
    theirs for the API: "at least 12 characters"); `inside` says where inside the field a
    problem is, for a field that holds a document ("not a string (at properties/size)").
    """
    found: dict[str, list[str]] = {}
    for loc, kind, message in _problems(error):
        field = field_of(loc) if loc else unlocated
        within = loc[loc.index(field) + 1 :] if inside and field in loc else []
        field = (rename or {}).get(field, field)
        said = (words or {}).get((field.rsplit(".", 1)[-1], kind)) or (words or {}).get(kind)
        said = (said or message).removeprefix("Value error, ")
        if capitalise:
            said = said[:1].upper() + said[1:]
        if within:
            said = f"{said} (at {'/'.join(within)})"
        if said not in found.setdefault(field, []):
            found[field].append(said)
    return {field: "; ".join(messages) for field, messages in found.items()}


def checked(
    model: type[BaseModel], data: Mapping[str, Any], *, words: Words | None = None
) -> tuple[Any, dict[str, str]]:
    """The form validated by the model, or None and field name -> message."""
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        return None, field_errors(exc, words=words)
