"""Cron expressions (`minute hour day-of-month month day-of-week`), read in a time zone.

The five standard fields with `*`, lists, ranges and steps, month and weekday names, and the
shorthands `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`. As in cron, when both the
day of the month and the day of the week are restricted, a day matching either one counts.

Times are matched on the local wall clock. A time the clock skips (spring forward) runs at
the same instant the earlier offset names (02:30 in a gap runs at 03:30); a time that happens
twice (fall back) runs the first time only.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from qtrack.core.digits import ascii_digits

_SHORTHANDS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (low, high, names) per field; day of week 7 is Sunday too.
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, _MONTHS),
    (0, 7, _DAYS),
)
# A day that matches at all matches within this many days (29 February on a given weekday
# can take 28 years); past that the expression can never match, e.g. "0 0 30 2 *".
_SEARCH_DAYS = 366 * 29


class CronError(ValueError):
    """The expression is not a valid cron expression."""


def _number(text: str, low: int, high: int, names: dict[str, int]) -> int:
    value = names.get(text.lower()) if names else None
    if value is None:
        if not ascii_digits(text):
            raise CronError(f"{text!r} is not a number")
        value = int(text)
    if not low <= value <= high:
        raise CronError(f"{value} is outside {low}-{high}")
    return value


def _field(text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = _number(step_text, 1, high - low + 1, {}) if step_text else 1
        if span == "*":
            start, end = low, high
        elif "-" in span:
            first, _, last = span.partition("-")
            start, end = _number(first, low, high, names), _number(last, low, high, names)
            if start > end:
                raise CronError(f"range {span!r} runs backwards")
        else:
            start = _number(span, low, high, names)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month is *
    any_weekday: bool  # day of week is *

    @classmethod
    def parse(cls, text: str) -> "Cron":
        """Parse an expression; CronError says what is wrong with it."""
        expanded = _SHORTHANDS.get(text.strip().lower(), text)
        parts = expanded.split()
        if len(parts) != 5:
            raise CronError(f"{text!r}: expected 5 fields (minute hour day month weekday)")
        fields = [
            _field(p, lo, hi, names) for p, (lo, hi, names) in zip(parts, _FIELDS, strict=True)
        ]
        weekdays = frozenset(d % 7 for d in fields[4])
        return cls(
            text=text.strip(),
            minutes=tuple(sorted(fields[0])),
            hours=tuple(sorted(fields[1])),
            days=fields[2],
            months=fields[3],
            weekdays=weekdays,
            any_day=parts[2] == "*",
            any_weekday=parts[4] == "*",
        )

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday

    def latest(self, now: datetime, zone: ZoneInfo) -> datetime | None:
        """The latest due time at or before `now` (aware), in UTC; None if there is none."""
        local = now.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
        day = local.date()
        for _ in range(_SEARCH_DAYS):
            if self._day_matches(day):
                for hour in reversed(self.hours):
                    # Wall-clock hours later than now's (give or take a clock change) cannot
                    # be due yet; the UTC comparison below decides the rest.
                    if day == local.date() and hour > local.hour + 1:
                        continue
                    for minute in reversed(self.minutes):
                        due = _to_utc(day, hour, minute, zone)
                        if due <= now:
                            return due
            day -= timedelta(days=1)
        return None

    def next_after(self, now: datetime, zone: ZoneInfo) -> datetime | None:
        """The first due time after `now` (aware), in UTC; None if there is none."""
        local = now.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
        day = local.date()
        for _ in range(_SEARCH_DAYS):
            if self._day_matches(day):
                for hour in self.hours:
                    if day == local.date() and hour < local.hour - 1:
                        continue
                    for minute in self.minutes:
                        due = _to_utc(day, hour, minute, zone)
                        if due > now:
                            return due
            day += timedelta(days=1)
        return None


def _to_utc(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)
