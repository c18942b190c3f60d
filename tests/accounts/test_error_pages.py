"""Error pages keep the signed-in layout, so a person can navigate on from a dead end."""

from html.parser import HTMLParser

import httpx

from qtrack.core.db import Database
from tests.factories.accounts import signed_in


class _Links(HTMLParser):
    """The main navigation's links and whether a logout form is present."""

    def __init__(self) -> None:
        super().__init__()
        self.nav: list[str] = []
        self.in_nav = False
        self.logout = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "nav" and found.get("class") == "mainnav":
            self.in_nav = True
        elif tag == "a" and self.in_nav and found.get("href"):
            self.nav.append(str(found["href"]))
        elif tag == "form" and found.get("action") == "/logout":
            self.logout = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self.in_nav = False


def _links(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


async def test_an_unknown_item_page_keeps_the_navigation(
    client: httpx.AsyncClient, db: Database
) -> None:
    await signed_in(client, db, "op", "operator")
    response = await client.get("/items/MAT-999999")
    assert response.status_code == 404
    assert 'data-error-code="item_not_found"' in response.text
    links = _links(response.text)
    assert {"/", "/scan", "/items"} <= set(links.nav)
    assert "/admin" not in links.nav  # an operator is not shown what they may not open
    assert links.logout
    assert 'action="/items"' in response.text  # a search to find what was meant


async def test_a_mistyped_address_keeps_the_navigation(
    client: httpx.AsyncClient, db: Database
) -> None:
    await signed_in(client, db, "op", "operator")
    response = await client.get("/itmes")
    assert response.status_code == 404
    assert {"/", "/scan", "/items"} <= set(_links(response.text).nav)


async def test_a_forbidden_page_says_who_is_signed_in(
    client: httpx.AsyncClient, db: Database
) -> None:
    await signed_in(client, db, "vic", "viewer")
    response = await client.get("/admin")
    assert response.status_code == 403
    assert "signed in as <strong>vic</strong>" in response.text
    assert "/items" in _links(response.text).nav


async def test_without_a_session_an_error_page_has_no_navigation(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/itmes")
    assert response.status_code == 404
    assert _links(response.text).nav == []
    client.cookies.set("qtrack_session", "not-a-session")
    forged = await client.get("/itmes")
    assert forged.status_code == 404
    assert _links(forged.text).nav == []
    assert not _links(forged.text).logout
