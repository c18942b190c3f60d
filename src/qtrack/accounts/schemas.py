"""Accounts request and response bodies."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from qtrack.accounts.models import ApiToken, User

Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=2,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$",
    ),
]
RoleKey = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=2, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$"
    ),
]
# Long enough for any passphrase, short enough that hashing it is no denial of service.
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class LoginRequest(BaseModel):
    username: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    password: Password


class RefreshRequest(BaseModel):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class LogoutRequest(BaseModel):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None


class TokenPair(BaseModel):
    """What a mobile app keeps after logging in."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 (an OAuth token type, not a secret)
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class PasswordChange(BaseModel):
    current_password: Password
    new_password: Password


class RoleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    name: str
    description: str
    permissions: list[str]
    builtin: bool


class RoleCreate(BaseModel):
    key: RoleKey
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=500)] = ""
    permissions: list[str] = Field(default_factory=list, max_length=100)


class RoleUpdate(BaseModel):
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    permissions: list[str] | None = Field(default=None, max_length=100)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    full_name: str
    email: str | None
    role: str
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> "UserRead":
        """From a user loaded with its role."""
        return cls(
            id=user.id,
            username=user.username,
            full_name=user.full_name,
            email=user.email,
            role=user.role.key,
            is_active=user.is_active,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
        )


class Me(UserRead):
    permissions: list[str]


class UserCreate(BaseModel):
    username: Username
    full_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    email: EmailStr | None = None
    role: RoleKey
    password: Password | None = Field(
        default=None, description="Leave out to have one generated and returned once"
    )


class UserCreated(UserRead):
    generated_password: str | None = None


class UserUpdate(BaseModel):
    full_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = (
        None
    )
    email: EmailStr | None = None
    role: RoleKey | None = None


class PasswordReset(BaseModel):
    new_password: Password | None = Field(
        default=None, description="Leave out to have one generated and returned once"
    )


class PasswordResetDone(BaseModel):
    username: str
    generated_password: str | None = None


class TokenCreate(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    username: Username = Field(description="The user the token acts as")
    scopes: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Permissions the token may use; empty means all of the user's",
    )
    expires_at: datetime | None = None


class TokenRead(BaseModel):
    id: int
    name: str
    prefix: str
    username: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> "TokenRead":
        """From a token loaded with its user."""
        return cls(
            id=token.id,
            name=token.name,
            prefix=token.prefix,
            username=token.user.username,
            scopes=list(token.scopes),
            created_at=token.created_at,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )


class TokenCreated(TokenRead):
    token: str = Field(description="Shown once; only its hash is stored")


class SecurityEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    kind: str
    actor_id: int | None
    # Who acted: the actor's username, or what acted without a user (`cli:<OS user>`).
    actor: str | None = None
    subject_user_id: int | None
    username: str | None
    ip: str | None
    details: dict[str, object]
