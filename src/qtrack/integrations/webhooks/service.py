"""Webhook endpoints as use cases: register, list, change, delete, rotate the secret, test."""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qtrack.accounts import audit
from qtrack.accounts.audit import Origin
from qtrack.accounts.principal import Principal
from qtrack.config import Settings
from qtrack.core.clock import utcnow
from qtrack.core.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from qtrack.integrations.webhooks import safety, signing, types
from qtrack.integrations.webhooks.dispatch import wake
from qtrack.integrations.webhooks.models import PENDING, WebhookDelivery, WebhookEndpoint
from qtrack.integrations.webhooks.schemas import WebhookCreate
from qtrack.item_types import service as item_types
from qtrack.locations import service as locations_service
from qtrack.locations.models import Location


class WebhookNotFound(NotFound):
    code, message = "webhook_not_found", "No such webhook"


class WebhookChanged(PreconditionFailed):
    code, message = "webhook_changed", "The webhook was changed by someone else; reload it"


class WebhookDisabled(Conflict):
    code, message = "webhook_disabled", "The webhook is switched off; switch it on first"


def etag(endpoint: WebhookEndpoint) -> str:
    """The endpoint's ETag, for If-Match on changes."""
    return f'"v{endpoint.version}"'


async def get_endpoint(
    session: AsyncSession, endpoint_id: int, *, lock: bool = False
) -> WebhookEndpoint:
    """One endpoint; 404 webhook_not_found."""
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    endpoint = await session.scalar(stmt.with_for_update() if lock else stmt)
    if endpoint is None:
        raise WebhookNotFound(f"There is no webhook {endpoint_id}")
    return endpoint


async def list_endpoints(session: AsyncSession) -> list[WebhookEndpoint]:
    """Every endpoint, oldest first."""
    return list((await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))).all())


async def location_codes(session: AsyncSession, endpoints: list[WebhookEndpoint]) -> dict[int, str]:
    """The code of each endpoint's location filter, by location id."""
    ids = [e.location_id for e in endpoints if e.location_id is not None]
    return await locations_service.codes_by_id(session, ids) if ids else {}


def _problem(field: str | tuple[str | int, ...], message: str, kind: str) -> ValidationFailed:
    loc = [field] if isinstance(field, str) else list(field)
    problem = {"loc": ["body", *loc], "msg": message, "type": kind}
    return ValidationFailed(message, details=[problem])


async def _location_id(session: AsyncSession, code: str | None) -> int | None:
    if not code:
        return None
    code = locations_service.normalize_code(code)
    found = await session.scalar(select(Location.id).where(Location.code == code))
    if found is None:
        raise _problem("location", f"No location '{code}'", "location_not_found")
    return int(found)


async def _check_item_types(session: AsyncSession, keys: list[str]) -> list[str]:
    known = {t.key for t in await item_types.list_item_types(session)}
    for index, key in enumerate(keys):
        if key not in known:
            raise _problem(("item_types", index), f"No item type '{key}'", "item_type_not_found")
    return sorted(set(keys))


async def _check_url(settings: Settings, url: str) -> str:
    try:
        await safety.resolve(url, allow_private=settings.webhooks_allow_private)
    except safety.WebhookUrlRefused as exc:
        exc.details = [{"loc": ["body", "url"], "msg": exc.message, "type": exc.code}]
        raise
    return url.strip()


