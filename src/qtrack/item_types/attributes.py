"""Attribute schemas of item types: checking a schema, and checking attributes against it."""

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import jsonschema

from qtrack.core.digits import ascii_digits
from qtrack.core.errors import ValidationFailed
from qtrack.item_types.models import ItemType

# Keywords whose values are data, not subschemas: a "$ref" inside them is no reference.
_DATA_KEYWORDS = frozenset({"const", "default", "enum", "examples"})


def _schema_error(message: str, loc: list[str] | None = None) -> ValidationFailed:
    return ValidationFailed(
        f"The attribute schema is not valid: {message}",
        details=[
            {
                "loc": ["body", "attribute_schema", *(loc or [])],
                "msg": message,
                "type": "invalid_schema",
            }
        ],
    )


def _walk(node: Any, loc: list[str]) -> Iterator[tuple[list[str], str, Any]]:
    """Every (location, keyword, value) in a schema, skipping literal data."""
    if isinstance(node, dict):
        for keyword, value in node.items():
            yield loc, keyword, value
            if keyword not in _DATA_KEYWORDS:
                yield from _walk(value, [*loc, str(keyword)])
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, [*loc, str(i)])


def _points_inside(schema: dict[str, Any], ref: str) -> bool:
    """Whether a reference is a JSON pointer to a subschema of this very schema."""
    if ref == "#":
        return True
    if not ref.startswith("#/"):
        return False
    node: Any = schema
    for raw in unquote(ref[2:]).split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and ascii_digits(part) and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return isinstance(node, dict | bool)


def check_attribute_schema(schema: dict[str, Any]) -> None:
    """422 when an attribute schema is not valid JSON Schema for an object of attributes."""
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise _schema_error(exc.message, [str(p) for p in exc.path]) from exc
    kind = schema.get("type", "object")
    if "object" not in (kind if isinstance(kind, list) else [kind]):
        raise _schema_error("attributes are an object, so the schema's type must be 'object'")
    # Attribute schemas stand alone: a reference that leads outside (or nowhere) would only
    # fail later, when an item is validated against it.
    for loc, keyword, value in _walk(schema, []):
        if keyword == "$id" and loc:
            raise _schema_error("nested $id is not supported", loc)
        ref = value if keyword in ("$ref", "$dynamicRef") and isinstance(value, str) else None
        if ref is not None and not _points_inside(schema, ref):
            raise _schema_error(
                f"{keyword} '{ref}' does not point inside the schema ('#/$defs/...')", loc
            )


def validate_attributes(item_type: ItemType, attributes: dict[str, Any], loc: list[str]) -> None:
    """422 naming every attribute that breaks the type's schema."""
    if not item_type.attribute_schema:
        return
    validator = jsonschema.Draft202012Validator(item_type.attribute_schema)
    errors = sorted(validator.iter_errors(attributes), key=lambda e: list(e.path))
    if errors:
        raise ValidationFailed(
            f"The attributes do not fit item type '{item_type.key}'",
            details=[
                {"loc": [*loc, *map(str, e.path)], "msg": e.message, "type": "attribute_invalid"}
                for e in errors[:20]
            ],
        )
