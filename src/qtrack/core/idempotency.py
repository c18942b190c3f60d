"""Idempotent writes: a retried request with the same key gets the first answer, and writes
nothing new.

The record is inserted *first*, in the request's transaction. A concurrent duplicate then
waits on the unique key (PostgreSQL) or the write lock (SQLite) until the first commits, fails
to insert, and is answered from the stored response instead.
"""

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    ForeignKey,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.requests import Request
from starlette.responses import Response

from qtrack.core.clock import utcnow
from qtrack.core.errors import ValidationFailed
from qtrack.core.http import ORJSONResponse, model_response
from qtrack.core.orm import Base


class IdempotencyRecord(Base):
    """The first answer to a keyed write."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    key: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(64))  # method, path and body, hashed
    status_code: Mapped[int | None]
    body: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyKeyReused(ValidationFailed):
    code, message = "idempotency_key_reused", "This key was already used for a different request"


MAX_KEY_LENGTH = 128


def fingerprint(request: Request, body: bytes) -> str:
    """What makes two requests "the same": method, path and body."""
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.url.path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


# Prebuilt Core statements: a keyed write runs three of them (look, claim, answer) and none
# is built or turned into ORM objects per request.
_record: Table = IdempotencyRecord.__table__  # type: ignore[assignment]
_FIND = select(
    _record.c.id, _record.c.key, _record.c.fingerprint, _record.c.status_code, _record.c.body
).where(_record.c.user_id == bindparam("user_id"), _record.c.key == bindparam("key"))
_CLAIM = insert(_record).returning(_record.c.id)
_FORGET = delete(_record).where(_record.c.id == bindparam("record_id"))
_ANSWER = (
    update(_record)
    .where(_record.c.id == bindparam("record_id"))
    .values(status_code=bindparam("new_status_code"), body=bindparam("new_body"))
)


# The headers an answer carries beside its body, worked out from the body (an ETag from its
# version), so that a replayed answer carries them too.
HeadersOf = Callable[[Mapping[str, Any]], Mapping[str, str]]


# Twins of a request that fails (each one's record forgotten by the next) are run one after
# another; past this many, a twin is answered 409 conflict.
_CLAIM_ATTEMPTS = 4


def _replay(record: Any, print_: str, headers_of: HeadersOf | None) -> Response:
    if record.fingerprint != print_:
        raise IdempotencyKeyReused(details={"key": record.key})
    headers = {**(headers_of(record.body) if headers_of else {}), "Idempotent-Replayed": "true"}
    return ORJSONResponse(record.body, status_code=record.status_code or 200, headers=headers)


async def _existing(session: AsyncSession, user_id: int, key: str) -> Any:
    return (await session.execute(_FIND, {"user_id": user_id, "key": key})).first()


async def idempotent(
    request: Request,
    session: AsyncSession,
    *,
    user_id: int,
    client_key: str | None,
    produce: Callable[[], Awaitable[tuple[int, BaseModel]]],
    headers_of: HeadersOf | None = None,
) -> Response:
    """Run a write once per key (the `Idempotency-Key` header, else the body's client event
    id); a retry gets the stored answer. Without a key it simply runs."""
    key = request.headers.get("idempotency-key") or client_key
    if not key:
        status, model = await produce()
        if headers_of is None:
            return model_response(model, status)
        body = model.model_dump(mode="json")
        return ORJSONResponse(body, status_code=status, headers=headers_of(body))
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(f"Idempotency keys are at most {MAX_KEY_LENGTH} characters")
    print_ = fingerprint(request, await request.body())

    for attempt in range(_CLAIM_ATTEMPTS):
        existing = await _existing(session, user_id, key)
        if existing is not None and existing.status_code is not None:
            return _replay(existing, print_, headers_of)
        if existing is not None:
            # An earlier attempt failed after claiming the key (its error kept what it
            # recorded, a failed e-signature say); it produced no answer, so this attempt runs
            # for real.
            await session.execute(_FORGET, {"record_id": existing.id})
        try:
            # A concurrent twin waits here until the first one commits.
            record_id = (
                await session.execute(
                    _CLAIM,
                    {"user_id": user_id, "key": key, "fingerprint": print_, "created_at": utcnow()},
                )
            ).scalar_one()
            break
        except IntegrityError:
            # The twin committed first: answered as it was, or, when it failed, run again.
            await session.rollback()
            if attempt == _CLAIM_ATTEMPTS - 1:
                raise

    status, model = await produce()
    body = model.model_dump(mode="json")
    await session.execute(
        _ANSWER, {"record_id": record_id, "new_status_code": status, "new_body": body}
    )
    headers = headers_of(body) if headers_of else None
    return ORJSONResponse(body, status_code=status, headers=headers)
