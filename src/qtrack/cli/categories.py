"""`qtrack categories`: the category tree of item types."""

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.categories import service as categories_service
from qtrack.categories.schemas import CategoryCreate, CategoryRead
from qtrack.cli.common import print_table, run_in_session, validated
from qtrack.config import get_settings

app = typer.Typer(help="Categories of item types (a small tree).", no_args_is_help=True)


@app.command("add")
def categories_add(
    key: Annotated[str, typer.Argument(help="The category's key, e.g. syringes.")],
    name: Annotated[str, typer.Option(help="What people call it.")],
    parent: Annotated[
        str | None, typer.Option(metavar="KEY", help="The category it is under.")
    ] = None,
) -> None:
    """Create a category, at the top or under a parent."""
    body = validated(CategoryCreate, key=key, name=name, parent=parent)

    async def _create(session: AsyncSession) -> CategoryRead:
        category = await categories_service.create_category(session, **body.model_dump())
        return (await categories_service.reads(session, [category]))[0]

    typer.echo(f"created category {run_in_session(get_settings(), _create).label}")


@app.command("list")
def categories_list(
    archived: Annotated[bool, typer.Option(help="Archived ones too.")] = False,
) -> None:
    """Print every category with its full path, parents first."""

    async def _list(session: AsyncSession) -> list[CategoryRead]:
        found = await categories_service.list_categories(session, include_archived=archived)
        return await categories_service.reads(session, found)

    rows = run_in_session(get_settings(), _list, mode="read")
    if not rows:
        typer.echo("no categories")
        return
    print_table(
        ["KEY", "CATEGORY", "ARCHIVED"],
        [[c.key, c.label, "yes" if c.archived else ""] for c in rows],
    )


@app.command("archive")
def categories_archive(key: Annotated[str, typer.Argument(help="The category's key.")]) -> None:
    """Archive a category without live sub-categories."""

    async def _archive(session: AsyncSession) -> str:
        return (await categories_service.archive_category(session, key)).key

    typer.echo(f"archived category {run_in_session(get_settings(), _archive)}")
