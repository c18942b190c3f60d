"""The webhooks admin pages: endpoints, the secret shown once, edits, rotation, the delivery
log with redelivery, and the alerts of endpoints switched off after failing."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from qtrack.accounts import audit
from qtrack.accounts.admin_users_pages import Done
from qtrack.accounts.audit import Origin
from qtrack.accounts.deps import OriginDep, require
from qtrack.accounts.permissions import Permission
from qtrack.accounts.principal import Principal
from qtrack.core.deps import SessionDep, StateDep
from qtrack.core.digits import ascii_digits
from qtrack.core.errors import QtrackError
from qtrack.core.state import AppState
from qtrack.integrations.webhooks import deliveries, service, types
from qtrack.integrations.webhooks.schemas import WebhookCreate, WebhookUpdate
from qtrack.item_types import service as item_types
from qtrack.web.forms import CHECK_FIELDS, checked, field_errors, last_part, text, texts
from qtrack.web.render import page, settle_refused

router = APIRouter(include_in_schema=False)
BASE = "/admin/webhooks"
LOG_SIZE = 50
_DONE = {
    "saved": "Changes saved.",
    "deleted": "Webhook deleted.",
    "test": "A test message is queued; it shows in the deliveries below within seconds.",
    "redelivered": "The delivery is queued again with the same webhook-id.",
}


@dataclass(frozen=True)
class WebhooksCall:
    """One request of a webhooks administrator."""

    request: Request
    actor: Principal
    session: AsyncSession
    state: AppState
    origin: Origin

    def render(self, template: str, context: Mapping[str, Any], status_code: int = 200) -> Response:
        """A page in the signed-in layout."""
        return page(
            self.request, template, principal=self.actor, settings=self.state.settings,
            context=context, status_code=status_code,
        )  # fmt: skip


async def _call(
    request: Request,
    actor: Annotated[Principal, Depends(require(Permission.WEBHOOKS_MANAGE))],
    session: SessionDep,
    state: StateDep,
    origin: OriginDep,
) -> WebhooksCall:
    return WebhooksCall(request, actor, session, state, origin)


Call = Annotated[WebhooksCall, Depends(_call)]


def _form_values(form: FormData) -> dict[str, Any]:
    return {
        "url": text(form, "url"),
        "description": text(form, "description"),
        "event_types": texts(form, "event_types"),
        "item_types": texts(form, "item_types"),
        "location": text(form, "location"),
        "enabled": form.get("enabled") == "on",
    }


def _errors(exc: QtrackError) -> dict[str, str]:
    errors = field_errors(exc, field_of=last_part, capitalise=True)
    for field in list(errors):
        if ascii_digits(field):  # item_types.N: the checkbox group
            errors["item_types"] = errors.pop(field)
    return errors


async def _choices(call: WebhooksCall) -> dict[str, Any]:
    return {
        "event_types": types.known(),
        "item_type_keys": [t.key for t in await item_types.list_item_types(call.session)],
    }


async def _list_page(
    call: WebhooksCall,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    endpoints = await service.list_endpoints(call.session)
    alerts = await audit.list_security_events(
        call.session, before_id=None, limit=10, kind="webhook_disabled"
    )
    context = {
        "endpoints": endpoints,
        "codes": await service.location_codes(call.session, endpoints),
        "alerts": [event for event, _ in alerts],
        "values": values or {"event_types": [types.ALL], "enabled": True},
        "errors": errors or {},
        "message": message,
        "notice": notice,
        **await _choices(call),
    }
    return call.render("admin/webhooks.html", context, status_code)


@router.get(BASE)
async def webhooks_list(call: Call, done: Done = None) -> Response:
    """Every endpoint with its health, the alerts, and the form to register one."""
    return await _list_page(call, notice=_DONE.get(done or ""))


def _secret_page(call: WebhooksCall, endpoint: Any, secret: str, *, rotated: bool) -> Response:
    response = call.render(
        "admin/webhooks_secret.html", {"endpoint": endpoint, "secret": secret, "rotated": rotated}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post(BASE)
async def webhooks_create(call: Call) -> Response:
    """Register an endpoint and show its secret once."""
    values = _form_values(await call.request.form())
    spec, errors = checked(WebhookCreate, {**values, "location": values["location"] or None})
    if spec is None:
        return await _list_page(
            call, values=values, errors=errors, message=CHECK_FIELDS, status_code=422
        )
    try:
        endpoint, secret = await service.create_endpoint(
            call.session, call.state.settings, actor=call.actor, spec=spec, origin=call.origin
        )
    except QtrackError as exc:
        await settle_refused(call.session, call.actor, exc)
        return await _list_page(
            call, values=values, errors=_errors(exc), message=exc.message,
            status_code=exc.status_code,
        )  # fmt: skip
    return _secret_page(call, endpoint, secret, rotated=False)


async def _detail_page(
    call: WebhooksCall,
    webhook_id: int,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    endpoint = await service.get_endpoint(call.session, webhook_id)
    codes = await service.location_codes(call.session, [endpoint])
    shown = {
        "url": endpoint.url, "description": endpoint.description,
        "event_types": endpoint.event_types, "item_types": endpoint.item_types,
        "location": codes.get(endpoint.location_id or 0, ""), "enabled": endpoint.enabled,
    }  # fmt: skip
    log = await deliveries.list_deliveries(call.session, webhook_id, before_id=None, limit=LOG_SIZE)
    context = {
        "endpoint": endpoint,
        "deliveries": log,
        "values": values or shown,
        "errors": errors or {},
        "message": message,
        "notice": notice,
        "overlap_s": call.state.settings.webhooks_secret_overlap_s,
        **await _choices(call),
    }
    return call.render("admin/webhooks_detail.html", context, status_code)


@router.get(BASE + "/{webhook_id}")
async def webhook_detail(webhook_id: int, call: Call, done: Done = None) -> Response:
    """One endpoint: its settings, its secret's rotation, and its latest deliveries."""
    return await _detail_page(call, webhook_id, notice=_DONE.get(done or ""))


