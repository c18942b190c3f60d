"""Item type use cases: what kinds of things exist, their codes, workflows and attributes."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import column, func, select, table, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from qtrack.categories import service as categories_service
from qtrack.core.errors import Conflict, NotFound, ValidationFailed
from qtrack.item_types.attributes import check_attribute_schema
from qtrack.item_types.models import ItemType
from qtrack.item_types.schemas import ItemTypeUpdate
from qtrack.workflow import service as workflow_service
from qtrack.workflow.defaults import SHIPPED_ITEM_TYPES


class ItemTypeNotFound(NotFound):
    code, message = "item_type_not_found", "No such item type"


class ItemTypeInUse(Conflict):
    code, message = "item_type_in_use", "Items of this type exist"


# Fields of an item type that an admin may change after creating it: those of the update.
EDITABLE = frozenset(ItemTypeUpdate.model_fields)
# Tables that refer to item types, named as their foreign keys name them: item types sit
# below items, labels and the counts, so they read these few columns by name instead of
# importing those packages (which import this one).
_item = table("item", column("type_id"), column("status"))
_status_count = table("status_count", column("type_id"), column("count"))
_label_template = table("label_template", column("key"), column("name"))


async def list_item_types(session: AsyncSession) -> Sequence[ItemType]:
    """Every item type with its workflow."""
    stmt = (
        select(ItemType)
        .options(joinedload(ItemType.workflow), joinedload(ItemType.category))
        .order_by(ItemType.key)
    )
    return (await session.scalars(stmt)).all()


async def get_item_type(session: AsyncSession, key: str, *, locked: bool = False) -> ItemType:
    """An item type (with its workflow) by key; 404 item_type_not_found. `locked`: its row
    locked for the transaction and read as it is now (a registration bumps the same row's
    code counter, so one waits for the other). FOR NO KEY UPDATE, as the counter's UPDATE
    locks it: the foreign key checks of changes to its items' counts (FOR KEY SHARE) pass."""
    stmt = (
        select(ItemType)
        .options(joinedload(ItemType.workflow), joinedload(ItemType.category))
        .where(ItemType.key == key)
    )
    if locked:
        stmt = stmt.with_for_update(of=ItemType, key_share=True).execution_options(
            populate_existing=True
        )
    item_type = await session.scalar(stmt)
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
    category_key = fields.pop("category", None)
    category = await categories_service.get_by_key(session, category_key) if category_key else None
    wf = await workflow_service.get_workflow(session, workflow)
    item_type = ItemType(
        key=key, workflow_id=wf.id, workflow=wf, label_template_key=template,
        category_id=category.id if category is not None else None, category=category, **fields,
    )  # fmt: skip
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


async def template_choices(session: AsyncSession) -> list[dict[str, str]]:
    """Key and name of every label template an item type may print with, by key."""
    rows = await session.execute(
        select(_label_template.c.key, _label_template.c.name).order_by(_label_template.c.key)
    )
    return [{"key": key, "name": name} for key, name in rows]


async def live_counts(session: AsyncSession) -> dict[int, int]:
    """How many live items each item type has (by type id; left out: none), from the
    maintained counts."""
    total = func.sum(_status_count.c.count)
    rows = await session.execute(
        select(_status_count.c.type_id, total).group_by(_status_count.c.type_id).having(total != 0)
    )
    return {int(type_id): int(count) for type_id, count in rows}


async def state_styles(session: AsyncSession) -> dict[tuple[str, str], dict[str, str]]:
    """Label and colour of every (item type, status), from the workflows: one query."""
    styles: dict[tuple[str, str], dict[str, str]] = {}
    for item_type in await list_item_types(session):
        for state in workflow_service.definition_of(item_type.workflow).states:
            styles[(item_type.key, state.key)] = {
                "label": state.label,
                "colour": state.colour,
                "type_name": item_type.name,
            }
    return styles


async def _check_template(session: AsyncSession, key: str) -> None:
    found = await session.scalar(select(_label_template.c.key).where(_label_template.c.key == key))
    if found is None:
        raise ValidationFailed(
            f"No label template '{key}'",
            details=[
                {"loc": ["body", "label_template"], "msg": "no such template", "type": "unknown"}
            ],
        )


