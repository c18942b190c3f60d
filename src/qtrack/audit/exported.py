"""Reading a checkpoints export (JSON Lines) back: each line checked for shape, nothing trusted.

The file is what an auditor keeps away from the server; `audit verify --checkpoints FILE`
reads it line by line (a first checkpoint over two million items is a few hundred lines of
heads), so its size never has to fit in memory.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from qtrack.audit.heads import Head
from qtrack.audit.statement import VERSION, Statement

_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Signed:
    """A statement with the hash and signature it came with (not yet checked)."""

    statement: Statement
    hash: str
    signature: str


@dataclass(frozen=True)
class HeadsLine:
    """Heads a checkpoint recorded, as one line of the export carries them."""

    checkpoint: int
    heads: list[Head]


class BadLine(ValueError):
    """A line that is not a checkpoint or heads line of the export format."""


def _whole(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadLine(f'"{name}" must be a whole number')
    return value


def _int(obj: dict[str, Any], name: str) -> int:
    return _whole(obj.get(name), name)


def _hex(value: Any, name: str, *, nullable: bool = False) -> Any:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEX:
        raise BadLine(f'"{name}" must be a SHA-256 in lowercase hex')
    return value


def _checkpoint(obj: dict[str, Any]) -> Signed:
    if obj.get("v") != VERSION:
        raise BadLine(f"unknown format version {obj.get('v')!r}")
    try:
        created_at = datetime.strptime(str(obj.get("created_at")), _TIME).replace(tzinfo=UTC)
    except ValueError as exc:
        raise BadLine('"created_at" must be a UTC time like 2026-12-04T10:00:00.000000Z') from exc
    signature = obj.get("signature")
    if not isinstance(signature, str) or not signature:
        raise BadLine('"signature" must be text')
    statement = Statement(
        id=_int(obj, "id"),
        created_at=created_at,
        last_event_id=_int(obj, "last_event_id"),
        events=_int(obj, "events"),
        items=_int(obj, "items"),
        heads_digest=_hex(obj.get("heads_digest"), "heads_digest"),
        changed=_int(obj, "changed"),
        changed_digest=_hex(obj.get("changed_digest"), "changed_digest"),
        prev_hash=_hex(obj.get("prev_hash"), "prev_hash", nullable=True),
        key_id=_int(obj, "key_id"),
    )
    return Signed(statement, _hex(obj.get("hash"), "hash"), signature)


def _heads(obj: dict[str, Any]) -> HeadsLine:
    rows = obj.get("heads")
    if not isinstance(rows, list):
        raise BadLine('"heads" must be a list of [item_id, seq, hash]')
    heads = []
    for row in rows:
        if not (isinstance(row, list) and len(row) == 3):
            raise BadLine('"heads" must be a list of [item_id, seq, hash]')
        item_id, seq, digest = row
        heads.append(Head(_whole(item_id, "item_id"), _whole(seq, "seq"), _hex(digest, "hash")))
    return HeadsLine(_int(obj, "checkpoint"), heads)


def read(lines: Iterable[bytes]) -> Iterator[tuple[int, Signed | HeadsLine]]:
    """Each line's number and what it says; BadLine (naming the line) at the first bad one."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
            if not isinstance(obj, dict):
                raise BadLine("not a JSON object")
            kind = obj.get("type")
            if kind == "checkpoint":
                yield number, _checkpoint(obj)
            elif kind == "heads":
                yield number, _heads(obj)
            else:
                raise BadLine('"type" must be "checkpoint" or "heads"')
        except orjson.JSONDecodeError as exc:
            raise BadLine(f"line {number}: not JSON") from exc
        except BadLine as exc:
            raise BadLine(f"line {number}: {exc}") from exc
