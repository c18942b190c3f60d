"""`qtrack audit`: prove that nobody edited the history, and sign checkpoints that make it so
even against whoever controls the database."""

import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import orjson
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.audit import service as audit_service
from qtrack.audit import verify as audit_verify_service
from qtrack.audit.statement import public_key_from_text
from qtrack.cli.common import fail, run_in_session
from qtrack.config import get_settings
from qtrack.history import verify

app = typer.Typer(help="Prove that nobody edited the history.", no_args_is_help=True)
checkpoints_app = typer.Typer(help="The signed checkpoints.", no_args_is_help=True)
app.add_typer(checkpoints_app, name="checkpoints")


def _public_keys(path: Path) -> dict[int, Ed25519PublicKey]:
    """Public keys from a copy of GET /api/v1/keys kept elsewhere."""
    try:
        published = orjson.loads(path.read_bytes())
        return {int(k["kid"]): public_key_from_text(k["public_key"]) for k in published}
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        fail("invalid_keys", f"{path} is not a copy of GET /api/v1/keys: {exc}")


@app.command("verify")
def audit_verify(
    show: Annotated[int, typer.Option(help="How many broken links to list at most.")] = 1,
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            "--checkpoints",
            exists=True,
            dir_okay=False,
            metavar="FILE",
            help="A checkpoints export kept elsewhere (`audit checkpoints export`) to check too.",
        ),
    ] = None,
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            exists=True,
            dir_okay=False,
            metavar="FILE",
            help="The public keys (GET /api/v1/keys) kept elsewhere; default: the database's.",
        ),
    ] = None,
) -> None:
    """Recompute every hash and check every chain, then check the chains against the signed
    checkpoints; exit 1 at a broken link or a head a checkpoint recorded that is gone."""
    settings = get_settings()
    public_keys = _public_keys(keys) if keys else None

    async def work(
        session: AsyncSession,
    ) -> tuple[verify.ChainReport, audit_verify_service.CheckpointReport]:
        chains = await verify.verify_chains(session, stop_after=show)
        if checkpoints is None:
            found = await audit_verify_service.verify_checkpoints(session, public_keys=public_keys)
        else:
            with checkpoints.open("rb") as file:
                found = await audit_verify_service.verify_checkpoints(
                    session, file=file, file_name=checkpoints.name, public_keys=public_keys
                )
        return chains, found

    chains, found = run_in_session(settings, work, mode="read")
    if chains.intact:
        typer.echo(f"{chains.events} events, {chains.items} items, all chains intact")
    else:
        typer.echo(f"BROKEN after {chains.events} events in {chains.items} items:", err=True)
        for line in chains.broken:
            typer.echo(f"  {line}", err=True)
    if found.intact:
        _say_intact(found, checkpoints)
    else:
        typer.echo("BROKEN against the signed checkpoints:", err=True)
        for line in found.problems:
            typer.echo(f"  {line}", err=True)
    if not (chains.intact and found.intact):
        raise typer.Exit(code=1)


def _say_intact(found: audit_verify_service.CheckpointReport, file: Path | None) -> None:
    latest = found.latest
    if latest is None:
        typer.echo("no checkpoints yet: run `qtrack audit checkpoint` (see docs/audit.md)")
        return
    typer.echo(
        f"{found.checkpoints} checkpoints, signatures and links intact; the latest, "
        f"#{latest.id} of {latest.created_at:%Y-%m-%d %H:%M:%S} UTC, counts {latest.events} "
        f"events up to event #{latest.last_event_id}, every head it recorded still in place"
    )
    if file is not None:
        typer.echo(f"{file.name}: {found.in_file} checkpoints, each in the database unchanged")


@app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint over every item's chain head now, and print it (one JSON line)."""
    settings = get_settings()
    row = run_in_session(settings, lambda s: audit_service.create_checkpoint(s, settings))
    typer.echo(orjson.dumps(audit_service.checkpoint_line(row)).decode())
    typer.echo(
        f"checkpoint {row.id}: {row.events} events in {row.items} items up to event "
        f"#{row.last_event_id}, {row.changed} heads moved since the last, signed with key "
        f"{row.key_id}",
        err=True,
    )


@checkpoints_app.command("export")
def checkpoints_export(
    out: Annotated[
        Path | None,
        typer.Option("--out", dir_okay=False, metavar="FILE", help="Write here, not to stdout."),
    ] = None,
) -> None:
    """Write every checkpoint and the heads it recorded as JSON Lines, oldest first."""
    settings = get_settings()

    async def write(session: AsyncSession, sink: BinaryIO) -> int:
        lines = 0
        async for line in audit_service.export_lines(session):
            sink.write(line)
            lines += 1
        return lines

    if out is None:
        run_in_session(settings, lambda s: write(s, sys.stdout.buffer), mode="read")
        sys.stdout.buffer.flush()
        return
    with out.open("wb") as sink:
        lines = run_in_session(settings, lambda s: write(s, sink), mode="read")
    typer.echo(f"{lines} lines written to {out}", err=True)
