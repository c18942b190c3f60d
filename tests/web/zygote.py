"""Where the browser tests' `qtrack serve` processes come from: forks of one process that has
already imported qtrack.

Starting `python -m qtrack serve` costs about 4 s of CPU before the server answers, nearly all
of it importing qtrack's CLI and app (FastAPI building its routes, pydantic its models); the
browser tests start a server each. A zygote imports them once per test process; each server is
a fork of it that takes the test's environment and then runs `qtrack serve` through the CLI's
own entry point, as the console script does. Nothing is started before the fork (no event
loop, thread, connection or settings read: `get_settings` is cleared in the child).

The zygote is the servers' parent, so it alone signals and reaps them: a pid it has not reaped
cannot be reused, and a stopped server is waited for, not polled for. It answers one request
per line on stdin (JSON) with one line: `run` (the environment and the CLI's arguments) → the
child's pid; `alive` → whether it still runs; `stop` → SIGTERM, SIGKILL after a timeout, and
its exit status. At the end of its stdin it stops whatever still runs. It has a session of its
own, so a Ctrl-C in the terminal reaches pytest (which stops the servers) and not it.
"""

import json
import subprocess
import sys
from typing import IO, Any

_PROGRAM = r"""
import json, os, signal, sys, time
import qtrack.app, qtrack.cli, qtrack.config

exited = {}
running = set()

def reap(*_):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        running.discard(pid)
        exited[pid] = os.waitstatus_to_exitcode(status)

def stop(pid, timeout):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if pid in running:
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while pid in running and time.monotonic() < deadline:
            time.sleep(0.01)
            reap()
        if pid not in running:
            return exited.pop(pid, None)
    raise RuntimeError(f"process {pid} did not end")

def serve(request):
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
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
    running.add(pid)
    return pid

signal.signal(signal.SIGCHLD, reap)
print(json.dumps("ready"), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    try:
        if request["do"] == "run":
            answer = serve(request)
        elif request["do"] == "alive":
            answer = request["pid"] in running
        else:
            answer = stop(request["pid"], request["timeout"])
    except Exception as error:
        answer = {"error": repr(error)}
    print(json.dumps(answer), flush=True)
for pid in list(running):
    stop(pid, 10)
"""


class Zygote:
    """A process that has imported qtrack, forking a `qtrack ...` command on request."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _PROGRAM],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        if self._read() != "ready":
            raise RuntimeError("the zygote did not start")

    def _read(self) -> Any:
        out: IO[str] | None = self.proc.stdout
        assert out is not None
        line = out.readline()
        if not line:
            raise RuntimeError(f"the zygote has ended (exit status {self.proc.poll()})")
        answer = json.loads(line)
        if isinstance(answer, dict) and "error" in answer:
            raise RuntimeError(f"the zygote failed: {answer['error']}")
        return answer

    def _ask(self, **request: Any) -> Any:
        stdin = self.proc.stdin
        assert stdin is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"the zygote has ended (exit status {self.proc.returncode})")
        stdin.write(json.dumps(request) + "\n")
        stdin.flush()
        return self._read()

    def run(self, args: list[str], env: dict[str, str]) -> int:
        """Start `qtrack ARGS` with this environment; its pid."""
        pid: int = self._ask(do="run", args=args, env=env)
        return pid

    def alive(self, pid: int) -> bool:
        """Whether that process still runs."""
        running: bool = self._ask(do="alive", pid=pid)
        return running

    def stop(self, pid: int, timeout: float = 10) -> int | None:
        """SIGTERM, SIGKILL after the timeout; its exit status once it has ended."""
        status: int | None = self._ask(do="stop", pid=pid, timeout=timeout)
        return status

    def close(self) -> None:
        """Stop what still runs, and the zygote."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
