"""`qtrack serve` and `qtrack version`."""

from typing import Annotated

import typer
import uvicorn

from qtrack import __version__
from qtrack.config import get_settings


def version() -> None:
    """Print the qtrack version."""
    typer.echo(f"qtrack {__version__}")


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (one per core).")] = None,
) -> None:
    """Run the HTTP server."""
    settings = get_settings()
    uvicorn.run(
        "qtrack.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_config=None,  # create_app configures structured logging in every worker
        server_header=False,
        proxy_headers=True,
    )
