"""Webhooks JSON API: endpoints, their deliveries, tests and redeliveries (webhooks.manage)."""

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Query, Response, status

from qtrack.accounts.deps import PERMISSION_ERRORS, OriginDep, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.openapi import errors
from qtrack.core.pagination import (
    InvalidCursor,
    Page,
    PageCursor,
    PageLimit,
    decode_int_cursor,
    encode_cursor,
)
from qtrack.integrations.webhooks import deliveries, service, types
from qtrack.integrations.webhooks.deliveries import DeliveryNotFound, DeliveryUnfinished
from qtrack.integrations.webhooks.models import WebhookEndpoint
from qtrack.integrations.webhooks.safety import WebhookUrlRefused
from qtrack.integrations.webhooks.schemas import (
    AttemptRead,
    DeliveryDetail,
    DeliveryRead,
    DeliveryStatus,
    Redelivered,
    RedeliverRange,
    SecretRotate,
    SecretRotated,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookUpdate,
)  # fmt: skip
from qtrack.integrations.webhooks.service import WebhookChanged, WebhookDisabled, WebhookNotFound

router = APIRouter(
    prefix="/api/v1/webhooks",
    tags=["webhooks"],
    responses=errors(
        PERMISSION_ERRORS,
        WebhookNotFound,
        WebhookChanged,
        WebhookDisabled,
        WebhookUrlRefused,
        DeliveryNotFound,
        DeliveryUnfinished,
    ),
)
Manager = Annotated[Principal, Depends(require(Permission.WEBHOOKS_MANAGE))]
NO_STORE = {"Cache-Control": "no-store"}


async def _read(session: SessionDep, endpoint: WebhookEndpoint) -> WebhookRead:
    codes = await service.location_codes(session, [endpoint])
    return WebhookRead.of(endpoint, codes.get(endpoint.location_id or 0))


@router.get("/event-types")
async def event_types(_: Manager) -> dict[str, str]:
    """The event types an endpoint can ask for, with what each means (`*`: all of them)."""
    return {types.ALL: "Every event type, also those added later", **types.known()}


@router.get("")
async def list_webhooks(_: Manager, session: SessionDep) -> list[WebhookRead]:
    """Every endpoint (never its secret)."""
    endpoints = await service.list_endpoints(session)
    codes = await service.location_codes(session, endpoints)
    return [WebhookRead.of(e, codes.get(e.location_id or 0)) for e in endpoints]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_webhook(
    body: WebhookCreate,
    actor: Manager,
    session: SessionDep,
    state: StateDep,
    origin: OriginDep,
    response: Response,
) -> WebhookCreated:
    """Register an endpoint; its signing secret is in this answer only. A URL on a loopback,
    link-local or private address is 422 webhook_url_refused (see
    QTRACK_WEBHOOKS_ALLOW_PRIVATE)."""
    endpoint, secret = await service.create_endpoint(
        session, state.settings, actor=actor, spec=body, origin=origin
    )
    response.headers.update({**NO_STORE, "ETag": service.etag(endpoint)})
    return WebhookCreated(**(await _read(session, endpoint)).model_dump(), secret=secret)


@router.get("/{webhook_id}")
async def get_webhook(
    webhook_id: int, _: Manager, session: SessionDep, response: Response
) -> WebhookRead:
    """One endpoint (ETag: its version, for If-Match on changes)."""
    endpoint = await service.get_endpoint(session, webhook_id)
    response.headers["ETag"] = service.etag(endpoint)
    return await _read(session, endpoint)


@router.patch("/{webhook_id}")
async def update_webhook(
    webhook_id: int,
    body: WebhookUpdate,
    actor: Manager,
    session: SessionDep,
    state: StateDep,
    origin: OriginDep,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=200)] = None,
) -> WebhookRead:
    """Change an endpoint; `enabled: true` switches a switched-off one on again and clears
    its failures. With If-Match, a stale version is 412 and nothing changes."""
    endpoint = await service.update_endpoint(
        session, state.settings, actor=actor, endpoint_id=webhook_id,
        changes=body.model_dump(exclude_unset=True), if_match=if_match, origin=origin,
    )  # fmt: skip
    response.headers["ETag"] = service.etag(endpoint)
    return await _read(session, endpoint)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(
    webhook_id: int, actor: Manager, session: SessionDep, origin: OriginDep
) -> None:
    """Delete an endpoint with its deliveries and their log."""
    await service.delete_endpoint(session, actor=actor, endpoint_id=webhook_id, origin=origin)


@router.post("/{webhook_id}/rotate-secret")
async def rotate_secret(
    webhook_id: int,
    actor: Manager,
    session: SessionDep,
    state: StateDep,
    origin: OriginDep,
    response: Response,
    body: SecretRotate | None = None,
) -> SecretRotated:
    """A new signing secret, in this answer only; the old one keeps signing alongside it
    (two signatures in `webhook-signature`) until `previous_secret_until`."""
    endpoint, secret = await service.rotate_secret(
        session, state.settings, actor=actor, endpoint_id=webhook_id,
        overlap_s=body.overlap_s if body else None, origin=origin,
    )  # fmt: skip
    response.headers.update(NO_STORE)
    return SecretRotated(secret=secret, previous_secret_until=endpoint.previous_secret_until)


@router.post("/{webhook_id}/test", status_code=status.HTTP_202_ACCEPTED)
async def send_test_message(webhook_id: int, _: Manager, session: SessionDep) -> DeliveryRead:
    """Queue a `webhook.test` message; follow it in the deliveries."""
    return DeliveryRead.of(await service.send_test(session, endpoint_id=webhook_id))


@router.get("/{webhook_id}/deliveries", responses=errors(InvalidCursor))
async def list_deliveries(
    webhook_id: int,
    _: Manager,
    session: SessionDep,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> Page[DeliveryRead]:
    """The endpoint's deliveries, newest first, each with its last attempt's outcome."""
    rows = await deliveries.list_deliveries(
        session, webhook_id, before_id=decode_int_cursor(cursor), limit=limit, status=status
    )
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return Page(items=[DeliveryRead.of(row) for row in rows], next_cursor=next_cursor)


@router.get("/{webhook_id}/deliveries/{delivery_id}")
async def get_delivery(
    webhook_id: int, delivery_id: int, _: Manager, session: SessionDep
) -> DeliveryDetail:
    """One delivery: the body sent and every attempt (time, status, latency, answer, error)."""
    delivery, attempts = await deliveries.get_delivery(session, webhook_id, delivery_id)
    return DeliveryDetail(
        **DeliveryRead.of(delivery).model_dump(),
        payload=orjson.loads(delivery.body),
        attempt_log=[AttemptRead.of(a) for a in attempts],
    )


@router.post("/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=202)
async def redeliver(
    webhook_id: int, delivery_id: int, _: Manager, session: SessionDep
) -> DeliveryRead:
    """Send a finished delivery again: same webhook-id and body, a fresh set of attempts."""
    return DeliveryRead.of(await deliveries.redeliver(session, webhook_id, delivery_id))


@router.post("/{webhook_id}/redeliver", status_code=202)
async def redeliver_range(
    webhook_id: int, body: RedeliverRange, _: Manager, session: SessionDep
) -> Redelivered:
    """Send again the finished deliveries in an id range and/or a time range (by default
    those that failed or were cancelled), at most 10,000 a call."""
    return Redelivered(redelivered=await deliveries.redeliver_range(session, webhook_id, body))
