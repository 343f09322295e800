"""Browser tests: the platform in this process, Debian's Chromium driven by Playwright (never `playwright
install`: browsers cannot be downloaded here), with every request to anything but 127.0.0.1 aborted, so a page
that needs the internet fails here as it would on a machine without it."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Request, Route, async_playwright, expect

from strix.platform import Platform
from strix.webbuild import ensure_built, is_built
from strix_auth.app import AuthOptions
from strix_gateway.webapp import default_web_dist
from strix_runtime.callers import DoorOptions
from tests.conftest import PlatformFactory

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
        settings: dict[str, Any] = {"viewport": {"width": 1400, "height": 900}, **options}
        context = await browser.new_context(**settings)
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


# --- the site under test: the platform with a module written for these tests, events in, a browser to sign in

CABINETS = ["pinball", "racer", "tetra-2"]
VENUES = ["harbour", "station", "mall"]
EVENTS = 900


@dataclass
class Site:
    platform: Platform
    client: httpx.AsyncClient  # an admin API key on every request
    url: str
    events: list[dict[str, Any]]
    repairs: list[dict[str, Any]]


def make_plays(now: datetime) -> list[dict[str, Any]]:
    """Plays over the last 47 hours (so a 24-hour window and the one before it both hold some), fixed seed."""
    rng = random.Random(12)
    out = []
    for i in range(EVENTS):
        at = now - timedelta(seconds=rng.uniform(60, 47 * 3600))
        out.append(
            {
                "play_id": f"p-{i}",
                "played_at": at.isoformat(),
                "player": f"u{rng.randint(1, 60)}",
                "cabinet": rng.choice(CABINETS),
                "venue": rng.choice(VENUES),
                "stage": rng.randint(1, 9),
                "score": rng.randint(0, 5000),
                "coins": str(Decimal(rng.randint(50, 400)) / 100),
            }
        )
    return out


def make_repairs(now: datetime) -> list[dict[str, Any]]:
    """Repairs of the cabinets over the same hours: what the arcade module joins."""
    rng = random.Random(7)
    return [
        {
            "repair_id": f"r-{i}",
            "repaired_at": (now - timedelta(seconds=rng.uniform(60, 47 * 3600))).isoformat(),
            "cabinet": rng.choice(CABINETS),
            "cost": str(Decimal(rng.randint(1000, 9000)) / 100),
        }
        for i in range(60)
    ]


async def post_plays(client: httpx.AsyncClient, events: list[dict[str, Any]], module: str = "arcade") -> None:
    for start in range(0, len(events), 400):
        response = await client.post(f"/v1/modules/{module}/events", json=events[start : start + 400])
        assert response.status_code == 200, response.text


async def ask(client: httpx.AsyncClient, query: str) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def wait_counted(client: httpx.AsyncClient, expected: int, module: str = "arcade", count: str = "plays") -> None:
    deadline = time.monotonic() + 90
    seen = 0
    while time.monotonic() < deadline:
        query = f"{{ {module}(window: {{last: 3, unit: DAY}}, granularity: TOTAL) {{ rows {{ {count} }} }} }}"
        rows = (await ask(client, query))[module]["rows"]
        seen = rows[0][count] if rows else 0
        if seen == expected:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"only {seen} of {expected} {module} events became queryable")


@pytest.fixture
async def site(start_platform: PlatformFactory, web_dist: Path) -> AsyncIterator[Site]:
    """The platform as `strix up` runs it for one developer: development sign-in on, GraphiQL signed in."""
    options: dict[str, Any] = {
        "auth": AuthOptions(dev_sign_in=True),
        "doors": DoorOptions(open_schema=True, developer_graphiql=True),
    }
    async with start_platform(E2E_CONFIGS, **options) as (platform, client):
        now = datetime.now(UTC)
        events, repairs = make_plays(now), make_repairs(now)
        await post_plays(client, events)
        await post_plays(client, repairs, "repairs")
        await wait_counted(client, len(events))
        await wait_counted(client, len(repairs), "repairs", "repairs")
        yield Site(platform, client, platform.http_url, events, repairs)


async def sign_in(page: Page, url: str, user: str = "ada") -> None:
    """The sign-in page as a user sees it: asked to sign in, the development form, back where they were."""
    await page.goto(url + "/")
    await expect(page).to_have_url(url + "/signin?return_to=%2F")
    await page.get_by_label("User").fill(user)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_test_id("user")).to_have_text(user)


async def answered(page: Page) -> str:
    """Wait for the answer panel to show an answer; the GraphQL text it ran."""
    await expect(page.locator(".result-panel .panel-body")).to_have_attribute("data-state", "ready", timeout=20_000)
    return await page.get_by_test_id("query-text").text_content() or ""


AXE = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"  # from web/'s lock file (npm ci)


async def serious_accessibility_problems(page: Page, within: str = "body") -> list[str]:
    """axe-core's serious and critical violations (WCAG 2 A/AA rules) on the page as it stands, one line each:
    the rule, what it says and the first elements it names."""
    assert AXE.is_file(), f"{AXE} is missing: npm ci in web/"
    await page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = await page.evaluate(
        """async (within) => (await axe.run(document.querySelector(within), {
               runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
           })).violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                     nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))""",
        within,
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]
