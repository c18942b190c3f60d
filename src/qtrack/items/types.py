"""Item type use cases: what kinds of things exist, their codes, workflows and attributes."""

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import unquote

import jsonschema
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from qtrack.codes.models import LabelTemplate
from qtrack.core.errors import Conflict, NotFound, ValidationFailed
from qtrack.items.models import Item, ItemType
from qtrack.items.type_schemas import ItemTypeUpdate
from qtrack.workflow import service as workflow_service
from qtrack.workflow.defaults import SHIPPED_ITEM_TYPES


class ItemTypeNotFound(NotFound):
    code, message = "item_type_not_found", "No such item type"


class ItemTypeInUse(Conflict):
    code, message = "item_type_in_use", "Items of this type exist"


# Fields of an item type that an admin may change after creating it: those of the update.
EDITABLE = frozenset(ItemTypeUpdate.model_fields)
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
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
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


async def list_item_types(session: AsyncSession) -> Sequence[ItemType]:
    """Every item type with its workflow."""
    stmt = select(ItemType).options(joinedload(ItemType.workflow)).order_by(ItemType.key)
    return (await session.scalars(stmt)).all()


async def get_item_type(session: AsyncSession, key: str) -> ItemType:
    """An item type (with its workflow) by key; 404 item_type_not_found."""
    item_type = await session.scalar(
        select(ItemType).options(joinedload(ItemType.workflow)).where(ItemType.key == key)
    )
    if item_type is None:
        raise ItemTypeNotFound(f"No item type '{key}'")
    return item_type


async def create_item_type(
    session: AsyncSession, *, key: str, workflow: str, **fields: Any
) -> ItemType:
    """Define a new kind of item."""
    if await session.scalar(select(ItemType.id).where(ItemType.key == key)) is not None:
        raise Conflict(f"Item type '{key}' already exists", details={"key": key})
    prefix = fields.get("code_prefix")
    if await session.scalar(select(ItemType.id).where(ItemType.code_prefix == prefix)) is not None:
        raise Conflict(f"Code prefix '{prefix}' is taken", details={"code_prefix": prefix})
    check_attribute_schema(fields.get("attribute_schema") or {})
    template = fields.pop("label_template", None)
    if template is not None:
        await _check_template(session, template)
    wf = await workflow_service.get_workflow(session, workflow)
    item_type = ItemType(
        key=key, workflow_id=wf.id, workflow=wf, label_template_key=template, **fields
    )
    session.add(item_type)
    await _flush_unique(session, key=key, code_prefix=prefix)
    return item_type


async def _flush_unique(session: AsyncSession, *, key: str, code_prefix: str | None) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        # Another admin took the key or prefix a moment ago; the unique index had the last word.
        raise Conflict(
            f"Item type '{key}' or code prefix '{code_prefix}' is already taken",
            details={"key": key, "code_prefix": code_prefix},
        ) from exc


async def _check_template(session: AsyncSession, key: str) -> None:
    found = await session.scalar(select(LabelTemplate.id).where(LabelTemplate.key == key))
    if found is None:
        raise ValidationFailed(
            f"No label template '{key}'",
            details=[
                {"loc": ["body", "label_template"], "msg": "no such template", "type": "unknown"}
            ],
        )


async def has_items(session: AsyncSession, item_type: ItemType) -> bool:
    """Whether any item (archived ones too) is of this type."""
    found = await session.scalar(select(Item.id).where(Item.type_id == item_type.id).limit(1))
    return found is not None


async def statuses_in_use(session: AsyncSession, item_type: ItemType) -> set[str]:
    """The states items of this type (archived ones too) are in right now."""
    rows = await session.scalars(select(Item.status).distinct().where(Item.type_id == item_type.id))
    return set(rows)


async def update_item_type(session: AsyncSession, *, key: str, changes: dict[str, Any]) -> ItemType:
    """Change an item type; its code prefix and workflow stay while items depend on them."""
    changes = dict(changes)
    unknown = set(changes) - EDITABLE
    if unknown:
        raise TypeError(f"not editable: {', '.join(sorted(unknown))}")
    item_type = await get_item_type(session, key)
    prefix = changes.pop("code_prefix", item_type.code_prefix)
    if prefix != item_type.code_prefix:
        if await has_items(session, item_type):
            # Printed labels carry the old codes; a new prefix would split the type in two.
            raise ItemTypeInUse(
                f"Item type '{key}' has items, so its code prefix stays '{item_type.code_prefix}'",
                details={"code_prefix": item_type.code_prefix},
            )
        taken = await session.scalar(select(ItemType.id).where(ItemType.code_prefix == prefix))
        if taken is not None:
            raise Conflict(f"Code prefix '{prefix}' is taken", details={"code_prefix": prefix})
        item_type.code_prefix = prefix
    workflow_key = changes.pop("workflow", item_type.workflow.key)
    if workflow_key != item_type.workflow.key:
        wf = await workflow_service.get_workflow(session, workflow_key)
        known = {s.key for s in workflow_service.definition_of(wf).states}
        stranded = sorted(await statuses_in_use(session, item_type) - known)
        if stranded:
            raise ItemTypeInUse(
                f"Items of type '{key}' are in states workflow '{workflow_key}' does not have: "
                + ", ".join(stranded),
                details={"states_in_use": stranded},
            )
        item_type.workflow_id = wf.id
        item_type.workflow = wf
    if "attribute_schema" in changes:
        check_attribute_schema(changes["attribute_schema"])
    if "label_template" in changes:
        template = changes.pop("label_template")
        if template is not None:
            await _check_template(session, template)
        item_type.label_template_key = template
    for field, value in changes.items():
        setattr(item_type, field, value)
    await _flush_unique(session, key=key, code_prefix=item_type.code_prefix)
    return item_type


async def reserve_codes(session: AsyncSession, item_type: ItemType, count: int) -> list[str]:
    """The next `count` codes of a type: unique and gap-free under concurrency, because the
    counter row is bumped with one UPDATE ... RETURNING that holds its lock to commit."""
    last = await session.scalar(
        update(ItemType)
        .where(ItemType.id == item_type.id)
        .values(last_seq=ItemType.last_seq + count)
        .returning(ItemType.last_seq)
    )
    assert last is not None
    first = last - count + 1
    return [f"{item_type.code_prefix}-{n:06d}" for n in range(first, last + 1)]


async def ensure_shipped_item_types(session: AsyncSession) -> None:
    """Create the shipped item types where missing."""
    existing = {t.key for t in await list_item_types(session)}
    for key, spec in SHIPPED_ITEM_TYPES.items():
        if key in existing:
            continue
        fields = dict(spec)
        workflow = fields.pop("workflow")
        await create_item_type(session, key=key, workflow=workflow, **fields)
