"""`qtrack db`: migrate and inspect the schema."""

from typing import Annotated

import typer

from qtrack import migrations as qmigrations
from qtrack.accounts import service as accounts_service
from qtrack.bootstrap import bootstrap
from qtrack.cli.common import CLI_ORIGIN, fail, run_with_db
from qtrack.config import Settings, get_settings
from qtrack.core.db import Database
from qtrack.core.logging import configure_logging

app = typer.Typer(help="Database schema: migrate and inspect.", no_args_is_help=True)


def reachable(settings: Settings) -> None:
    """Connect once, so an unreachable database is one line (`database_unavailable` and
    why) before Alembic, which would end in a traceback of its own, is asked anything."""
    run_with_db(settings, lambda db: db.ping())


def ensure_migrated(settings: Settings) -> None:
    """Refuse to go on with a database behind this qtrack's migration head (or never
    migrated); go on, with a warning, on one a newer release migrated."""
    current = run_with_db(settings, lambda db: db.schema_revision())
    head = qmigrations.head_revision()
    if current == head:
        return
    if current is not None and current not in qmigrations.revisions():
        # A newer release migrated it during a rolling upgrade (docs/deploy.md): this code
        # keeps working on the added schema, so a restart of an old server must not fail.
        typer.echo(
            f"warning: the database is at {current}, newer than this qtrack ({head}): "
            "upgrade this installation",
            err=True,
        )
        return
    where = "" if current is None else f" (at {current}, this qtrack needs {head})"
    fail("database_not_migrated", f"database is not migrated{where}: run `qtrack db upgrade`")


@app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations, then create the first admin if there are no users yet."""
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    reachable(settings)
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
                origin=CLI_ORIGIN,
            )
            return None if created is None else (created[0].username, created[1])

    try:
        created = run_with_db(settings, _first_admin)
    except accounts_service.WeakPassword as exc:
        rules = "; ".join(str(d["msg"]) for d in exc.details or [])
        fail(
            exc.code,
            f"QTRACK_ADMIN_PASSWORD is refused by the password rules: {rules} "
            f"(the database is migrated; set a password that follows the rules and run "
            f"`qtrack db upgrade` again to create '{settings.admin_username}')",
        )
    if created is not None:
        username, generated = created
        if generated:
            typer.echo(f"created admin user '{username}' with password: {generated}")
            typer.echo("(shown once; change it after you log in)")
        else:
            typer.echo(
                f"created admin user '{username}' with the password from QTRACK_ADMIN_PASSWORD"
            )


@app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1.")],
) -> None:
    """Revert migrations down to a revision."""
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    reachable(settings)
    qmigrations.downgrade(settings.database_url, revision)
    typer.echo(f"database at {qmigrations.current_revision(settings.database_url) or 'base'}")


@app.command("current")
def db_current() -> None:
    """Print the database's revision and whether it is up to date."""
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    reachable(settings)
    current = qmigrations.current_revision(settings.database_url)
    head = qmigrations.head_revision()
    state = "up to date" if current == head else f"behind head {head}"
    typer.echo(f"{current or 'empty'} ({state})")
    if current != head:
        raise typer.Exit(code=1)
