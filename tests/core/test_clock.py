"""`core.clock.json_time`: dates and times written as pydantic writes them in the read models
(the item lookup's JSON) and as structlog's ISO time stamp wrote a log line's time."""

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from qtrack.core.clock import json_time

_DATETIME = TypeAdapter(datetime)
_DATE = TypeAdapter(date)
# Offsets in whole minutes, as PostgreSQL and SQLite keep them; UTC the most of all.
_ZONES = st.one_of(
    st.none(),
    st.just(UTC),
    st.integers(-1439, 1439).map(lambda minutes: timezone(timedelta(minutes=minutes))),
)


@given(st.datetimes(timezones=_ZONES))
def test_a_time_is_written_as_pydantic_writes_it(value: datetime) -> None:
    assert json_time(value) == _DATETIME.dump_python(value, mode="json")


@given(st.dates())
def test_a_date_is_written_as_pydantic_writes_it(value: date) -> None:
    assert json_time(value) == _DATE.dump_python(value, mode="json")


@given(st.datetimes(timezones=st.just(UTC)))
def test_a_utc_time_is_written_as_structlogs_iso_stamp_wrote_it(value: datetime) -> None:
    assert json_time(value) == value.isoformat().replace("+00:00", "Z")
