"""Stock request and response bodies."""

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qtrack.item_types.schemas import plain_decimal

Level = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=6)]
StockState = Literal["ok", "low", "out"]


class LevelsSet(BaseModel):
    """The levels of an item type, overall (no location) or at a location and below it.
    Both null: no levels there any more."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=64, description="Key of the item type")
    location: str | None = Field(
        default=None, max_length=64, description="Code of a location; null: the type overall"
    )
    minimum_level: Level | None = Field(
        default=None, description="Below this the type counts as out (safety stock)"
    )
    reorder_level: Level | None = Field(
        default=None, description="At or below this the type counts as low: time to reorder"
    )

    @model_validator(mode="after")
    def _ordered(self) -> "LevelsSet":
        low, least = self.reorder_level, self.minimum_level
        if low is not None and least is not None and low < least:
            raise ValueError("reorder_level must not be below minimum_level")
        return self


class StockRead(BaseModel):
    """What is on hand of an item type, overall or at a location (and below), with its
    levels and their state."""

    type: str = Field(description="Key of the item type")
    type_name: str
    category: str | None = Field(description="Key of the type's category")
    critical: bool
    unit: str
    location: str | None = Field(description="Code of the location; null: everywhere")
    on_hand: Decimal = Field(description='A decimal string, e.g. "12.5"')
    minimum_level: Decimal | None
    reorder_level: Decimal | None
    state: StockState | None = Field(
        description="out: nothing left or below the minimum; low: at or below the reorder "
        "level; ok: above it; null: no levels set"
    )

    def model_post_init(self, __context: object) -> None:
        """Numbers as people write them: 10, not 10.000000."""
        self.on_hand = plain_decimal(self.on_hand) or Decimal(0)
        self.minimum_level = plain_decimal(self.minimum_level)
        self.reorder_level = plain_decimal(self.reorder_level)
