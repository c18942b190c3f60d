"""`qtrack db`: migrate and inspect the schema."""

from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack import migrations as qmigrations
from qtrack.accounts import service as accounts_service
from qtrack.audit import service as audit_service
from qtrack.bootstrap import bootstrap
from qtrack.cli.common import CLI_ORIGIN, fail, print_table, run_in_session, run_with_db, when
from qtrack.config import Settings, get_settings
from qtrack.core.db import Database
from qtrack.core.logging import configure_logging
from qtrack.events import partitions
from qtrack.events.models import EventArchive

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


partitions_app = typer.Typer(
    help="The event table's monthly partitions (PostgreSQL).", no_args_is_help=True
)
app.add_typer(partitions_app, name="partitions")


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024:
            return f"{n} {unit}"
        n //= 1024
    return f"{n} TB"


@partitions_app.command("list")
def partitions_list() -> None:
    """List the attached partitions (rows are the planner's estimate) and the archived ones."""
    settings = get_settings()

    async def _list(session: AsyncSession) -> tuple[list[partitions.Partition], list[Any]]:
        attached = await partitions.list_partitions(session)
        archived = await session.scalars(select(EventArchive).order_by(EventArchive.starts_at))
        return attached, list(archived.all())

    attached, archived = run_in_session(settings, _list, mode="read")
    print_table(
        ["partition", "from", "to", "rows", "size"],
        [
            [p.name, when(p.starts_at, empty="*"), when(p.ends_at, empty="*"), str(p.rows),
             _size(p.bytes)]
            for p in attached
        ],
    )  # fmt: skip
    for a in archived:
        typer.echo(f"detached {a.name}: {a.events} events, on {when(a.detached_at)}")


@partitions_app.command("create-ahead")
def partitions_create_ahead(
    months: Annotated[
        int | None,
        typer.Option(min=0, max=36, help="Months ahead (default QTRACK_EVENT_PARTITIONS_AHEAD)."),
    ] = None,
) -> None:
    """Create the missing partitions from this month to some months ahead (what the daily
    `events.partitions` job does)."""
    settings = get_settings()
    ahead = settings.event_partitions_ahead if months is None else months

    async def _create(session: AsyncSession) -> partitions.Made:
        return await partitions.create_ahead(session, months=ahead)

    made = run_in_session(settings, _create)
    typer.echo(f"created {', '.join(made.created)}" if made.created else "every partition is there")
    if made.blocked:
        fail(
            partitions.PartitionsBlocked.code,
            f"{', '.join(made.blocked)} not created: their events are in event_default",
        )


@partitions_app.command("detach")
def partitions_detach(
    name: Annotated[str, typer.Argument(help="The oldest monthly partition, e.g. event_y2025m01.")],
) -> None:
    """Take the oldest month out of the event table, to dump and drop (docs/deploy.md)."""
    settings = get_settings()

    async def _detach(session: AsyncSession) -> EventArchive:
        latest = await audit_service.latest(session)
        upto = None if latest is None else latest.last_event_id
        return await partitions.detach(session, name, checkpointed_upto=upto)

    archive = run_in_session(settings, _detach)
    typer.echo(
        f"detached {archive.name} ({archive.events} events); it is now a plain table: dump it "
        f"with `pg_dump -t {archive.name}`, then drop it when the dump is safe"
    )
