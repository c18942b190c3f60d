"""Bodies of the labels API."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator


class LabelTemplateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    name: str
    page: str
    label_width_mm: float
    label_height_mm: float
    columns: int
    rows: int
    margin_top_mm: float
    margin_left_mm: float
    gap_x_mm: float
    gap_y_mm: float
    fields: str
    font_size_pt: float
    builtin: bool


class SymbolRead(BaseModel):
    text: str
    format: str
    symbology: str
    position: list[list[int]]


class DecodeResult(BaseModel):
    symbols: list[SymbolRead]


Millimetres = Annotated[float, Field(ge=0, le=500)]
TemplateKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
TemplateName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]
PageKind = Literal["A4", "Letter", "roll"]
LabelSide = Annotated[float, Field(gt=5, le=500)]
Columns = Annotated[int, Field(ge=1, le=20)]
Rows = Annotated[int, Field(ge=1, le=40)]
FieldList = Annotated[
    str,
    StringConstraints(pattern=r"^(qr|code|name|batch|expiry)(,(qr|code|name|batch|expiry))*$"),
]
FontSize = Annotated[float, Field(ge=6, le=36)]
# The admin pages' "new" form lives at /admin/label-templates/new.
RESERVED_KEYS = frozenset({"new"})


class LabelTemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: TemplateKey
    name: TemplateName
    page: PageKind
    label_width_mm: LabelSide
    label_height_mm: LabelSide
    columns: Columns = 1
    rows: Rows = 1
    margin_top_mm: Millimetres = 0
    margin_left_mm: Millimetres = 0
    gap_x_mm: Millimetres = 0
    gap_y_mm: Millimetres = 0
    fields: FieldList = "qr,code,name,batch,expiry"
    font_size_pt: FontSize = 8

    @field_validator("key")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_KEYS:
            raise ValueError(f"'{value}' is reserved; choose another key")
        return value


class LabelTemplateUpdate(BaseModel):
    """Change a template's layout; only the fields sent change. The key cannot change."""

    model_config = ConfigDict(extra="forbid")

    name: TemplateName | None = None
    page: PageKind | None = None
    label_width_mm: LabelSide | None = None
    label_height_mm: LabelSide | None = None
    columns: Columns | None = None
    rows: Rows | None = None
    margin_top_mm: Millimetres | None = None
    margin_left_mm: Millimetres | None = None
    gap_x_mm: Millimetres | None = None
    gap_y_mm: Millimetres | None = None
    fields: FieldList | None = None
    font_size_pt: FontSize | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _no_nulls(cls, value: Any) -> Any:
        # Every field of a template has a value: leave a field out to keep it, never null it.
        if value is None:
            raise ValueError("must not be null; leave the field out to keep its value")
        return value
