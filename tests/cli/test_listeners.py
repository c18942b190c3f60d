"""`qtrack serve --workers N` gives each worker a listening socket of its own, and new
connections spread over them (cli/listeners.py)."""

import multiprocessing
import os
import pickle
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from uvicorn.config import STARTUP_FAILURE

from qtrack.cli import listeners

pytestmark = pytest.mark.skipif(
    not listeners.balanced_supported(), reason="SO_REUSEPORT spreads connections on Linux only"
)


def _accepted(sock: socket.socket) -> list[socket.socket]:
    """Every connection waiting on a listening socket."""
    sock.setblocking(False)
    taken: list[socket.socket] = []
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return taken
        taken.append(conn)


def _in_worker(listener: listeners.WorkerListener) -> socket.socket:
    """What a worker gets for the listener: multiprocessing pickles a worker's arguments."""
    sock: socket.socket = pickle.loads(pickle.dumps(listener))  # noqa: S301 (our own bytes)
    return sock


def test_each_worker_socket_takes_a_share_of_new_connections() -> None:
    with listeners.claim_port("127.0.0.1", 0) as listener:
        assert listener.port != 0
        workers = [_in_worker(listener) for _ in range(2)]
        clients: list[socket.socket] = []
        try:
            for sock in workers:
                assert sock.getsockname() == ("127.0.0.1", listener.port)
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
                sock.listen(128)
            for _ in range(64):  # the claim never listens: none is refused
                clients.append(socket.create_connection(("127.0.0.1", listener.port), 2))
            time.sleep(0.2)  # handshakes done
            shares = [_accepted(sock) for sock in workers]
            assert sum(len(share) for share in shares) == 64
            # Each new connection goes to a socket by a hash of its addresses: for all 64 to
            # land on one of two sockets is a chance of 2**-63.
            assert all(share for share in shares), [len(share) for share in shares]
            for share in shares:
                for conn in share:
                    conn.close()
        finally:
            for sock in [*workers, *clients]:
                sock.close()


def test_a_port_in_use_is_refused_once_in_the_supervisor(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as plain:
        plain.bind(("127.0.0.1", 0))
        plain.listen()
        port = plain.getsockname()[1]
        with pytest.raises(SystemExit) as exited, listeners.claim_port("127.0.0.1", port):
            pytest.fail("claimed a port another server listens on")
    assert exited.value.code == STARTUP_FAILURE
    assert "in use" in caplog.text


def test_a_second_server_is_refused_even_while_no_worker_listens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Between the first server's claim and its workers' sockets (starting, or all of them
    restarting) nothing listens on the port: the port's lock refuses the second anyway."""
    with listeners.claim_port("127.0.0.1", 0) as listener:
        with (
            pytest.raises(SystemExit) as exited,
            listeners.claim_port("127.0.0.1", listener.port),
        ):
            pytest.fail("a second server claimed the port")
        assert exited.value.code == STARTUP_FAILURE
        assert f"qtrack already serves port {listener.port}" in caplog.text
    # Released with the first: the port can be served again.
    with listeners.claim_port("127.0.0.1", listener.port) as again:
        assert again.port == listener.port


def _unpickled(listener: listeners.WorkerListener) -> None:
    """A spawned process's target: by the time it runs, its arguments were unpickled."""


def test_a_worker_that_cannot_bind_exits_as_a_failed_startup() -> None:
    """uvicorn's supervisor stops on that exit code, instead of restarting the worker every
    half second."""
    with listeners.claim_port("127.0.0.1", 0) as listener, socket.socket() as intruder:
        intruder.bind(("127.0.0.1", 0))
        taken = listeners.WorkerListener("127.0.0.1", intruder.getsockname()[1])
        intruder.listen()  # another program's, not shared
        child = multiprocessing.get_context("spawn").Process(target=_unpickled, args=(taken,))
        child.start()
        child.join(60)
        assert child.exitcode == STARTUP_FAILURE
        fine = multiprocessing.get_context("spawn").Process(target=_unpickled, args=(listener,))
        fine.start()
        fine.join(60)
        assert fine.exitcode == 0


def test_another_servers_workers_are_not_joined() -> None:
    """A second `qtrack serve` on the port of a running one must not share its traffic."""
    with listeners.claim_port("127.0.0.1", 0) as listener:
        worker = _in_worker(listener)
        worker.listen()
        try:
            with (
                pytest.raises(SystemExit),
                listeners.claim_port("127.0.0.1", listener.port),
            ):
                pytest.fail("joined a running server's workers")
        finally:
            worker.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _tcp_sockets(port: int) -> list[tuple[str, str]]:
    """(state, inode) of each IPv4 TCP socket whose local port is this one."""
    rows: list[tuple[str, str]] = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port:
            rows.append((fields[3], fields[9]))
    return rows


LISTEN, ESTABLISHED = "0A", "01"


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[int, list[int]]]:
    """`qtrack serve --workers 2` on a migrated SQLite database: its port, and the processes
    that listen on it."""
    env = {**os.environ, "QTRACK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 's.db'}"}
    qtrack = [sys.executable, "-m", "qtrack"]
    subprocess.run([*qtrack, "db", "upgrade"], env=env, check=True, capture_output=True)
    port = _free_port()
    proc = subprocess.Popen(
        [*qtrack, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60  # a loaded CI machine starts slowly
        while time.monotonic() < deadline:
            if [state for state, _ in _tcp_sockets(port)].count(LISTEN) == 2:
                break
            time.sleep(0.1)
        time.sleep(0.5)  # both workers' startup done
        listening = {inode for state, inode in _tcp_sockets(port) if state == LISTEN}
        # The supervisor's children: the workers, and multiprocessing's resource tracker.
        workers = [pid for pid in _children(proc.pid) if listening & _socket_inodes(pid)]
        yield port, workers
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_two_workers_listen_on_sockets_of_their_own_and_share_connections(
    two_workers: tuple[int, list[int]],
) -> None:
    port, workers = two_workers
    assert len(workers) == 2
    listening = {inode for state, inode in _tcp_sockets(port) if state == LISTEN}
    # uvicorn's own way: one socket, inherited by both workers.
    assert len(listening) == 2
    assert [len(listening & _socket_inodes(pid)) for pid in workers] == [1, 1]

    # 32 keep-alive connections opened at once, as a dock's scanners or a proxy's pool.
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}") for _ in range(32)]
    try:
        for client in clients:
            assert client.get("/healthz").status_code == 200
        connections = {inode for state, inode in _tcp_sockets(port) if state == ESTABLISHED}
        shares = [len(connections & _socket_inodes(pid)) for pid in workers]
        assert sum(shares) == 32
        assert all(shares), shares  # all 32 on one worker by the hash: a chance of 2**-31
    finally:
        for client in clients:
            client.close()
