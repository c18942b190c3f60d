"""A listening socket of its own for each worker of `qtrack serve`, so that the kernel, not
whichever worker happens to be awake, decides which worker takes a new connection.

uvicorn's workers share one listening socket. A new connection wakes every worker, and the
first to run accepts every connection that is waiting. A burst of keep-alive connections (a
dock's scanners, a proxy's or an integration's pool, all opened at once) then lands mostly on
one worker, which serves them all on one core while the other idles, for as long as the
connections live. Measured at 32 connections over two workers (docs/benchmarks.md, issue 15):
splits of 4/28 and 32/0 happened, and then a lookup's p99 was 77 to 122 ms and the rate fell by
up to half, against p99 20 to 30 ms for an even split.

With `SO_REUSEPORT` each worker binds the same address with a socket of its own, and Linux
picks the socket for each new connection by a hash of the connection's addresses: an even
spread whatever the workers are doing. Elsewhere the option does not spread connections
(BSD and macOS give them all to one socket), so there the shared socket stays.

The supervisor (uvicorn's `Multiprocess`, which starts, watches and restarts the workers)
hands its workers what it was given as their sockets; it is given a `WorkerListener`, which a
worker unpickles into a socket of its own. The supervisor first binds the address itself
without the option: a port in use fails there, once, and port 0 gets its number. It then holds
the port with a bound socket that never listens, and so is never given a connection.

A worker that stops (a restart, `SIGHUP`, `SIGTTOU`) closes its socket; connections the
kernel had queued on it and the worker had not yet accepted are reset, unless
`net.ipv4.tcp_migrate_req` is set (Linux 5.14 and later), which hands them to another worker's
socket. Clients retry a reset connection as they retry any refused one.
"""

import contextlib
import logging
import socket
import sys
from collections.abc import Iterator
from typing import Any

from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger("uvicorn.error")


def balanced_supported() -> bool:
    """Whether the kernel spreads connections over sockets bound with `SO_REUSEPORT`."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    # As uvicorn tells them apart.
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def worker_socket(host: str, port: int) -> socket.socket:
    """A socket of the calling worker's own, bound to the address beside the other workers'
    (listened on by the server it is given to)."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class WorkerListener:
    """What the supervisor passes to each worker as its listening socket: unpickled in the
    worker (multiprocessing's spawn pickles a worker's arguments), it is `worker_socket`."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return worker_socket, (self.host, self.port)


@contextlib.contextmanager
def claim_port(host: str, port: int) -> Iterator[WorkerListener]:
    """Bind the address for the workers: refused (logged, and the process exits as uvicorn
    exits) when something else holds it; the port held while the workers come and go."""
    family = _family(host)
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))  # not shared: fails if any socket holds the port
            port = probe.getsockname()[1]
        claim = worker_socket(host, port)
    except OSError as exc:
        log.error(exc)
        sys.exit(STARTUP_FAILURE)
    try:
        yield WorkerListener(host, port)
    finally:
        claim.close()
