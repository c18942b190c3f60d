"""Item types JSON API: everyone who reads items reads their types; admins define them."""

from typing import Annotated

from fastapi import APIRouter, Depends, status

from qtrack.accounts.deps import AUTHENTICATED, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.categories.service import CategoryNotFound
from qtrack.core.deps import SessionDep
from qtrack.core.errors import Conflict, ValidationFailed
from qtrack.core.openapi import errors
from qtrack.item_types import service as item_types
from qtrack.item_types.schemas import ItemTypeCreate, ItemTypeRead, ItemTypeUpdate
from qtrack.item_types.service import ItemTypeInUse, ItemTypeNotFound
from qtrack.workflow.service import WorkflowNotFound

router = APIRouter(prefix="/api/v1", tags=["item types"], responses=AUTHENTICATED)
ReadItems = Annotated[Principal, Depends(require(Permission.ITEM_READ))]
AdminConfig = Annotated[Principal, Depends(require(Permission.ADMIN_CONFIG))]


@router.get("/item-types")
async def list_item_types(_: ReadItems, session: SessionDep) -> list[ItemTypeRead]:
    """Every item type, by key, with its workflow's states."""
    return [ItemTypeRead.of(t) for t in await item_types.list_item_types(session)]


@router.get("/item-types/{key}", responses=errors(ItemTypeNotFound))
async def get_item_type(key: str, _: ReadItems, session: SessionDep) -> ItemTypeRead:
    """One item type."""
    return ItemTypeRead.of(await item_types.get_item_type(session, key))


@router.post(
    "/item-types",
    status_code=status.HTTP_201_CREATED,
    responses=errors(WorkflowNotFound, CategoryNotFound, Conflict, ValidationFailed),
)
async def create_item_type(
    body: ItemTypeCreate, _: AdminConfig, session: SessionDep
) -> ItemTypeRead:
    """Define a new kind of item: its code prefix, workflow, unit and attribute schema."""
    item_type = await item_types.create_item_type(
        session,
        key=body.key,
        workflow=body.workflow,
        **body.model_dump(exclude={"key", "workflow"}),
    )
    return ItemTypeRead.of(item_type)


@router.patch(
    "/item-types/{key}",
    responses=errors(
        ItemTypeNotFound,
        WorkflowNotFound,
        CategoryNotFound,
        Conflict,
        ItemTypeInUse,
        ValidationFailed,
    ),
)
async def update_item_type(
    key: str, body: ItemTypeUpdate, _: AdminConfig, session: SessionDep
) -> ItemTypeRead:
    """Change an item type; its code prefix and workflow stay while items depend on them."""
    item_type = await item_types.update_item_type(
        session, key=key, changes=body.model_dump(exclude_unset=True)
    )
    return ItemTypeRead.of(item_type)
