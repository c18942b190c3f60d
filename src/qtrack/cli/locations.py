"""`qtrack locations`: the location tree."""

from collections.abc import Sequence
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.cli.common import (
    run_in_session,
    validated,
)
from qtrack.config import get_settings
from qtrack.locations import service as locations_service
from qtrack.locations.schemas import LocationCreate, LocationNode

app = typer.Typer(help="The location tree.", no_args_is_help=True)


@app.command("add")
def locations_add(
    code: Annotated[str, typer.Argument(help="The location's code, e.g. RACK-1.")],
    name: Annotated[str, typer.Option(help="What people call it.")],
    kind: Annotated[str, typer.Option(help="site, building, zone, rack, shelf or area.")],
    parent: Annotated[
        str | None, typer.Option(metavar="CODE", help="The location it is in.")
    ] = None,
) -> None:
    """Create a location, at the top or under a parent."""
    body = validated(LocationCreate, code=code, name=name, kind=kind, parent=parent)

    async def _create(session: AsyncSession) -> str:
        location = await locations_service.create_location(session, **body.model_dump())
        return location.code

    created = run_in_session(get_settings(), _create)
    under = f" under {body.parent}" if body.parent else ""
    typer.echo(f"created location {created} ({body.kind}){under}")


@app.command("tree")
def locations_tree() -> None:
    """Print every location that is not archived, indented under its parent."""
    roots = run_in_session(get_settings(), locations_service.tree, mode="read")
    if not roots:
        typer.echo("no locations")
        return

    def _print(nodes: Sequence[LocationNode], depth: int) -> None:
        for node in nodes:
            typer.echo(f"{'  ' * depth}{node.code}  {node.name} ({node.kind})")
            _print(node.children, depth + 1)

    _print(roots, 0)
