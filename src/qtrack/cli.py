"""The `qtrack` command: serve, manage the database, and administer the server.

Commands are thin: they parse options, open a `session_scope()`, and call services.
"""

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, NoReturn, TypeVar

import typer
import uvicorn
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack import __version__
from qtrack import migrations as qmigrations
from qtrack.accounts import service as accounts_service
from qtrack.accounts import tokens as tokens_service
from qtrack.accounts.schemas import PasswordReset, TokenCreate, TokenRead, UserCreate, UserRead
from qtrack.bootstrap import bootstrap
from qtrack.config import Settings, get_settings
from qtrack.core.clock import utcnow
from qtrack.core.db import Database, Mode
from qtrack.core.errors import QtrackError
from qtrack.core.logging import configure_logging
from qtrack.events import service as events_service

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

app = typer.Typer(
    help="qtrack: traceability for things that carry a QR code.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema: migrate and inspect.", no_args_is_help=True)
app.add_typer(db_app, name="db")
users_app = typer.Typer(help="User accounts: create, list, disable, reset.", no_args_is_help=True)
app.add_typer(users_app, name="users")
tokens_app = typer.Typer(help="API tokens for devices and integrations.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")
audit_app = typer.Typer(help="Prove that nobody edited the history.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

# The CLI is the local administrator: services get actor=None, and the security log says so.
PAGE_SIZE = 200  # rows per list call while paging through users or tokens


def run_with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run async work against the database and close it afterwards."""

    async def _main() -> T:
        db = Database(settings, pooled=False)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(_main())


def fail(code: str, message: str) -> NoReturn:
    """Print `error: code: message` to stderr and exit 1."""
    typer.echo(f"error: {code}: {message}", err=True)
    raise typer.Exit(code=1)


def run_in_session(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[T]], *, mode: Mode = "write"
) -> T:
    """Run async work in one committed session; a service error is printed, not raised."""
    configure_logging("WARNING", settings.log_format)

    async def _scoped(db: Database) -> T:
        async with db.session_scope(mode) as session:
            return await work(session)

    try:
        return run_with_db(settings, _scoped)
    except QtrackError as exc:
        fail(exc.code, exc.message)


def validated(schema: type[M], **values: Any) -> M:
    """Check options with the API's own schema, so both edges accept the same input."""
    try:
        return schema(**values)
    except ValidationError as exc:
        problems = (
            f"{'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}"
            for err in exc.errors()
        )
        fail("validation_error", "; ".join(problems))


def password_from(password: str | None, from_stdin: bool) -> str | None:
    """The password given on the command line or on standard input, or None to generate one."""
    if password is not None and from_stdin:
        raise typer.BadParameter("give --password or --password-stdin, not both")
    if from_stdin:
        return sys.stdin.read().rstrip("\r\n")
    return password


def when(moment: datetime | None, *, empty: str = "-") -> str:
    """A UTC time to the minute, for tables."""
    return moment.strftime("%Y-%m-%d %H:%M") if moment else empty


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print rows as plain columns aligned on the widest cell."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    for row in (headers, *rows):
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@app.command()
def version() -> None:
    """Print the qtrack version."""
    typer.echo(f"qtrack {__version__}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (one per core).")] = None,
) -> None:
    """Run the HTTP server."""
    settings = get_settings()
    uvicorn.run(
        "qtrack.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_config=None,  # create_app configures structured logging in every worker
        server_header=False,
        proxy_headers=True,
    )


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations, then create the first admin if there are no users yet."""
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    qmigrations.upgrade(settings.database_url, revision)
    typer.echo(f"database at {qmigrations.current_revision(settings.database_url)}")
    if revision != "head":
        return

    async def _first_admin(db: Database) -> tuple[str, str | None] | None:
        async with db.session_scope() as session:
            password = settings.admin_password
            await bootstrap(session)
            created = await accounts_service.ensure_first_admin(
                session,
                settings,
                username=settings.admin_username,
                password=password.get_secret_value() if password else None,
            )
            return None if created is None else (created[0].username, created[1])

    created = run_with_db(settings, _first_admin)
    if created is not None:
        username, generated = created
        if generated:
            typer.echo(f"created admin user '{username}' with password: {generated}")
            typer.echo("(shown once; change it after you log in)")
        else:
            typer.echo(
                f"created admin user '{username}' with the password from QTRACK_ADMIN_PASSWORD"
            )


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1.")],
) -> None:
    """Revert migrations down to a revision."""
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    qmigrations.downgrade(settings.database_url, revision)
    typer.echo(f"database at {qmigrations.current_revision(settings.database_url) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision and whether it is up to date."""
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    current = qmigrations.current_revision(settings.database_url)
    head = qmigrations.head_revision()
    state = "up to date" if current == head else f"behind head {head}"
    typer.echo(f"{current or 'empty'} ({state})")
    if current != head:
        raise typer.Exit(code=1)


PasswordOption = Annotated[
    str | None,
    typer.Option(help="The password (visible in the process list; prefer --password-stdin)."),
]
PasswordStdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


@users_app.command("create")
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
        )
        return UserRead.of(user), generated

    user, generated = run_in_session(settings, _create)
    if generated:
        typer.echo(f"created user '{user.username}' ({user.role}) with password: {generated}")
        typer.echo("(shown once; ask them to change it after they log in)")
    else:
        typer.echo(f"created user '{user.username}' ({user.role})")


