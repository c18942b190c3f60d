"""`qtrack serve` and `qtrack version`."""

import contextlib
import sys
from typing import Annotated

import typer
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from qtrack import __version__
from qtrack.cli import listeners
from qtrack.cli.db import ensure_migrated
from qtrack.config import get_settings
from qtrack.core.logging import configure_logging
from qtrack.core.metrics import forget_dead_processes


def version() -> None:
    """Print the qtrack version."""
    typer.echo(f"qtrack {__version__}")


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port to listen on.")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Worker processes (one per core).")
    ] = None,
) -> None:
    """Run the HTTP server."""
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    # Every request would fail on a database without our tables: say so once, and stop.
    ensure_migrated(settings)
    if settings.metrics_enabled and settings.metrics_dir is not None:
        # The workers about to start share this folder; what earlier runs left is stale.
        settings.metrics_dir.mkdir(parents=True, exist_ok=True)
        forget_dead_processes(settings.metrics_dir, everything=True)
    run_server(
        "qtrack.app:create_app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        trusted_proxies=settings.trusted_proxies,
    )


def run_server(
    app: str, *, host: str, port: int, workers: int, trusted_proxies: list[str] | None = None
) -> None:
    """Serve an ASGI app factory ("module:function") over HTTP: the one place that says which
    server and how (the benchmarks' reference app is served by it too, to compare like with
    like)."""
    config = uvicorn.Config(
        app,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,  # create_app configures structured logging in every worker
        server_header=False,
        # The client address (rate limits, security log) is taken from X-Forwarded-For only
        # when the connection comes from one of these proxies.
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=trusted_proxies or None,
    )
    if workers <= 1:
        server = uvicorn.Server(config)
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
        if not server.started:
            sys.exit(STARTUP_FAILURE)
        return
    if not listeners.balanced_supported():
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    # Each worker listens on a socket of its own, so that connections spread evenly over
    # them (cli/listeners.py).
    with listeners.claim_port(host, port) as listener:
        Multiprocess(config, sockets=[listener]).run()  # type: ignore[list-item]
