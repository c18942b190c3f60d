"""Logins: access JWTs with rotating refresh tokens for apps, cookie sessions for the web UI.

Every login is a `LoginSession`. An app's refresh tokens all belong to its login session: a
refresh token works once, and presenting one that was already used revokes the whole
session, ending both the thief's and the owner's access (the owner logs in again). Access
JWTs carry the session id, so revoking a session ends its access tokens at once too.
"""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from qtrack.accounts import audit, principal_cache
from qtrack.accounts import service as accounts_service
from qtrack.accounts.audit import Origin
from qtrack.accounts.models import LoginSession, RefreshToken, Role, User
from qtrack.accounts.principal import Principal, Via
from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.core.digits import ascii_digits
from qtrack.core.errors import BadRequest, Unauthorized
from qtrack.core.ratelimit import RateLimiter
from qtrack.core.security import sha256_hex

JWT_ALGORITHM = "HS256"  # pinned: never taken from the token's header
JWT_ISSUER = "qtrack"
JWT_AUDIENCE = "qtrack-api"


class InvalidCredentials(Unauthorized):
    code, message = "invalid_credentials", "Wrong username or password"
    keep_changes = True  # the failed attempt is recorded


class InvalidToken(Unauthorized):
    code, message = "invalid_token", "The token is not valid"


class TokenReused(Unauthorized):
    code, message = (
        "refresh_token_reused",
        "This refresh token was already used; the login is revoked",
    )
    keep_changes = True  # the revocation must stick


@dataclass(frozen=True)
class IssuedTokens:
    """What a successful app login or refresh hands out."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


def _jwt_key(settings: Settings) -> bytes:
    # A fixed-length key derived from the secret: any secret length gives a full-strength key.
    return hashlib.sha256(b"qtrack-jwt:" + settings.secret_key.get_secret_value().encode()).digest()


def issue_access_token(settings: Settings, *, user_id: int, session_id: str) -> str:
    """A short-lived access JWT for a user's login session."""
    now = utcnow()
    claims = {
        "iss": JWT_ISSUER,
        "aud": JWT_AUDIENCE,
        "sub": str(user_id),
        "sid": session_id,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + timedelta(seconds=settings.access_token_ttl_s),
    }
    return jwt.encode(claims, _jwt_key(settings), algorithm=JWT_ALGORITHM)


