"""What makes the web UI an installable app: the manifest and the service worker.

Both are public, like the files under /static: they hold no data, and the browser fetches the
service worker for update checks whether or not the session is still alive (a redirect to the
login page would make the update fail). The worker is served from the root so that its scope
is the whole site; its cache name carries a hash of the static files, so a new release
replaces the cached app shell.
"""

import hashlib
from functools import cache

from fastapi import APIRouter
from starlette.responses import Response

from qtrack import __version__
from qtrack.core.http import ORJSONResponse
from qtrack.core.templating import STATIC_DIR, TEMPLATE_DIR

router = APIRouter(include_in_schema=False)

SERVICE_WORKER = TEMPLATE_DIR / "pwa" / "sw.js"

# The app shell: what the scan screen needs to open with no network.
SHELL_ASSETS = (
    "/static/css/app.css",
    "/static/js/app.js",
    "/static/js/outbox.js",
    "/static/js/scan.js",
    "/static/js/scan-act.js",
    "/static/js/feedback.js",
    "/static/js/camera.js",
    "/static/icons/icon.svg",
    "/static/icons/icon-192.png",
    "/manifest.webmanifest",
)


@cache
def _service_worker() -> bytes:
    source = SERVICE_WORKER.read_text(encoding="utf-8")
    digest = hashlib.sha256(source.encode())
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    version = f"{__version__}-{digest.hexdigest()[:12]}"
    assets = ", ".join(f'"{a}"' for a in SHELL_ASSETS)
    return (
        source.replace("__QTRACK_CACHE_VERSION__", version).replace("/*__SHELL__*/", assets)
    ).encode()


@router.get("/sw.js")
async def service_worker() -> Response:
    """The service worker: caches the app shell so the scan screen opens offline."""
    return Response(
        _service_worker(),
        media_type="text/javascript",
        # Browsers check for a new worker on navigation; never let a cache answer for it.
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


@router.get("/manifest.webmanifest")
async def manifest() -> Response:
    """The web app manifest: name, icons, and the scan screen as the start page."""
    return ORJSONResponse(
        {
            "name": "qtrack",
            "short_name": "qtrack",
            "description": "Scan and track things that carry a QR code",
            "start_url": "/scan",
            "scope": "/",
            "display": "standalone",
            "background_color": "#ffffff",
            "theme_color": "#0d1b2a",
            "icons": [
                {"src": "/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png"},
                {"src": "/static/icons/icon-512.png", "sizes": "512x512", "type": "image/png"},
                {"src": "/static/icons/icon.svg", "sizes": "any", "type": "image/svg+xml"},
            ],
        },
        media_type="application/manifest+json",
    )
