"""Category request and response bodies."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

CategoryKey = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, min_length=1, max_length=64,
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
    ),
]  # fmt: skip
CategoryName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: CategoryKey
    name: CategoryName
    parent: CategoryKey | None = Field(default=None, description="Key of the parent category")


class CategoryUpdate(BaseModel):
    """Fields left out stay as they are; `parent: null` moves the category to the top."""

    model_config = ConfigDict(extra="forbid")

    name: CategoryName | None = None
    parent: CategoryKey | None = Field(default=None, description="Key of the new parent")

    @field_validator("name", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out but not null")
        return value


class CategoryRead(BaseModel):
    key: str
    name: str
    parent: str | None = Field(description="Key of the parent category")
    path: list[str] = Field(description="Names from the root down, e.g. Consumables, Syringes")
    label: str = Field(description='The path as one string: "Consumables > Syringes"')
    archived: bool
