"""Who is making a request, and what they may do."""

from collections.abc import Callable
from typing import Literal

from qtrack.accounts.models import User

Via = Literal["jwt", "token", "session", "cli", "job"]


class Principal:
    """An authenticated caller: the user, how they proved it, and their effective permissions.

    `user` is the caller's `User` in the request's session. A request authenticated from the
    principal cache knows the user's id and name without it, and putting a `User` (and its
    role) into the session costs about a tenth of a scan lookup's CPU (docs/benchmarks.md,
    issue 15): such a principal is given `load_user` instead, and the `User` is attached on
    first use of `user`. `user_id` and `username` never need it.
    """

    __slots__ = (
        "_load_user",
        "_user",
        "permissions",
        "session_id",
        "token_id",
        "user_id",
        "username",
        "via",
    )

    def __init__(
        self,
        user: User | None = None,
        permissions: frozenset[str] = frozenset(),
        via: Via = "cli",
        token_id: int | None = None,
        session_id: str | None = None,
        *,
        user_id: int | None = None,
        username: str | None = None,
        load_user: Callable[[], User] | None = None,
    ) -> None:
        if user is None and (load_user is None or user_id is None or username is None):
            raise TypeError("a Principal needs its user, or its id, name and how to load it")
        self._user = user
        self._load_user = load_user
        self.user_id: int = user.id if user is not None else user_id  # type: ignore[assignment]
        self.username: str = user.username if user is not None else username  # type: ignore[assignment]
        self.permissions = permissions
        self.via: Via = via
        self.token_id = token_id
        self.session_id = session_id

    @property
    def user(self) -> User:
        """The caller's `User`, in the session that authenticated the request."""
        if self._user is None:
            assert self._load_user is not None
            self._user = self._load_user()
            self._load_user = None
        return self._user

    def can(self, permission: str) -> bool:
        """Whether this caller holds the permission."""
        return permission in self.permissions

    def __repr__(self) -> str:
        return f"Principal(user={self.username!r}, via={self.via!r}, token_id={self.token_id})"