def decode_access_token(settings: Settings, token: str) -> dict[str, Any]:
    """The claims of a valid access JWT; InvalidToken for anything else."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _jwt_key(settings),
            algorithms=[JWT_ALGORITHM],
            audience=JWT_AUDIENCE,
            issuer=JWT_ISSUER,
            options={"require": ["exp", "iat", "sub", "jti", "sid"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("The access token has expired") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken() from exc
    if not ascii_digits(str(claims["sub"])) or not isinstance(claims["sid"], str):
        raise InvalidToken()
    return claims


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


async def _start_session(
    session: AsyncSession, settings: Settings, *, user: User, kind: str, origin: Origin
) -> tuple[LoginSession, str]:
    ttl = settings.web_session_ttl_s if kind == "web" else settings.refresh_token_ttl_s
    secret = _new_secret()
    login = LoginSession(
        id=uuid.uuid4().hex,
        user_id=user.id,
        kind=kind,
        secret_hash=sha256_hex(secret) if kind == "web" else None,
        expires_at=utcnow() + timedelta(seconds=ttl),
        ip=origin.ip,
        user_agent=(origin.user_agent or "")[:300] or None,
    )
    session.add(login)
    user.last_login_at = utcnow()
    await session.flush()
    return login, secret


async def _issue_refresh(session: AsyncSession, settings: Settings, login: LoginSession) -> str:
    raw = _new_secret()
    session.add(
        RefreshToken(
            session_id=login.id,
            token_hash=sha256_hex(raw),
            expires_at=utcnow() + timedelta(seconds=settings.refresh_token_ttl_s),
        )
    )
    await session.flush()
    return raw


async def check_password_login(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    *,
    username: str,
    password: str,
    origin: Origin,
) -> User:
    """The user for a username and password, with brute-force limits and the security log."""
    username = username.strip().lower()
    try:
        attempt = await accounts_service.claim_attempt(limiter, settings, username, origin.ip)
    except accounts_service.TooManyAttempts:
        # Kept by the error's keep_changes: a flood of guesses shows in the security log too.
        await audit.record(session, "login_throttled", origin=origin, username=username)
        raise
    user = await accounts_service.authenticate_password(session, username, password)
    if user is None:
        await audit.record(session, "login_failed", origin=origin, username=username)
        raise InvalidCredentials()
    await accounts_service.release_attempt(limiter, attempt)
    return user


async def login_app(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    *,
    username: str,
    password: str,
    origin: Origin,
) -> IssuedTokens:
    """Log an app in: an access JWT and the first refresh token of a new login session."""
    user = await check_password_login(
        session, settings, limiter, username=username, password=password, origin=origin
    )
    login, _ = await _start_session(session, settings, user=user, kind="app", origin=origin)
    refresh = await _issue_refresh(session, settings, login)
    await audit.record(
        session, "login", origin=origin, actor=user, subject=user, kind="app", session=login.id
    )
    return IssuedTokens(
        access_token=issue_access_token(settings, user_id=user.id, session_id=login.id),
        expires_in=settings.access_token_ttl_s,
        refresh_token=refresh,
        refresh_expires_in=settings.refresh_token_ttl_s,
    )


async def refresh(
    session: AsyncSession, settings: Settings, *, refresh_token: str, origin: Origin
) -> IssuedTokens:
    """Swap a refresh token for a new pair. A used token revokes its whole login session."""
    now = utcnow()
    row = await session.scalar(
        select(RefreshToken)
        .options(joinedload(RefreshToken.session).joinedload(LoginSession.user))
        .where(RefreshToken.token_hash == sha256_hex(refresh_token))
    )
    if row is None:
        raise InvalidToken("Unknown refresh token")
    login = row.session
    if login.revoked_at is not None or login.expires_at <= now or row.expires_at <= now:
        raise InvalidToken("The login has ended; log in again")
    if not login.user.is_active:
        raise InvalidToken("The user is disabled")

    # Claim the token atomically: of two concurrent uses, exactly one wins.
    claimed = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await revoke_session(session, login.id, "refresh_token_reused")
        await audit.record(
            session, "refresh_token_reused", origin=origin, subject=login.user, session=login.id
        )
        raise TokenReused()

    new_refresh = await _issue_refresh(session, settings, login)
    return IssuedTokens(
        access_token=issue_access_token(settings, user_id=login.user_id, session_id=login.id),
        expires_in=settings.access_token_ttl_s,
        refresh_token=new_refresh,
        refresh_expires_in=max(0, int((login.expires_at - now).total_seconds())),
    )


async def revoke_session(session: AsyncSession, session_id: str, reason: str) -> None:
    """End a login session (and with it every token it issued)."""
    await session.execute(
        update(LoginSession)
        .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoke_reason=reason)
    )
    principal_cache.forget(session)


class NotALogin(BadRequest):
    code, message = "not_a_login", "API tokens do not log in or out: an admin revokes them"


async def logout(session: AsyncSession, *, principal: Principal, origin: Origin) -> None:
    """End the caller's login session."""
    if principal.via == "token":
        raise NotALogin()
    if principal.session_id is not None:
        await revoke_session(session, principal.session_id, "logout")
    await audit.record(
        session,
        "logout",
        origin=origin,
        actor=principal.user,
        subject=principal.user,
        session=principal.session_id,
    )


async def login_web(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    *,
    username: str,
    password: str,
    origin: Origin,
) -> tuple[LoginSession, str]:
    """Log a browser in; returns the session and the secret for its cookie."""
    user = await check_password_login(
        session, settings, limiter, username=username, password=password, origin=origin
    )
    login, secret = await _start_session(session, settings, user=user, kind="web", origin=origin)
    await audit.record(
        session, "login", origin=origin, actor=user, subject=user, kind="web", session=login.id
    )
    return login, secret


def permissions_of(role: Role, scopes: list[str] | None = None) -> frozenset[str]:
    """A role's permissions, narrowed to a token's scopes when it has any."""
    granted = frozenset(role.permissions)
    return granted & frozenset(scopes) if scopes else granted


# Authentication runs on every request, so it is one prebuilt Core statement: the caller's
# credential row, user and role in one round trip, no statement building, no ORM loading.
# The user and role are then put into the session as if a query had loaded them (clean, so
# a read never flushes), because the use cases take `principal.user` as a `User`.
_user = User.__table__
_role = Role.__table__
USER_COLUMNS = tuple(c.label(f"user_{c.key}") for c in _user.c)
ROLE_COLUMNS = tuple(c.label(f"role_{c.key}") for c in _role.c)
_USER_KEYS = tuple(c.key for c in _user.c)
_ROLE_KEYS = tuple(c.key for c in _role.c)
_login = LoginSession.__table__
_SESSION_PRINCIPAL = (
    select(
        _login.c.id,
        _login.c.kind,
        _login.c.expires_at,
        _login.c.revoked_at,
        *USER_COLUMNS,
        *ROLE_COLUMNS,
    )
    .join(_user, _login.c.user_id == _user.c.id)
    .join(_role, _user.c.role_id == _role.c.id)
)
_BY_SESSION_ID = _SESSION_PRINCIPAL.where(_login.c.id == bindparam("sid"))
_BY_WEB_SECRET = _SESSION_PRINCIPAL.where(
    _login.c.secret_hash == bindparam("secret_hash"), _login.c.kind == "web"
)


