"""Container request and response bodies: packing, unpacking, contents."""

from decimal import Decimal

from pydantic import BaseModel, Field

from qtrack.items.schemas import ChangeContext, Code, ItemRead, Reason


class PackRequest(ChangeContext):
    container: Code


class UnpackRequest(ChangeContext):
    reason: Reason | None = None


class ContentsRead(BaseModel):
    container: str
    items: list[ItemRead]
    total_weight_kg: Decimal | None = Field(
        description="The container's own weight plus all contents, nested"
    )
