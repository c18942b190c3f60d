"""Where the browser tests' `qtrack serve` processes come from: forks of one process that has
already imported qtrack.

Starting `python -m qtrack serve` costs about 4 s of CPU before the server answers, nearly all
of it importing qtrack's CLI and app (FastAPI building its routes, pydantic its models); the
browser tests start a server each. A zygote imports them once per test process; each server is
a fork of it that takes the test's environment and then runs `qtrack serve` through the CLI's
own entry point, as the console script does. Nothing is started before the fork (no event
loop, thread, connection or settings read: `get_settings` is cleared in the child).

It reads one request per line on stdin (JSON: the environment and the CLI's arguments) and
answers with the child's pid; it reaps its children, so a stopped server's pid disappears.
"""

import json
import os
import signal
import subprocess
import sys
import time
from typing import IO

_PROGRAM = """
import json, os, signal, sys
import qtrack.app, qtrack.cli, qtrack.config

def reap(*_):
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return

signal.signal(signal.SIGCHLD, reap)
print("ready", flush=True)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.environ.clear()
        os.environ.update(request["env"])
        qtrack.config.get_settings.cache_clear()
        sys.argv = ["qtrack", *request["args"]]
        code = 0
        try:
            qtrack.cli.main()
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
        except BaseException:
            code = 1
        os._exit(code)
    print(pid, flush=True)
"""


class Zygote:
    """A process that has imported qtrack, forking a `qtrack ...` command on request."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _PROGRAM],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self._read() != "ready":
            raise RuntimeError("the zygote did not start")

    def _read(self) -> str:
        out: IO[str] | None = self.proc.stdout
        assert out is not None
        return out.readline().strip()

    def run(self, args: list[str], env: dict[str, str]) -> int:
        """Start `qtrack ARGS` with this environment; its pid."""
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(json.dumps({"args": args, "env": env}) + "\n")
        stdin.flush()
        return int(self._read())

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


def alive(pid: int) -> bool:
    """Whether a process of the zygote's is still there (it reaps them once they end)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(pid: int, timeout: float = 10) -> None:
    """SIGTERM, and wait until it is gone (SIGKILL after the timeout)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.02)
