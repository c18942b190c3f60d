"""A keyed write (`Idempotency-Key`) sent more than once, as a retrying client sends it."""

import asyncio
from typing import Any

import httpx


async def sent_twice(
    client: httpx.AsyncClient, url: str, body: Any, headers: dict[str, str], status: int
) -> tuple[httpx.Response, httpx.Response]:
    """The write sent, then sent again: both answered `status`, the second with the first's
    answer, replayed."""
    first = await client.post(url, json=body, headers=headers)
    again = await client.post(url, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (status, status), again.text
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    return first, again


async def sent_at_once(
    client: httpx.AsyncClient,
    url: str,
    body: Any,
    headers: dict[str, str],
    status: int,
    *,
    times: int,
) -> list[httpx.Response]:
    """The write sent `times` times at once: every answer `status`."""
    answers = await asyncio.gather(
        *(client.post(url, json=body, headers=headers) for _ in range(times))
    )
    assert {a.status_code for a in answers} == {status}, [a.text for a in answers]
    return list(answers)
