"""The `qtrack` command: serve, manage the database, and administer the server.

Commands are thin: they parse options, open a `session_scope()`, and call services.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
import uvicorn

from qtrack import __version__
from qtrack import migrations as qmigrations
from qtrack.accounts import service as accounts_service
from qtrack.config import Settings, get_settings
from qtrack.core.db import Database
from qtrack.core.logging import configure_logging

T = TypeVar("T")

app = typer.Typer(
    help="qtrack: traceability for things that carry a QR code.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema: migrate and inspect.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def run_with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run async work against the database and close it afterwards."""

    async def _main() -> T:
        db = Database(settings, pooled=False)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(_main())


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
            await accounts_service.sync_builtin_roles(session)
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


def main() -> None:
    """Entry point of the console script."""
    app()
