"""`qtrack expiry sweep`: move items past their expiry date to the expired state now."""

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.cli.common import print_table, run_in_session
from qtrack.config import get_settings
from qtrack.expiry import service
from qtrack.expiry.schemas import SweepRead

app = typer.Typer(help="Expiry: the sweep to the expired state.", no_args_is_help=True)


@app.command("sweep")
def sweep() -> None:
    """Expire every live item past its expiry date now, as the daily job does."""
    settings = get_settings()

    async def work(session: AsyncSession) -> SweepRead:
        return await service.sweep(session, settings)

    done = run_in_session(settings, work)
    if done.expired:
        print_table(
            ["CODE", "TYPE", "EXPIRED ON", "FROM", "TO"],
            [[e.code, e.type, e.expiry_on.isoformat(), e.before, e.after] for e in done.expired],
        )
    if done.left:
        typer.echo()
        typer.echo("left as they are:")
        print_table(
            ["CODE", "TYPE", "EXPIRED ON", "STATUS", "WHY"],
            [[e.code, e.type, e.expiry_on.isoformat(), e.status, e.why] for e in done.left],
        )
    typer.echo(f"{done.today.isoformat()}: {len(done.expired)} expired, {len(done.left)} left")
