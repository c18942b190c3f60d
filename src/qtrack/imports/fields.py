"""What each kind of import reads, and which column holds which field (the mapping).

A mapping names, for each column of the file, the field it holds, or null for a column to
leave out. A column the caller did not map is matched by its name (case, spaces and dashes
aside, and a few common other names: "lot" is the batch); one that matches nothing is a
problem of the header, never dropped silently.
"""

from dataclasses import dataclass
from typing import Any, Literal

from qtrack.accounts.permissions import Permission
from qtrack.items import importer

Kind = Literal["items", "locations", "item_types"]
KINDS: tuple[Kind, ...] = ("items", "locations", "item_types")


@dataclass(frozen=True)
class KindSpec:
    """A kind of import: its fields, those a file must have, and who may import it."""

    fields: tuple[str, ...]
    required: tuple[str, ...]
    permission: str
    aliases: dict[str, str]


SPECS: dict[str, KindSpec] = {
    "items": KindSpec(
        fields=importer.COLUMNS,
        required=("type",),
        permission=Permission.ITEM_CREATE,
        aliases={
            "item_type": "type",
            "lot": "batch",
            "batch_number": "batch",
            "lot_number": "batch",
            "expiry": "expiry_on",
            "expiry_date": "expiry_on",
            "expires": "expiry_on",
            "best_before": "expiry_on",
            "qty": "quantity",
            "amount": "quantity",
            "weight": "weight_kg",
            "serial_number": "serial",
            "description": "name",
            "location_code": "location",
        },
    ),
    "locations": KindSpec(
        fields=("code", "name", "kind", "parent", "latitude", "longitude", "radius_m"),
        required=("code", "name", "kind"),
        permission=Permission.LOCATION_MANAGE,
        aliases={
            "parent_code": "parent",
            "type": "kind",
            "lat": "latitude",
            "lon": "longitude",
            "lng": "longitude",
            "radius": "radius_m",
        },
    ),
    "item_types": KindSpec(
        fields=(
            "key",
            "name",
            "code_prefix",
            "workflow",
            "unit",
            "tracks_quantity",
            "tracks_expiry",
            "can_contain",
            "low_stock_threshold",
            "attribute_schema",
            "label_template",
        ),
        required=("key", "name", "code_prefix", "workflow"),
        permission=Permission.ADMIN_CONFIG,
        aliases={
            "prefix": "code_prefix",
            "threshold": "low_stock_threshold",
            "template": "label_template",
        },
    ),
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file: at a row (1 is the header) and, where known, a column."""

    row: int
    column: str | None  # the file's own column name
    field: str | None  # the field it was mapped to
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "field": self.field, "msg": self.message}


def _layout_name(name: str) -> str:
    """A column's name as a layout's signature reads it (`core.tabular.header_signature`)."""
    return " ".join(name.lower().split())


def _plain(name: str) -> str:
    return "_".join(name.lower().replace("-", " ").split())


def guess(kind: str, header: tuple[str, ...]) -> dict[str, str | None]:
    """The field each column's name matches (null where none does)."""
    spec = SPECS[kind]
    out: dict[str, str | None] = {}
    for column in header:
        plain = _plain(column)
        field = plain if plain in spec.fields else spec.aliases.get(plain)
        out[column] = field if field not in out.values() else None
    return out


def resolve(
    kind: str,
    header: tuple[str, ...],
    given: dict[str, Any] | None,
    remembered: dict[str, Any] | None,
) -> tuple[dict[str, str | None], tuple[str, ...], list[Problem]]:
    """The mapping to use, the field of each column ('' for one left out) and what is wrong
    with it: the caller's choice first, then what was remembered for this layout, then names.

    A column mapped nowhere by any of them, a field named twice, an unknown field or a
    missing required one is a problem of the header (row 1)."""
    spec = SPECS[kind]
    guessed = guess(kind, header)
    mapping: dict[str, str | None] = {}
    problems: list[Problem] = []
    # What was remembered applies to any file of the same layout, whose names may differ in
    # case and spacing (the layout's signature ignores both).
    by_layout = {_layout_name(c): v for c, v in remembered.items()} if remembered else None
    for column in header:
        for source, key in ((given, column), (by_layout, _layout_name(column))):
            if source is not None and key in source:
                value = source[key]
                mapping[column] = value if value else None
                break
        else:
            if guessed[column] is not None:
                mapping[column] = guessed[column]
            elif column:
                problems.append(
                    Problem(1, column, None, "matches no field: map it to one, or leave it out")
                )
    seen: dict[str, str] = {}
    for column, field in mapping.items():
        if field is None:
            continue
        if field not in spec.fields:
            problems.append(Problem(1, column, field, f"'{field}' is not a field of {kind}"))
        elif field in seen:
            problems.append(
                Problem(1, column, field, f"'{field}' is already in column '{seen[field]}'")
            )
        else:
            seen[field] = column
    for field in spec.required:
        if field not in seen:
            problems.append(
                Problem(1, None, field, f"no column holds '{field}', which is required")
            )
    for column in {c for c in header if header.count(c) > 1}:
        problems.append(Problem(1, column, None, "two columns have this name"))
    fields = tuple(_field_of(column, mapping, seen) for column in header)
    return mapping, fields, problems


def _field_of(column: str, mapping: dict[str, str | None], seen: dict[str, str]) -> str:
    field = mapping.get(column)
    return field if field is not None and seen.get(field) == column else ""
