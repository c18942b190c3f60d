"""Signing keys and the labels issued with them."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.clock import utcnow
from qtrack.core.orm import Base


class SigningKey(Base):
    """An Ed25519 key that signs label tokens. The private half is stored encrypted."""

    __tablename__ = "signing_key"

    id: Mapped[int] = mapped_column(primary_key=True)  # the key id inside every token
    algorithm: Mapped[str] = mapped_column(String(16), default="Ed25519")
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    # AES-GCM under a key derived from QTRACK_SECRET_KEY: nonce ‖ ciphertext.
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary(128))
    # active: signs new labels (one at a time); verifying: old labels still verify;
    # retired: labels signed with it no longer verify.
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    valid_from: Mapped[datetime] = mapped_column(default=utcnow)
    sign_until: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]


class ItemLabel(Base):
    """One label of an item. Reprinting issues the next serial and revokes the last.

    The label's token is not stored: Ed25519 is deterministic, so the token is a function of
    the row (key id, item id, serial) and the key's private half, and is made whenever a label
    is printed or shown (`signing.tokens.label_token`). An import of a million items signs
    nothing; printing signs what it prints."""

    __tablename__ = "item_label"
    __table_args__ = (UniqueConstraint("item_id", "serial"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("item.id")
    )  # looked up through the unique key (item_id, serial), which leads with it
    serial: Mapped[int]  # 1, 2, 3... per item; part of the signed token
    key_id: Mapped[int] = mapped_column(ForeignKey("signing_key.id"))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    revoked_at: Mapped[datetime | None]
