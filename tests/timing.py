"""Keeping a test clear of the clock's boundaries: a test that works out a date or a window
once, and has the server work it out again, must not see it turn in between."""

import time
from datetime import UTC, datetime, timedelta, tzinfo


def clear_of_midnight(zone: tzinfo = UTC, margin_s: float = 30.0) -> None:
    """Wait past the next midnight in `zone` when it is less than `margin_s` away (a test
    takes a few seconds; this costs nothing but in the last half minute of a day)."""
    now = datetime.now(zone)
    midnight = datetime(now.year, now.month, now.day, tzinfo=zone) + timedelta(days=1)
    left = (midnight - now).total_seconds()
    if left < margin_s:
        time.sleep(left + 0.5)


def clear_of_minute(margin_s: float = 5.0) -> None:
    """Wait into the next clock-aligned minute when this one ends in less than `margin_s`:
    the rate limits' fixed windows are such minutes."""
    left = 60 - time.time() % 60
    if left < margin_s:
        time.sleep(left + 0.1)
