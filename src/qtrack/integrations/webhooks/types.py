"""The event types an endpoint can ask for, and which change of the feed each one is.

A type is a full-stop delimited name (`item.moved`), as the Standard Webhooks specification
recommends. Item events are the feed's change kinds under `item.`; later domains (shipments,
orders) add theirs with `register`. An endpoint may ask for `*`: every type, also those
added later.
"""

ALL = "*"
TEST = "webhook.test"  # what POST /webhooks/{id}/test sends; always delivered

# name -> what it means (shown next to its checkbox and in the API's list)
_TYPES: dict[str, str] = {}
# feed change kind -> type name
_KINDS: dict[str, str] = {}


def register(name: str, description: str, *, kind: str | None = None) -> None:
    """Make an event type known; `kind` is the feed's change kind it stands for."""
    if _TYPES.get(name, description) != description:
        raise ValueError(f"webhook event type {name!r} is registered twice")
    _TYPES[name] = description
    if kind is not None:
        _KINDS[kind] = name


def known() -> dict[str, str]:
    """Every event type an endpoint can ask for, by name."""
    return dict(sorted(_TYPES.items()))


def of_kind(kind: str) -> str | None:
    """The event type of a feed change kind; None for kinds no endpoint can ask for."""
    return _KINDS.get(kind)


def wanted(event_types: list[str], name: str) -> bool:
    """Whether an endpoint asking for `event_types` gets an event of type `name`."""
    return name == TEST or ALL in event_types or name in event_types


for _kind, _description in (
    ("created", "An item was registered"),
    ("status_changed", "An item's status changed (a workflow transition)"),
    ("moved", "An item was moved to another location"),
    ("packed", "An item was packed into a container"),
    ("unpacked", "An item was taken out of its container"),
    ("quantity_changed", "An item's quantity changed (dispensed, consumed, received, adjusted)"),
    ("labelled", "A label was printed for an item"),
    ("edited", "An item's fields were edited"),
    ("archived", "An item was archived"),
):
    register(f"item.{_kind}", _description, kind=_kind)
