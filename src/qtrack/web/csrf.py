"""CSRF tokens: every cookie-authenticated write carries one (form field or header).

A token is an HMAC under the secret key of what it is bound to: the web session's id, or
the login form's nonce cookie. Nobody without the key can make one.
"""

import hashlib
import hmac
from typing import Literal

from starlette.requests import Request

from qtrack.config import Settings
from qtrack.core.errors import Forbidden

CSRF_NONCE_COOKIE = "qtrack_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

CsrfPurpose = Literal["login", "session"]


class CsrfFailed(Forbidden):
    code, message = "csrf_failed", "The form is missing its CSRF token or it does not match"


def csrf_token(settings: Settings, binding: str, purpose: CsrfPurpose = "session") -> str:
    """The CSRF token for a web session, or for the login form's nonce: an HMAC nobody else
    can make. The purpose is part of the MAC, so the login form (which signs any nonce a
    browser brings) cannot be used to mint a session's token."""
    key = settings.secret_key.get_secret_value().encode()
    message = f"csrf-{purpose}:{binding}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def csrf_valid(
    settings: Settings, binding: str, candidate: str | None, purpose: CsrfPurpose = "session"
) -> bool:
    """Whether a submitted CSRF token belongs to this session or nonce."""
    if not candidate or not candidate.isascii():
        return False
    expected = csrf_token(settings, binding, purpose).encode()
    return hmac.compare_digest(expected, candidate.encode())


async def submitted_csrf_token(request: Request) -> str | None:
    """The CSRF token sent with a request: the header, or the form field of a form post."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None
