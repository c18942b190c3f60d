"""`qtrack users`: user accounts."""

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts import service as accounts_service
from qtrack.accounts.schemas import PasswordReset, UserCreate, UserRead
from qtrack.cli.common import (
    CLI_ORIGIN,
    PAGE_SIZE,
    PasswordOption,
    PasswordStdinOption,
    password_from,
    print_table,
    run_in_session,
    validated,
    when,
)
from qtrack.config import get_settings

app = typer.Typer(help="User accounts: create, list, disable, reset.", no_args_is_help=True)


@app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="Login name (lowercase).")],
    role: Annotated[str, typer.Option(help="Role key, e.g. operator.")],
    full_name: Annotated[str, typer.Option(help="The person's name.")] = "",
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    password: PasswordOption = None,
    password_stdin: PasswordStdinOption = False,
) -> None:
    """Create a user; without a password one is generated and printed once."""
    password = password_from(password, password_stdin)
    validated(
        UserCreate,
        username=username,
        role=role,
        full_name=full_name,
        email=email,
        password=password,
    )
    settings = get_settings()

    async def _create(session: AsyncSession) -> tuple[UserRead, str | None]:
        user, generated = await accounts_service.create_user(
            session,
            settings,
            actor=None,
            username=username,
            role=role,
            full_name=full_name.strip(),
            email=email,
            password=password,
            origin=CLI_ORIGIN,
        )
        return UserRead.of(user), generated

    user, generated = run_in_session(settings, _create)
    if generated:
        typer.echo(f"created user '{user.username}' ({user.role}) with password: {generated}")
        typer.echo("(shown once; ask them to change it after they log in)")
    else:
        typer.echo(f"created user '{user.username}' ({user.role})")


@app.command("list")
def users_list() -> None:
    """List every user with role, state and last login."""
    settings = get_settings()

    async def _all(session: AsyncSession) -> list[UserRead]:
        users: list[UserRead] = []
        while True:
            page = await accounts_service.list_users(
                session, after_id=users[-1].id if users else None, limit=PAGE_SIZE
            )
            users.extend(UserRead.of(u) for u in page)
            if len(page) < PAGE_SIZE:
                return users

    users = run_in_session(settings, _all, mode="read")
    if not users:
        typer.echo("no users")
        return
    print_table(
        ["USERNAME", "ROLE", "STATE", "FULL NAME", "LAST LOGIN (UTC)"],
        [
            [
                u.username,
                u.role,
                "active" if u.is_active else "disabled",
                u.full_name,
                when(u.last_login_at, empty="never"),
            ]
            for u in users
        ],
    )


def _set_active(username: str, active: bool) -> None:
    """Disable or enable a user and say which."""
    user = run_in_session(
        get_settings(),
        lambda session: accounts_service.set_active(
            session, actor=None, username=username, active=active, origin=CLI_ORIGIN
        ),
    )
    typer.echo(f"{'enabled' if active else 'disabled'} user '{user.username}'")


@app.command("disable")
def users_disable(
    username: Annotated[str, typer.Argument(help="The user to disable.")],
) -> None:
    """Disable a user; their sessions and API tokens stop working at once."""
    _set_active(username, active=False)


@app.command("enable")
def users_enable(
    username: Annotated[str, typer.Argument(help="The user to enable again.")],
) -> None:
    """Enable a disabled user again."""
    _set_active(username, active=True)


@app.command("reset-password")
def users_reset_password(
    username: Annotated[str, typer.Argument(help="The user whose password to set.")],
    password: PasswordOption = None,
    password_stdin: PasswordStdinOption = False,
) -> None:
    """Set a user's password (generated and printed once when none is given); ends their logins."""
    password = password_from(password, password_stdin)
    validated(PasswordReset, new_password=password)
    settings = get_settings()

    async def _reset(session: AsyncSession) -> tuple[str, str | None]:
        user, generated = await accounts_service.reset_password(
            session,
            settings,
            actor=None,
            username=username,
            new_password=password,
            origin=CLI_ORIGIN,
        )
        return user.username, generated

    name, generated = run_in_session(settings, _reset)
    if generated:
        typer.echo(f"new password for '{name}': {generated}")
        typer.echo("(shown once; ask them to change it after they log in)")
    else:
        typer.echo(f"password of '{name}' changed")