@router.post(BASE + "/{webhook_id}")
async def webhook_update(webhook_id: int, call: Call) -> Response:
    """Save an endpoint's settings (switching it on clears its failures)."""
    values = _form_values(await call.request.form())
    changes, errors = checked(WebhookUpdate, values)
    if changes is None:
        return await _detail_page(
            call, webhook_id, values=values, errors=errors, message=CHECK_FIELDS, status_code=422
        )
    try:
        await service.update_endpoint(
            call.session, call.state.settings, actor=call.actor, endpoint_id=webhook_id,
            changes=changes.model_dump(exclude_unset=True), origin=call.origin,
        )  # fmt: skip
    except QtrackError as exc:
        await settle_refused(call.session, call.actor, exc)
        return await _detail_page(
            call, webhook_id, values=values, errors=_errors(exc), message=exc.message,
            status_code=exc.status_code,
        )  # fmt: skip
    return RedirectResponse(f"{BASE}/{webhook_id}?done=saved", status_code=303)


@router.post(BASE + "/{webhook_id}/rotate")
async def webhook_rotate(webhook_id: int, call: Call) -> Response:
    """A new secret, shown once; the old one keeps signing for the overlap."""
    endpoint, secret = await service.rotate_secret(
        call.session, call.state.settings, actor=call.actor, endpoint_id=webhook_id,
        origin=call.origin,
    )  # fmt: skip
    return _secret_page(call, endpoint, secret, rotated=True)


@router.post(BASE + "/{webhook_id}/test")
async def webhook_test(webhook_id: int, call: Call) -> Response:
    """Queue a test message."""
    try:
        await service.send_test(call.session, endpoint_id=webhook_id)
    except service.WebhookDisabled as exc:
        await settle_refused(call.session, call.actor, exc)
        return await _detail_page(call, webhook_id, message=exc.message, status_code=409)
    return RedirectResponse(f"{BASE}/{webhook_id}?done=test", status_code=303)


@router.post(BASE + "/{webhook_id}/delete")
async def webhook_delete(webhook_id: int, call: Call) -> Response:
    """Delete an endpoint once confirmed."""
    form = await call.request.form()
    if form.get("confirm") != "yes":
        return await _detail_page(
            call, webhook_id, message="Nothing was deleted: tick the box to confirm.",
            errors={"confirm": "Tick the box to confirm"}, status_code=422,
        )  # fmt: skip
    await service.delete_endpoint(
        call.session, actor=call.actor, endpoint_id=webhook_id, origin=call.origin
    )
    return RedirectResponse(f"{BASE}?done=deleted", status_code=303)


@router.get(BASE + "/{webhook_id}/deliveries/{delivery_id}")
async def delivery_detail(webhook_id: int, delivery_id: int, call: Call) -> Response:
    """One delivery: its body and every attempt."""
    delivery, attempts = await deliveries.get_delivery(call.session, webhook_id, delivery_id)
    endpoint = await service.get_endpoint(call.session, webhook_id)
    context = {"endpoint": endpoint, "delivery": delivery, "attempts": attempts}
    return call.render("admin/webhooks_delivery.html", context)


@router.post(BASE + "/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def delivery_redeliver(webhook_id: int, delivery_id: int, call: Call) -> Response:
    """Send a finished delivery again."""
    try:
        await deliveries.redeliver(call.session, webhook_id, delivery_id)
    except (service.WebhookDisabled, deliveries.DeliveryUnfinished) as exc:
        await settle_refused(call.session, call.actor, exc)
        return await _detail_page(
            call, webhook_id, message=exc.message, status_code=exc.status_code
        )
    return RedirectResponse(f"{BASE}/{webhook_id}?done=redelivered", status_code=303)
