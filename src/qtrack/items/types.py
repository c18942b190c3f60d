"""Item type use cases: what kinds of things exist, their codes, workflows and attributes."""

from collections.abc import Sequence
from typing import Any

import jsonschema
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from qtrack.core.errors import Conflict, NotFound, ValidationFailed
from qtrack.items.models import ItemType
from qtrack.workflow import service as workflow_service
from qtrack.workflow.defaults import SHIPPED_ITEM_TYPES


class ItemTypeNotFound(NotFound):
    code, message = "item_type_not_found", "No such item type"


def check_attribute_schema(schema: dict[str, Any]) -> None:
    """422 when an attribute schema is not itself valid JSON Schema."""
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValidationFailed(
            f"The attribute schema is not valid JSON Schema: {exc.message}",
            details=[
                {"loc": ["body", "attribute_schema"], "msg": exc.message, "type": "invalid_schema"}
            ],
        ) from exc


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
    wf = await workflow_service.get_workflow(session, workflow)
    item_type = ItemType(key=key, workflow_id=wf.id, workflow=wf, **fields)
    session.add(item_type)
    await session.flush()
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
