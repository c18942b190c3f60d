"""`qtrack tokens`: API tokens for devices and integrations."""

from datetime import timedelta
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts import tokens as tokens_service
from qtrack.accounts.schemas import TokenCreate, TokenRead
from qtrack.cli.common import (
    CLI_ORIGIN,
    PAGE_SIZE,
    print_table,
    run_in_session,
    validated,
    when,
)
from qtrack.config import get_settings
from qtrack.core.clock import utcnow

app = typer.Typer(help="API tokens for devices and integrations.", no_args_is_help=True)


@app.command("create")
def tokens_create(
    name: Annotated[str, typer.Option(help="What the token is for, e.g. scanner-3.")],
    user: Annotated[str, typer.Option(help="The user the token acts as.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(help="A permission the token may use (repeat); none means all the user's."),
    ] = None,
    expires_days: Annotated[
        int | None,
        typer.Option(min=1, max=36500, help="Expire after this many days (default: never)."),
    ] = None,
) -> None:
    """Create an API token and print it once."""
    settings = get_settings()
    scopes = scope or []
    expires_at = utcnow() + timedelta(days=expires_days) if expires_days else None
    validated(TokenCreate, name=name, username=user, scopes=scopes, expires_at=expires_at)

    async def _create(session: AsyncSession) -> tuple[TokenRead, str]:
        token, raw = await tokens_service.create_token(
            session,
            actor=None,
            name=name.strip(),
            username=user,
            scopes=scopes,
            expires_at=expires_at,
            origin=CLI_ORIGIN,
        )
        return TokenRead.of(token), raw

    token, raw = run_in_session(settings, _create)
    scopes_text = ", ".join(token.scopes) or "all of the user's permissions"
    typer.echo(f"created token {token.id} '{token.name}' for '{token.username}' ({scopes_text})")
    typer.echo(raw)
    typer.echo("store it now: it will not be shown again")


@app.command("list")
def tokens_list(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
) -> None:
    """List API tokens (never the token itself)."""
    settings = get_settings()

    async def _all(session: AsyncSession) -> list[TokenRead]:
        tokens: list[TokenRead] = []
        while True:
            page = await tokens_service.list_tokens(
                session,
                after_id=tokens[-1].id if tokens else None,
                limit=PAGE_SIZE,
                include_revoked=include_revoked,
            )
            tokens.extend(TokenRead.of(t) for t in page)
            if len(page) < PAGE_SIZE:
                return tokens

    tokens = run_in_session(settings, _all, mode="read")
    if not tokens:
        typer.echo("no API tokens")
        return
    print_table(
        ["ID", "NAME", "PREFIX", "USER", "SCOPES", "CREATED", "LAST USED", "EXPIRES", "REVOKED"],
        [
            [
                str(t.id),
                t.name,
                t.prefix,
                t.username,
                ",".join(t.scopes) or "all",
                when(t.created_at),
                when(t.last_used_at, empty="never"),
                when(t.expires_at, empty="never"),
                when(t.revoked_at),
            ]
            for t in tokens
        ],
    )


@app.command("revoke")
def tokens_revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="The token's id (see list).")],
) -> None:
    """Revoke an API token; it stops working at once."""
    token = run_in_session(
        get_settings(),
        lambda session: tokens_service.revoke_token(
            session, actor=None, token_id=token_id, origin=CLI_ORIGIN
        ),
    )
    typer.echo(f"revoked token {token.id} '{token.name}'")
