"""Accounts JSON API: login and tokens for apps; users, roles and API tokens for admins."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from qtrack.accounts import audit, roles, sessions, tokens
from qtrack.accounts import service as accounts_service
from qtrack.accounts.deps import (
    CALLER_ERRORS,
    PERMISSION_ERRORS,
    CurrentPrincipal,
    OriginDep,
    require,
)
from qtrack.accounts.permissions import ALL_PERMISSIONS, Permission
from qtrack.accounts.principal import Principal
from qtrack.accounts.roles import CannotGrant, RoleNotFound
from qtrack.accounts.schemas import (
    LoginRequest,
    Me,
    PasswordChange,
    PasswordReset,
    PasswordResetDone,
    RefreshRequest,
    RoleCreate,
    RoleRead,
    RoleUpdate,
    SecurityEventRead,
    TokenCreate,
    TokenCreated,
    TokenPair,
    TokenRead,
    UserCreate,
    UserCreated,
    UserRead,
    UserUpdate,
)
from qtrack.accounts.service import SignatureFailed, TooManyAttempts, UserNotFound, WeakPassword
from qtrack.accounts.sessions import InvalidCredentials, InvalidToken, NotALogin, TokenReused
from qtrack.accounts.tokens import TokenNotFound
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.errors import Conflict, ValidationFailed
from qtrack.core.openapi import errors
from qtrack.core.pagination import (
    InvalidCursor,
    Page,
    PageCursor,
    PageLimit,
    decode_int_cursor,
    encode_cursor,
)

router = APIRouter(prefix="/api/v1")
AdminUsers = Annotated[Principal, Depends(require(Permission.ADMIN_USERS))]
NO_STORE = {"Cache-Control": "no-store"}


def _pair(issued: sessions.IssuedTokens) -> TokenPair:
    return TokenPair(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        refresh_expires_in=issued.refresh_expires_in,
    )


# --- authentication ------------------------------------------------------------------------


@router.post(
    "/auth/login", tags=["auth"], responses=errors(InvalidCredentials, TooManyAttempts, 413, 422)
)
async def login(
    body: LoginRequest, session: SessionDep, state: StateDep, origin: OriginDep, response: Response
) -> TokenPair:
    """Log an app in: a 15-minute access token and a 30-day refresh token."""
    response.headers.update(NO_STORE)
    issued = await sessions.login_app(
        session,
        state.settings,
        state.limiter,
        username=body.username,
        password=body.password,
        origin=origin,
    )
    return _pair(issued)


@router.post("/auth/refresh", tags=["auth"], responses=errors(InvalidToken, TokenReused, 413, 422))
async def refresh(
    body: RefreshRequest,
    session: SessionDep,
    state: StateDep,
    origin: OriginDep,
    response: Response,
) -> TokenPair:
    """Swap a refresh token for a new pair; a reused refresh token ends the login."""
    response.headers.update(NO_STORE)
    issued = await sessions.refresh(
        session, state.settings, refresh_token=body.refresh_token, origin=origin
    )
    return _pair(issued)


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    tags=["auth"],
    responses=errors(CALLER_ERRORS, NotALogin),
)
async def logout(principal: CurrentPrincipal, session: SessionDep, origin: OriginDep) -> None:
    """End this login: its access and refresh tokens stop working."""
    await sessions.logout(session, principal=principal, origin=origin)


@router.get("/auth/me", tags=["auth"], responses=errors(CALLER_ERRORS))
async def me(principal: CurrentPrincipal) -> Me:
    """Who I am and what I may do."""
    return Me(**UserRead.of(principal.user).model_dump(), permissions=sorted(principal.permissions))


# 403 `forbidden`: an API token cannot change its person's password.
@router.post(
    "/auth/password",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    tags=["auth"],
    responses=errors(CALLER_ERRORS, 403, SignatureFailed, TooManyAttempts, WeakPassword),
)
async def change_password(
    body: PasswordChange,
    principal: CurrentPrincipal,
    session: SessionDep,
    state: StateDep,
    origin: OriginDep,
) -> None:
    """Change my own password (the current one is required)."""
    await accounts_service.change_own_password(
        session,
        state.settings,
        state.limiter,
        principal=principal,
        current_password=body.current_password,
        new_password=body.new_password,
        origin=origin,
    )


@router.get("/permissions", tags=["auth"], responses=errors(CALLER_ERRORS))
async def list_permissions(_: CurrentPrincipal) -> list[str]:
    """Every permission a role can hold."""
    return sorted(ALL_PERMISSIONS)


# --- users -----------------------------------------------------------------------------------


@router.get("/users", tags=["users"], responses=errors(PERMISSION_ERRORS, InvalidCursor))
async def list_users(
    _: AdminUsers, session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Page[UserRead]:
    """Users, oldest first."""
    users = await accounts_service.list_users(
        session, after_id=decode_int_cursor(cursor), limit=limit
    )
    next_cursor = encode_cursor(users[-1].id) if len(users) == limit else None
    return Page(items=[UserRead.of(u) for u in users], next_cursor=next_cursor)


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    tags=["users"],
    responses=errors(PERMISSION_ERRORS, CannotGrant, RoleNotFound, Conflict, WeakPassword),
)
async def create_user(
    body: UserCreate,
    actor: AdminUsers,
    session: SessionDep,
    state: StateDep,
    origin: OriginDep,
    response: Response,
) -> UserCreated:
    """Create a user; a generated password is returned once."""
    response.headers.update(NO_STORE)
    user, generated = await accounts_service.create_user(
        session,
        state.settings,
        actor=actor,
        username=body.username,
        role=body.role,
        full_name=body.full_name,
        email=body.email,
        password=body.password,
        origin=origin,
    )
    return UserCreated(**UserRead.of(user).model_dump(), generated_password=generated)


@router.get("/users/{username}", tags=["users"], responses=errors(PERMISSION_ERRORS, UserNotFound))
async def get_user(username: str, _: AdminUsers, session: SessionDep) -> UserRead:
    """One user."""
    return UserRead.of(await accounts_service.get_user(session, username))


@router.patch(
    "/users/{username}",
    tags=["users"],
    responses=errors(PERMISSION_ERRORS, UserNotFound, CannotGrant, RoleNotFound, Conflict),
)
async def update_user(
    username: str, body: UserUpdate, actor: AdminUsers, session: SessionDep, origin: OriginDep
) -> UserRead:
    """Change a user's name, email or role."""
    user = await accounts_service.update_user(
        session,
        actor=actor,
        username=username,
        changes=body.model_dump(exclude_unset=True),
        origin=origin,
    )
    return UserRead.of(user)


