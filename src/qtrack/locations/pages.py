"""Location pages for people: the tree of places, one place with what it holds, and for
location managers the forms that create, change, move and archive places."""

from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import Conflict, QtrackError, ValidationFailed
from qtrack.core.pagination import decode_key_cursor, encode_cursor
from qtrack.locations import service as locations_service
from qtrack.locations.deps import HoldingsDep, holdings
from qtrack.locations.schemas import LocationCreate, LocationKind, LocationUpdate
from qtrack.web.forms import CHECK_FIELDS, Words, field_errors, last_part
from qtrack.web.render import page

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]
Manager = Annotated[Principal, Depends(require(Permission.LOCATION_MANAGE))]
Cursor = Annotated[str | None, Query(max_length=512)]

PAGE_SIZE = 50
KINDS = get_args(LocationKind)
# Form fields, in the order they are shown; the code never changes once printed on a label.
NEW_FIELDS = ("code", "name", "kind", "parent", "latitude", "longitude", "radius_m")
EDIT_FIELDS = NEW_FIELDS[1:]
# Pydantic's wording where a person deserves plainer words.
_PLAIN: Words = {
    "missing": "Required",
    "string_too_short": "Required",
    "string_pattern_mismatch": "Use only letters, digits, '-' and '_'",
}
# Errors about the parent a location is put under (the location itself was found first).
PARENT_ERRORS = (
    locations_service.LocationNotFound,
    locations_service.LocationCycle,
    locations_service.LocationArchived,
    locations_service.LocationTooDeep,
)


@router.get("/locations")
async def locations_page(
    request: Request, principal: Reader, session: SessionDep, state: StateDep, held: HoldingsDep
) -> Response:
    """The location tree, with how many items each place holds directly."""
    return page(
        request,
        "web/locations.html",
        principal=principal,
        settings=state.settings,
        context={
            "tree": await locations_service.tree(session),
            "counts": await held.counts(session),
            "can_print": principal.can(Permission.LABEL_PRINT),
            "can_manage": principal.can(Permission.LOCATION_MANAGE),
        },
    )


# --- forms ---------------------------------------------------------------------------------
# A refused change is undone by rolling back to a savepoint, not the whole transaction: the
# form is shown again, with the signed-in user, in the same request. No error these use cases
# raise is one whose changes must be kept (see QtrackError.keep_changes).


async def _form_values(request: Request, fields: tuple[str, ...]) -> dict[str, str]:
    form = await request.form()
    return {name: str(form.get(name) or "").strip() for name in fields}


def _problems(exc: ValidationError | QtrackError) -> tuple[dict[str, str], str, int]:
    """Field name -> message, the message above the form, and the status to answer with."""
    if isinstance(exc, ValidationError):
        return field_errors(exc, words=_PLAIN), CHECK_FIELDS, 422
    if isinstance(exc, ValidationFailed) and isinstance(exc.details, list):
        return field_errors(exc, field_of=last_part), exc.message, exc.status_code
    if isinstance(exc, locations_service.LocationNotFound):
        # A parent that does not exist is a wrong value in the form, not a missing page.
        return {"parent": exc.message}, exc.message, 422
    if isinstance(exc, PARENT_ERRORS):
        return {"parent": exc.message}, exc.message, exc.status_code
    if type(exc) is Conflict:  # the code is taken
        return {"code": exc.message}, exc.message, exc.status_code
    return {}, exc.message, exc.status_code


async def _choices(session: AsyncSession) -> list[Any]:
    """Locations to suggest as a parent (the field also takes any code typed in)."""
    return list(await locations_service.list_locations(session, after_id=None, limit=500))


