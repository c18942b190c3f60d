"""Item type request and response bodies."""

from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from qtrack.categories.schemas import CategoryKey
from qtrack.core.jsonvalues import JsonObject
from qtrack.item_types.models import ItemType
from qtrack.workflow import service as workflow_service
from qtrack.workflow.schemas import State

TypeKey = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$"
    ),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


# Upper-cased before the pattern is checked (StringConstraints checks it first), so "mat" is MAT.
CodePrefix = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z0-9]{2,8}$")]
Unit = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
TemplateRef = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(description="Key of the label template its labels print with by default"),
]
Threshold = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=6)]
ExpiryWindow = Annotated[
    int, Field(ge=0, le=3650, description='Days before expiry an item counts as "expiring soon"')
]
AttributeSchema = Annotated[
    JsonObject, Field(description="JSON Schema (draft 2020-12) the items' attributes must fit")
]


def plain_decimal(value: Decimal | None) -> Decimal | None:
    """The same number without trailing zeros or an exponent: 10.000000 reads as 10."""
    if value is None:
        return None
    return Decimal(format(value.normalize(), "f"))


class ItemTypeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: TypeKey
    name: Name
    code_prefix: CodePrefix = Field(description="2-8 uppercase letters or digits, e.g. MAT")
    workflow: TypeKey = Field(description="Key of the workflow items of this type follow")
    unit: Unit = "pcs"
    tracks_quantity: bool = False
    tracks_expiry: bool = False
    can_contain: bool = False
    low_stock_threshold: Threshold | None = None
    expiry_window_days: ExpiryWindow = 30
    attribute_schema: AttributeSchema = Field(default_factory=dict)
    label_template: TemplateRef | None = None
    category: CategoryKey | None = Field(default=None, description="Key of its category")
    critical: bool = Field(default=False, description="Critical supplies come first")


class ItemTypeUpdate(BaseModel):
    """Fields left out stay as they are; only those in `NULLABLE` may be set to null."""

    model_config = ConfigDict(extra="forbid")
    NULLABLE: ClassVar[frozenset[str]] = frozenset(
        {"low_stock_threshold", "label_template", "category"}
    )

    name: Name | None = None
    code_prefix: CodePrefix | None = None
    workflow: TypeKey | None = None
    unit: Unit | None = None
    tracks_quantity: bool | None = None
    tracks_expiry: bool | None = None
    can_contain: bool | None = None
    low_stock_threshold: Threshold | None = None
    expiry_window_days: ExpiryWindow | None = None
    attribute_schema: AttributeSchema | None = None
    label_template: TemplateRef | None = None
    category: CategoryKey | None = Field(default=None, description="Key of its category")
    critical: bool | None = None

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: object, info: ValidationInfo) -> object:
        # Defaults are not validated, so this only refuses an explicit null.
        if value is None and info.field_name not in cls.NULLABLE:
            raise ValueError("may be left out, but not null")
        return value


class ItemTypeRead(BaseModel):
    key: str
    name: str
    code_prefix: str
    workflow: str
    unit: str
    tracks_quantity: bool
    tracks_expiry: bool
    can_contain: bool
    low_stock_threshold: Decimal | None = Field(description='A decimal string, e.g. "10"')
    expiry_window_days: int = Field(description='Days before expiry an item is "expiring soon"')
    attribute_schema: dict[str, Any]
    label_template: str | None = Field(description="Key of the template its labels print with")
    category: str | None = Field(default=None, description="Key of its category")
    critical: bool = False
    initial_state: str
    states: list[State]

    @classmethod
    def of(cls, item_type: ItemType) -> "ItemTypeRead":
        """From an item type loaded with its workflow and category."""
        definition = workflow_service.definition_of(item_type.workflow)
        return cls(
            key=item_type.key,
            name=item_type.name,
            code_prefix=item_type.code_prefix,
            workflow=item_type.workflow.key,
            unit=item_type.unit,
            tracks_quantity=item_type.tracks_quantity,
            tracks_expiry=item_type.tracks_expiry,
            can_contain=item_type.can_contain,
            low_stock_threshold=plain_decimal(item_type.low_stock_threshold),
            expiry_window_days=item_type.expiry_window_days,
            attribute_schema=item_type.attribute_schema,
            label_template=item_type.label_template_key,
            category=item_type.category.key if item_type.category is not None else None,
            critical=item_type.critical,
            initial_state=definition.initial,
            states=definition.states,
        )
