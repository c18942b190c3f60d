"""Account use cases: users, roles, passwords, e-signatures, and the security log."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from qtrack.accounts import principal_cache
from qtrack.accounts.audit import Origin, record
from qtrack.accounts.models import LoginSession, Role, User
from qtrack.accounts.permissions import ADMIN_ROLE
from qtrack.accounts.principal import Principal
from qtrack.accounts.roles import ensure_grantable, get_role
from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.core.errors import Conflict, Forbidden, NotFound, RateLimited, ValidationFailed
from qtrack.core.ratelimit import RateLimiter
from qtrack.core.security import (
    burn_verify_time_async,
    generate_password,
    hash_password_async,
    verify_password_async,
)


class UserNotFound(NotFound):
    code, message = "user_not_found", "No such user"


class WeakPassword(ValidationFailed):
    code, message = "weak_password", "The password is not acceptable"


class SignatureFailed(Forbidden):
    code, message = "signature_failed", "The password does not match; nothing was signed"
    keep_changes = True  # the failed attempt is recorded


class TooManyAttempts(RateLimited):
    code, message = "too_many_attempts", "Too many failed attempts; wait and try again"
    keep_changes = True


# --- passwords and failed attempts ---------------------------------------------------------


def check_password_rules(settings: Settings, username: str, password: str) -> None:
    """Refuse passwords that are too short, that contain the username, or that hold a line
    break or another control character (no login form can type one: the account would be
    locked out of the pages; `--password-stdin` given two lines made one)."""
    problems = []
    if len(password) < settings.password_min_length:
        problems.append(f"at least {settings.password_min_length} characters")
    if username and username.lower() in password.lower():
        problems.append("must not contain the username")
    if any(ord(char) < 32 or ord(char) == 127 for char in password):
        problems.append("no line breaks, tabs or other control characters")
    if problems:
        raise WeakPassword(
            "The password is not acceptable: " + "; ".join(problems),
            details=[
                {"loc": ["body", "password"], "msg": p, "type": "weak_password"} for p in problems
            ],
        )


def password_for(settings: Settings, username: str) -> str:
    """A generated password that the rules above accept, so that creating a user or
    resetting a password without giving one never fails on the password qtrack chose: long
    enough for the configured minimum, and drawn again when it happens to contain the
    username (a two-letter name is in one draw in twenty)."""
    nbytes = max(15, -(-settings.password_min_length * 3 // 4))
    while True:
        password = generate_password(nbytes)
        if not username or username.lower() not in password.lower():
            return password


def _failure_keys(settings: Settings, username: str, ip: str | None) -> list[tuple[str, int]]:
    """The counters a failed password check adds to, each with its limit: one person at one
    address (tight), and the address as a whole (loose). A person mistyping behind a shift's
    shared NAT address blocks only themselves; one address guessing many names is still
    stopped."""
    keys = [(f"login-fail:user-ip:{username.lower()}|{ip or '-'}", settings.login_rate_limit)]
    if ip:
        keys.append((f"login-fail:ip:{ip}", settings.login_rate_limit_per_address))
    return keys


Attempt = list[tuple[str, str]]


async def claim_attempt(
    limiter: RateLimiter, settings: Settings, username: str, ip: str | None
) -> Attempt:
    """Count a password check against the person at this address and against the address
    *before* it runs, so concurrent guesses cannot all slip under the limits; 429 when a
    limit is used up."""
    window = settings.login_rate_window_s
    claimed: Attempt = []
    over: str | None = None
    for key, limit in _failure_keys(settings, username, ip):
        count, event_id = await limiter.add_event(key, window)
        claimed.append((key, event_id))
        if count > limit:
            over = key
    if over is not None:
        retry = (await limiter.recent(over, window)).retry_after_s or window
        raise TooManyAttempts(headers={"Retry-After": str(retry)})
    return claimed


async def release_attempt(limiter: RateLimiter, attempt: Attempt) -> None:
    """The password was right: the attempt does not count against anyone."""
    for key, event_id in attempt:
        await limiter.remove_event(key, event_id)


async def verify_signature(
    session: AsyncSession,
    *,
    user: User,
    password: str,
    meaning: str,
    limiter: RateLimiter,
    settings: Settings,
    origin: Origin | None = None,
) -> datetime:
    """Check a re-entered password for an e-signature; failures count like failed logins.

    Returns the signing time. Raises SignatureFailed (403, recorded) on a wrong password and
    TooManyAttempts (429) once the attempts are used up.
    """
    ip = origin.ip if origin else None
    attempt = await claim_attempt(limiter, settings, user.username, ip)
    if not user.is_active or not await verify_password_async(user.password_hash, password):
        await record(
            session, "signature_failed", origin=origin, actor=user, subject=user, meaning=meaning
        )
        raise SignatureFailed()
    await release_attempt(limiter, attempt)
    signed_at = utcnow()
    await record(session, "signature_ok", origin=origin, actor=user, subject=user, meaning=meaning)
    return signed_at


async def revoke_user_sessions(session: AsyncSession, user_id: int, reason: str) -> None:
    """End every web session and app login of a user."""
    await session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoke_reason=reason)
    )
    principal_cache.forget(session)


# --- users -----------------------------------------------------------------------------------


async def count_users(session: AsyncSession) -> int:
    """How many users exist."""
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def get_user(session: AsyncSession, username: str) -> User:
    """A user (with role) by username; 404 user_not_found."""
    user = await session.scalar(
        select(User).options(joinedload(User.role)).where(User.username == username.strip().lower())
    )
    if user is None:
        raise UserNotFound(f"No user '{username}'")
    return user


async def list_users(session: AsyncSession, *, after_id: int | None, limit: int) -> Sequence[User]:
    """Users by id, with their roles."""
    stmt = select(User).options(joinedload(User.role)).order_by(User.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(User.id > after_id)
    return (await session.scalars(stmt)).all()


async def create_user(
    session: AsyncSession,
    settings: Settings,
    *,
    actor: Principal | None,
    username: str,
    role: str,
    full_name: str = "",
    email: str | None = None,
    password: str | None = None,
    origin: Origin | None = None,
) -> tuple[User, str | None]:
    """Create a user; returns the user and the generated password when none was given."""
    username = username.strip().lower()
    if await session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"User '{username}' already exists", details={"username": username})
    role_row = await get_role(session, role)
    ensure_grantable(actor, role_row.permissions)
    generated = None
    if password is None:
        generated = password = password_for(settings, username)
    check_password_rules(settings, username, password)
    user = User(
        username=username,
        full_name=full_name,
        email=email,
        password_hash=await hash_password_async(password),
        role_id=role_row.id,
        role=role_row,
    )
    session.add(user)
    await session.flush()
    await record(
        session,
        "user_created",
        origin=origin,
        actor=actor.user if actor else None,
        subject=user,
        role=role,
    )
    return user, generated


async def update_user(
    session: AsyncSession,
    *,
    actor: Principal,
    username: str,
    changes: dict[str, Any],
    origin: Origin | None = None,
) -> User:
    """Change a user's name, email or role; a role change is recorded."""
    user = await get_user(session, username)
    principal_cache.forget(session)
    ensure_grantable(actor, user.role.permissions)
    if "role" in changes and changes["role"] is not None and changes["role"] != user.role.key:
        new_role = await get_role(session, changes["role"])
        ensure_grantable(actor, new_role.permissions)
        if user.role.key == ADMIN_ROLE:
            await _keep_an_admin(session, user)
        before = user.role.key
        user.role_id, user.role = new_role.id, new_role
        await record(
            session,
            "role_changed",
            origin=origin,
            actor=actor.user,
            subject=user,
            before=before,
            after=new_role.key,
        )
    if "full_name" in changes:
        user.full_name = changes["full_name"] or ""
    if "email" in changes:
        user.email = changes["email"]
    await session.flush()
    return user


