"""`qtrack stats`: counts by type and status, and by location."""

import typer

from qtrack.cli.common import (
    print_table,
    run_in_session,
)
from qtrack.config import get_settings
from qtrack.inventory import service as inventory_service


def stats() -> None:
    """Print how many items there are by type and status, and by location."""
    counts = run_in_session(get_settings(), inventory_service.stats, mode="read")
    if not counts["total"]:
        typer.echo("no items")
        return
    print_table(
        ["TYPE", "STATUS", "ITEMS"],
        [[row["type"], row["status"], str(row["count"])] for row in counts["by_type_status"]],
    )
    if counts["by_location"]:
        typer.echo()
        print_table(
            ["LOCATION", "ITEMS"],
            [[row["location"], str(row["count"])] for row in counts["by_location"]],
        )
    typer.echo()
    typer.echo(f"total: {counts['total']} items")