async def _new_page(
    request: Request,
    principal: Principal,
    session: AsyncSession,
    settings: Settings,
    *,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    return page(
        request,
        "web/location_new.html",
        principal=principal,
        settings=settings,
        context={
            "values": values,
            "errors": errors or {},
            "message": message,
            "kinds": KINDS,
            "choices": await _choices(session),
        },
        status_code=status_code,
    )


@router.get("/locations/new")
async def new_location_form(
    request: Request,
    principal: Manager,
    session: SessionDep,
    state: StateDep,
    parent: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The form for a new location, under a given parent if one is named."""
    values = {"parent": (parent or "").strip().upper(), "kind": "zone" if parent else "site"}
    return await _new_page(request, principal, session, state.settings, values=values)


@router.post("/locations/new")
async def new_location_submit(
    request: Request, principal: Manager, session: SessionDep, state: StateDep
) -> Response:
    """Create the location, then show it."""
    values = await _form_values(request, NEW_FIELDS)
    try:
        spec = LocationCreate.model_validate({k: v for k, v in values.items() if v})
        async with session.begin_nested():
            location = await locations_service.create_location(session, **spec.model_dump())
    except (ValidationError, QtrackError) as exc:
        errors, message, status = _problems(exc)
        return await _new_page(
            request, principal, session, state.settings,
            values=values, errors=errors, message=message, status_code=status,
        )  # fmt: skip
    # Post/redirect/get: a reload shows the location, it does not create it twice.
    return RedirectResponse(f"/locations/{location.code}", status_code=303)


# --- one location --------------------------------------------------------------------------


def _text(number: float | None) -> str:
    return "" if number is None else f"{number:g}"


async def _location_page(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    code: str,
    *,
    below: bool = False,
    cursor: str | None = None,
    category: str = "",
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    archive_error: str | None = None,
    status_code: int = 200,
) -> Response:
    """Render one location; every part is a fixed number of queries, whatever it holds."""
    location = await locations_service.get_by_code(session, code)
    after = decode_key_cursor(cursor, str)
    above = await locations_service.ancestors(session, location)
    subtree = await locations_service.descendants(session, location)
    held = holdings.of(request.app)
    here = await held.counts(session)
    # Items anywhere below each location, summed up its path.
    totals: dict[int, int] = {}
    for loc in [location, *subtree]:
        for ancestor_id in locations_service.path_ids(loc.path):
            totals[ancestor_id] = totals.get(ancestor_id, 0) + here.get(loc.code, 0)
    stock = await held.stock_at(session, location.code, below, after, PAGE_SIZE, category or None)
    can_manage = principal.can(Permission.LOCATION_MANAGE) and not location.archived
    if values is None:
        values = {
            "name": location.name,
            "kind": location.kind,
            "parent": above[-1].code if above else "",
            "latitude": _text(location.latitude),
            "longitude": _text(location.longitude),
            "radius_m": _text(location.radius_m),
        }
    scope = {"below": "1"} if below else {}
    if category:
        scope["category"] = category
    return page(
        request,
        "web/location.html",
        principal=principal,
        settings=settings,
        context={
            "location": location,
            "ancestors": above,
            "children": [
                {"location": child, "here": here.get(child.code, 0), "total": totals[child.id]}
                for child in subtree
                if child.parent_id == location.id
            ],
            "here_count": here.get(location.code, 0),
            "total_count": totals[location.id],
            "below": below,
            "category": category,
            "items": stock.items,
            **stock.rows,
            "next_query": (
                {**scope, "cursor": encode_cursor(stock.next_key)} if stock.next_key else None
            ),
            "first_query": scope if cursor else None,
            "can_print": principal.can(Permission.LABEL_PRINT),
            "can_manage": can_manage,
            "choices": await _choices(session) if can_manage else [],
            "kinds": KINDS,
            "values": values,
            "errors": errors or {},
            "message": message,
            "archive_error": archive_error,
        },
        status_code=status_code,
    )


@router.get("/locations/{code}")
async def location_page(
    code: str,
    request: Request,
    principal: Reader,
    session: SessionDep,
    state: StateDep,
    below: bool = False,
    cursor: Cursor = None,
    category: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """One location: where it is, its label, the places inside it and the items it holds
    (of one category, if chosen)."""
    return await _location_page(
        request, session, state.settings, principal, code, below=below, cursor=cursor,
        category=category,
    )  # fmt: skip


@router.post("/locations/{code}/edit")
async def edit_location(
    code: str, request: Request, principal: Manager, session: SessionDep, state: StateDep
) -> Response:
    """Rename, re-kind, re-place on the map, or move the location under another parent."""
    code = (await locations_service.get_by_code(session, code)).code  # 404 before the form
    values = await _form_values(request, EDIT_FIELDS)
    # Every field is sent: an empty parent means the top level, empty coordinates none.
    data: dict[str, Any] = {k: v or None for k, v in values.items()}
    data.update(name=values["name"], kind=values["kind"])
    try:
        changes = LocationUpdate.model_validate(data).model_dump()
        async with session.begin_nested():
            await locations_service.update_location(session, code=code, changes=changes)
    except (ValidationError, QtrackError) as exc:
        errors, message, status = _problems(exc)
        return await _location_page(
            request, session, state.settings, principal, code,
            values=values, errors=errors, message=message, status_code=status,
        )  # fmt: skip
    return RedirectResponse(f"/locations/{code}", status_code=303)


@router.post("/locations/{code}/archive")
async def archive_location(
    code: str,
    request: Request,
    principal: Manager,
    session: SessionDep,
    state: StateDep,
    held: HoldingsDep,
) -> Response:
    """Archive a location that holds nothing any more; refused, with why, while it does."""
    code = (await locations_service.get_by_code(session, code)).code
    try:
        async with session.begin_nested():
            await locations_service.archive_location(session, code, items_at=held.items_at)
    except QtrackError as exc:
        return await _location_page(
            request, session, state.settings, principal, code,
            archive_error=exc.message, status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(f"/locations/{code}", status_code=303)
