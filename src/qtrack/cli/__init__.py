"""The `qtrack` command: one Typer module per area, registered here.

Commands are thin: they parse options, open a `session_scope()`, and call services. Any
error ends the command with one line on stderr and exit status 1 (`cli.errors`); `qtrack
--debug COMMAND` shows the traceback instead.
"""

from typing import Annotated

import typer

from qtrack.cli import (
    audit,
    backup,
    categories,
    db,
    epcis,
    expiry,
    exports,
    imports,
    items,
    jobs,
    keys,
    labels,
    locations,
    orders,
    reports,
    roles,
    server,
    shipments,
    stock,
    tokens,
    users,
    worker,
)
from qtrack.cli.errors import OneLineErrors

app = typer.Typer(
    help="qtrack: traceability for things that carry a QR code.",
    no_args_is_help=True,
    cls=OneLineErrors,
)


@app.callback()
def options(
    debug: Annotated[
        bool, typer.Option("--debug", help="On an error, show the full traceback.")
    ] = False,
) -> None:
    """qtrack: traceability for things that carry a QR code."""


app.command("version")(server.version)
app.command("serve")(server.serve)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(roles.app, name="roles")
app.add_typer(tokens.app, name="tokens")
app.add_typer(audit.app, name="audit")
app.add_typer(keys.app, name="keys")
app.add_typer(labels.app, name="labels")
app.add_typer(items.app, name="items")
app.add_typer(locations.app, name="locations")
app.add_typer(epcis.app, name="epcis")
app.add_typer(shipments.app, name="shipments")
app.add_typer(orders.app, name="orders")
app.add_typer(reports.app, name="reports")
app.add_typer(categories.app, name="categories")
app.add_typer(stock.app, name="stock")
app.add_typer(stock.alerts_app, name="alerts")
app.add_typer(expiry.app, name="expiry")
app.command("stats")(reports.stats)
app.command("import")(imports.import_items)
app.add_typer(exports.app, name="export")
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)
app.command("worker")(worker.worker)
app.add_typer(jobs.app, name="jobs")


def main() -> None:
    """Entry point of the console script."""
    app()
