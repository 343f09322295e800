"""Keyboard and accessibility: a query built and saved as a dashboard with the keyboard alone (after signing in),
the focused control always visibly outlined, and axe-core's serious and critical problems on the builder and on
a dashboard: none."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Locator, Page, expect

from tests.e2e.conftest import ContextFactory, Site, answered, ask, serious_accessibility_problems, sign_in

pytestmark = pytest.mark.e2e


async def _tab_to(page: Page, target: str | Locator, backwards: bool = False) -> None:
    """Press Tab until the focused element is `target` (a CSS selector or a locator); its focus ring must show."""
    locator = page.locator(target) if isinstance(target, str) else target
    selector = str(target)
    for _ in range(120):
        if await locator.first.evaluate("(el) => el === document.activeElement"):
            outline = await page.evaluate(
                "() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; }"
            )
            assert outline[0] != "none" and outline[1] != "0px", f"{selector} has no visible focus: {outline}"
            return
        await page.keyboard.press("Shift+Tab" if backwards else "Tab")
    raise AssertionError(f"Tab never reached {selector}")


async def test_a_query_built_and_saved_as_a_dashboard_with_the_keyboard_only(
    site: Site, new_context: ContextFactory
) -> None:
    watched = await new_context()
    page = await watched.page()
    await sign_in(page, site.url)
    await answered(page)
    assert await serious_accessibility_problems(page) == []

    # The builder: bars (arrow keys in the radio group), takings too, grouped by venue (space on checkboxes).
    await _tab_to(page, "input[name=visualization]:checked")
    await page.keyboard.press("ArrowRight")  # Table -> Bar
    await expect(page.locator("input[name=visualization][value=bar]")).to_be_checked()
    await _tab_to(page, "input[name=metric][value=takings]")
    await page.keyboard.press("Space")
    await expect(page.locator("input[name=metric][value=takings]")).to_be_checked()
    await _tab_to(page, "input[name=group-by][value=venue]")
    await page.keyboard.press("Space")
    await expect(page.locator("input[name=group-by][value=venue]")).to_be_checked()
    await expect(page.get_by_test_id("query-text")).to_contain_text("groupBy: [VENUE]")
    query = await answered(page)
    assert "groupBy: [VENUE]" in query and "takings" in query

    # A new dashboard from the Dashboards page, a panel added through its dialog, saved: keys only.
    await _tab_to(page, "a[href='/dashboards']", backwards=True)
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("New dashboard title")).to_be_visible()
    await _tab_to(page, "input[aria-label='New dashboard title']")
    await page.keyboard.type("Venues by keyboard")
    await _tab_to(page, page.get_by_role("button", name="New dashboard"))
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/dashboards/[^/?]+\?edit=1$"))
    dashboard_id = page.url.rsplit("/", 1)[1].split("?")[0]
    await expect(page.get_by_role("button", name="Add panel")).to_be_visible()
    await _tab_to(page, page.get_by_role("button", name="Add panel"))
    await page.keyboard.press("Enter")
    box = page.locator("dialog[open]")
    await expect(box).to_be_visible()
    await _tab_to(page, "dialog[open] input[aria-label='Panel title']")
    await page.keyboard.type("Plays by venue")
    await _tab_to(page, "dialog[open] input[name=group-by][value=venue]")
    await page.keyboard.press("Space")
    await expect(box.locator(".panel-body")).to_have_attribute("data-state", "ready", timeout=20_000)
    await _tab_to(page, box.get_by_role("button", name="Add to dashboard"))
    await page.keyboard.press("Enter")
    await expect(box).to_have_count(0)
    await _tab_to(page, page.get_by_role("button", name="Save", exact=True))
    await page.keyboard.press("Enter")
    await expect(page.locator(".toolbar").get_by_role("button", name="Edit", exact=True)).to_be_visible()
    saved = await ask(site.client, f'{{ dashboard(id: "{dashboard_id}") {{ title panels {{ title query }} }} }}')
    assert saved["dashboard"]["title"] == "Venues by keyboard"
    assert [(p["title"], p["query"]["group_by"]) for p in saved["dashboard"]["panels"]] == [
        ("Plays by venue", ["venue"])
    ]
    await expect(page.locator(".dash-panel .panel-body[data-state=ready]")).to_have_count(1, timeout=20_000)
    assert await serious_accessibility_problems(page) == []
