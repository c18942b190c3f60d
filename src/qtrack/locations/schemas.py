"""Location request and response bodies."""

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from qtrack.locations.models import Location

LocationKind = Literal["site", "building", "zone", "rack", "shelf", "area"]
# Codes go on labels and into URLs: plain letters, digits, '-' and '_'; kept upper-case.
LocationCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_upper=True,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
    ),
]
LocationName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Radius = Annotated[float, Field(ge=0, allow_inf_nan=False, description="Metres")]


class LocationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: LocationCode
    name: LocationName
    kind: LocationKind
    parent: LocationCode | None = Field(default=None, description="Code of the parent location")
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    radius_m: Radius | None = None


class LocationUpdate(BaseModel):
    """Changes to a location; the code never changes (it is printed on labels)."""

    model_config = ConfigDict(extra="forbid")

    name: LocationName | None = None
    kind: LocationKind | None = None
    parent: LocationCode | None = Field(
        default=None, description="Code of the new parent; null moves the location to the top"
    )
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    radius_m: Radius | None = None

    @field_validator("name", "kind", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Left out means "unchanged"; an explicit null would blank a required column.
        if value is None:
            raise ValueError("may be left out but not null")
        return value


class LocationRead(BaseModel):
    code: str
    name: str
    kind: str
    parent: str | None = Field(description="Code of the parent location")
    path_codes: list[str] = Field(description="Codes from the root down to this location")
    latitude: float | None
    longitude: float | None
    radius_m: float | None
    archived: bool
    created_at: datetime

    @classmethod
    def of(cls, location: Location, path_codes: Sequence[str]) -> "LocationRead":
        """From a location and the codes on its path (see service.path_codes)."""
        return cls(
            code=location.code,
            name=location.name,
            kind=location.kind,
            parent=path_codes[-2] if len(path_codes) > 1 else None,
            path_codes=list(path_codes),
            latitude=location.latitude,
            longitude=location.longitude,
            radius_m=location.radius_m,
            archived=location.archived,
            created_at=location.created_at,
        )


class LocationNode(BaseModel):
    """One location in the tree, with the locations directly inside it."""

    code: str
    name: str
    kind: str
    children: list["LocationNode"] = Field(default_factory=list)
