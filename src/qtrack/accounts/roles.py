"""Role use cases: roles are named sets of the permissions in code; the shipped ones are fixed."""

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts import principal_cache
from qtrack.accounts.audit import Origin, record
from qtrack.accounts.models import Role, User
from qtrack.accounts.permissions import ALL_PERMISSIONS, BUILTIN_ROLES
from qtrack.accounts.principal import Principal
from qtrack.core.errors import Conflict, Forbidden, NotFound, ValidationFailed


class RoleNotFound(NotFound):
    code, message = "role_not_found", "No such role"


def _check_permissions(permissions: Sequence[str]) -> list[str]:
    unknown = sorted(set(permissions) - ALL_PERMISSIONS)
    if unknown:
        raise ValidationFailed(
            f"Unknown permissions: {', '.join(unknown)}",
            details=[
                {
                    "loc": ["body", "permissions"],
                    "msg": f"unknown: {p}",
                    "type": "unknown_permission",
                }
                for p in unknown
            ],
        )
    return sorted(set(permissions))


class CannotGrant(Forbidden):
    code, message = "cannot_grant", "You cannot give rights you do not hold yourself"


def ensure_grantable(actor: Principal | None, permissions: Iterable[str]) -> None:
    """Refuse to hand out (or take over an account with) rights the actor lacks. The CLI, the
    server's own administrator, passes no actor."""
    if actor is None:
        return
    missing = sorted(set(permissions) - actor.permissions)
    if missing:
        raise CannotGrant(details={"missing": missing})


async def list_roles(session: AsyncSession) -> Sequence[Role]:
    """Every role, by key."""
    return (await session.scalars(select(Role).order_by(Role.key))).all()


async def count_holders(session: AsyncSession) -> dict[int, int]:
    """How many users hold each role (role id -> count), in one query."""
    rows = await session.execute(select(User.role_id, func.count()).group_by(User.role_id))
    return {role_id: int(count) for role_id, count in rows.all()}


async def get_role(session: AsyncSession, key: str) -> Role:
    """A role by key; 404 role_not_found, naming the roles there are."""
    role = await session.scalar(select(Role).where(Role.key == key))
    if role is None:
        known = list((await session.scalars(select(Role.key).order_by(Role.key))).all())
        raise RoleNotFound(
            f"No role '{key}'; the roles are: {', '.join(known)}",
            details={"role": key, "roles": known},
        )
    return role


async def create_role(
    session: AsyncSession,
    *,
    actor: Principal,
    key: str,
    name: str,
    description: str,
    permissions: Sequence[str],
    origin: Origin | None = None,
) -> Role:
    """Define a new role from known permissions."""
    if await session.scalar(select(Role.id).where(Role.key == key)) is not None:
        raise Conflict(f"Role '{key}' already exists", details={"key": key})
    checked = _check_permissions(permissions)
    ensure_grantable(actor, checked)
    role = Role(key=key, name=name, description=description, permissions=checked)
    session.add(role)
    await session.flush()
    await record(
        session,
        "role_created",
        origin=origin,
        actor=actor.user,
        role=key,
        permissions=role.permissions,
    )
    return role


async def update_role(
    session: AsyncSession,
    *,
    actor: Principal,
    key: str,
    changes: dict[str, Any],
    origin: Origin | None = None,
) -> Role:
    """Rename a role or change its permissions; the shipped roles are fixed."""
    role = await get_role(session, key)
    if role.builtin:
        raise Conflict(
            "Shipped roles cannot be changed; define a new role instead", details={"key": key}
        )
    if "permissions" in changes and changes["permissions"] is not None:
        checked = _check_permissions(changes["permissions"])
        ensure_grantable(actor, checked)
        before = list(role.permissions)
        role.permissions = checked
        principal_cache.forget(session)
        await record(
            session,
            "role_changed",
            origin=origin,
            actor=actor.user,
            role=key,
            before=before,
            after=role.permissions,
        )
    for field in ("name", "description"):
        if changes.get(field) is not None:
            setattr(role, field, changes[field])
    await session.flush()
    return role


async def delete_role(
    session: AsyncSession, *, actor: Principal, key: str, origin: Origin | None = None
) -> None:
    """Remove a role nobody holds; the shipped roles stay."""
    role = await get_role(session, key)
    if role.builtin:
        raise Conflict("Shipped roles cannot be deleted", details={"key": key})
    holders = await session.scalar(
        select(func.count()).select_from(User).where(User.role_id == role.id)
    )
    if holders:
        raise Conflict(f"{holders} users hold role '{key}'", details={"users": holders})
    await session.delete(role)
    principal_cache.forget(session)
    await record(session, "role_deleted", origin=origin, actor=actor.user, role=key)


async def sync_builtin_roles(session: AsyncSession) -> None:
    """Make the shipped roles match the code (new permissions reach existing installs)."""
    existing = {r.key: r for r in await list_roles(session)}
    for key, (name, description, permissions) in BUILTIN_ROLES.items():
        role = existing.get(key)
        if role is None:
            session.add(
                Role(
                    key=key,
                    name=name,
                    description=description,
                    permissions=sorted(permissions),
                    builtin=True,
                )
            )
        elif sorted(role.permissions) != sorted(permissions) or not role.builtin:
            role.permissions, role.builtin = sorted(permissions), True
            principal_cache.forget(session)
    await session.flush()
