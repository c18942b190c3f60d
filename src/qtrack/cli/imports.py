"""`qtrack import`: items, locations or item types from a CSV or .xlsx file, all or none."""

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.cli.common import ActingAs, acting_as, fail, run_in_session
from qtrack.config import get_settings
from qtrack.imports import service
from qtrack.imports.fields import KINDS, SPECS
from qtrack.imports.models import DONE, REFUSED
from qtrack.imports.schemas import ImportRead, read


def _mapping(pairs: list[str]) -> dict[str, Any] | None:
    mapping: dict[str, Any] = {}
    for pair in pairs:
        column, sep, field = pair.partition("=")
        if not sep:
            fail("bad_mapping", f"--map takes COLUMN=FIELD (FIELD empty: leave it out): {pair!r}")
        mapping[column.strip()] = field.strip() or None
    return mapping or None


class _Bar:
    """A rich progress bar on a terminal (standard error, or the console given); elsewhere a
    line per chunk written."""

    def __init__(self, kind: str, console: Console | None = None) -> None:
        self.kind = kind.replace("_", " ")
        self.console = console or Console(stderr=True)
        self.live = console is not None or sys.stderr.isatty()
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.total = 0

    def __enter__(self) -> "_Bar":
        if self.live:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f} rows"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def start(self, total: int) -> None:
        self.total = total
        if self.progress is not None:
            self.task = self.progress.add_task("checking", total=max(total, 1))

    def __call__(self, phase: str, rows: int) -> None:
        if self.progress is not None and self.task is not None:
            if phase == "checked":
                self.total = max(self.total, rows)
                self.progress.update(self.task, completed=rows, total=max(self.total, 1))
            else:
                self.progress.update(self.task, description="writing", completed=rows)
        elif phase == "written" and self.kind == "items":
            typer.echo(f"  {rows:,} items registered", err=True)


def import_items(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            exists=True,
            dir_okay=False,
            readable=True,
            help="A UTF-8 CSV or an .xlsx (its first sheet), with a header row. Item columns: "
            f"{', '.join(SPECS['items'].fields)}.",
        ),
    ],
    as_user: ActingAs,
    kind: Annotated[
        str,
        typer.Option("--kind", help=f"What the rows are: {', '.join(KINDS)}."),
    ] = "items",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row and report; write nothing.")
    ] = False,
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            metavar="COLUMN=FIELD",
            help="Which field a column holds (FIELD empty: leave the column out); "
            "remembered for files with the same header.",
        ),
    ] = None,
    delimiter: Annotated[
        str, typer.Option("--delimiter", help="A CSV's delimiter: , ; | or a tab.")
    ] = ",",
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=0,
            max=64,
            help="Processes that check, hash and sign rows (default: 2 from 20,000 rows,"
            " none for a small one; 0: all in this process).",
        ),
    ] = None,
) -> None:
    """Import one item (location, item type) per row, after checking every row; any problem
    imports nothing, and every problem is listed by line and column."""
    if kind not in KINDS:
        fail("bad_kind", f"--kind must be one of {', '.join(KINDS)}")
    settings = get_settings()
    given = _mapping(mapping or [])
    started = time.perf_counter()

    async def _import(session: AsyncSession) -> ImportRead:
        actor = await acting_as(session, as_user)
        table = service.read_table(settings, path, filename=path.name, delimiter=delimiter)
        imp = await service.upload(
            session, settings, actor=actor, kind=kind, table=table, filename=path.name,
            mapping=given, keep_file=False,
        )  # fmt: skip
        with _Bar(kind) as bar:
            bar.start(table.rows_estimate)
            await service.run(
                session, settings, imp, table, actor=actor, dry_run=dry_run,
                on_progress=bar, workers=workers,
            )  # fmt: skip
        return read(imp)

    done = run_in_session(settings, _import)
    elapsed = time.perf_counter() - started
    if done.status == REFUSED:
        where = "line" if done.format == "csv" else "row"
        for problem in done.problems:
            name = problem.field or problem.column
            typer.echo(
                f"  {where} {problem.row}{f', {name}' if name else ''}: {problem.msg}", err=True
            )
        if done.more_problems:
            typer.echo("  … and more", err=True)
        count = f"{len(done.problems)}{'+' if done.more_problems else ''}"
        fail(
            "import_invalid",
            f"{count} problems in {done.rows_total} rows; nothing was imported (import {done.id})",
        )
    label = kind.replace("_", " ")
    if done.status != DONE:
        typer.echo(f"{done.rows_checked:,} rows checked, no problems; nothing imported (dry run)")
        return
    typer.echo(f"Imported {done.rows_written:,} {label} in {elapsed:.1f} s")
    for created in done.created:
        if created.type is not None:
            typer.echo(f"  {created.type}: {created.count:,} ({created.first} … {created.last})")
        else:
            typer.echo(f"  {created.key}")