async def _keep_an_admin(session: AsyncSession, leaving: User) -> None:
    """Refuse to take away the last active admin."""
    # Lock every active admin's row, in id order, before counting: two admins demoting each
    # other at once then queue instead of both passing (or deadlocking).
    locked = (
        await session.scalars(
            select(User.id)
            .join(Role, User.role_id == Role.id)
            .where(Role.key == ADMIN_ROLE, User.is_active.is_(True))
            .order_by(User.id)
            .with_for_update(of=User)
        )
    ).all()
    admins = [user_id for user_id in locked if user_id != leaving.id]
    if not admins:
        raise Conflict("This is the last active admin", details={"username": leaving.username})


async def set_active(
    session: AsyncSession,
    *,
    actor: Principal | None,
    username: str,
    active: bool,
    origin: Origin | None = None,
) -> User:
    """Disable or re-enable a user. A disabled user's tokens and sessions stop working at once."""
    user = await get_user(session, username)
    ensure_grantable(actor, user.role.permissions)
    if user.is_active == active:
        return user
    if not active and user.role.key == ADMIN_ROLE:
        await _keep_an_admin(session, user)
    user.is_active = active
    principal_cache.forget(session)
    if not active:
        await revoke_user_sessions(session, user.id, "user_disabled")
    await session.flush()
    await record(
        session,
        "user_enabled" if active else "user_disabled",
        origin=origin,
        actor=actor.user if actor else None,
        subject=user,
    )
    return user


