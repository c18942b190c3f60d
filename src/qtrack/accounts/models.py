"""Accounts tables."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.orm import Base, TimestampMixin


class User(TimestampMixin, Base):
    """A person (or the system) who acts in qtrack."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(default=True)
