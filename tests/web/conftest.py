"""A real server and a real browser: `qtrack serve` on a fresh SQLite database, driven by the
system Chromium through Playwright (never a downloaded browser). Each server is a fork of a
process that has imported qtrack once (tests/web/zygote.py), running the CLI's `serve`.

Without /usr/bin/chromium these tests skip (Debian: `apt-get install chromium`), unless
QTRACK_TEST_REQUIRE names `browser`, as CI does, in which case they fail.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.databases import unavailable
from tests.web import zygote

CHROMIUM = Path(os.environ.get("QTRACK_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN_PASSWORD = "correct horse battery staple 42"
PASSWORD = "shared floor pass phrase 7"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
SCAN_PREFIX = "~~"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running `qtrack serve` and how to restart it on the same port and database."""

    base: str
    port: int
    env: dict[str, str]
    forks: zygote.Zygote
    pid: int | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        """Start the server and wait until it answers."""
        self.pid = self.forks.run(["serve", "--port", str(self.port)], self.env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not self.forks.alive(self.pid):
                raise RuntimeError("qtrack serve exited")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("qtrack serve did not start")

    def stop(self) -> None:
        """Stop the server (the network is gone, as far as a browser can tell)."""
        if self.pid is not None:
            self.forks.stop(self.pid)
            self.pid = None

    def api(self, username: str = "admin") -> httpx.Client:
        """An API client logged in as this user (JWT), for arranging data and checking it."""
        if username not in self.tokens:
            password = ADMIN_PASSWORD if username == "admin" else PASSWORD
            response = httpx.post(
                f"{self.base}/api/v1/auth/login",
                json={"username": username, "password": password},
            )
            assert response.status_code == 200, response.text
            self.tokens[username] = response.json()["access_token"]
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {self.tokens[username]}"}
        )

    def add_user(self, username: str, role: str) -> None:
        """A user with the shared test password."""
        with self.api() as admin:
            response = admin.post(
                "/api/v1/users", json={"username": username, "role": role, "password": PASSWORD}
            )
            assert response.status_code == 201, response.text

    def add_locations(self, *specs: tuple[str, str | None, str]) -> None:
        """Locations as (code, parent code, kind)."""
        with self.api() as admin:
            for code, parent, kind in specs:
                body: dict[str, Any] = {"code": code, "name": code.title(), "kind": kind}
                if parent:
                    body["parent"] = parent
                response = admin.post("/api/v1/locations", json=body)
                assert response.status_code == 201, response.text

    def add_items(self, item_type: str, count: int = 1, **fields: Any) -> list[str]:
        """Register items; their codes."""
        with self.api() as admin:
            response = admin.post(
                "/api/v1/items", json={"type": item_type, "count": count, **fields}
            )
            assert response.status_code == 201, response.text
            return [item["code"] for item in response.json()["items"]]


def _env(database: Path, **more: str) -> dict[str, str]:
    """This process's environment with qtrack's settings for a SQLite database here."""
    return {
        **os.environ,
        "QTRACK_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "QTRACK_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "QTRACK_LOG_LEVEL": "WARNING",
        "QTRACK_REDIS_URL": "",
        **more,
    }


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`qtrack db upgrade` on a new SQLite database, as the README runs it (with the first
    admin from QTRACK_ADMIN_PASSWORD): once per test process; each server gets a copy."""
    path = tmp_path_factory.mktemp("web-template") / "web.db"
    subprocess.run(
        [sys.executable, "-m", "qtrack", "db", "upgrade"],
        env=_env(path),
        check=True,
        capture_output=True,
    )
    return path


@pytest.fixture(scope="session")
def forks() -> Iterator[zygote.Zygote]:
    """The process each `qtrack serve` of this test process is forked from."""
    started = zygote.Zygote()
    yield started
    started.close()


@pytest.fixture
def server(tmp_path: Path, migrated: Path, forks: zygote.Zygote) -> Iterator[Server]:
    """`qtrack serve` on a copy of the migrated database, as the README runs it."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    database = tmp_path / "web.db"
    shutil.copyfile(migrated, database)
    env = _env(database, QTRACK_PUBLIC_BASE_URL=base, QTRACK_SCAN_PREFIX=SCAN_PREFIX)
    running = Server(base=base, port=port, env=env, forks=forks)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def launch_chromium(playwright: Any, *extra_args: str) -> Any:
    """Debian's Chromium, headless; never a browser that Playwright downloads."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *extra_args]
    )


# Function scope, not session: Playwright's sync API keeps an asyncio loop running in this
# thread while it is open, and the next test on this worker may need asyncio.run().
@pytest.fixture
def playwright_driver() -> Iterator[Any]:
    """Playwright, when the system Chromium is there to drive."""
    if not CHROMIUM.exists():
        unavailable(
            "browser",
            f"{CHROMIUM} is missing; install it with `apt-get install chromium` (Debian)",
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def browser(playwright_driver: Any) -> Iterator[Any]:
    chromium = launch_chromium(playwright_driver)
    yield chromium
    chromium.close()


class Console:
    """Console errors, uncaught exceptions and CSP violations of every page in a context.

    A test fails on any of them, except messages it names as expected (e.g. the network
    errors of a test that takes the network away)."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.expected: list[re.Pattern[str]] = []

    def watch(self, context: Any) -> None:
        context.on("page", self._watch_page)
        for page in context.pages:
            self._watch_page(page)

    def _watch_page(self, page: Any) -> None:
        page.on("console", lambda m: self._console(m.type, m.text, page.url))
        page.on("pageerror", lambda exc: self.problems.append(f"{page.url}: uncaught {exc}"))

    def _console(self, kind: str, text: str, url: str) -> None:
        if kind != "error" and "Content Security Policy" not in text:
            return
        if any(p.search(text) for p in self.expected):
            return
        self.problems.append(f"{url}: console {kind}: {text}")

    def allow(self, pattern: str) -> None:
        """Let console errors matching this pattern pass."""
        self.expected.append(re.compile(pattern))


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def new_context(browser: Any, console: Console, server: Server) -> Iterator[Any]:
    """Make browser contexts (one per person) that report console errors; closed at the end."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int] = PHONE, **options: Any) -> Any:
        context = browser.new_context(viewport=viewport, base_url=server.base, **options)
        console.watch(context)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert not console.problems, "\n".join(console.problems)


def log_in(page: Any, username: str, password: str = PASSWORD, next_url: str = "/") -> None:
    """Log in through the form, as a person would."""
    page.goto(f"/login?next={next_url}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"^(?!.*/login)"))


def shoot(page: Any, name: str) -> None:
    """A full-page screenshot in tests/artifacts/, to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
