"""Browser tests: the platform in this process, Debian's Chromium driven by Playwright (never `playwright
install`: browsers cannot be downloaded here), with every request to anything but 127.0.0.1 aborted, so a page
that needs the internet fails here as it would on a machine without it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Request, Route, async_playwright

from strix.webbuild import ensure_built, is_built
from strix_gateway.webapp import default_web_dist

CHROMIUM = Path("/usr/bin/chromium")
# The flags a closed network needs: without the background-networking ones Chromium keeps dialling out.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
E2E_CONFIGS = Path(__file__).resolve().parent / "configs"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="session")
def web_dist() -> Path:
    """The built UI; built here when missing (CI builds it before the tests)."""
    dist = default_web_dist()
    assert ensure_built(dist.parent) and is_built(dist), f"no web build in {dist}: npm ci && npm run build in web/"
    return dist


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium: a missing one fails the run (never a skip)."""
    assert CHROMIUM.is_file(), "Chromium is missing: apt-get install -y chromium chromium-driver (.ci/run does)"
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@dataclass
class Watched:
    """What a browser context did that a test must see: console errors, page errors, requests it blocked."""

    context: BrowserContext
    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)

    async def page(self) -> Page:
        page = await self.context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.pages.append(page)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text} at {message.location}")

    def assert_clean(self) -> None:
        assert not self.blocked, f"pages asked for the internet: {self.blocked}"
        assert not self.errors, "\n".join(self.errors)


ContextFactory = Callable[..., Awaitable[Watched]]


@pytest.fixture
async def new_context(browser: Browser) -> AsyncIterator[ContextFactory]:
    """Browser contexts whose requests to anything but this machine are aborted (and recorded); each test ends
    by checking none was made and no console error was logged."""
    made: list[Watched] = []

    async def make(**options: object) -> Watched:
        context = await browser.new_context(viewport={"width": 1400, "height": 900}, **options)  # type: ignore[arg-type]
        watched = Watched(context)

        async def guard(route: Route, request: Request) -> None:
            host = urlsplit(request.url).hostname or ""
            if request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
                await route.continue_()
            else:
                watched.blocked.append(request.url)
                await route.abort("internetdisconnected")

        await context.route("**/*", guard)
        made.append(watched)
        return watched

    yield make
    for watched in made:
        await watched.context.close()
    for watched in made:
        watched.assert_clean()


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
