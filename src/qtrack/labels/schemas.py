"""Bodies of the labels API."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class LabelTemplateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    name: str
    page: str
    label_width_mm: float
    label_height_mm: float
    columns: int
    rows: int
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


class LabelTemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    page: Literal["A4", "Letter", "roll"]
    label_width_mm: Annotated[float, Field(gt=5, le=500)]
    label_height_mm: Annotated[float, Field(gt=5, le=500)]
    columns: Annotated[int, Field(ge=1, le=20)] = 1
    rows: Annotated[int, Field(ge=1, le=40)] = 1
    margin_top_mm: Millimetres = 0
    margin_left_mm: Millimetres = 0
    gap_x_mm: Millimetres = 0
    gap_y_mm: Millimetres = 0
    fields: Annotated[
        str,
        StringConstraints(pattern=r"^(qr|code|name|batch|expiry)(,(qr|code|name|batch|expiry))*$"),
    ] = "qr,code,name,batch,expiry"
    font_size_pt: Annotated[float, Field(ge=6, le=36)] = 8
