"""`qtrack keys`: the Ed25519 keys that sign labels."""

from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.cli.common import CLI_ORIGIN, run_in_session
from qtrack.config import get_settings
from qtrack.items.models import Item
from qtrack.signing import keys
from qtrack.signing.models import ItemLabel

app = typer.Typer(
    help="Keys that sign QR labels: create, list, rotate, retire.", no_args_is_help=True
)


@app.command("create")
def keys_create() -> None:
    """Create the first signing key (later keys come from rotate)."""
    settings = get_settings()
    row = run_in_session(settings, lambda s: keys.create_first_key(s, settings))
    typer.echo(f"key {row.id} is active")


@app.command("list")
def keys_list() -> None:
    """Every key: id, status, dates and public key (never the private key)."""
    rows = run_in_session(get_settings(), keys.list_keys, mode="read")
    if not rows:
        typer.echo("no keys yet (one is made when the first label is signed)")
        return
    typer.echo(f"{'ID':>4}  {'STATUS':<10} {'VALID FROM':<20} {'SIGN UNTIL':<20} PUBLIC KEY")
    for row in rows:
        until = row.sign_until.strftime("%Y-%m-%d %H:%M:%S") if row.sign_until else "-"
        public = keys.public_key_text(row)
        since = f"{row.valid_from:%Y-%m-%d %H:%M:%S}"
        typer.echo(f"{row.id:>4}  {row.status:<10} {since}  {until:<20} {public}")


@app.command("rotate")
def keys_rotate() -> None:
    """Make a new key sign from now on; labels signed before keep verifying."""
    settings = get_settings()
    row = run_in_session(settings, lambda s: keys.rotate(s, settings, origin=CLI_ORIGIN))
    typer.echo(f"key {row.id} is active; earlier keys now only verify")


@app.command("retire")
def keys_retire(key_id: Annotated[int, typer.Argument(help="The key to retire.")]) -> None:
    """Stop trusting a key: labels it signed no longer verify."""
    row = run_in_session(get_settings(), lambda s: keys.retire(s, key_id, origin=CLI_ORIGIN))
    typer.echo(f"key {row.id} is retired")


async def _missing_labels(session: AsyncSession, limit: int) -> list[Item]:
    has_label = select(ItemLabel.item_id).where(ItemLabel.revoked_at.is_(None))
    stmt = select(Item).where(Item.archived.is_(False), Item.id.not_in(has_label)).limit(limit)
    return list((await session.scalars(stmt)).all())
