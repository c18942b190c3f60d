"""The signing keys admin page: which keys sign and verify labels, rotate, retire."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from qtrack.accounts.deps import OriginDep, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import QtrackError
from qtrack.signing import keys
from qtrack.web.render import page

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(require(Permission.ADMIN_CONFIG))]
BASE = "/admin/keys"
# What each status means to the labels in circulation.
STATUS_TEXT = {
    "active": ("Active", "Signs new labels."),
    "verifying": ("Still verifying", "Signs nothing new; labels it signed still verify."),
    "retired": ("Retired", "Labels it signed answer retired_key."),
}


async def _keys_page(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    *,
    notice: str | None = None,
    message: str | None = None,
    errors: dict[int, str] | None = None,
    status_code: int = 200,
) -> Response:
    rows: list[dict[str, Any]] = [
        {
            "id": row.id,
            "status": row.status,
            "status_label": STATUS_TEXT.get(row.status, (row.status, ""))[0],
            "status_about": STATUS_TEXT.get(row.status, (row.status, ""))[1],
            "created_at": row.created_at,
            "sign_until": row.sign_until,
            "retired_at": row.retired_at,
            "fingerprint": keys.fingerprint(row),
            "public_key": keys.public_key_text(row),
        }
        for row in await keys.list_keys(session)
    ]
    return page(
        request,
        "admin/keys.html",
        principal=principal,
        settings=settings,
        context={
            "keys": list(reversed(rows)),  # the newest, active key first
            "notice": notice,
            "message": message,
            "errors": errors or {},
            "cache_seconds": int(keys.CACHE_SECONDS),
        },
        status_code=status_code,
    )


@router.get(BASE)
async def keys_page(
    request: Request,
    principal: Admin,
    session: SessionDep,
    state: StateDep,
    rotated: Annotated[int | None, Query(ge=1, le=keys.MAX_KEY_ID)] = None,
    retired: Annotated[int | None, Query(ge=1, le=keys.MAX_KEY_ID)] = None,
) -> Response:
    """Every signing key: status, dates and public key, with rotate and retire."""
    notice = None
    if rotated is not None:
        notice = f"Key {rotated} now signs new labels. Earlier keys keep verifying theirs."
    elif retired is not None:
        notice = f"Key {retired} is retired. Labels signed with it now answer retired_key."
    return await _keys_page(request, session, state.settings, principal, notice=notice)


@router.post(BASE + "/rotate")
async def rotate_key(
    principal: Admin, session: SessionDep, state: StateDep, origin: OriginDep
) -> Response:
    """Make a new key sign from now on; the old one keeps verifying the labels it signed."""
    row = await keys.rotate(session, state.settings, actor=principal.user, origin=origin)
    return RedirectResponse(f"{BASE}?rotated={row.id}", status_code=303)


@router.post(BASE + "/{key_id}/retire")
async def retire_key(
    key_id: int,
    request: Request,
    principal: Admin,
    session: SessionDep,
    state: StateDep,
    origin: OriginDep,
) -> Response:
    """Stop trusting a key once confirmed: the labels it signed stop verifying."""
    form = await request.form()
    if form.get("confirm") != "yes":
        return await _keys_page(
            request, session, state.settings, principal,
            message="Nothing was retired: tick the box to confirm.",
            errors={key_id: "Tick the box to confirm"}, status_code=422,
        )  # fmt: skip
    try:
        # A savepoint: a refusal undoes only the retirement, and the signed-in user the page
        # shows stays loaded.
        async with session.begin_nested():
            await keys.retire(session, key_id, actor=principal.user, origin=origin)
    except QtrackError as exc:
        return await _keys_page(
            request, session, state.settings, principal,
            message=exc.message, status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(f"{BASE}?retired={key_id}", status_code=303)
