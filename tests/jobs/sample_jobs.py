"""Jobs for the worker-process test: `qtrack worker` imports this module in the subprocess."""

import asyncio
import os
from pathlib import Path
from typing import Any

from qtrack.jobs.registry import JobContext, job


def _note(path: Path, line: str) -> None:
    with path.open("a") as marker:
        marker.write(line)


@job("test.sleepy", max_attempts=3, timeout=3)
async def sleepy(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Note each start in a file; the first attempt then hangs until its process is killed."""
    await asyncio.to_thread(_note, Path(payload["marker"]), f"{ctx.attempt} {os.getpid()}\n")
    if ctx.attempt == 1:
        await asyncio.sleep(60)
