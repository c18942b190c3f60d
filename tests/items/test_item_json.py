"""The item lookup's JSON (`items.repository.item_json`) writes dates and times as pydantic
writes them in the read models, for any date and time a row can hold."""

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from qtrack.items import repository

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
    assert repository._utc_text(value) == _DATETIME.dump_python(value, mode="json")


@given(st.dates())
def test_a_date_is_written_as_pydantic_writes_it(value: date) -> None:
    assert repository._date_text(value) == _DATE.dump_python(value, mode="json")


def test_none_stays_none() -> None:
    assert (repository._utc_text(None), repository._date_text(None)) == (None, None)
