"""Bodies of the codes API: public keys, verification, labels."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from qtrack.items.schemas import ItemRead
from qtrack.signing.tokens import Status


class PublicKeyRead(BaseModel):
    """A key as apps need it to verify labels offline."""

    kid: int
    algorithm: str
    public_key: str  # raw 32 bytes, base64url without padding
    valid_from: datetime
    sign_until: datetime | None
    status: str


class VerifyRequest(BaseModel):
    data: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class VerifyResult(BaseModel):
    status: Status
    message: str
    key_id: int | None
    serial: int | None
    item: ItemRead | None


class LabelRead(BaseModel):
    item: str
    serial: int
    key_id: int
    token: str
    url: str
    issued_at: datetime