async def create_endpoint(
    session: AsyncSession,
    settings: Settings,
    *,
    actor: Principal,
    spec: WebhookCreate,
    origin: Origin | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its secret (`whsec_…`, shown this once)."""
    url = await _check_url(settings, spec.url)
    secret, raw = signing.new_secret()
    endpoint = WebhookEndpoint(
        url=url,
        description=spec.description,
        event_types=spec.event_types,
        item_types=await _check_item_types(session, spec.item_types),
        location_id=await _location_id(session, spec.location),
        enabled=spec.enabled,
        disabled_at=None if spec.enabled else utcnow(),
        disabled_reason=None if spec.enabled else f"Created switched off by {actor.username}",
        secret_sealed=signing.seal(settings.secret_key.get_secret_value(), raw),
        consecutive_failures=0,
        created_by_id=actor.user_id,
        version=1,
    )
    session.add(endpoint)
    await session.flush()
    await audit.record(
        session, "webhook_created", origin=origin, actor=actor.user, webhook=endpoint.id, url=url
    )
    return endpoint, secret


async def update_endpoint(
    session: AsyncSession,
    settings: Settings,
    *,
    actor: Principal,
    endpoint_id: int,
    changes: Mapping[str, Any],
    if_match: str | None = None,
    origin: Origin | None = None,
) -> WebhookEndpoint:
    """Change an endpoint; switching it on again clears its failures. With `if_match`, a
    change of an endpoint changed since it was read is refused (412)."""
    endpoint = await get_endpoint(session, endpoint_id, lock=True)
    if if_match is not None and if_match.strip().removeprefix("W/") not in ("*", etag(endpoint)):
        raise WebhookChanged()
    changed = sorted(changes)
    if "url" in changes:
        endpoint.url = await _check_url(settings, changes["url"])
    if "event_types" in changes:
        endpoint.event_types = list(changes["event_types"])
    if "item_types" in changes:
        endpoint.item_types = await _check_item_types(session, list(changes["item_types"]))
    if "location" in changes:
        endpoint.location_id = await _location_id(session, changes["location"])
    if "description" in changes:
        endpoint.description = changes["description"]
    if "enabled" in changes and changes["enabled"] != endpoint.enabled:
        endpoint.enabled = bool(changes["enabled"])
        if endpoint.enabled:
            endpoint.disabled_at = endpoint.disabled_reason = None
            endpoint.consecutive_failures = 0
        else:
            endpoint.disabled_at = utcnow()
            endpoint.disabled_reason = f"Switched off by {actor.username}"
    endpoint.version += 1
    await session.flush()
    await audit.record(
        session, "webhook_changed", origin=origin, actor=actor.user, webhook=endpoint.id,
        url=endpoint.url, fields=changed,
    )  # fmt: skip
    return endpoint


async def delete_endpoint(
    session: AsyncSession, *, actor: Principal, endpoint_id: int, origin: Origin | None = None
) -> None:
    """Delete an endpoint with its deliveries and their log."""
    endpoint = await get_endpoint(session, endpoint_id, lock=True)
    await audit.record(
        session, "webhook_deleted", origin=origin, actor=actor.user, webhook=endpoint.id,
        url=endpoint.url,
    )  # fmt: skip
    await session.delete(endpoint)
    await session.flush()


async def rotate_secret(
    session: AsyncSession,
    settings: Settings,
    *,
    actor: Principal,
    endpoint_id: int,
    overlap_s: int | None = None,
    origin: Origin | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Give the endpoint a new secret (returned, shown this once); the current one keeps
    signing too for the overlap, so receivers can switch without losing a delivery."""
    endpoint = await get_endpoint(session, endpoint_id, lock=True)
    overlap = settings.webhooks_secret_overlap_s if overlap_s is None else overlap_s
    now = utcnow()
    secret, raw = signing.new_secret()
    if overlap > 0:
        endpoint.previous_secret_sealed = endpoint.secret_sealed
        endpoint.previous_secret_until = now + timedelta(seconds=overlap)
    else:
        endpoint.previous_secret_sealed = endpoint.previous_secret_until = None
    endpoint.secret_sealed = signing.seal(settings.secret_key.get_secret_value(), raw)
    endpoint.secret_rotated_at = now
    endpoint.version += 1
    await session.flush()
    await audit.record(
        session, "webhook_secret_rotated", origin=origin, actor=actor.user,
        webhook=endpoint.id, url=endpoint.url, overlap_s=overlap,
    )  # fmt: skip
    return endpoint, secret


async def send_test(session: AsyncSession, *, endpoint_id: int) -> WebhookDelivery:
    """Queue a `webhook.test` message to the endpoint; it goes out within a second or so."""
    endpoint = await get_endpoint(session, endpoint_id)
    if not endpoint.enabled:
        raise WebhookDisabled()
    now = utcnow()
    body = {
        "type": types.TEST,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": {"webhook": endpoint.id, "message": "A test message from qtrack"},
    }
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id, msg_id=signing.new_msg_id(), event_type=types.TEST,
        body=orjson.dumps(body).decode(), status=PENDING, attempts=0, next_attempt_at=now,
        created_at=now,
    )  # fmt: skip
    session.add(delivery)
    await session.flush()
    await wake(session, endpoint.id)
    return delivery
