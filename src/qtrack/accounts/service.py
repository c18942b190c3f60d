"""Account use cases."""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts.models import User
from qtrack.core.security import generate_password, hash_password

ADMIN_ROLE = "admin"


async def count_users(session: AsyncSession) -> int:
    """How many users exist."""
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def ensure_first_admin(
    session: AsyncSession, *, username: str, password: str | None
) -> tuple[User, str | None] | None:
    """Create the first admin when there are no users at all.

    Returns the new user and, when no password was given, the generated one (to print once);
    None when users already exist.
    """
    if await count_users(session) > 0:
        return None
    generated = None
    if not password:
        generated = password = generate_password()
    user = User(
        username=username.strip().lower(),
        full_name="Administrator",
        password_hash=hash_password(password),
        role=ADMIN_ROLE,
    )
    session.add(user)
    await session.flush()
    return user, generated
