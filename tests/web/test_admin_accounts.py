"""The accounts admin in a real browser: an admin defines a role and a user, the user signs in
and sees only what the role allows, and an API token's secret is shown once."""

import re
from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import expect
from tests.web.conftest import (
    ADMIN_PASSWORD,
    DESKTOP,
    PASSWORD,
    PHONE,
    Console,
    Server,
    log_in,
    shoot,
)

Contexts = Callable[..., Any]
PAGES = ("/admin/users", "/admin/users/rita", "/admin/roles", "/admin/tokens")


def test_an_admin_sets_up_a_role_a_user_and_a_token(
    server: Server, new_context: Contexts, console: Console
) -> None:
    # The refused forms below answer 422 and 403, which Chromium logs.
    console.allow(r"status of (422|403)")
    admin = new_context(DESKTOP).new_page()
    log_in(admin, "admin", ADMIN_PASSWORD, next_url="/admin")
    admin.get_by_role("link", name="Roles").click()

    # A role that may read items and nothing else.
    admin.get_by_label("Key", exact=True).fill("stock_reader")
    admin.get_by_label("Name", exact=True).fill("Stock reader")
    admin.get_by_role("checkbox", name=re.compile("^See items, their history")).check()
    admin.get_by_role("checkbox", name=re.compile("^Read the event history")).check()
    admin.get_by_role("button", name="Create role").click()
    expect(admin.locator("#done")).to_have_text("Role created.")
    expect(admin.locator("h1")).to_contain_text("Stock reader")

    # A user with it; a too-short password is refused next to the field first.
    admin.goto("/admin/users")
    admin.get_by_label("Username").fill("rita")
    admin.get_by_label("Display name").fill("Rita Reader")
    admin.get_by_label("Role").select_option("stock_reader")
    admin.get_by_label("Initial password").fill("short")
    admin.get_by_role("button", name="Create user").click()
    password = admin.get_by_label("Initial password")
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(admin.locator("#f-password-error")).to_contain_text("At least 10 characters")
    expect(admin.get_by_label("Username")).to_have_value("rita")
    shoot(admin, "admin-user-error-desktop")
    password.fill(PASSWORD)
    admin.get_by_role("button", name="Create user").click()
    expect(admin.locator("#done")).to_have_text("User created.")
    expect(admin.locator("#current-role")).to_have_text("Stock reader")

    # Rita signs in on her phone: she may look, and nothing more.
    rita = new_context(PHONE).new_page()
    log_in(rita, "rita")
    nav = rita.locator(".mainnav")
    expect(nav.get_by_role("link", name="Items")).to_be_visible()
    expect(nav.get_by_role("link", name="New item")).to_have_count(0)
    expect(nav.get_by_role("link", name="Admin")).to_have_count(0)
    rita.goto("/items")
    expect(rita.get_by_role("link", name="New item")).to_have_count(0)
    for path in ("/items/new", "/admin", "/admin/users"):
        assert rita.request.get(path, max_redirects=0).status == 403, path
    shoot(rita, "admin-new-user-sees-phone")

    # A token acting as Rita: the secret is on the creation page only, and not cached.
    admin.goto("/admin/tokens")
    admin.get_by_label("Name", exact=True).fill("Dock scanner")
    admin.get_by_label("Acts as user").fill("rita")
    admin.locator("#s-item\\.read").check()
    with admin.expect_response(
        lambda r: r.url.split("#")[0].endswith("/admin/tokens") and r.request.method == "POST"
    ) as created:
        admin.get_by_role("button", name="Create token").click()
    assert created.value.status == 201
    assert created.value.headers["cache-control"] == "no-store"
    expect(admin.get_by_role("alert")).to_contain_text("only time it is shown")
    secret = admin.locator("#secret-value").input_value()
    assert secret.startswith("qtk_")
    expect(admin.locator("#copy-secret")).to_be_visible()  # the script offers to copy it
    shoot(admin, "admin-token-created-desktop")
    me = httpx.get(f"{server.base}/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.json()["username"] == "rita"
    assert me.json()["permissions"] == ["item.read"]
    admin.get_by_role("link", name="Done").click()
    expect(admin.locator("#tokens")).to_contain_text("Dock scanner")
    assert secret not in admin.content()

    # The security log tells the story, newest first.
    admin.goto("/admin/security-log?user=rita")
    kinds = admin.locator("#security-log tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.kind)"
    )
    assert kinds[:3] == ["token_created", "login", "user_created"]

    # Revoking it works at once.
    admin.goto("/admin/tokens")
    admin.get_by_role("button", name="Revoke token Dock scanner of rita").click()
    expect(admin.locator("#done")).to_contain_text("Token revoked")
    gone = httpx.get(f"{server.base}/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})
    assert gone.status_code == 401


def test_admin_pages_at_phone_and_desktop_sizes(server: Server, new_context: Contexts) -> None:
    server.add_user("rita", "viewer")
    with server.api() as api:
        response = api.post("/api/v1/tokens", json={"name": "Line 3 scanner", "username": "rita"})
        assert response.status_code == 201, response.text
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = new_context(viewport).new_page()
        log_in(page, "admin", ADMIN_PASSWORD, next_url="/admin")
        for path in (*PAGES, "/admin/roles/viewer", "/admin/security-log"):
            page.goto(path)
            name = path.strip("/").replace("/", "-")
            shoot(page, f"{name}-{size}")
            # Nothing is wider than the screen (tables scroll inside their own box).
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} is {overflow}px wider than a {size} screen"