async def reset_password(
    session: AsyncSession,
    settings: Settings,
    *,
    actor: Principal | None,
    username: str,
    new_password: str | None,
    origin: Origin | None = None,
) -> tuple[User, str | None]:
    """Set a new password (generated when none is given); the user's logins are ended."""
    user = await get_user(session, username)
    ensure_grantable(actor, user.role.permissions)
    generated = None
    if new_password is None:
        generated = new_password = password_for(settings, user.username)
    check_password_rules(settings, user.username, new_password)
    user.password_hash = await hash_password_async(new_password)
    user.password_changed_at = utcnow()
    principal_cache.forget(session)
    await revoke_user_sessions(session, user.id, "password_reset")
    await session.flush()
    await record(
        session, "password_reset", origin=origin, actor=actor.user if actor else None, subject=user
    )
    return user, generated


async def change_own_password(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    *,
    principal: Principal,
    current_password: str,
    new_password: str,
    origin: Origin | None = None,
) -> None:
    """A user changes their own password after proving the current one; their other logins
    end. A device's API token cannot do this for the person it belongs to."""
    if principal.via == "token":
        raise Forbidden("API tokens cannot change passwords", details={"via": "token"})
    # Locked and read again: two changes sent at once with the same current password would
    # otherwise both match it, and both report success while only the last one holds.
    user = await session.get_one(
        User, principal.user_id, with_for_update=True, populate_existing=True
    )  # users are disabled, never deleted
    ip = origin.ip if origin else None
    attempt = await claim_attempt(limiter, settings, user.username, ip)
    if not await verify_password_async(user.password_hash, current_password):
        await record(session, "password_change_failed", origin=origin, actor=user, subject=user)
        raise SignatureFailed("The current password does not match")
    await release_attempt(limiter, attempt)
    check_password_rules(settings, user.username, new_password)
    user.password_hash = await hash_password_async(new_password)
    user.password_changed_at = utcnow()
    principal_cache.forget(session)
    await session.execute(
        update(LoginSession)
        .where(
            LoginSession.user_id == user.id,
            LoginSession.revoked_at.is_(None),
            LoginSession.id != (principal.session_id or ""),
        )
        .values(revoked_at=utcnow(), revoke_reason="password_changed")
    )
    await session.flush()
    await record(session, "password_changed", origin=origin, actor=user, subject=user)


async def authenticate_password(session: AsyncSession, username: str, password: str) -> User | None:
    """The active user whose password this is, or None; takes the same time either way."""
    user = await session.scalar(
        select(User).options(joinedload(User.role)).where(User.username == username.strip().lower())
    )
    if user is None:
        await burn_verify_time_async(password)
        return None
    if not await verify_password_async(user.password_hash, password) or not user.is_active:
        return None
    return user


async def ensure_first_admin(
    session: AsyncSession,
    settings: Settings,
    *,
    username: str,
    password: str | None,
    origin: Origin | None = None,
) -> tuple[User, str | None] | None:
    """Create the first admin when there are no users at all.

    Returns the new user and, when no password was given, the generated one (to print once);
    None when users already exist.
    """
    if await count_users(session) > 0:
        return None
    user, generated = await create_user(
        session,
        settings,
        actor=None,
        username=username,
        role=ADMIN_ROLE,
        full_name="Administrator",
        password=password,
        origin=origin,
    )
    return user, generated


# --- the security log, as people read it --------------------------------------------------