async def has_items(session: AsyncSession, item_type: ItemType) -> bool:
    """Whether any item (archived ones too) is of this type."""
    found = await session.scalar(
        select(_item.c.type_id).where(_item.c.type_id == item_type.id).limit(1)
    )
    return found is not None


async def statuses_in_use(session: AsyncSession, item_type: ItemType) -> set[str]:
    """The states items of this type (archived ones too) are in right now."""
    rows = await session.scalars(
        select(_item.c.status).distinct().where(_item.c.type_id == item_type.id)
    )
    return set(rows)


async def update_item_type(session: AsyncSession, *, key: str, changes: dict[str, Any]) -> ItemType:
    """Change an item type; its code prefix, workflow and quantity tracking stay while items
    depend on them. The type's row is locked first: a registration under way (which bumps
    its code counter) is finished and counted, and one that comes after waits for this."""
    changes = dict(changes)
    unknown = set(changes) - EDITABLE
    if unknown:
        raise TypeError(f"not editable: {', '.join(sorted(unknown))}")
    item_type = await get_item_type(session, key, locked=True)
    tracks = changes.get("tracks_quantity", item_type.tracks_quantity)
    if tracks != item_type.tracks_quantity and await has_items(session, item_type):
        # The stock on hand sums its items' quantities: it would keep what they held.
        raise ItemTypeInUse(
            f"Item type '{key}' has items, so whether it tracks quantities stays as it is",
            details={"tracks_quantity": item_type.tracks_quantity},
        )
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
        await workflow_service.hold_item_changes(session)
        known = {s.key for s in workflow_service.definition_of(wf).states}
        in_use = await statuses_in_use(session, item_type)
        stranded = sorted(in_use - known)
        if stranded:
            raise ItemTypeInUse(
                f"Items of type '{key}' are in states workflow '{workflow_key}' does not have: "
                + ", ".join(stranded),
                details={"states_in_use": stranded},
            )
        flipped = workflow_service.terminal_changed(
            workflow_service.definition_of(item_type.workflow),
            workflow_service.definition_of(wf),
            in_use,
        )
        if flipped:
            # Whether an item is stock on hand follows it; the stock kept would not.
            raise ItemTypeInUse(
                f"Items of type '{key}' are in states that are final in one workflow and not "
                f"in the other: {', '.join(flipped)}",
                details={"terminal_changed": flipped},
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
    if "category" in changes:
        category_key = changes.pop("category")
        category = (
            await categories_service.get_by_key(session, category_key) if category_key else None
        )
        item_type.category_id = category.id if category is not None else None
        item_type.category = category
    for field, value in changes.items():
        setattr(item_type, field, value)
    await _flush_unique(session, key=key, code_prefix=item_type.code_prefix)
    return item_type


async def reserve_codes(session: AsyncSession, item_type: ItemType, count: int) -> list[str]:
    """The next `count` codes of a type: unique and gap-free under concurrency, because the
    counter row is bumped with one UPDATE ... RETURNING that holds its lock to commit."""
    bumped = (
        await session.execute(
            update(ItemType)
            .where(ItemType.id == item_type.id)
            .values(last_seq=ItemType.last_seq + count)
            .returning(ItemType.last_seq, ItemType.code_prefix)
        )
    ).one()
    # The prefix as the row holds it now: a change of it that committed while this waited
    # for the row's lock is the one the codes carry.
    first = bumped.last_seq - count + 1
    return [f"{bumped.code_prefix}-{n:06d}" for n in range(first, bumped.last_seq + 1)]


async def ensure_shipped_item_types(session: AsyncSession) -> None:
    """Create the shipped item types where missing."""
    existing = {t.key for t in await list_item_types(session)}
    for key, spec in SHIPPED_ITEM_TYPES.items():
        if key in existing:
            continue
        fields = dict(spec)
        workflow = fields.pop("workflow")
        await create_item_type(session, key=key, workflow=workflow, **fields)
