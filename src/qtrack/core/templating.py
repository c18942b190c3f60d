"""Jinja2 environment for server-rendered pages, and the HTML error page."""

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import structlog
from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import Response

from qtrack.core.quantities import format_amount, format_quantity
from qtrack.core.requests import request_id_of

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
# `{{ item.quantity | quantity(item.unit) }}`: one way to show a quantity on every page.
templates.env.filters["quantity"] = format_quantity
templates.env.filters["amount"] = format_amount
log = structlog.get_logger("qtrack.templating")

# What the app adds to an error page so it keeps the signed-in layout (navigation, logout):
# set on `app.state.error_layout` by the app factory, since core knows no users.
ErrorLayout = Callable[[Request, int], Awaitable[Mapping[str, Any]]]


async def render_error_page(
    request: Request,
    *,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An HTML error page that tells a person what went wrong and which request it was."""
    context: dict[str, Any] = {
        "status": status,
        "code": code,
        "message": message,
        "request_id": request_id_of(request.scope),
    }
    layout: ErrorLayout | None = getattr(request.app.state, "error_layout", None)
    if layout is not None:
        try:
            context.update(await layout(request, status))
        except Exception as exc:  # the error page must render even when the layout cannot
            log.warning("error_layout_failed", error=type(exc).__name__)
    return templates.TemplateResponse(
        request,
        "error.html",
        context,
        status_code=status,
        headers=dict(headers) if headers else None,
    )
