"""What an import says of its progress while it runs: rows checked, rows written, time left."""

import time
from datetime import timedelta

import pytest

from qtrack.core.clock import utcnow
from qtrack.imports import progress
from qtrack.imports.models import CHECKING, QUEUED, WRITING, DataImport
from qtrack.imports.schemas import read


def an_import(status: str, *, rows: int = 1000, dry_run: bool = False) -> DataImport:
    now = utcnow()
    return DataImport(
        id=4242, kind="items", status=status, dry_run=dry_run, filename="a.csv", format="csv",
        size_bytes=1, header=["type"], signature="s", mapping={}, rows_total=rows,
        rows_checked=0, rows_written=0, problems=[], more_problems=False, result={},
        created_at=now, started_at=now,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("dry_run", "checked", "written", "left"),
    [
        (False, 1000, 500, 3.3),  # 1,500 of 2,000 steps in 10 s: 500 more take 3.3 s
        (False, 250, 0, 70.0),  # a quarter of the checking, none of the writing
        (True, 500, 0, 10.0),  # a check only: 1,000 steps
        (False, 0, 0, None),  # nothing done yet: no pace to go by
    ],
)
def test_time_left_is_the_pace_so_far_over_the_steps_left(
    dry_run: bool, checked: int, written: int, left: float | None
) -> None:
    imp = an_import(WRITING, dry_run=dry_run)
    live = progress.start(imp.id, WRITING if written else CHECKING)
    try:
        live.checked, live.written, live.started = checked, written, time.monotonic() - 10
        shown = read(imp)
    finally:
        progress.stop(imp.id)
    assert (shown.rows_checked, shown.rows_written) == (checked, written)
    assert shown.time_left_s == pytest.approx(left, abs=0.2) if left else shown.time_left_s is None


def test_a_run_in_another_process_is_read_from_its_row() -> None:
    imp = an_import(CHECKING)
    imp.rows_checked = 400
    assert imp.started_at is not None
    imp.started_at -= timedelta(seconds=8)
    shown = read(imp)
    assert shown.status == "checking"
    assert shown.time_left_s == pytest.approx(32.0, abs=0.5)  # 400 of 2,000 steps in 8 s
    assert read(an_import(QUEUED)).time_left_s is None
