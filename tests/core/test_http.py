"""core/http.model_response: the bytes `model_dump_json` gives, as the response's body."""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from qtrack.core.http import model_response


class _Inner(BaseModel):
    at: datetime
    amount: Decimal


class _Answer(BaseModel):
    name: str
    on: date | None
    inner: _Inner
    extra: dict[str, Any]
    tags: list[str] = Field(default_factory=list, alias="labels")


def test_the_body_is_model_dump_json_s_text() -> None:
    answer = _Answer.model_validate(
        {
            "name": 'Grüße \u2028 "quoted"',
            "on": date(2027, 1, 31),
            "inner": {"at": datetime(2026, 12, 7, 15, 0, 1, 5, tzinfo=UTC), "amount": "2.500000"},
            "extra": {"n": 2**62, "f": 1.5, "none": None},
            "labels": ["a"],
        }
    )
    response = model_response(answer, 201)
    assert response.body == answer.model_dump_json().encode()
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.body))