def _attached(session: AsyncSession, cls: type[Any], values: dict[str, Any]) -> Any:
    """A persistent, unmodified instance holding every column of a row loaded by Core."""
    existing = session.identity_map.get((cls, (values["id"],), None))
    if existing is not None:
        return existing
    # Filled the way a query fills what it loads (straight into the instance's dict, no
    # attribute events), then keyed and attached: clean, nothing expired.
    obj = cls.__mapper__.class_manager.new_instance()
    obj.__dict__.update(values)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


def user_from_row(session: AsyncSession, row: Any, first: int) -> User:
    """The user and their role from a row holding `USER_COLUMNS` then `ROLE_COLUMNS` from
    position `first` on, attached to the session."""
    cut = first + len(_USER_KEYS)
    user: User = _attached(session, User, dict(zip(_USER_KEYS, row[first:cut], strict=True)))
    role: Role = _attached(
        session, Role, dict(zip(_ROLE_KEYS, row[cut : cut + len(_ROLE_KEYS)], strict=True))
    )
    # Attach the loaded role without marking the user changed: a read must not flush.
    set_committed_value(user, "role", role)
    return user


_USER_ID = _USER_KEYS.index("id")
_USERNAME = _USER_KEYS.index("username")
_USER_ACTIVE = _USER_KEYS.index("is_active")
_ROLE_PERMISSIONS = _ROLE_KEYS.index("permissions")


def principal_from_row(
    session: AsyncSession,
    row: Any,
    first: int,
    *,
    via: Via,
    scopes: list[str] | None = None,
    token_id: int | None = None,
    session_id: str | None = None,
) -> Principal:
    """The caller a row holding `USER_COLUMNS` then `ROLE_COLUMNS` from position `first` on
    names; its `User` (and role) attached to the session only when a use case asks for it."""
    if not row[first + _USER_ACTIVE]:
        raise InvalidToken("The user is disabled")
    granted = frozenset(row[first + len(_USER_KEYS) + _ROLE_PERMISSIONS])
    return Principal(
        permissions=granted & frozenset(scopes) if scopes else granted,
        via=via,
        token_id=token_id,
        session_id=session_id,
        user_id=row[first + _USER_ID],
        username=row[first + _USERNAME],
        load_user=lambda: user_from_row(session, row, first),
    )


async def _load_session_principal(
    session: AsyncSession,
    *,
    stmt: Any,
    params: dict[str, Any],
    cache_key: str | None,
    user_id: int | None,
    via: str,
) -> Principal:
    row = principal_cache.get(via, cache_key) if cache_key is not None else None
    if row is None:
        read_at = principal_cache.generation()
        row = (await session.execute(stmt, params)).first()
        if row is None:
            raise InvalidToken()
        if cache_key is not None:
            principal_cache.store(via, cache_key, row, read_at)
    login_id, _, expires_at, revoked_at = row[:4]
    if user_id is not None and row[4 + _USER_ID] != user_id:
        raise InvalidToken()
    if revoked_at is not None or expires_at <= utcnow():
        raise InvalidToken("The login has ended; log in again")
    return principal_from_row(session, row, 4, via=via, session_id=login_id)  # type: ignore[arg-type]


async def principal_from_jwt(session: AsyncSession, settings: Settings, token: str) -> Principal:
    """The caller behind an access JWT, checked against its login session and user."""
    claims = decode_access_token(settings, token)
    return await _load_session_principal(
        session,
        stmt=_BY_SESSION_ID,
        params={"sid": claims["sid"]},
        cache_key=str(claims["sid"]),
        user_id=int(claims["sub"]),
        via="jwt",
    )


async def principal_from_web_session(session: AsyncSession, secret: str) -> Principal:
    """The caller behind a session cookie (not cached: pages are not the scan path, and
    each page costs the same statements every time)."""
    return await _load_session_principal(
        session,
        stmt=_BY_WEB_SECRET,
        params={"secret_hash": sha256_hex(secret)},
        cache_key=None,
        user_id=None,
        via="session",
    )
