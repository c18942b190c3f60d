"""`qtrack audit`: prove that nobody edited the history."""

from typing import Annotated

import typer

from qtrack.cli.common import run_in_session
from qtrack.config import get_settings
from qtrack.history import verify

app = typer.Typer(help="Prove that nobody edited the history.", no_args_is_help=True)


@app.command("verify")
def audit_verify(
    show: Annotated[int, typer.Option(help="How many broken links to list at most.")] = 1,
) -> None:
    """Walk every item's event chain and recompute every hash; exit 1 at a broken link."""
    settings = get_settings()
    report = run_in_session(
        settings, lambda s: verify.verify_chains(s, stop_after=show), mode="read"
    )
    if report.intact:
        typer.echo(f"{report.events} events, {report.items} items, all chains intact")
        return
    typer.echo(f"BROKEN after {report.events} events in {report.items} items:", err=True)
    for line in report.broken:
        typer.echo(f"  {line}", err=True)
    raise typer.Exit(code=1)
