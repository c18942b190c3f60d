"""Cron expressions, read in the site's time zone, across daylight-saving changes."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from qtrack.jobs.cron import Cron, CronError
from qtrack.jobs.registry import schedule

BERLIN = ZoneInfo("Europe/Berlin")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "now", "zone", "latest", "following"),
    [
        ("0 18 * * *", "2026-01-15 17:30", "UTC", "2026-01-14 18:00", "2026-01-15 18:00"),
        # 18:00 in Berlin is 17:00 UTC in winter and 16:00 UTC in summer.
        ("0 18 * * *", "2026-01-15 17:30", "Europe/Berlin", "2026-01-15 17:00", "2026-01-16 17:00"),
        ("0 18 * * *", "2026-07-15 16:30", "Europe/Berlin", "2026-07-15 16:00", "2026-07-16 16:00"),
        (
            "*/15 9-10 * * mon-fri",
            "2026-06-05 10:50",
            "UTC",
            "2026-06-05 10:45",
            "2026-06-08 09:00",
        ),
        ("30 3 1 jan,jul *", "2026-03-01 00:00", "UTC", "2026-01-01 03:30", "2026-07-01 03:30"),
        # Day of month and day of week both restricted: either matches (the 13th or a Friday).
        ("0 0 13 * 5", "2026-02-14 12:00", "UTC", "2026-02-13 00:00", "2026-02-20 00:00"),
        ("0 0 13 * 5", "2026-02-11 12:00", "UTC", "2026-02-06 00:00", "2026-02-13 00:00"),
        ("@daily", "2026-02-11 12:00", "UTC", "2026-02-11 00:00", "2026-02-12 00:00"),
        ("0 0 * * 7", "2026-02-11 12:00", "UTC", "2026-02-08 00:00", "2026-02-15 00:00"),
        ("0 0 29 2 *", "2026-02-11 12:00", "UTC", "2024-02-29 00:00", "2028-02-29 00:00"),
        # Spring forward: 02:30 does not exist on 29 March in Berlin; it runs at 03:30 CEST.
        ("30 2 * * *", "2026-03-29 01:10", "Europe/Berlin", "2026-03-28 01:30", "2026-03-29 01:30"),
        # Fall back: 02:30 happens twice on 25 October; it runs the first time only.
        ("30 2 * * *", "2026-10-25 01:10", "Europe/Berlin", "2026-10-25 00:30", "2026-10-26 01:30"),
    ],
)
def test_due_times(expression: str, now: str, zone: str, latest: str, following: str) -> None:
    cron = Cron.parse(expression)
    at = utc(now)
    assert cron.latest(at, ZoneInfo(zone)) == utc(latest)
    assert cron.next_after(at, ZoneInfo(zone)) == utc(following)


@pytest.mark.parametrize(
    "expression",
    ["", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
     "* * * * 8", "5-1 * * * *", "*/0 * * * *", "x * * * *", "* * * foo *", "-1 * * * *"],
)  # fmt: skip
def test_bad_expressions_are_refused(expression: str) -> None:
    with pytest.raises(CronError):
        Cron.parse(expression)


def test_an_expression_that_never_matches_has_no_due_time() -> None:
    never = Cron.parse("0 0 30 2 *")
    assert never.latest(utc("2026-01-01 00:00"), BERLIN) is None
    assert never.next_after(utc("2026-01-01 00:00"), BERLIN) is None


def test_a_schedule_with_a_bad_expression_is_refused_at_registration() -> None:
    with pytest.raises(CronError):
        schedule("test.bad", cron="every day")
