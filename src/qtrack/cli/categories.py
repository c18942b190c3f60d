"""`qtrack categories`: the category tree of item types."""

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.categories import service as categories_service
from qtrack.categories.schemas import CategoryCreate, CategoryRead, CategoryUpdate
from qtrack.cli.common import fail, print_table, run_in_session, validated
from qtrack.config import get_settings
from qtrack.item_types import service as item_types_service
from qtrack.item_types.schemas import ItemTypeUpdate

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


@app.command("edit")
def categories_edit(
    key: Annotated[str, typer.Argument(help="The category's key.")],
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    parent: Annotated[
        str | None,
        typer.Option(metavar="KEY", help="Move it (with everything under it) under this one."),
    ] = None,
    top: Annotated[bool, typer.Option("--top", help="Move it to the top of the tree.")] = False,
) -> None:
    """Rename a category, or move it with everything under it."""
    if top and parent is not None:
        fail("validation_error", "give --parent or --top, not both")
    fields: dict[str, object] = {}
    if name is not None:
        fields["name"] = name
    if parent is not None or top:
        fields["parent"] = parent
    if not fields:
        fail("validation_error", "nothing to change: give --name, --parent or --top")
    changes = validated(CategoryUpdate, **fields).model_dump(exclude_unset=True)

    async def _edit(session: AsyncSession) -> CategoryRead:
        category = await categories_service.update_category(session, key=key, changes=changes)
        return (await categories_service.reads(session, [category]))[0]

    done = run_in_session(get_settings(), _edit)
    typer.echo(f"category {done.key}: {done.label}")


@app.command("archive")
def categories_archive(key: Annotated[str, typer.Argument(help="The category's key.")]) -> None:
    """Archive a category without live sub-categories."""

    async def _archive(session: AsyncSession) -> str:
        return (await categories_service.archive_category(session, key)).key

    typer.echo(f"archived category {run_in_session(get_settings(), _archive)}")


@app.command("assign")
def categories_assign(
    type_key: Annotated[str, typer.Argument(metavar="TYPE", help="The item type's key.")],
    key: Annotated[
        str | None, typer.Argument(help="The category's key; left out: unchanged.")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Take it out of its category.")] = False,
    critical: Annotated[
        bool | None,
        typer.Option("--critical/--not-critical", help="Critical supplies come first."),
    ] = None,
) -> None:
    """Put an item type in a category (or, with --clear, in none), and mark it critical or
    not."""
    if clear and key is not None:
        fail("validation_error", "give a category or --clear, not both")
    changes: dict[str, object] = {}
    if key is not None or clear:
        changes["category"] = validated(ItemTypeUpdate, category=key).category
    if critical is not None:
        changes["critical"] = critical

    async def _assign(session: AsyncSession) -> str:
        item_type = await item_types_service.update_item_type(
            session, key=type_key, changes=changes
        )
        label = "no category"
        if item_type.category is not None:
            (read,) = await categories_service.reads(session, [item_type.category])
            label = f"category {read.key} ({read.label})"
        return f"{item_type.key}: {label}" + (", critical" if item_type.critical else "")

    typer.echo(run_in_session(get_settings(), _assign))
