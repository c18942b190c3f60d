"""The query parameters of the EPCIS 2.0 REST binding that qtrack answers, parsed and checked.

Each parameter may be repeated or list its values separated by `|`. A parameter qtrack does
not know is refused rather than ignored: a filter silently dropped would answer with events
the caller did not ask for.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from qtrack.core.digits import ascii_digits
from qtrack.core.pagination import MAX_PAGE_SIZE, InvalidCursor, decode_int_cursor
from qtrack.integrations.epcis.errors import QueryInvalid
from qtrack.workflow import cbv

DEFAULT_PER_PAGE = 30  # the binding's default
# Values a list parameter may name: each becomes conditions of one statement, and past a
# thousand or so SQLite refuses the expression (too deep) and PostgreSQL its parameters.
MAX_VALUES = 200
EVENT_TYPES = frozenset(
    {
        "ObjectEvent",
        "AggregationEvent",
        "TransactionEvent",
        "TransformationEvent",
        "AssociationEvent",
    }
)
ACTIONS = frozenset({"ADD", "OBSERVE", "DELETE"})
_LISTS = (
    "eventType",
    "EQ_action",
    "EQ_bizStep",
    "EQ_disposition",
    "EQ_readPoint",
    "EQ_bizLocation",
    "WD_readPoint",
    "WD_bizLocation",
    "EQ_eventID",
    "MATCH_anyEPC",
    "MATCH_anyEPCClass",
)
_TIMES = {
    "GE_eventTime": "ge_event_time",
    "LT_eventTime": "lt_event_time",
    "GE_recordTime": "ge_record_time",
    "LT_recordTime": "lt_record_time",
}
KNOWN = frozenset({*_LISTS, *_TIMES, "perPage", "nextPageToken"})


@dataclass
class EventQuery:
    """What the caller asked for: every field set narrows the events."""

    event_types: set[str] | None = None
    actions: set[str] | None = None
    biz_steps: set[str] | None = None
    dispositions: set[str] | None = None
    read_points: list[str] | None = None
    biz_locations: list[str] | None = None
    read_points_within: list[str] | None = None  # WD_: the place or anywhere inside it
    biz_locations_within: list[str] | None = None
    event_ids: list[str] | None = None
    any_epc: list[str] | None = None
    any_epc_class: list[str] | None = None
    ge_event_time: datetime | None = None
    lt_event_time: datetime | None = None
    ge_record_time: datetime | None = None
    lt_record_time: datetime | None = None
    per_page: int = DEFAULT_PER_PAGE
    after_id: int | None = None
    problems: list[dict[str, str]] = field(default_factory=list)


def parse_time(value: str, *, date_is_midnight: bool = False) -> datetime:
    """An RFC 3339 time with its offset (or a date, midnight UTC, where allowed); ValueError."""
    text = value.strip()
    if date_is_midnight and len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("a time needs its offset from UTC, e.g. 2026-12-04T10:00:00Z")
    return moment.astimezone(UTC)


def _values(raw: Iterable[str]) -> list[str]:
    return [part.strip() for value in raw for part in value.split("|") if part.strip()]


def parse(params: list[tuple[str, str]]) -> EventQuery:
    """The query the parameters ask; 400 epcis_query_invalid naming each bad one."""
    query = EventQuery()
    given: dict[str, list[str]] = {}
    for name, value in params:
        given.setdefault(name, []).append(value)
    unknown = sorted(set(given) - KNOWN)
    for name in unknown:
        _problem(
            query, name, f"not a parameter qtrack answers; it knows {', '.join(sorted(KNOWN))}"
        )
    lists = {name: _values(given[name]) for name in _LISTS if name in given}
    for name in [name for name, values in lists.items() if len(values) > MAX_VALUES]:
        _problem(query, name, f"at most {MAX_VALUES} values")
        del lists[name]
    if "eventType" in lists:
        query.event_types = set(lists["eventType"])
        for bad in sorted(query.event_types - EVENT_TYPES):
            _problem(query, "eventType", f"'{bad}' is not an EPCIS event type")
    if "EQ_action" in lists:
        query.actions = set(lists["EQ_action"])
        for bad in sorted(query.actions - ACTIONS):
            _problem(query, "EQ_action", f"'{bad}' is not ADD, OBSERVE or DELETE")
    if "EQ_bizStep" in lists:
        query.biz_steps = {cbv.bare_term(v, cbv.BIZ_STEPS) for v in lists["EQ_bizStep"]}
    if "EQ_disposition" in lists:
        query.dispositions = {cbv.bare_term(v, cbv.DISPOSITIONS) for v in lists["EQ_disposition"]}
    query.read_points = lists.get("EQ_readPoint")
    query.biz_locations = lists.get("EQ_bizLocation")
    query.read_points_within = lists.get("WD_readPoint")
    query.biz_locations_within = lists.get("WD_bizLocation")
    query.event_ids = lists.get("EQ_eventID")
    query.any_epc = lists.get("MATCH_anyEPC")
    query.any_epc_class = lists.get("MATCH_anyEPCClass")
    for name, attribute in _TIMES.items():
        if name not in given:
            continue
        if len(given[name]) > 1:
            _problem(query, name, "give it once")
            continue
        try:
            moment = parse_time(given[name][0])
        except ValueError as exc:
            _problem(query, name, f"not an RFC 3339 time with an offset: {exc}")
            continue
        setattr(query, attribute, moment)
    _paging(query, given)
    if query.problems:
        raise QueryInvalid(details=query.problems)
    return query


def _paging(query: EventQuery, given: dict[str, list[str]]) -> None:
    if "perPage" in given:
        raw = given["perPage"][-1]
        if not ascii_digits(raw) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
            _problem(query, "perPage", f"a whole number from 1 to {MAX_PAGE_SIZE}")
        else:
            query.per_page = int(raw)
    if "nextPageToken" in given:
        try:
            query.after_id = decode_int_cursor(given["nextPageToken"][-1])
        except InvalidCursor:
            _problem(query, "nextPageToken", "not a token qtrack gave; start again without it")


def _problem(query: EventQuery, parameter: str, message: str) -> None:
    query.problems.append({"parameter": parameter, "message": message})
