"""`qtrack labels`: pre-render QR images, print labels to PDF or ZPL."""

import asyncio
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.cli.common import (
    fail,
    run_in_session,
)
from qtrack.config import get_settings
from qtrack.core.redis import create_redis
from qtrack.items.models import Item
from qtrack.labels import pdf, qr, zpl
from qtrack.labels import service as labels_service
from qtrack.labels.cache import QrCache, render_key
from qtrack.labels.service import split_codes
from qtrack.signing import tokens
from qtrack.signing.models import ItemLabel

app = typer.Typer(help="QR labels: pre-render, print to PDF or ZPL.", no_args_is_help=True)


async def _missing_labels(session: AsyncSession, limit: int) -> list[Item]:
    has_label = select(ItemLabel.item_id).where(ItemLabel.revoked_at.is_(None))
    stmt = select(Item).where(Item.archived.is_(False), Item.id.not_in(has_label)).limit(limit)
    return list((await session.scalars(stmt)).all())


@app.command("warm")
def labels_warm(
    limit: Annotated[int, typer.Option(help="At most this many items.")] = 100_000,
    scale: Annotated[int, typer.Option(help="PNG pixels per module to pre-render.")] = 8,
) -> None:
    """Sign labels for items that have none, and pre-render their QR images into Redis."""
    settings = get_settings()

    async def _issue(session: AsyncSession) -> int:
        items = await _missing_labels(session, limit)
        for item in items:
            await tokens.issue_label(session, settings, item_id=item.id, issued_by=None)
        return len(items)

    issued = run_in_session(settings, _issue)
    typer.echo(f"signed {issued} new labels")
    if not settings.redis_url:
        typer.echo("no Redis configured: each server process renders and caches on its own")
        return

    async def _tokens(session: AsyncSession) -> list[str]:
        stmt = select(ItemLabel).where(ItemLabel.revoked_at.is_(None)).limit(limit)
        return [
            await tokens.label_token(session, settings, label)
            for label in (await session.scalars(stmt)).all()
        ]

    urls = [tokens.label_url(settings, t) for t in run_in_session(settings, _tokens, mode="read")]

    async def _render() -> None:
        redis = create_redis(settings)
        cache = QrCache(redis=redis, max_entries=1)
        try:
            for url in urls:
                key = render_key("png", url, scale=scale, border=4, ec="M")
                await cache.get_or_render(key, partial(qr.render_png, url, scale=scale), 7 * 86_400)
        finally:
            if redis is not None:
                await redis.aclose()

    asyncio.run(_render())
    typer.echo(f"rendered {len(urls)} QR images into Redis")


@app.command("print")
def labels_print(
    out: Annotated[Path, typer.Option(help="The file to write: .pdf or .zpl")],
    items: Annotated[str, typer.Option(help="Item codes, comma-separated.")] = "",
    locations: Annotated[str, typer.Option(help="Location codes, comma-separated.")] = "",
    template: Annotated[
        str | None,
        typer.Option(help="Label template key; default: the items' type's, else a4-21."),
    ] = None,
    skip: Annotated[int, typer.Option(help="Used positions on the first sheet.")] = 0,
) -> None:
    """Write labels for items and locations to a PDF (sheets or roll) or ZPL file."""
    settings = get_settings()
    if out.suffix.lower() not in (".pdf", ".zpl"):
        fail("bad_output", "--out must end in .pdf or .zpl")
    item_codes, location_codes = split_codes(items), split_codes(locations)
    if not item_codes and not location_codes:
        fail("nothing_to_print", "name --items or --locations")

    async def _collect(session: AsyncSession) -> tuple[pdf.SheetLayout, list[pdf.LabelContent]]:
        chosen = await labels_service.sheet_template(session, requested=template, items=item_codes)
        layout = pdf.SheetLayout.from_template(chosen)
        contents = await labels_service.label_contents(
            session, settings, items=item_codes, locations=location_codes
        )
        return layout, contents

    layout, contents = run_in_session(settings, _collect)
    try:
        if out.suffix.lower() == ".pdf":
            out.write_bytes(pdf.label_pdf(contents, layout, skip=skip))
        else:
            out.write_text(zpl.label_zpl(contents, layout))
    except ValueError as exc:
        fail("bad_layout", str(exc))
    typer.echo(f"wrote {len(contents)} labels to {out}")
