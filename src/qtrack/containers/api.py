"""Containers JSON API: pack an item into a container, take it out, see what one holds."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from qtrack.accounts.deps import AUTHENTICATED, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.containers import service as containers_service
from qtrack.containers.errors import ContainerCycle, NotAContainer
from qtrack.containers.schemas import ContentsRead, PackRequest, UnpackRequest
from qtrack.core.deps import SessionDep
from qtrack.core.openapi import errors
from qtrack.items import service as items_service
from qtrack.items import writes
from qtrack.items.api import CHANGE_ERRORS, apply_once
from qtrack.items.errors import ContainerClosed, ItemNotFound
from qtrack.items.schemas import ChangeResult

router = APIRouter(prefix="/api/v1", tags=["items"], responses=AUTHENTICATED)
Reader = Annotated[Principal, Depends(require(Permission.ITEM_READ))]
Packer = Annotated[Principal, Depends(require(Permission.ITEM_PACK))]


@router.post(
    "/items/{code}/pack",
    response_model=ChangeResult,
    responses=errors(CHANGE_ERRORS, NotAContainer, ContainerCycle, ContainerClosed),
)
async def pack_item(
    code: str, body: PackRequest, actor: Packer, session: SessionDep, request: Request
) -> Response:
    """Pack the item into a container item (409 container_closed when the container, or the
    one it is in now, is in a closed state such as sealed)."""
    return await apply_once(
        request,
        session,
        actor,
        body,
        lambda: containers_service.pack(
            session,
            code=code,
            container=body.container,
            actor=actor,
            context=writes.context_of(body),
        ),
    )


@router.post(
    "/items/{code}/unpack",
    response_model=ChangeResult,
    responses=errors(CHANGE_ERRORS, ContainerClosed),
)
async def unpack_item(
    code: str, body: UnpackRequest, actor: Packer, session: SessionDep, request: Request
) -> Response:
    """Take the item out of its container (409 container_closed when that one is closed)."""
    return await apply_once(
        request,
        session,
        actor,
        body,
        lambda: containers_service.unpack(
            session,
            code=code,
            actor=actor,
            reason=body.reason,
            context=writes.context_of(body),
        ),
    )


@router.get("/items/{code}/contents", responses=errors(ItemNotFound))
async def item_contents(code: str, _: Reader, session: SessionDep) -> ContentsRead:
    """What a container holds directly, and its total weight with everything nested."""
    container = await items_service.find_item(session, code=code)
    ids = await containers_service.contents(session, container.id)
    return ContentsRead(
        container=container.code,
        items=await items_service.read_items(session, ids),
        total_weight_kg=await containers_service.total_weight(session, container),
    )
