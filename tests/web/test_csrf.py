"""CSRF tokens are bound to what they protect: a session, or the login form's nonce."""

from qtrack.config import Settings
from qtrack.web.csrf import csrf_token, csrf_valid


def test_the_login_form_cannot_mint_a_session_csrf_token(settings: Settings) -> None:
    session_id = "0123456789abcdef0123456789abcdef"
    minted_by_login_form = csrf_token(settings, session_id, "login")
    assert not csrf_valid(settings, session_id, minted_by_login_form)
    assert csrf_valid(settings, session_id, csrf_token(settings, session_id))
    assert not csrf_valid(settings, session_id, "\u00e9" * 64)
    assert not csrf_valid(settings, session_id, None)
