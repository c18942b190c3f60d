"""Workflow table: the definition is data, validated by `schemas.WorkflowDefinition`."""

from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.orm import Base, TimestampMixin


class Workflow(TimestampMixin, Base):
    """A named state machine that item types follow."""

    __tablename__ = "workflow"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # {"initial": str, "states": [...], "transitions": [...]}; see schemas.WorkflowDefinition
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    builtin: Mapped[bool] = mapped_column(default=False)
