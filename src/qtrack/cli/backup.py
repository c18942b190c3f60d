"""`qtrack backup FILE` and `qtrack restore FILE`: a consistent copy of the database while
the server runs, and that copy restored into an empty database, migrated and verified."""

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from qtrack.backup import service
from qtrack.cli.errors import describe
from qtrack.config import get_settings
from qtrack.core.errors import QtrackError
from qtrack.core.logging import configure_logging

PgBinOption = Annotated[
    Path | None,
    typer.Option(
        "--pg-bin",
        file_okay=False,
        help="Folder of pg_dump / pg_restore (default: the PATH); PostgreSQL only.",
    ),
]


def _mb(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


def backup(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="Where to write the backup.")],
    pg_bin: PgBinOption = None,
) -> None:
    """Back up the database into FILE while the server runs: SQLite through its online
    backup API, PostgreSQL through pg_dump (custom format), with a manifest."""
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    try:
        done = asyncio.run(service.backup(settings, file, pg_bin=pg_bin))
    except QtrackError as exc:
        typer.echo(f"error: {describe(exc)}", err=True)
        raise typer.Exit(code=1) from None
    m = done.manifest
    typer.echo(
        f"backup {done.path}: {m.items} items, {m.events} events, schema {m.schema_revision}, "
        f"qtrack {m.qtrack_version}, {m.database}, {_mb(done.size)} in {done.seconds:.1f} s"
    )


def restore(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A file `qtrack backup` made.")
    ],
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace everything in a database that holds data."),
    ] = False,
    pg_bin: PgBinOption = None,
) -> None:
    """Restore FILE into the configured database (empty, unless --force), migrate it forward
    to this qtrack's schema, and verify every chain; exit 1 if anything does not check out.
    Stop the server first."""
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    try:
        done = asyncio.run(service.restore(settings, file, force=force, pg_bin=pg_bin))
    except QtrackError as exc:
        typer.echo(f"error: {describe(exc)}", err=True)
        raise typer.Exit(code=1) from None
    m = done.manifest
    typer.echo(
        f"restored {m.items} items and {m.events} events from {file.name} "
        f"(qtrack {m.qtrack_version}, schema {m.schema_revision}, made {m.created_at})"
    )
    if done.migrated_from:
        typer.echo(f"migrated from {done.migrated_from} to {done.migrated_to}")
    chains = done.chains
    if chains.intact:
        typer.echo(f"{chains.events} events, {chains.items} items, all chains intact")
    else:
        typer.echo(f"BROKEN after {chains.events} events in {chains.items} items:", err=True)
        for line in chains.broken:
            typer.echo(f"  {line}", err=True)
    found = done.checkpoints
    if not found.intact:
        typer.echo("BROKEN against the signed checkpoints:", err=True)
        for line in found.problems:
            typer.echo(f"  {line}", err=True)
    elif found.checkpoints:
        typer.echo(f"{found.checkpoints} checkpoints, signatures and links intact")
    if done.contents.events < m.events or done.contents.items < m.items:
        typer.echo(
            f"MISSING: the database holds {done.contents.items} items and "
            f"{done.contents.events} events, the backup recorded {m.items} and {m.events}",
            err=True,
        )
    if not done.intact:
        raise typer.Exit(code=1)
