"""`qtrack roles`: the roles users can hold, and what each may do."""

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts import roles as roles_service
from qtrack.cli.common import run_in_session
from qtrack.config import get_settings

app = typer.Typer(help="Roles: what each role may do.", no_args_is_help=True)


@app.command("list")
def roles_list() -> None:
    """Every role with its name and its permissions."""

    async def _roles(session: AsyncSession) -> list[tuple[str, str, bool, list[str]]]:
        rows = await roles_service.list_roles(session)
        return [(r.key, r.name, r.builtin, sorted(r.permissions)) for r in rows]

    rows = run_in_session(get_settings(), _roles, mode="read")
    if not rows:
        typer.echo("no roles (run `qtrack db upgrade`)")
        return
    for key, name, builtin, permissions in rows:
        typer.echo(f"{key}  {name}{'' if builtin else '  (defined here)'}")
        typer.echo(f"  {', '.join(permissions) or '(no permissions)'}")
