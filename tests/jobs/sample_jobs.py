"""Jobs for the worker-process test: `qtrack worker` imports this module in the subprocess."""

import asyncio
import os
from pathlib import Path
from typing import Any

from qtrack.jobs.registry import JobContext, job


@job("test.sleepy", max_attempts=3, timeout=3)
async def sleepy(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Note each start in a file; the first attempt then hangs until its process is killed."""
    with Path(payload["marker"]).open("a") as marker:
        marker.write(f"{ctx.attempt} {os.getpid()}\n")
    if ctx.attempt == 1:
        await asyncio.sleep(60)
