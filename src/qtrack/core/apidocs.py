"""Interactive API documentation at /api/docs, served from the packaged Swagger UI.

FastAPI's built-in page loads Swagger UI from a CDN and starts it with an inline script; we
serve the assets ourselves (nothing is downloaded at run time) and start it from a static file,
so the page works offline and under our content security policy.
"""

from pathlib import Path

import swagger_ui_bundle
from fastapi import APIRouter, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from qtrack.core.templating import templates

SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)
DOCS_PATH = "/api/docs"

router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH)
async def api_docs(request: Request) -> Response:
    """The Swagger UI page for this server's OpenAPI document."""
    return templates.TemplateResponse(request, "api_docs.html", {})


def install_api_docs(app: FastAPI) -> None:
    """Serve /api/docs and its assets."""
    app.include_router(router)
    app.mount(f"{DOCS_PATH}/assets", StaticFiles(directory=SWAGGER_DIR), name="swagger")
