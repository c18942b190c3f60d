"""Label templates: how labels are laid out."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from qtrack.core.orm import Base


class LabelTemplate(Base):
    """How labels are laid out: page or roll, label size, which fields, sizes."""

    __tablename__ = "label_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    page: Mapped[str] = mapped_column(String(16))  # A4, Letter, roll
    label_width_mm: Mapped[float]
    label_height_mm: Mapped[float]
    columns: Mapped[int] = mapped_column(default=1)
    rows: Mapped[int] = mapped_column(default=1)
    margin_top_mm: Mapped[float] = mapped_column(default=0)
    margin_left_mm: Mapped[float] = mapped_column(default=0)
    gap_x_mm: Mapped[float] = mapped_column(default=0)
    gap_y_mm: Mapped[float] = mapped_column(default=0)
    fields: Mapped[str] = mapped_column(String(200), default="qr,code,name,batch,expiry")
    font_size_pt: Mapped[float] = mapped_column(default=8)
    builtin: Mapped[bool] = mapped_column(default=False)
