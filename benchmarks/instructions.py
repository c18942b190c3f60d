"""Instructions executed per piece of work, counted by valgrind's callgrind.

CPU time per request moves by a fifth between two runs of the same code on a shared machine;
the number of instructions the process executes does not (0.3 % between runs, measured on the
scan lookup), so a change of a few percent shows. It counts user-space instructions only: a
system call's kernel time (a socket write, a greenlet's stack mapped) is not in it, so compare
it alongside the CPU time, not instead of it.

`reexec` runs this same command again under `valgrind --tool=callgrind --instr-atstart=no`
(about 50 times slower while counting, 5 times otherwise); in that process, `Counter.start` and
`Counter.stop` bracket the work with `callgrind_control` (zero, instrument, dump, stop) and
read the dump's total. Needs valgrind (Debian's package) on the PATH.

Work that runs by the clock runs about 50 times more often per request while counting (a
rate limit's reconciliation every 0.25 s, a cache's expiry): compare two variants measured
this way, never a count with a time.
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from typing import NoReturn

OUT_ENV = "QTRACK_BENCH_CALLGRIND_OUT"


def counting() -> bool:
    """Whether this process runs under callgrind, started by `reexec`."""
    return OUT_ENV in os.environ


def reexec() -> NoReturn:
    """This command again, under callgrind with instrumentation off until `Counter.start`."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("counting instructions needs valgrind (apt-get install valgrind)")
    out = os.path.join(tempfile.mkdtemp(prefix="qtrack-callgrind-"), "callgrind.out")
    os.environ[OUT_ENV] = out
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        "--log-file=/dev/null",
        sys.executable,
        *sys.orig_argv[1:],
    ]
    os.execvp(command[0], command)  # noqa: S606 (valgrind, by name, with our own argv)


class Counter:
    """Instructions between `start` and `stop`, in this process (run by `reexec`)."""

    def __init__(self) -> None:
        self.out = os.environ[OUT_ENV]
        self.pid = str(os.getpid())

    def _control(self, *args: str) -> None:
        subprocess.run(["callgrind_control", *args, self.pid], check=True, capture_output=True)

    def start(self) -> None:
        self._control("--zero")
        self._control("--instr=on")

    def stop(self) -> int:
        """The instructions counted since `start` (the two calls themselves cost ~0.5 million)."""
        self._control("--dump=work")
        self._control("--instr=off")
        parts = glob.glob(f"{self.out}.*")
        newest = max(parts, key=lambda path: int(path.rsplit(".", 1)[1]))
        with open(newest) as dump:
            totals = [line for line in dump if line.startswith("totals:")]
        for path in parts:
            os.unlink(path)
        return int(totals[-1].split()[1])
