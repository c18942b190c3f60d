"""Import tables: each upload and what became of it, its file, and remembered mappings."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.clock import utcnow
from qtrack.core.orm import Base

# What an import is doing or has done.
UPLOADED = "uploaded"  # stored; waits to be run (after a look at its mapping)
QUEUED = "queued"  # a background job will run it
CHECKING = "checking"
WRITING = "writing"
CHECKED = "checked"  # a dry run found nothing wrong; nothing was written
REFUSED = "refused"  # problems were found; nothing was written
DONE = "done"  # every row was written
FAILED = "failed"  # it broke off (the job gave up); nothing was written
RUNNING = (QUEUED, CHECKING, WRITING)
FINISHED = (CHECKED, REFUSED, DONE, FAILED)


class DataImport(Base):
    """One uploaded table and its run: progress, problems by row and column, and results."""

    __tablename__ = "data_import"
    __table_args__ = (Index("ix_data_import_created_by_id_id", "created_by_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # items, locations, item_types
    status: Mapped[str] = mapped_column(String(16), default=UPLOADED, index=True)
    dry_run: Mapped[bool] = mapped_column(default=False)
    filename: Mapped[str] = mapped_column(String(255), default="")
    format: Mapped[str] = mapped_column(String(8))  # csv, xlsx
    delimiter: Mapped[str] = mapped_column(String(1), default=",")
    size_bytes: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    header: Mapped[list[str]] = mapped_column(JSON, default=list)
    signature: Mapped[str] = mapped_column(String(32))
    # file column -> field it holds (null: left out)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rows_total: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    rows_checked: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), default=0
    )
    rows_written: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), default=0
    )
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    more_problems: Mapped[bool] = mapped_column(default=False)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(500))
    job_id: Mapped[int | None]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ImportFile(Base):
    """The bytes of an uploaded file, kept until it has been imported (a background job, or a
    second run after a dry run or a new mapping, reads them from here: any worker can)."""

    __tablename__ = "import_file"

    import_id: Mapped[int] = mapped_column(
        ForeignKey("data_import.id", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)


class ImportMapping(Base):
    """The mapping last used for a file layout (a kind and a header signature)."""

    __tablename__ = "import_mapping"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    signature: Mapped[str] = mapped_column(String(32), primary_key=True)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
