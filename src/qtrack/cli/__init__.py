"""The `qtrack` command: one Typer module per area, registered here.

Commands are thin: they parse options, open a `session_scope()`, and call services.
"""

import typer

from qtrack.cli import (
    audit,
    db,
    epcis,
    imports,
    items,
    keys,
    labels,
    locations,
    reports,
    server,
    tokens,
    users,
)

app = typer.Typer(
    help="qtrack: traceability for things that carry a QR code.", no_args_is_help=True
)
app.command("version")(server.version)
app.command("serve")(server.serve)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(tokens.app, name="tokens")
app.add_typer(audit.app, name="audit")
app.add_typer(keys.app, name="keys")
app.add_typer(labels.app, name="labels")
app.add_typer(items.app, name="items")
app.add_typer(locations.app, name="locations")
app.add_typer(epcis.app, name="epcis")
app.command("stats")(reports.stats)
app.command("import")(imports.import_items)


def main() -> None:
    """Entry point of the console script."""
    app()
