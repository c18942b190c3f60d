"""Bodies of the labels API."""

from pydantic import BaseModel, ConfigDict


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
