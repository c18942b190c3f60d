"""Locations and item types from a table: every row checked first, then each created through
its one use case (`locations.service.create_location`, `item_types.service.create_item_type`)
in the caller's transaction."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.core.errors import QtrackError
from qtrack.core.tabular import Table
from qtrack.item_types import service as item_types_service
from qtrack.item_types.attributes import check_attribute_schema
from qtrack.item_types.models import ItemType
from qtrack.item_types.schemas import ItemTypeCreate
from qtrack.items.importer import read_rows, row_of
from qtrack.locations import service as locations_service
from qtrack.locations.models import Location
from qtrack.locations.schemas import LocationCreate
from qtrack.workflow.models import Workflow

Progress = Callable[[str, int], None]


@dataclass
class Checked:
    """The rows that passed, in the order they can be created, and what is wrong."""

    rows: list[tuple[int, BaseModel]] = field(default_factory=list)
    problems: list[tuple[int, str | None, str]] = field(default_factory=list)  # row, field, msg
    count: int = 0


def _model(
    number: int, values: dict[str, Any], model: type[BaseModel], out: Checked
) -> BaseModel | None:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        for err in exc.errors():
            where = str(err["loc"][0]) if err["loc"] else None
            out.problems.append((number, where, err["msg"].removeprefix("Value error, ")))
        return None


def _values(fields: tuple[str, ...], cells: list[str]) -> dict[str, str]:
    return {k: v for k, v in row_of(fields, cells).items() if v}


async def check_locations(session: AsyncSession, table: Table, fields: tuple[str, ...]) -> Checked:
    """Each row a valid location; codes new and unique in the file; parents existing or in
    the file (ordered parents first), never in a cycle."""
    out = Checked()
    rows = await session.execute(select(Location.code, Location.archived))
    existing: dict[str, bool] = {code: archived for code, archived in rows}  # noqa: C416
    wanted: dict[str, tuple[int, LocationCreate]] = {}
    for number, cells in read_rows(table, fields):
        out.count += 1
        spec = _model(number, _values(fields, cells), LocationCreate, out)
        if not isinstance(spec, LocationCreate):
            continue
        if spec.code in existing:
            out.problems.append((number, "code", f"location '{spec.code}' already exists"))
        elif spec.code in wanted:
            first = wanted[spec.code][0]
            out.problems.append((number, "code", f"'{spec.code}' is also on row {first}"))
        else:
            wanted[spec.code] = (number, spec)
    # Parents before children: rows whose parent is not in the file first, then each row once
    # its parent is placed; what is never placed is in a cycle.
    ordered: list[str] = []
    for code, (number, spec) in wanted.items():
        if spec.parent is not None and spec.parent not in wanted:
            if spec.parent not in existing:
                out.problems.append((number, "parent", f"no location '{spec.parent}'"))
            elif existing[spec.parent]:
                out.problems.append((number, "parent", f"location '{spec.parent}' is archived"))
        if spec.parent is None or spec.parent not in wanted:
            ordered.append(code)
    placed = set(ordered)
    pending = [code for code in wanted if code not in placed]
    while pending:
        ready = [code for code in pending if wanted[code][1].parent in placed]
        if not ready:
            for code in pending:
                out.problems.append((wanted[code][0], "parent", "the parents form a cycle"))
            break
        ordered.extend(ready)
        placed.update(ready)
        pending = [code for code in pending if code not in placed]
    out.rows = [(wanted[code][0], wanted[code][1]) for code in ordered]
    return out


async def check_item_types(session: AsyncSession, table: Table, fields: tuple[str, ...]) -> Checked:
    """Each row a valid item type; keys and prefixes new and unique in the file; the workflow
    and label template existing; the attribute schema a valid JSON Schema."""
    out = Checked()
    keys = set((await session.scalars(select(ItemType.key))).all())
    prefixes = set((await session.scalars(select(ItemType.code_prefix))).all())
    workflows = set((await session.scalars(select(Workflow.key))).all())
    templates = {t["key"] for t in await item_types_service.template_choices(session)}
    seen_keys: dict[str, int] = {}
    seen_prefixes: dict[str, int] = {}
    for number, cells in read_rows(table, fields):
        out.count += 1
        values: dict[str, Any] = _values(fields, cells)
        if "attribute_schema" in values:
            try:
                values["attribute_schema"] = orjson.loads(values["attribute_schema"])
            except orjson.JSONDecodeError:
                out.problems.append((number, "attribute_schema", "not valid JSON"))
                continue
        spec = _model(number, values, ItemTypeCreate, out)
        if not isinstance(spec, ItemTypeCreate):
            continue
        before = len(out.problems)
        if spec.key in keys:
            out.problems.append((number, "key", f"item type '{spec.key}' already exists"))
        elif spec.key in seen_keys:
            out.problems.append(
                (number, "key", f"'{spec.key}' is also on row {seen_keys[spec.key]}")
            )
        if spec.code_prefix in prefixes:
            out.problems.append((number, "code_prefix", f"'{spec.code_prefix}' is taken"))
        elif spec.code_prefix in seen_prefixes:
            other = seen_prefixes[spec.code_prefix]
            out.problems.append(
                (number, "code_prefix", f"'{spec.code_prefix}' is also on row {other}")
            )
        if spec.workflow not in workflows:
            out.problems.append((number, "workflow", f"no workflow '{spec.workflow}'"))
        if spec.label_template is not None and spec.label_template not in templates:
            out.problems.append((number, "label_template", f"no template '{spec.label_template}'"))
        try:
            check_attribute_schema(spec.attribute_schema)
        except QtrackError as exc:
            out.problems.append((number, "attribute_schema", exc.message))
        seen_keys.setdefault(spec.key, number)
        seen_prefixes.setdefault(spec.code_prefix, number)
        if len(out.problems) == before:
            out.rows.append((number, spec))
    return out


Create = Callable[[AsyncSession, BaseModel], Awaitable[str]]


async def _create_location(session: AsyncSession, spec: BaseModel) -> str:
    assert isinstance(spec, LocationCreate)
    location = await locations_service.create_location(session, **spec.model_dump())
    return location.code


async def _create_item_type(session: AsyncSession, spec: BaseModel) -> str:
    assert isinstance(spec, ItemTypeCreate)
    values = spec.model_dump()
    item_type = await item_types_service.create_item_type(
        session, key=values.pop("key"), workflow=values.pop("workflow"), **values
    )
    return item_type.key


CREATE: dict[str, Create] = {"locations": _create_location, "item_types": _create_item_type}


async def write(
    session: AsyncSession, kind: str, checked: Checked, progress: Progress | None
) -> tuple[list[str], tuple[int, str | None, str] | None]:
    """Create every checked row in order: the keys created, or the first refusal (row, field,
    message) a use case gave, after which the caller must roll the writes back."""
    created: list[str] = []
    for number, spec in checked.rows:
        try:
            created.append(await CREATE[kind](session, spec))
        except QtrackError as exc:
            return created, (number, None, exc.message)
        if progress is not None and len(created) % 100 == 0:
            progress("written", len(created))
    if progress is not None:
        progress("written", len(created))
    return created, None
