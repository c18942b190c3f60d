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
worker unpickles into a socket of its own. Before that, the supervisor:
- binds the address without the option: a port another server listens on fails there, once,
  and port 0 gets its number;
- takes a lock named after the port (a Linux abstract socket, gone with the process): while
  it runs, a second `qtrack serve` on that port is refused even in the moments no worker of
  the first listens (starting, or all restarting), instead of joining them silently;
- holds the port with a bound socket that never listens, and so is never given a connection.

A worker that cannot bind (another program took the port meanwhile) exits as uvicorn's own
startup failures do, and the supervisor stops rather than restart it forever.

What a socket per worker changes: a worker that stops (a restart, `SIGHUP`, `SIGTTOU`, a
crash) closes its socket, and connections the kernel had queued on it that it had not yet
accepted are reset (Linux 5.14 and later hand them to another worker's socket with `sysctl
net.ipv4.tcp_migrate_req=1`); while no worker runs, new connections are refused, not queued.
A client sees a dropped connection. An idempotent request, or a change sent with an
`Idempotency-Key`, can be sent again safely.
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


def _shared_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def worker_socket(host: str, port: int) -> socket.socket:
    """A socket of the calling worker's own, bound to the address beside the other workers'
    (listened on by the server it is given to). A worker that cannot bind exits with uvicorn's
    startup-failure code, which stops the supervisor."""
    try:
        return _shared_socket(host, port)
    except OSError as exc:
        log.error("worker could not bind %s:%s: %s", host, port, exc)
        sys.exit(STARTUP_FAILURE)


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
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))  # not shared: fails if a server listens on the port
            port = probe.getsockname()[1]
        try:
            lock.bind(port_lock_name(port))
        except OSError as exc:
            raise OSError(exc.errno, f"qtrack already serves port {port}") from exc
        claim = _shared_socket(host, port)
    except OSError as exc:
        lock.close()
        log.error(exc)
        sys.exit(STARTUP_FAILURE)
    try:
        yield WorkerListener(host, port)
    finally:
        claim.close()
        lock.close()


def port_lock_name(port: int) -> str:
    """The abstract socket a serving supervisor holds for its port (a leading NUL: no file,
    and released with the process however it ends)."""
    return f"\0qtrack-serve-port-{port}"
