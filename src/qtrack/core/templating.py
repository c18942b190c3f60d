"""Jinja2 environment for server-rendered pages, and the HTML error page."""

from collections.abc import Mapping
from pathlib import Path

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import Response

from qtrack.core.requests import request_id_of

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATE_DIR))


def render_error_page(
    request: Request,
    *,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An HTML error page that tells a person what went wrong and which request it was."""
    return templates.TemplateResponse(
        request,
        "error.html",
        {
            "status": status,
            "code": code,
            "message": message,
            "request_id": request_id_of(request.scope),
        },
        status_code=status,
        headers=dict(headers) if headers else None,
    )
