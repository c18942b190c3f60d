"""`qtrack import`: register many items from a CSV file, all of them or none."""

import time
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.cli.common import (
    ActingAs,
    acting_as,
    fail,
    run_in_session,
)
from qtrack.config import get_settings
from qtrack.items import bulk_load, importer


def import_items(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.csv",
            exists=True,
            dir_okay=False,
            readable=True,
            help=f"UTF-8 CSV with a header; columns: {', '.join(importer.COLUMNS)}.",
        ),
    ],
    as_user: ActingAs,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row and report; write nothing.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=0,
            help="Processes that check, hash and sign rows (default: 2 for a large file,"
            " none for a small one; 0: all in this process).",
        ),
    ] = None,
) -> None:
    """Register one item per CSV row, after checking every row; any problem imports nothing."""
    settings = get_settings()
    started = time.perf_counter()

    def progress(done: int) -> None:
        typer.echo(f"  {done:,} items registered", err=True)

    async def _import(session: AsyncSession) -> importer.ImportReport:
        actor = await acting_as(session, as_user)
        try:
            return await bulk_load.import_items(
                session,
                settings,
                path=path,
                actor=actor,
                dry_run=dry_run,
                progress=progress,
                workers=workers,
            )
        except importer.ImportRefused as exc:
            # Refused in the checking pass, before anything was written.
            for problem in exc.report.problems:
                typer.echo(f"  {problem}", err=True)
            if exc.report.more_problems:
                typer.echo("  … and more", err=True)
            fail(exc.code, exc.message)

    report = run_in_session(settings, _import)
    elapsed = time.perf_counter() - started
    if dry_run:
        typer.echo(f"{report.rows:,} rows checked, no problems; nothing imported (dry run)")
        return
    typer.echo(f"Imported {report.rows:,} items in {elapsed:.1f} s")
    for type_key, (first, last, count) in report.created.items():
        typer.echo(f"  {type_key}: {count:,} ({first} … {last})")
