"""The generated password obeys the password rules for any username and minimum."""

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from qtrack.accounts.service import check_password_rules, password_for
from qtrack.config import Settings


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    username=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=2, max_size=3),
    minimum=st.integers(min_value=8, max_value=128),
)
def test_password_for_passes_the_rules(username: str, minimum: int) -> None:
    settings = Settings(password_min_length=minimum)
    password = password_for(settings, username)
    check_password_rules(settings, username, password)
