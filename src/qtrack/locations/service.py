"""Location use cases: the tree and its materialized paths, and lookups for other domains.

A location's `path` lists the ids from the root down to it ("/1/5/9/"), so a subtree is one
prefix match and moving a subtree is one UPDATE that swaps the prefix.
"""

from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

from sqlalchemy import (
    Select,
    String,
    bindparam,
    column,
    func,
    literal,
    or_,
    select,
    table,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.core.errors import Conflict, NotFound, ValidationFailed
from qtrack.core.prepared import PreparedSelect
from qtrack.locations.models import Location
from qtrack.locations.schemas import LocationNode

# Deep enough for site > building > zone > rack > shelf and then some; it also keeps the
# longest path (32 ids of up to 19 digits and their slashes) inside the 1000-character column.
MAX_DEPTH = 32
# PostgreSQL advisory lock key (any constant; "qloc") that serializes changes to the tree.
_TREE_LOCK_KEY = 0x716C6F63
# Items refer to locations, not the other way round: the item table is read by name (as its
# foreign key names this one), not through the items package, which imports this one.
_item = table("item", column("location_id"), column("archived"))

# How many live items are directly at a location. Items refer to locations, not the other
# way round, so whoever archives a location passes this in (routes get it from
# `locations.deps.HoldingsDep`, which the app provides from the items).
ItemsAt = Callable[[AsyncSession, Location], Awaitable[int]]


class LocationNotFound(NotFound):
    code, message = "location_not_found", "No such location"


class LocationCycle(Conflict):
    code, message = "location_cycle", "A location cannot move into itself or its own subtree"


class LocationNotEmpty(Conflict):
    code, message = "location_not_empty", "The location still holds other locations"


class LocationArchived(Conflict):
    code, message = "location_archived", "The location is archived"


class LocationTooDeep(Conflict):
    code, message = "location_too_deep", f"Locations nest at most {MAX_DEPTH} levels deep"


# --- paths -----------------------------------------------------------------------------------


def normalize_code(code: str) -> str:
    """Codes are kept upper-case; a scanned or typed code may not be."""
    return code.strip().upper()


def path_ids(path: str) -> list[int]:
    """The ids in a materialized path, root first: "/1/5/9/" -> [1, 5, 9]."""
    return [int(part) for part in path.strip("/").split("/") if part]


def depth(path: str) -> int:
    """How deep a path is: a root location is at depth 1."""
    return path.count("/") - 1


def _check_point(latitude: float | None, longitude: float | None) -> None:
    if (latitude is None) != (longitude is None):
        missing = "longitude" if longitude is None else "latitude"
        raise ValidationFailed(
            "Give latitude and longitude together, or neither",
            details=[
                {
                    "loc": ["body", missing],
                    "msg": "latitude and longitude go together",
                    "type": "missing_coordinate",
                }
            ],
        )


async def _lock_tree(session: AsyncSession) -> None:
    """Serialize changes to the tree's shape for the rest of the transaction.

    Two concurrent moves could otherwise each pass the cycle check and together build a loop,
    or one could rewrite paths under the other's feet. Location changes are rare admin work,
    so one lock for the whole tree costs nothing. SQLite's BEGIN IMMEDIATE already does this.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _TREE_LOCK_KEY})


# --- reading ---------------------------------------------------------------------------------


async def get_by_code(session: AsyncSession, code: str) -> Location:
    """A location by its code (any case); 404 location_not_found."""
    code = normalize_code(code)
    location = await session.scalar(select(Location).where(Location.code == code))
    if location is None:
        raise LocationNotFound(f"No location '{code}'", details={"code": code})
    return location


# The location a change puts something in, locked against being archived (`open_by_code`).
_OPEN = PreparedSelect(
    select(Location.id, Location.code, Location.archived)
    .where(Location.code == bindparam("code"))
    .with_for_update(read=True, key_share=True)  # FOR KEY SHARE
)


async def open_by_code(session: AsyncSession, code: str) -> Any:
    """A location items may be put in, by its code (its id, code and `archived`): 404
    location_not_found, 409 location_archived. Its row is locked against being archived until
    the transaction ends (FOR KEY SHARE, the lock PostgreSQL's check of the item's foreign key
    takes anyway; an archive locks the row FOR UPDATE before it checks that the location is
    empty), so that an item put in at the moment it is archived is either counted by that
    check or refused here. On PostgreSQL it is read through the driver, in the change's
    transaction (core/prepared.py)."""
    code = normalize_code(code)
    location = await _OPEN.first_locked(session, {"code": code})
    if location is None:
        raise LocationNotFound(f"No location '{code}'", details={"code": code})
    if location.archived:
        raise LocationArchived(
            f"Location '{code}' is archived; nothing can be put there", details={"code": code}
        )
    return location


async def codes_by_id(session: AsyncSession, ids: Collection[int]) -> dict[int, str]:
    """The codes of these location ids (unknown ids are left out)."""
    if not ids:
        return {}
    rows = await session.execute(select(Location.id, Location.code).where(Location.id.in_(ids)))
    return {row.id: row.code for row in rows}


async def path_codes(session: AsyncSession, locations: Sequence[Location]) -> dict[int, list[str]]:
    """For each location id, the codes from the root down to it, all in one query."""
    ids = {i for location in locations for i in path_ids(location.path)}
    codes = await codes_by_id(session, ids)
    return {loc.id: [codes[i] for i in path_ids(loc.path)] for loc in locations}


async def subtree_ids_select(session: AsyncSession, code: str) -> Select[int]:
    """A SELECT of the ids of a location and everything under it, for `.in_()` filters."""
    location = await get_by_code(session, code)
    return select(Location.id).where(Location.path.startswith(location.path))


async def location_conditions(
    session: AsyncSession,
    *,
    parent: str | None = None,
    kind: str | None = None,
    q: str | None = None,
    include_archived: bool = False,
) -> list[Any]:
    """The WHERE conditions of the locations list's filters (the list and the export narrow
    by the same ones); 404 for a parent not found."""
    conditions: list[Any] = []
    if parent is not None:
        parent_location = await get_by_code(session, parent)
        conditions.append(Location.parent_id == parent_location.id)
    if kind is not None:
        conditions.append(Location.kind == kind)
    if q and q.strip():
        term = q.strip()
        conditions.append(
            or_(
                Location.code.contains(term.upper(), autoescape=True),
                func.lower(Location.name).contains(term.lower(), autoescape=True),
            )
        )
    if not include_archived:
        conditions.append(Location.archived.is_(False))
    return conditions


async def list_locations(
    session: AsyncSession,
    *,
    after_id: int | None,
    limit: int,
    parent: str | None = None,
    kind: str | None = None,
    q: str | None = None,
    include_archived: bool = False,
) -> Sequence[Location]:
    """Locations by id, optionally only one parent's children, one kind, or matching `q`."""
    conditions = await location_conditions(
        session, parent=parent, kind=kind, q=q, include_archived=include_archived
    )
    stmt = select(Location).where(*conditions).order_by(Location.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(Location.id > after_id)
    return (await session.scalars(stmt)).all()


async def tree(session: AsyncSession) -> list[LocationNode]:
    """Every location that is not archived, nested under its parent; siblings by code."""
    rows = (
        await session.execute(
            select(Location.id, Location.parent_id, Location.code, Location.name, Location.kind)
            .where(Location.archived.is_(False))
            .order_by(Location.code)
        )
    ).all()
    nodes = {row.id: LocationNode(code=row.code, name=row.name, kind=row.kind) for row in rows}
    roots: list[LocationNode] = []
    for row in rows:
        if row.parent_id is None:
            roots.append(nodes[row.id])
        elif row.parent_id in nodes:
            nodes[row.parent_id].children.append(nodes[row.id])
        # Otherwise its parent is archived, which archive_location refuses while it has
        # children: such a location is hidden along with its parent.
    return roots


async def ancestors(session: AsyncSession, location: Location) -> list[Location]:
    """The locations above this one, root first, in one query (for a breadcrumb)."""
    ids = path_ids(location.path)[:-1]
    if not ids:
        return []
    found = {
        loc.id: loc for loc in await session.scalars(select(Location).where(Location.id.in_(ids)))
    }
    return [found[i] for i in ids if i in found]


async def descendants(session: AsyncSession, location: Location) -> list[Location]:
    """Every live location below this one (not itself), by code, in one query."""
    stmt = (
        select(Location)
        .where(
            Location.path.startswith(location.path),
            Location.id != location.id,
            Location.archived.is_(False),
        )
        .order_by(Location.code)
    )
    return list((await session.scalars(stmt)).all())


# --- writing ---------------------------------------------------------------------------------


def _ensure_open(parent: Location) -> None:
    """Nothing new goes under an archived location."""
    if parent.archived:
        raise LocationArchived(
            f"Location '{parent.code}' is archived; nothing can go under it",
            details={"code": parent.code},
        )


def _ensure_depth(new_depth: int, code: str) -> None:
    if new_depth > MAX_DEPTH:
        raise LocationTooDeep(details={"code": code, "depth": new_depth, "max": MAX_DEPTH})


async def create_location(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    kind: str,
    parent: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    radius_m: float | None = None,
) -> Location:
    """Create a location, at the top or under a parent given by code."""
    _check_point(latitude, longitude)
    await _lock_tree(session)
    code = normalize_code(code)
    if await session.scalar(select(Location.id).where(Location.code == code)) is not None:
        raise Conflict(f"Location '{code}' already exists", details={"code": code})
    parent_location = None
    if parent is not None:
        parent_location = await get_by_code(session, parent)
        _ensure_open(parent_location)
    parent_path = parent_location.path if parent_location is not None else "/"
    _ensure_depth(depth(parent_path) + 1, code)
    location = Location(
        code=code,
        name=name,
        kind=kind,
        parent_id=parent_location.id if parent_location is not None else None,
        path="",  # set below, once the id is known
        latitude=latitude,
        longitude=longitude,
        radius_m=radius_m,
    )
    session.add(location)
    try:
        await session.flush()
    except IntegrityError as exc:  # the same code, created by a concurrent request
        raise Conflict(f"Location '{code}' already exists", details={"code": code}) from exc
    location.path = f"{parent_path}{location.id}/"
    await session.flush()
    return location


async def update_location(session: AsyncSession, *, code: str, changes: dict[str, Any]) -> Location:
    """Rename, re-kind, re-locate on the map or move a location (with its whole subtree)."""
    if "parent" in changes:
        await _lock_tree(session)  # before reading, so that the paths read are current
    location = await get_by_code(session, code)
    _check_point(
        changes.get("latitude", location.latitude), changes.get("longitude", location.longitude)
    )
    for field in ("name", "kind", "latitude", "longitude", "radius_m"):
        if field in changes:
            setattr(location, field, changes[field])
    await session.flush()
    if "parent" in changes:
        await _move(session, location, changes["parent"])
    return location


async def _move(session: AsyncSession, location: Location, parent_code: str | None) -> None:
    """Put a location under another parent (None: at the top), rewriting its subtree's paths."""
    parent = await get_by_code(session, parent_code) if parent_code is not None else None
    if (parent.id if parent is not None else None) == location.parent_id:
        return  # staying put is no move, even under an archived parent
    if parent is not None:
        _ensure_open(parent)
    old_prefix = location.path
    if parent is not None and parent.path.startswith(old_prefix):
        raise LocationCycle(
            f"'{parent.code}' is '{location.code}' or inside it",
            details={"code": location.code, "parent": parent.code},
        )
    new_prefix = f"{parent.path if parent is not None else '/'}{location.id}/"
    slashes = func.length(Location.path) - func.length(func.replace(Location.path, "/", ""))
    deepest = await session.scalar(
        select(func.max(slashes)).where(Location.path.startswith(old_prefix))
    )
    _ensure_depth(int(deepest or 0) - 1 - depth(old_prefix) + depth(new_prefix), location.code)

    location.parent_id = parent.id if parent is not None else None
    await session.flush()
    # One statement for the whole subtree; `||` and substr() mean the same on SQLite and
    # PostgreSQL. Paths hold only digits and slashes, so the LIKE prefix needs no escaping.
    await session.execute(
        update(Location)
        .where(Location.path.startswith(old_prefix))
        .values(
            path=literal(new_prefix, String)
            + func.substr(Location.path, len(old_prefix) + 1, type_=String)
        )
        .execution_options(synchronize_session=False)
    )
    await session.refresh(location)


async def ensure_empty(session: AsyncSession, location: Location, items_at: ItemsAt) -> None:
    """Refuse (409 location_not_empty) while a live child location or item is still there."""
    items = await items_at(session, location)
    if items:
        raise LocationNotEmpty(
            f"Location '{location.code}' still holds {items} item(s)",
            details={"code": location.code, "items": items},
        )
    children = await session.scalar(
        select(func.count())
        .select_from(Location)
        .where(Location.parent_id == location.id, Location.archived.is_(False))
    )
    if children:
        raise LocationNotEmpty(
            f"Location '{location.code}' still holds {children} location(s)",
            details={"code": location.code, "locations": children},
        )


async def archive_location(session: AsyncSession, code: str, *, items_at: ItemsAt) -> Location:
    """Archive an empty location: it stays for history, but leaves lists and the tree."""
    await _lock_tree(session)
    location = await get_by_code(session, code)
    # Waits for whatever is being put into it (`open_by_code`), and keeps anything new out
    # while we check that it is empty.
    await session.refresh(location, with_for_update=True)
    if location.archived:
        return location
    await ensure_empty(session, location, items_at)
    location.archived = True
    await session.flush()
    return location
