"""Categories JSON API: the tree of item-type categories."""

from typing import Annotated

from fastapi import APIRouter, Depends, status

from qtrack.accounts.deps import AUTHENTICATED, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.categories import service as categories_service
from qtrack.categories.schemas import CategoryCreate, CategoryRead, CategoryUpdate
from qtrack.categories.service import (
    CategoryArchived,
    CategoryCycle,
    CategoryNotEmpty,
    CategoryNotFound,
    CategoryTooDeep,
)
from qtrack.core.deps import SessionDep
from qtrack.core.errors import Conflict, ValidationFailed
from qtrack.core.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["categories"], responses=AUTHENTICATED)
Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]
Manager = Annotated[Principal, Depends(require(Permission.STOCK_MANAGE))]


@router.get("/categories")
async def list_categories(
    _: Reader, session: SessionDep, include_archived: bool = False
) -> list[CategoryRead]:
    """Every category, parents before their children."""
    found = await categories_service.list_categories(session, include_archived=include_archived)
    return await categories_service.reads(session, found)


@router.post(
    "/categories",
    status_code=status.HTTP_201_CREATED,
    responses=errors(
        CategoryNotFound, Conflict, CategoryArchived, CategoryTooDeep, ValidationFailed
    ),
)
async def create_category(body: CategoryCreate, _: Manager, session: SessionDep) -> CategoryRead:
    """Create a category, at the top or under a parent."""
    category = await categories_service.create_category(session, **body.model_dump())
    return (await categories_service.reads(session, [category]))[0]


@router.get("/categories/{key}", responses=errors(CategoryNotFound))
async def get_category(key: str, _: Reader, session: SessionDep) -> CategoryRead:
    """One category, archived or not."""
    category = await categories_service.get_by_key(session, key)
    return (await categories_service.reads(session, [category]))[0]


@router.patch(
    "/categories/{key}",
    responses=errors(
        CategoryNotFound, CategoryArchived, CategoryCycle, CategoryTooDeep, ValidationFailed
    ),
)
async def update_category(
    key: str, body: CategoryUpdate, _: Manager, session: SessionDep
) -> CategoryRead:
    """Rename a category, or move it with everything under it."""
    category = await categories_service.update_category(
        session, key=key, changes=body.model_dump(exclude_unset=True)
    )
    return (await categories_service.reads(session, [category]))[0]


@router.post("/categories/{key}/archive", responses=errors(CategoryNotFound, CategoryNotEmpty))
async def archive_category(key: str, _: Manager, session: SessionDep) -> CategoryRead:
    """Archive a category that has no live sub-categories."""
    category = await categories_service.archive_category(session, key)
    return (await categories_service.reads(session, [category]))[0]
