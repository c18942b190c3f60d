"""Category use cases: the tree of item-type categories and the subtree filter.

A category's `path` lists the ids from the root down to it ("/1/5/"), so "this category and
everything under it" is one prefix match, as for locations.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, String, func, literal, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.categories.models import Category
from qtrack.categories.schemas import CategoryRead
from qtrack.core.errors import Conflict, NotFound

MAX_DEPTH = 8  # "Consumables > Syringes > 5 ml" needs three; the path column holds more
SEPARATOR = " \u203a "  # a single right-pointing angle quotation mark
# PostgreSQL advisory lock key ("qcat") serializing changes to the tree's shape.
_TREE_LOCK_KEY = 0x71636174


class CategoryNotFound(NotFound):
    code, message = "category_not_found", "No such category"


class CategoryCycle(Conflict):
    code, message = "category_cycle", "A category cannot move into itself or under its own child"


class CategoryArchived(Conflict):
    code, message = "category_archived", "The category is archived"


class CategoryTooDeep(Conflict):
    code, message = "category_too_deep", f"Categories nest at most {MAX_DEPTH} levels deep"


class CategoryNotEmpty(Conflict):
    code, message = "category_not_empty", "The category still has live sub-categories"


def path_ids(path: str) -> list[int]:
    """The ids in a materialized path, root first: "/1/5/" -> [1, 5]."""
    return [int(part) for part in path.strip("/").split("/") if part]


async def _lock_tree(session: AsyncSession) -> None:
    """Serialize changes to the tree's shape (SQLite's BEGIN IMMEDIATE already does)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _TREE_LOCK_KEY})


async def get_by_key(session: AsyncSession, key: str) -> Category:
    """A category by key (any case); 404 category_not_found."""
    key = key.strip().lower()
    category = await session.scalar(select(Category).where(Category.key == key))
    if category is None:
        raise CategoryNotFound(f"No category '{key}'", details={"key": key})
    return category


async def list_categories(
    session: AsyncSession, *, include_archived: bool = False
) -> Sequence[Category]:
    """Every category, parents before their children (by path)."""
    stmt = select(Category).order_by(Category.path)
    if not include_archived:
        stmt = stmt.where(Category.archived.is_(False))
    return (await session.scalars(stmt)).all()


async def reads(session: AsyncSession, categories: Sequence[Category]) -> list[CategoryRead]:
    """Categories as the API shows them, with their paths' names and keys, in one query."""
    ids = {i for c in categories for i in path_ids(c.path)}
    rows = await session.execute(
        select(Category.id, Category.key, Category.name).where(Category.id.in_(ids))
    )
    found = {row.id: (row.key, row.name) for row in rows}
    out = []
    for c in categories:
        chain = [found[i] for i in path_ids(c.path) if i in found]
        names = [name for _, name in chain]
        out.append(
            CategoryRead(
                key=c.key,
                name=c.name,
                parent=chain[-2][0] if len(chain) > 1 else None,
                path=names,
                label=SEPARATOR.join(names),
                archived=c.archived,
            )
        )
    return out


async def labels(session: AsyncSession) -> dict[int, str]:
    """Every category's full label ("Consumables > Syringes") by id."""
    every = await list_categories(session, include_archived=True)
    return {c.id: read.label for c, read in zip(every, await reads(session, every), strict=True)}


async def subtree_select(session: AsyncSession, key: str) -> Select[int]:
    """A SELECT of the ids of a category and everything under it, for `.in_()` filters;
    404 if there is no such category."""
    category = await get_by_key(session, key)
    return select(Category.id).where(Category.path.startswith(category.path))


async def create_category(
    session: AsyncSession, *, key: str, name: str, parent: str | None = None
) -> Category:
    """Create a category, at the top or under a parent."""
    await _lock_tree(session)
    if await session.scalar(select(Category.id).where(Category.key == key)) is not None:
        raise Conflict(f"Category '{key}' already exists", details={"key": key})
    above = await get_by_key(session, parent) if parent is not None else None
    if above is not None and above.archived:
        raise CategoryArchived(details={"key": above.key})
    parent_path = above.path if above is not None else "/"
    if len(path_ids(parent_path)) + 1 > MAX_DEPTH:
        raise CategoryTooDeep(details={"key": key, "max": MAX_DEPTH})
    category = Category(
        key=key, name=name, parent_id=above.id if above is not None else None, path=""
    )
    session.add(category)
    try:
        await session.flush()
    except IntegrityError as exc:  # the same key, created by a concurrent request
        raise Conflict(f"Category '{key}' already exists", details={"key": key}) from exc
    category.path = f"{parent_path}{category.id}/"
    await session.flush()
    return category


async def update_category(session: AsyncSession, *, key: str, changes: dict[str, Any]) -> Category:
    """Rename a category or move it (with everything under it) under another parent."""
    if "parent" in changes:
        await _lock_tree(session)
    category = await get_by_key(session, key)
    if "name" in changes:
        category.name = changes["name"]
        await session.flush()
    if "parent" in changes:
        await _move(session, category, changes["parent"])
    return category


async def _move(session: AsyncSession, category: Category, parent_key: str | None) -> None:
    above = await get_by_key(session, parent_key) if parent_key is not None else None
    if (above.id if above is not None else None) == category.parent_id:
        return
    if above is not None and above.archived:
        raise CategoryArchived(details={"key": above.key})
    old_prefix = category.path
    if above is not None and above.path.startswith(old_prefix):
        raise CategoryCycle(details={"key": category.key, "parent": above.key})
    new_prefix = f"{above.path if above is not None else '/'}{category.id}/"
    deepest = max(
        len(path_ids(p))
        for p in await session.scalars(
            select(Category.path).where(Category.path.startswith(old_prefix))
        )
    )
    if deepest - len(path_ids(old_prefix)) + len(path_ids(new_prefix)) > MAX_DEPTH:
        raise CategoryTooDeep(details={"key": category.key, "max": MAX_DEPTH})
    category.parent_id = above.id if above is not None else None
    await session.flush()
    await session.execute(
        update(Category)
        .where(Category.path.startswith(old_prefix))
        .values(
            path=literal(new_prefix, String)
            + func.substr(Category.path, len(old_prefix) + 1, type_=String)
        )
        .execution_options(synchronize_session=False)
    )
    await session.refresh(category)


async def archive_category(session: AsyncSession, key: str) -> Category:
    """Archive a category without live sub-categories; its item types keep it (shown as
    archived) until they are given another."""
    await _lock_tree(session)
    category = await get_by_key(session, key)
    if category.archived:
        return category
    children = await session.scalar(
        select(func.count())
        .select_from(Category)
        .where(Category.parent_id == category.id, Category.archived.is_(False))
    )
    if children:
        raise CategoryNotEmpty(details={"key": category.key, "categories": children})
    category.archived = True
    await session.flush()
    return category
