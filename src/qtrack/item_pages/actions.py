"""The item page's forms: change the state, move, pack or unpack, change the quantity, edit,
archive. Each posts here, is checked against the API's request body, and calls the same use
case as the API route; then the page says what happened, or shows the refused form again with
each problem next to its field and nothing written."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import OriginDep, require, require_any
from qtrack.accounts.permissions import STATUS_CHANGES, Permission
from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.containers import service as containers_service
from qtrack.containers.errors import ContainerCycle, NotAContainer
from qtrack.containers.schemas import PackRequest, UnpackRequest
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.digits import ascii_digits
from qtrack.core.errors import NotFound, QtrackError
from qtrack.events.schemas import EventRead
from qtrack.events.service import EventContext
from qtrack.item_pages.pages import render_item_page
from qtrack.items import changes, moves
from qtrack.items import service as items_service
from qtrack.items.errors import ItemArchived, ItemNotFound, VersionMismatch
from qtrack.items.item_forms import EDIT_FIELDS, Refused, schema_errors, service_errors
from qtrack.items.models import Item
from qtrack.items.schemas import (
    ArchiveRequest,
    ChangeResult,
    ItemUpdate,
    MoveRequest,
    QuantityRequest,
)
from qtrack.locations.service import LocationArchived, LocationNotFound
from qtrack.web.render import settle_refused

router = APIRouter(include_in_schema=False)
# Each form asks for what its API route asks for.
Transitioner = Annotated[Principal, Depends(require_any(*STATUS_CHANGES))]
Mover = Annotated[Principal, Depends(require(Permission.ITEM_MOVE))]
Packer = Annotated[Principal, Depends(require(Permission.ITEM_PACK))]
Counter = Annotated[
    Principal, Depends(require_any(Permission.ITEM_DISPENSE, Permission.ITEM_QUANTITY))
]
Editor = Annotated[Principal, Depends(require(Permission.ITEM_EDIT))]
Archiver = Annotated[Principal, Depends(require(Permission.ITEM_ARCHIVE))]

Body = TypeVar("Body", bound=BaseModel)


def _page_url(code: str, query: dict[str, str]) -> str:
    return f"/items/{code}?{urlencode(query)}"


async def _apply(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    actor: Principal,
    code: str,
    *,
    form: str,
    fields: tuple[str, ...],
    schema: type[Body],
    data: Callable[[dict[str, str], Item], dict[str, Any]],
    change: Callable[[Body, dict[str, str]], Awaitable[ChangeResult]],
    done: Callable[[Body, list[EventRead]], dict[str, str]],
    field_of: Callable[[QtrackError], str | None] = lambda exc: None,
) -> Response:
    """Check the form against the API's body, make the change, and send the person back to
    the item page; or show the form again with what was wrong, having written nothing."""
    posted = await request.form()
    values = {name: str(posted.get(name) or "").strip() for name in fields}
    # An unknown item is a 404 page; its code is kept, since a rollback expires the row.
    item = await items_service.find_item(session, code=code)
    item_code = item.code
    try:
        body = schema.model_validate(data(values, item))
    except ValidationError as exc:
        refused = Refused(form, values, schema_errors(exc))
        return await render_item_page(
            request, session, settings, actor, item_code, refused=refused, status_code=422
        )
    try:
        result = await change(body, values)
    except QtrackError as exc:
        await settle_refused(session, actor, exc)
        errors = service_errors(exc)
        name = field_of(exc)
        if name and not errors:
            errors[name] = exc.message
        # A code that names nothing is bad input to this form, not a missing page.
        status = 422 if errors and isinstance(exc, NotFound) else exc.status_code
        message = exc.message
        if isinstance(exc, VersionMismatch) and isinstance(exc.details, dict):
            # Saved again, the form applies to the item as it is now, which the page shows.
            values["version"] = str(exc.details.get("current_version", values.get("version")))
            message = (
                "Someone changed this item after you opened the form, so nothing was saved. "
                "The page shows it as it is now: check your changes and save again."
            )
        refused = Refused(form, values, errors, message)
        return await render_item_page(
            request, session, settings, actor, item_code, refused=refused, status_code=status
        )
    query = done(body, result.events) if result.events else {"done": "same"}
    # Post/redirect/get: a reload shows the page, it does not send the form again.
    return RedirectResponse(_page_url(result.item.code, query), status_code=303)


def _optional(value: str) -> str | None:
    return value or None


@router.post("/items/{code}/transitions")
async def item_transition(
    code: str,
    request: Request,
    actor: Transitioner,
    session: SessionDep,
    state: StateDep,
    origin: OriginDep,
    transition: Annotated[str, Form(min_length=1, max_length=64)],
    reason: Annotated[str, Form(max_length=500)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """The item page's state buttons: make the transition, then show the item again."""
    try:
        result = await changes.change_status(
            session,
            state.settings,
            state.limiter,
            code=code,
            transition=transition,
            to=None,
            actor=actor,
            reason=reason.strip() or None,
            password=password or None,
            origin=origin,
            context=EventContext(),
        )
    except QtrackError as exc:
        # Shown on the page, with the buttons, rather than on a bare error page; as in
        # SessionDep, only what an error marks as kept (a failed signature) is committed.
        await settle_refused(session, actor, exc)
        errors = service_errors(exc)
        if exc.code == "signature_failed":
            errors["password"] = exc.message
        # The password is never sent back into the page.
        refused = Refused(f"t-{transition}", {"reason": reason}, errors, exc.message)
        return await render_item_page(
            request, session, state.settings, actor, code, refused=refused,
            status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(_page_url(result.item.code, {"done": "transition"}), status_code=303)


@router.post("/items/{code}/move")
async def item_move(
    code: str, request: Request, actor: Mover, session: SessionDep, state: StateDep
) -> Response:
    """Put the item at a location; what it holds goes with it."""
    return await _apply(
        request, session, state.settings, actor, code,
        form="move", fields=("location", "reason"), schema=MoveRequest,
        data=lambda v, _: {"location": v["location"], "reason": _optional(v["reason"])},
        change=lambda body, _: moves.move(
            session, code=code, location=body.location, actor=actor, reason=body.reason,
            context=EventContext(),
        ),
        done=lambda body, events: {"done": "move", **({"with": "1"} if len(events) > 1 else {})},
        field_of=lambda exc: (
            "location" if isinstance(exc, LocationNotFound | LocationArchived) else None
        ),
    )  # fmt: skip


def _container_problem(code: str) -> Callable[[QtrackError], str | None]:
    """Which refusals of a pack are about the container typed in (the item itself was found
    before the change)."""

    def field_of(exc: QtrackError) -> str | None:
        if isinstance(exc, ItemNotFound | NotAContainer | ContainerCycle):
            return "container"
        archived = isinstance(exc, ItemArchived) and isinstance(exc.details, dict)
        if archived and exc.details.get("code") != code.strip().upper():
            return "container"
        return None

    return field_of


@router.post("/items/{code}/pack")
async def item_pack(
    code: str, request: Request, actor: Packer, session: SessionDep, state: StateDep
) -> Response:
    """Pack the item into a container item."""
    return await _apply(
        request, session, state.settings, actor, code,
        form="pack", fields=("container",), schema=PackRequest,
        data=lambda v, _: {"container": v["container"]},
        change=lambda body, _: containers_service.pack(
            session, code=code, container=body.container, actor=actor, context=EventContext()
        ),
        done=lambda body, events: {"done": "pack"},
        field_of=_container_problem(code),
    )  # fmt: skip


@router.post("/items/{code}/unpack")
async def item_unpack(
    code: str, request: Request, actor: Packer, session: SessionDep, state: StateDep
) -> Response:
    """Take the item out of its container."""
    return await _apply(
        request, session, state.settings, actor, code,
        form="unpack", fields=("reason",), schema=UnpackRequest,
        data=lambda v, _: {"reason": _optional(v["reason"])},
        change=lambda body, _: containers_service.unpack(
            session, code=code, actor=actor, reason=body.reason, context=EventContext()
        ),
        done=lambda body, events: {"done": "unpack"},
    )  # fmt: skip


@router.post("/items/{code}/quantity")
async def item_quantity(
    code: str, request: Request, actor: Counter, session: SessionDep, state: StateDep
) -> Response:
    """Dispense, consume, receive, or adjust to a counted quantity."""
    return await _apply(
        request, session, state.settings, actor, code,
        form="quantity", fields=("kind", "amount", "reason"), schema=QuantityRequest,
        data=lambda v, _: {
            "kind": v["kind"], "amount": _optional(v["amount"]), "reason": _optional(v["reason"])
        },
        change=lambda body, _: changes.change_quantity(
            session, code=code, kind=body.kind, amount=body.amount, actor=actor,
            reason=body.reason, context=EventContext(), settings=state.settings,
        ),
        done=lambda body, events: {"done": body.kind, "amount": str(body.amount)},
        field_of=lambda exc: "amount" if exc.code == "insufficient_quantity" else None,
    )  # fmt: skip


def _edit_data(values: dict[str, str], item: Item) -> dict[str, Any]:
    """The edit form as `ItemUpdate`: an emptied field clears it (a name becomes empty); the
    expiry date only where the type tracks it (the form shows it only there)."""
    data: dict[str, Any] = {"name": values["name"], "reason": _optional(values["reason"])}
    for name in EDIT_FIELDS[1:]:
        if name != "expiry_on" or item.type.tracks_expiry:
            data[name] = _optional(values[name])
    return data


def _version(values: dict[str, str]) -> int:
    """The version of the item the form was filled from (what If-Match names to the API)."""
    text = values.get("version", "")
    if not ascii_digits(text) or len(text) > 18:
        raise VersionMismatch("The form does not say which version of the item it edits")
    return int(text)


@router.post("/items/{code}/edit")
async def item_edit(
    code: str, request: Request, actor: Editor, session: SessionDep, state: StateDep
) -> Response:
    """Change the item's fields at the version the form was filled from."""
    return await _apply(
        request, session, state.settings, actor, code,
        form="edit", fields=(*EDIT_FIELDS, "reason", "version"), schema=ItemUpdate,
        data=_edit_data,
        change=lambda body, values: changes.edit_item(
            session, code=code, expected_version=_version(values),
            changes=body.model_dump(exclude_unset=True, exclude={"reason"}), actor=actor,
            reason=body.reason, context=EventContext(),
        ),
        done=lambda body, events: {"done": "edit", "fields": ",".join(events[0].after)},
    )  # fmt: skip


@router.post("/items/{code}/archive")
async def item_archive(
    code: str, request: Request, actor: Archiver, session: SessionDep, state: StateDep
) -> Response:
    """Archive the item (it leaves the lists and counts; its history stays)."""
    return await _apply(
        request, session, state.settings, actor, code,
        form="archive", fields=("reason",), schema=ArchiveRequest,
        data=lambda v, _: {"reason": v["reason"]},
        change=lambda body, _: changes.archive_item(
            session, code=code, actor=actor, reason=body.reason, context=EventContext()
        ),
        done=lambda body, events: {"done": "archive"},
    )  # fmt: skip
