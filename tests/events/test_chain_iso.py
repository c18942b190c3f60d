"""The hash chain's time text (`events.chain.iso`) never changes: every event ever hashed must
verify again. Written by orjson where it can, it is the text strftime wrote, for any time."""

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import example, given
from hypothesis import strategies as st

from qtrack.events import chain

_LOW, _HIGH = datetime(2, 1, 1), datetime(9998, 12, 31)
# Naive times, UTC and offsets in whole minutes, as PostgreSQL and SQLite keep them.
_TIMES = st.one_of(
    st.datetimes(_LOW, _HIGH),
    st.datetimes(
        _LOW,
        _HIGH,
        timezones=st.one_of(
            st.just(UTC),
            st.integers(-1439, 1439).map(lambda minutes: timezone(timedelta(minutes=minutes))),
        ),
    ),
)


def _as_strftime_wrote_it(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@given(_TIMES)
@example(datetime(2026, 12, 7, 17, 0, 0, tzinfo=UTC))  # no fraction: still six zeros
@example(datetime(999, 12, 31, 23, 59, 59, 5, tzinfo=UTC))  # a year strftime does not pad
@example(datetime(2026, 12, 7, 0, 30, 0, 1, tzinfo=timezone(timedelta(hours=2))))  # a day back
def test_a_time_is_written_as_the_chain_always_wrote_it(value: datetime) -> None:
    chain._iso.cache_clear()
    assert chain.iso(value) == _as_strftime_wrote_it(value)


def test_a_known_event_hash_is_unchanged() -> None:
    fields = chain.canonical_fields(
        item_id=7,
        seq=2,
        kind="status_changed",
        actor_id=3,
        token_id=None,
        client_event_id="dev-1",
        occurred_at=datetime(2026, 11, 22, 8, 0, 0, 500000, tzinfo=UTC),
        recorded_at=datetime(2026, 12, 7, 17, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1))),
        location_id=5,
        before={"status": "received"},
        after={"status": "quarantine", "transition": "quarantine"},
        reason=None,
        signed_by_id=None,
        signature_meaning=None,
        signed_at=None,
        latitude=48.1,
        longitude=11.5,
        prev_hash="a" * 64,
    )
    assert fields["recorded_at"] == "2026-12-07T16:00:00.123456Z"
    assert fields["occurred_at"] == "2026-11-22T08:00:00.500000Z"
    # The hash strftime's text gave (main at d729c28, before orjson wrote the times).
    assert chain.event_hash(fields) == (
        "6e0ec3dd6dc4379ba431dd56c17ad84b444d2babd18a022fc7ae66b407532ca0"
    )
