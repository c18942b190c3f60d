"""API tokens for scanner devices and integrations: named, scoped, shown once, revocable."""

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from qtrack.accounts import audit, principal_cache, sessions
from qtrack.accounts import service as accounts_service
from qtrack.accounts.audit import Origin
from qtrack.accounts.models import ApiToken, Role, User
from qtrack.accounts.permissions import ALL_PERMISSIONS
from qtrack.accounts.principal import Principal
from qtrack.accounts.roles import ensure_grantable
from qtrack.accounts.sessions import InvalidToken
from qtrack.core.clock import utcnow
from qtrack.core.errors import NotFound, ValidationFailed
from qtrack.core.security import sha256_hex

TOKEN_PREFIX = "qtk_"  # noqa: S105 (a marker, not a secret)
# last_used_at is written at most this often per token, not on every request.
TOUCH_INTERVAL = timedelta(seconds=60)


class TokenNotFound(NotFound):
    code, message = "token_not_found", "No such API token"


def looks_like_api_token(value: str) -> bool:
    """Whether a bearer credential is an API token rather than a JWT."""
    return value.startswith(TOKEN_PREFIX)


async def create_token(
    session: AsyncSession,
    *,
    actor: Principal | None,
    name: str,
    username: str,
    scopes: Sequence[str],
    expires_at: datetime | None,
    origin: Origin | None = None,
) -> tuple[ApiToken, str]:
    """Create a token acting as a user; returns the row and the raw token (shown once)."""
    unknown = sorted(set(scopes) - ALL_PERMISSIONS)
    if unknown:
        raise ValidationFailed(
            f"Unknown scopes: {', '.join(unknown)}",
            details=[
                {"loc": ["body", "scopes"], "msg": f"unknown: {s}", "type": "unknown_scope"}
                for s in unknown
            ],
        )
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= utcnow()):
        raise ValidationFailed(
            "expires_at must be a future time with a time zone",
            details=[
                {
                    "loc": ["body", "expires_at"],
                    "msg": "must be in the future, with a zone",
                    "type": "value_error",
                }
            ],
        )
    user = await accounts_service.get_user(session, username)
    ensure_grantable(actor, scopes or user.role.permissions)
    not_held = sorted(set(scopes) - set(user.role.permissions))
    if not_held:
        raise ValidationFailed(
            f"'{user.username}' does not hold: {', '.join(not_held)}",
            details=[
                {
                    "loc": ["body", "scopes"],
                    "msg": f"not held by the user: {s}",
                    "type": "scope_not_held",
                }
                for s in not_held
            ],
        )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        prefix=raw[: len(TOKEN_PREFIX) + 8],
        token_hash=sha256_hex(raw),
        user_id=user.id,
        user=user,
        scopes=sorted(set(scopes)),
        created_by_id=actor.user_id if actor else None,
        expires_at=expires_at,
    )
    session.add(token)
    await session.flush()
    await audit.record(
        session,
        "token_created",
        origin=origin,
        actor=actor.user if actor else None,
        subject=user,
        token_id=token.id,
        name=name,
        scopes=token.scopes,
    )
    return token, raw


async def list_tokens(
    session: AsyncSession, *, after_id: int | None, limit: int, include_revoked: bool = False
) -> Sequence[ApiToken]:
    """Tokens by id, with the user each acts as."""
    stmt = select(ApiToken).options(joinedload(ApiToken.user)).order_by(ApiToken.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(ApiToken.id > after_id)
    if not include_revoked:
        stmt = stmt.where(ApiToken.revoked_at.is_(None))
    return (await session.scalars(stmt)).all()


async def get_token(session: AsyncSession, token_id: int) -> ApiToken:
    """A token by id; 404 token_not_found."""
    token = await session.scalar(
        select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.id == token_id)
    )
    if token is None:
        raise TokenNotFound()
    return token


async def revoke_token(
    session: AsyncSession, *, actor: Principal | None, token_id: int, origin: Origin | None = None
) -> ApiToken:
    """Revoke a token; it stops working at once. Revoking twice changes nothing."""
    token = await get_token(session, token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        principal_cache.forget(session)
        await session.flush()
        await audit.record(
            session,
            "token_revoked",
            origin=origin,
            actor=actor.user if actor else None,
            subject=token.user,
            token_id=token.id,
            name=token.name,
        )
    return token


_token = ApiToken.__table__
_TOKEN_PRINCIPAL = (
    select(
        _token.c.id,
        _token.c.scopes,
        _token.c.expires_at,
        _token.c.revoked_at,
        _token.c.last_used_at,
        *sessions.USER_COLUMNS,
        *sessions.ROLE_COLUMNS,
    )
    .join(User.__table__, _token.c.user_id == User.__table__.c.id)
    .join(Role.__table__, User.__table__.c.role_id == Role.__table__.c.id)
    .where(_token.c.token_hash == bindparam("token_hash"))
)


async def principal_from_api_token(session: AsyncSession, raw: str) -> tuple[Principal, bool]:
    """The caller behind an API token (its user, narrowed to the token's scopes), and whether
    the token's last-used time is stale enough to be written. One prebuilt statement."""
    token_hash = sha256_hex(raw)
    row = principal_cache.get("token", token_hash)
    cached = row is not None
    if row is None:
        read_at = principal_cache.generation()
        row = (await session.execute(_TOKEN_PRINCIPAL, {"token_hash": token_hash})).first()
        if row is None:
            raise InvalidToken("Unknown API token")
        principal_cache.store("token", token_hash, row, read_at)
    token_id, scopes, expires_at, revoked_at, last_used_at = row[:5]
    if revoked_at is not None:
        raise InvalidToken("The API token has been revoked")
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidToken("The API token has expired")
    principal = sessions.principal_from_row(
        session, row, 5, via="token", scopes=scopes, token_id=token_id
    )
    # A cached row's last-used time is as old as the row: the read that cached it decided.
    return principal, not cached and needs_touch(last_used_at)


def needs_touch(last_used_at: datetime | None) -> bool:
    """Whether last_used_at is old enough to be worth a write."""
    return last_used_at is None or utcnow() - last_used_at >= TOUCH_INTERVAL


async def touch(session: AsyncSession, token_id: int) -> None:
    """Record that a token was just used."""
    await session.execute(
        update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow())
    )
