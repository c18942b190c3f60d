"""One way to put a refused form's problems next to its fields, on every page."""

from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field, StringConstraints, ValidationError, model_validator
from starlette.datastructures import FormData

from qtrack.core.errors import Conflict, QtrackError, ValidationFailed
from qtrack.web.forms import checked, field_errors, last_part, text, texts


class _Thing(BaseModel):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z]+$")]
    name: Annotated[str, StringConstraints(min_length=1)]
    tags: list[int] = Field(default_factory=list)
    low: int | None = None
    high: int | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "_Thing":
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError("low must not exceed high")
        return self


def _refusal(data: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        _Thing.model_validate(data)
    return caught.value


def _failed(*problems: tuple[list[str], str], message: str = "Refused") -> ValidationFailed:
    return ValidationFailed(
        message, details=[{"loc": loc, "msg": msg, "type": "x"} for loc, msg in problems]
    )


@pytest.mark.parametrize(
    ("data", "kwargs", "expected"),
    [
        # pydantic's words, each on its field
        ({"code": "ab", "name": "x"}, {}, {"code": "String should match pattern '^[A-Z]+$'"}),
        ({"code": "AB"}, {}, {"name": "Field required"}),
        # plainer words by (field, type), else by type
        (
            {"code": "ab"},
            {"words": {("code", "string_pattern_mismatch"): "Capitals only", "missing": "Req"}},
            {"code": "Capitals only", "name": "Req"},
        ),
        # an entry of a list is the list's field
        ({"code": "A", "name": "n", "tags": [1, "x"]}, {"words": {"int_parsing": "A number"}},
         {"tags": "A number"}),
        # the model's own rule has no field: "" unless told, and never "Value error, "
        ({"code": "A", "name": "n", "low": 3, "high": 1}, {}, {"": "low must not exceed high"}),
        ({"code": "A", "name": "n", "low": 3, "high": 1}, {"unlocated": "low"},
         {"low": "low must not exceed high"}),
        # renamed to the form's own field
        ({"code": "A"}, {"rename": {"name": "title"}}, {"title": "Field required"}),
    ],
)  # fmt: skip
def test_pydantic_problems(
    data: dict[str, Any], kwargs: dict[str, Any], expected: dict[str, str]
) -> None:
    assert field_errors(_refusal(data), **kwargs) == expected


@pytest.mark.parametrize(
    ("error", "kwargs", "expected"),
    [
        # a use case's location starts with "body"; its field comes next
        (_failed((["body", "password"], "too short")), {}, {"password": "too short"}),
        # several problems of one field are joined, in order, each once
        (
            _failed((["body", "password"], "too short"), (["body", "password"], "too common"),
                    (["body", "password"], "too short")),
            {"capitalise": True},
            {"password": "Too short; Too common"},
        ),
        # one entry of a list the form stands for: the last part names the field
        (_failed((["body", "items", "0", "quantity"], "must be > 0")), {"field_of": last_part},
         {"quantity": "must be > 0"}),
        (_failed((["body", "expires_at"], "in the past")), {"rename": {"expires_at": "until"}},
         {"until": "in the past"}),
        # a problem inside a field that holds a document says where
        (_failed((["body", "attribute_schema", "properties", "size"], "not a schema")),
         {"inside": True}, {"attribute_schema": "not a schema (at properties/size)"}),
        (_failed((["body", "attribute_schema"], "not an object")), {"inside": True},
         {"attribute_schema": "not an object"}),
        # no message: the error's own
        (ValidationFailed("Nope", details=[{"loc": ["body", "key"]}]), {}, {"key": "Nope"}),
        # details that locate nothing put nothing on a field
        (Conflict("Taken", details={"key": "x"}), {}, {}),
        (QtrackError("Broken"), {}, {}),
    ],
)  # fmt: skip
def test_use_case_problems(
    error: QtrackError, kwargs: dict[str, Any], expected: dict[str, str]
) -> None:
    assert field_errors(error, **kwargs) == expected


def test_checked_gives_the_model_or_the_problems() -> None:
    thing, errors = checked(_Thing, {"code": "AB", "name": "n"})
    assert isinstance(thing, _Thing)
    assert errors == {}
    thing, errors = checked(_Thing, {"code": "AB"}, words={"missing": "Required"})
    assert thing is None
    assert errors == {"name": "Required"}


def test_form_fields_are_read_trimmed_and_only_as_text() -> None:
    form = FormData([("name", "  Lot 7 "), ("tag", "a"), ("tag", "b"), ("empty", "")])
    assert text(form, "name") == "Lot 7"
    assert text(form, "missing") == ""
    assert texts(form, "tag") == ["a", "b"]
    assert texts(form, "missing") == []