@users_app.command("list")
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
            session, actor=None, username=username, active=active
        ),
    )
    typer.echo(f"{'enabled' if active else 'disabled'} user '{user.username}'")


@users_app.command("disable")
def users_disable(
    username: Annotated[str, typer.Argument(help="The user to disable.")],
) -> None:
    """Disable a user; their sessions and API tokens stop working at once."""
    _set_active(username, active=False)


@users_app.command("enable")
def users_enable(
    username: Annotated[str, typer.Argument(help="The user to enable again.")],
) -> None:
    """Enable a disabled user again."""
    _set_active(username, active=True)


@users_app.command("reset-password")
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
            session, settings, actor=None, username=username, new_password=password
        )
        return user.username, generated

    name, generated = run_in_session(settings, _reset)
    if generated:
        typer.echo(f"new password for '{name}': {generated}")
        typer.echo("(shown once; ask them to change it after they log in)")
    else:
        typer.echo(f"password of '{name}' changed")


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Option(help="What the token is for, e.g. scanner-3.")],
    user: Annotated[str, typer.Option(help="The user the token acts as.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(help="A permission the token may use (repeat); none means all the user's."),
    ] = None,
    expires_days: Annotated[
        int | None,
        typer.Option(min=1, max=36500, help="Expire after this many days (default: never)."),
    ] = None,
) -> None:
    """Create an API token and print it once."""
    settings = get_settings()
    scopes = scope or []
    expires_at = utcnow() + timedelta(days=expires_days) if expires_days else None
    validated(TokenCreate, name=name, username=user, scopes=scopes, expires_at=expires_at)

    async def _create(session: AsyncSession) -> tuple[TokenRead, str]:
        token, raw = await tokens_service.create_token(
            session,
            actor=None,
            name=name.strip(),
            username=user,
            scopes=scopes,
            expires_at=expires_at,
        )
        return TokenRead.of(token), raw

    token, raw = run_in_session(settings, _create)
    scopes_text = ", ".join(token.scopes) or "all of the user's permissions"
    typer.echo(f"created token {token.id} '{token.name}' for '{token.username}' ({scopes_text})")
    typer.echo(raw)
    typer.echo("store it now: it will not be shown again")


@tokens_app.command("list")
def tokens_list(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
) -> None:
    """List API tokens (never the token itself)."""
    settings = get_settings()

    async def _all(session: AsyncSession) -> list[TokenRead]:
        tokens: list[TokenRead] = []
        while True:
            page = await tokens_service.list_tokens(
                session,
                after_id=tokens[-1].id if tokens else None,
                limit=PAGE_SIZE,
                include_revoked=include_revoked,
            )
            tokens.extend(TokenRead.of(t) for t in page)
            if len(page) < PAGE_SIZE:
                return tokens

    tokens = run_in_session(settings, _all, mode="read")
    if not tokens:
        typer.echo("no API tokens")
        return
    print_table(
        ["ID", "NAME", "PREFIX", "USER", "SCOPES", "CREATED", "LAST USED", "EXPIRES", "REVOKED"],
        [
            [
                str(t.id),
                t.name,
                t.prefix,
                t.username,
                ",".join(t.scopes) or "all",
                when(t.created_at),
                when(t.last_used_at, empty="never"),
                when(t.expires_at, empty="never"),
                when(t.revoked_at),
            ]
            for t in tokens
        ],
    )


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="The token's id (see list).")],
) -> None:
    """Revoke an API token; it stops working at once."""
    token = run_in_session(
        get_settings(),
        lambda session: tokens_service.revoke_token(session, actor=None, token_id=token_id),
    )
    typer.echo(f"revoked token {token.id} '{token.name}'")


@audit_app.command("verify")
def audit_verify(
    show: Annotated[int, typer.Option(help="How many broken links to list at most.")] = 1,
) -> None:
    """Walk every item's event chain and recompute every hash; exit 1 at a broken link."""
    settings = get_settings()
    report = run_in_session(
        settings, lambda s: events_service.verify_chains(s, stop_after=show), mode="read"
    )
    if report.intact:
        typer.echo(f"{report.events} events, {report.items} items, all chains intact")
        return
    typer.echo(f"BROKEN after {report.events} events in {report.items} items:", err=True)
    for line in report.broken:
        typer.echo(f"  {line}", err=True)
    raise typer.Exit(code=1)


def _add_tracking_commands() -> None:
    """Register the command groups that live in their own modules."""
    # Imported here, not at the top: cli_tracking builds on the helpers defined above.
    import qtrack.cli_import as cli_import
    import qtrack.cli_labels as cli_labels
    import qtrack.cli_tracking as cli_tracking

    app.add_typer(cli_labels.keys_app, name="keys")
    app.add_typer(cli_labels.labels_app, name="labels")
    app.add_typer(cli_tracking.items_app, name="items")
    app.add_typer(cli_tracking.locations_app, name="locations")
    app.command("stats")(cli_tracking.stats)
    app.command("import")(cli_import.import_items)


_add_tracking_commands()


def main() -> None:
    """Entry point of the console script."""
    app()
