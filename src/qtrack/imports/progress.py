"""Where a running import stands, kept in this process as it runs.

The import's row says it too, but only as often as a background job can write it (on
SQLite the import's own transaction holds the one write lock until it ends), so the pages
and the API read it from here first when the import runs in this process.
"""

import time
from dataclasses import dataclass, field


@dataclass
class Live:
    """Rows checked and written so far, and when the run started (monotonic seconds)."""

    status: str
    checked: int = 0
    written: int = 0
    started: float = field(default_factory=time.monotonic)


_running: dict[int, Live] = {}


def start(import_id: int, status: str) -> Live:
    """Begin following an import."""
    live = _running[import_id] = Live(status)
    return live


def get(import_id: int) -> Live | None:
    """How far an import running in this process has got, or None."""
    return _running.get(import_id)


def stop(import_id: int) -> None:
    """Stop following an import (it ended, one way or another)."""
    _running.pop(import_id, None)
