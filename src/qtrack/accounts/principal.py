"""Who is making a request, and what they may do."""

from dataclasses import dataclass
from typing import Literal

from qtrack.accounts.models import User

Via = Literal["jwt", "token", "session", "cli", "job"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the user, how they proved it, and their effective permissions."""

    user: User
    permissions: frozenset[str]
    via: Via
    token_id: int | None = None
    session_id: str | None = None

    def can(self, permission: str) -> bool:
        """Whether this caller holds the permission."""
        return permission in self.permissions

    @property
    def username(self) -> str:
        return self.user.username