@router.post(
    "/users/{username}/disable",
    tags=["users"],
    responses=errors(PERMISSION_ERRORS, UserNotFound, CannotGrant, Conflict),
)
async def disable_user(
    username: str, actor: AdminUsers, session: SessionDep, origin: OriginDep
) -> UserRead:
    """Disable a user: every token and session of theirs stops working at once."""
    user = await accounts_service.set_active(
        session, actor=actor, username=username, active=False, origin=origin
    )
    return UserRead.of(user)


@router.post(
    "/users/{username}/enable",
    tags=["users"],
    responses=errors(PERMISSION_ERRORS, UserNotFound, CannotGrant, Conflict),
)
async def enable_user(
    username: str, actor: AdminUsers, session: SessionDep, origin: OriginDep
) -> UserRead:
    """Enable a disabled user again."""
    user = await accounts_service.set_active(
        session, actor=actor, username=username, active=True, origin=origin
    )
    return UserRead.of(user)


@router.post(
    "/users/{username}/reset-password",
    tags=["users"],
    responses=errors(PERMISSION_ERRORS, UserNotFound, CannotGrant, WeakPassword),
)
async def reset_password(
    username: str,
    body: PasswordReset,
    actor: AdminUsers,
    session: SessionDep,
    state: StateDep,
    origin: OriginDep,
    response: Response,
) -> PasswordResetDone:
    """Set a new password (generated when none is given) and end the user's logins."""
    response.headers.update(NO_STORE)
    user, generated = await accounts_service.reset_password(
        session,
        state.settings,
        actor=actor,
        username=username,
        new_password=body.new_password,
        origin=origin,
    )
    return PasswordResetDone(username=user.username, generated_password=generated)


# --- roles -----------------------------------------------------------------------------------


@router.get("/roles", tags=["roles"], responses=errors(PERMISSION_ERRORS))
async def list_roles(_: AdminUsers, session: SessionDep) -> list[RoleRead]:
    """Every role and its permissions."""
    return [RoleRead.model_validate(r) for r in await roles.list_roles(session)]


@router.post(
    "/roles",
    status_code=status.HTTP_201_CREATED,
    tags=["roles"],
    responses=errors(PERMISSION_ERRORS, CannotGrant, Conflict, ValidationFailed),
)
async def create_role(
    body: RoleCreate, actor: AdminUsers, session: SessionDep, origin: OriginDep
) -> RoleRead:
    """Define a new role from the known permissions."""
    role = await roles.create_role(
        session,
        actor=actor,
        key=body.key,
        name=body.name,
        description=body.description,
        permissions=body.permissions,
        origin=origin,
    )
    return RoleRead.model_validate(role)


@router.patch(
    "/roles/{key}",
    tags=["roles"],
    responses=errors(PERMISSION_ERRORS, RoleNotFound, CannotGrant, Conflict, ValidationFailed),
)
async def update_role(
    key: str, body: RoleUpdate, actor: AdminUsers, session: SessionDep, origin: OriginDep
) -> RoleRead:
    """Rename a role or change its permissions (not the shipped ones)."""
    role = await roles.update_role(
        session, actor=actor, key=key, changes=body.model_dump(exclude_unset=True), origin=origin
    )
    return RoleRead.model_validate(role)


@router.delete(
    "/roles/{key}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    tags=["roles"],
    responses=errors(PERMISSION_ERRORS, RoleNotFound, Conflict),
)
async def delete_role(key: str, actor: AdminUsers, session: SessionDep, origin: OriginDep) -> None:
    """Delete a role that nobody holds."""
    await roles.delete_role(session, actor=actor, key=key, origin=origin)


# --- API tokens ------------------------------------------------------------------------------


@router.get("/tokens", tags=["tokens"], responses=errors(PERMISSION_ERRORS, InvalidCursor))
async def list_tokens(
    _: AdminUsers,
    session: SessionDep,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
    include_revoked: bool = False,
) -> Page[TokenRead]:
    """API tokens with their last-used time (never the token itself)."""
    rows = await tokens.list_tokens(
        session, after_id=decode_int_cursor(cursor), limit=limit, include_revoked=include_revoked
    )
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return Page(items=[TokenRead.of(t) for t in rows], next_cursor=next_cursor)


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    tags=["tokens"],
    responses=errors(PERMISSION_ERRORS, UserNotFound, CannotGrant, ValidationFailed),
)
async def create_token(
    body: TokenCreate, actor: AdminUsers, session: SessionDep, origin: OriginDep, response: Response
) -> TokenCreated:
    """Create a token for a device or integration; the token is shown in this answer only."""
    response.headers.update(NO_STORE)
    token, raw = await tokens.create_token(
        session,
        actor=actor,
        name=body.name,
        username=body.username,
        scopes=body.scopes,
        expires_at=body.expires_at,
        origin=origin,
    )
    return TokenCreated(**TokenRead.of(token).model_dump(), token=raw)


@router.get(
    "/tokens/{token_id}", tags=["tokens"], responses=errors(PERMISSION_ERRORS, TokenNotFound)
)
async def get_token(token_id: int, _: AdminUsers, session: SessionDep) -> TokenRead:
    """One API token."""
    return TokenRead.of(await tokens.get_token(session, token_id))


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    tags=["tokens"],
    responses=errors(PERMISSION_ERRORS, TokenNotFound),
)
async def revoke_token(
    token_id: int, actor: AdminUsers, session: SessionDep, origin: OriginDep
) -> None:
    """Revoke an API token; it stops working at once."""
    await tokens.revoke_token(session, actor=actor, token_id=token_id, origin=origin)


# --- security log ----------------------------------------------------------------------------


@router.get("/security-events", tags=["users"], responses=errors(PERMISSION_ERRORS, InvalidCursor))
async def list_security_events(
    _: AdminUsers,
    session: SessionDep,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
    kind: str | None = None,
) -> Page[SecurityEventRead]:
    """Logins, logouts, token and role changes: who, when, from where. Newest first."""
    rows = await audit.list_security_events(
        session, before_id=decode_int_cursor(cursor), limit=limit, kind=kind
    )
    next_cursor = encode_cursor(rows[-1][0].id) if len(rows) == limit else None
    items = [
        SecurityEventRead.model_validate(event).model_copy(update={"actor": actor})
        for event, actor in rows
    ]
    return Page(items=items, next_cursor=next_cursor)
