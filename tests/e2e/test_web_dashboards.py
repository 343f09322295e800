"""Dashboards in the browser: create one from the builder, arrange panels (keyboard and pointer), save, reload,
share, open its public link signed out, resolve a revision conflict between two browser contexts, restore a past
revision, and the first paint of a six-panel dashboard (measured and printed)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import ContextFactory, Site, ask, screenshot_path, sign_in

pytestmark = pytest.mark.e2e

PANEL_READY = ".dash-panel .panel-body[data-state=ready]"


async def _revision(page: Page) -> int:
    return int(await page.get_by_test_id("revision").get_attribute("data-revision") or 0)


async def _add_panel(page: Page, title: str, visualization: str, group_by: str | None = None) -> None:
    await page.get_by_role("button", name="Add panel").click()
    box = page.locator("dialog[open]")
    await box.get_by_label("Panel title").fill(title)
    await box.locator(".segmented label", has_text=visualization).click()
    if group_by:
        await box.locator(f"input[name=group-by][value={group_by}]").check()
    await expect(box.locator(".panel-body")).to_have_attribute("data-state", "ready", timeout=20_000)
    await box.get_by_role("button", name="Add to dashboard").click()
    await expect(box).to_have_count(0)


async def test_a_dashboard_built_saved_shared_and_opened_by_its_public_link(
    site: Site, new_context: ContextFactory
) -> None:
    watched = await new_context()
    page = await watched.page()
    await sign_in(page, site.url)
    await page.get_by_role("link", name="Dashboards").click()
    await page.get_by_label("New dashboard title").fill("Arcade floor")
    await page.get_by_role("button", name="New dashboard").click()
    await expect(page).to_have_url(re.compile(r"/dashboards/[^/?]+\?edit=1$"))
    dashboard_id = page.url.rsplit("/", 1)[1].split("?")[0]

    await _add_panel(page, "Plays by cabinet", "Bar", group_by="cabinet")
    await _add_panel(page, "Totals", "KPI")
    panels = page.locator(".dash-panel")
    await expect(panels).to_have_count(2)
    # Arrange: the KPI panel moved right with the keyboard, then made taller by dragging its corner.
    kpi = page.locator(".dash-panel", has_text="Totals")
    before = await kpi.get_attribute("data-layout")
    assert before == "6,0,6,6"
    await page.get_by_role("button", name=re.compile(r"^Move .*")).nth(1).focus()
    await page.keyboard.press("ArrowDown")
    await expect(kpi).to_have_attribute("data-layout", "6,1,6,6")
    corner = kpi.locator("button.resize")
    box = await corner.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + 5, box["y"] + 5)
    await page.mouse.down()
    await page.mouse.move(box["x"] + 5, box["y"] + 5 + 2 * 68, steps=5)
    await page.mouse.up()
    await expect(kpi).to_have_attribute("data-layout", "6,1,6,8")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator(".toolbar").get_by_role("button", name="Edit", exact=True)).to_be_visible()
    saved_revision = await _revision(page)

    # Reload: the saved dashboard, its bar chart drawing what GraphQL answers for the panel's question.
    await page.goto(f"{site.url}/dashboards/{dashboard_id}")
    await expect(page.locator(PANEL_READY)).to_have_count(2, timeout=20_000)
    assert await _revision(page) == saved_revision
    assert await kpi.get_attribute("data-layout") == "6,1,6,8"
    stored = await ask(site.client, f'{{ dashboard(id: "{dashboard_id}") {{ panels {{ title query }} }} }}')
    bar_query = next(p["query"] for p in stored["dashboard"]["panels"] if p["title"] == "Plays by cabinet")
    assert bar_query["group_by"] == ["cabinet"]
    option = await page.evaluate(
        "strixChartOption(document.querySelector('.dash-panel[aria-label=\"Plays by cabinet\"]'))"
    )
    answer = await ask(
        site.client,
        "{ arcade(window: {last: 24, unit: HOUR}, granularity: TOTAL, groupBy: [CABINET], metrics: [PLAYS]) "
        "{ rows { cabinet plays } } }",
    )
    assert option["series"][0]["data"] == [r["plays"] for r in answer["arcade"]["rows"]]

    # Share with everyone signed in, then a public link opened signed out in a fresh browser.
    await page.get_by_role("button", name="Share").click()
    dialog = page.locator("dialog[open]")
    await dialog.locator("select[name=share-kind]").select_option("EVERYONE")
    await dialog.get_by_role("button", name="Share").click()
    await expect(dialog.locator(".shares")).to_contain_text("everyone")
    await dialog.get_by_role("button", name="Close").click()
    await page.get_by_role("button", name="Public link").click()
    await page.get_by_role("button", name="Make a public link").click()
    link = await page.locator("input[name=public-link]").input_value()
    assert f"/public/{dashboard_id}#" in link
    await page.keyboard.press("Escape")

    stranger = await (await new_context()).page()
    await stranger.goto(link)
    await expect(stranger.locator(PANEL_READY)).to_have_count(2, timeout=20_000)
    await expect(stranger.get_by_text("Public, read-only")).to_be_visible()
    await expect(stranger.get_by_role("button", name=re.compile("Edit"))).to_have_count(0)
    await stranger.screenshot(path=screenshot_path("dashboard-public"), full_page=True)


async def test_a_revision_conflict_between_two_browsers_is_shown_and_resolved(
    site: Site, new_context: ContextFactory
) -> None:
    created = await ask(
        site.client,
        'mutation { createDashboard(input: {title: "Shared floor", panels: []}) { id } }',
    )
    dashboard_id = created["createDashboard"]["id"]
    await ask(
        site.client, f'mutation {{ shareDashboard(id: "{dashboard_id}", kind: EVERYONE, permission: EDIT) {{ id }} }}'
    )
    first = await (await new_context()).page()
    second = await (await new_context()).page()
    for page, user in ((first, "ada"), (second, "bo")):
        await sign_in(page, site.url, user)
        await page.goto(f"{site.url}/dashboards/{dashboard_id}")
        await page.locator(".toolbar").get_by_role("button", name="Edit", exact=True).click()
    await second.get_by_label("Dashboard title").fill("Floor, by Bo")
    await second.get_by_role("button", name="Save").click()
    await expect(second.locator("h1")).to_have_text("Floor, by Bo")

    await _add_panel(first, "Plays", "Table")
    await first.get_by_role("button", name="Save").click()
    conflict = first.locator("dialog[open]")
    await expect(conflict).to_contain_text("Someone saved first")
    await expect(conflict).to_contain_text('title: "Floor, by Bo" there')
    await expect(conflict).to_contain_text('panel "Plays" not there')
    await conflict.screenshot(path=screenshot_path("dashboard-conflict"))
    await conflict.get_by_role("button", name="Save mine over theirs").click()
    await expect(first.locator("h1")).to_have_text("Shared floor")
    await expect(first.locator(".dash-panel")).to_have_count(1)

    # History: Bo's title comes back by restoring its revision.
    await first.get_by_role("button", name="History").click()
    history = first.locator("dialog[open] .revisions li")
    await expect(history).to_have_count(4)  # created, shared, Bo's title, Ada's panel
    await history.filter(has_text="Floor, by Bo").get_by_role("button", name="Restore").click()
    await expect(first.locator("h1")).to_have_text("Floor, by Bo")
    await expect(first.locator(".dash-panel")).to_have_count(0)


def _panel(pid: str, title: str, visualization: str, layout: dict[str, int], **query: Any) -> dict[str, Any]:
    base = {"module": "arcade", "metrics": ["plays"], "window": {"last": 24, "unit": "hour"}, "granularity": "total"}
    return {"id": pid, "title": title, "visualization": visualization, "layout": layout, "query": {**base, **query}}


async def test_first_paint_of_a_six_panel_dashboard(site: Site, new_context: ContextFactory) -> None:
    panels = [
        _panel(
            "kpi",
            "Today at a glance",
            "KPI",
            {"x": 0, "y": 0, "w": 12, "h": 3},
            metrics=["plays", "players", "takings", "avg_score"],
            compare="previous_period",
        ),
        _panel(
            "line", "Plays per hour", "LINE", {"x": 0, "y": 3, "w": 8, "h": 6}, group_by=["cabinet"], granularity="hour"
        ),
        _panel("pie", "Venues", "PIE", {"x": 8, "y": 3, "w": 4, "h": 6}, group_by=["venue"]),
        _panel(
            "bar",
            "Stages",
            "BAR",
            {"x": 0, "y": 9, "w": 6, "h": 6},
            group_by=["stage"],
            top={"n": 5, "by": "plays", "others": True},
        ),
        _panel(
            "table",
            "Cabinets vs yesterday",
            "TABLE",
            {"x": 6, "y": 9, "w": 6, "h": 6},
            group_by=["cabinet"],
            metrics=["plays", "takings"],
            compare="previous_period",
        ),
        _panel(
            "takings",
            "Takings per hour",
            "BAR",
            {"x": 0, "y": 15, "w": 12, "h": 5},
            metrics=["takings"],
            granularity="hour",
        ),
    ]
    response = await site.client.post(
        "/graphql",
        json={
            "query": "mutation($input: DashboardInput!) { createDashboard(input: $input) { id } }",
            "variables": {"input": {"title": "Arcade operations", "panels": panels}},
        },
    )
    body = response.json()
    assert "errors" not in body, body
    dashboard_id = body["data"]["createDashboard"]["id"]
    await ask(site.client, f'mutation {{ shareDashboard(id: "{dashboard_id}", kind: EVERYONE) {{ id }} }}')

    watched = await new_context(viewport={"width": 1600, "height": 1000})
    page = await watched.page()
    await sign_in(page, site.url)
    await page.goto(f"{site.url}/dashboards/{dashboard_id}")  # warm: the browser has the assets cached
    await expect(page.locator(PANEL_READY)).to_have_count(6, timeout=30_000)
    timings = []
    for _ in range(3):
        await page.goto(f"{site.url}/dashboards/{dashboard_id}")
        await expect(page.locator(PANEL_READY)).to_have_count(6, timeout=30_000)
        every_panel = await page.evaluate("performance.now()")
        paint = await page.evaluate("performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null")
        timings.append((every_panel, paint))
    best = min(t[0] for t in timings)
    print(
        "\nsix-panel dashboard: every panel drawn "
        + ", ".join(f"{t[0]:.0f} ms (first contentful paint {t[1]:.0f} ms)" for t in timings)
        + f"; best {best:.0f} ms"
    )
    await page.screenshot(path=screenshot_path("dashboard"), full_page=True)
    assert best < 5_000, f"a six-panel dashboard took {best:.0f} ms to draw every panel"


async def test_a_dashboard_duplicated_unshared_transferred_and_deleted(site: Site, new_context: ContextFactory) -> None:
    watched = await new_context()
    page = await watched.page()
    page.on("dialog", lambda box: asyncio.ensure_future(box.accept()))  # the confirm() of transfer and delete
    await sign_in(page, site.url)
    await page.get_by_role("link", name="Dashboards").click()
    await page.get_by_label("New dashboard title").fill("Repairs desk")
    await page.get_by_role("button", name="New dashboard").click()
    await _add_panel(page, "Plays by cabinet", "Bar", group_by="cabinet")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator(".toolbar").get_by_role("button", name="Edit", exact=True)).to_be_visible()
    original = page.url.rsplit("/", 1)[1].split("?")[0]

    # Duplicate: a new dashboard of Ada's with the same panels.
    await page.get_by_role("button", name="Duplicate").click()
    await expect(page).not_to_have_url(re.compile(re.escape(original)))
    copy = page.url.rsplit("/", 1)[1].split("?")[0]
    await expect(page.locator(PANEL_READY)).to_have_count(1, timeout=20_000)
    both = await ask(
        site.client,
        f'{{ a: dashboard(id: "{original}") {{ owner panels {{ title query }} }} '
        f'b: dashboard(id: "{copy}") {{ owner panels {{ title query }} }} }}',
    )
    assert both["b"]["owner"] == "ada" and both["b"]["panels"] == both["a"]["panels"]

    # Delete the copy: gone from the list and from the API.
    await page.get_by_role("button", name="Delete").click()
    await expect(page).to_have_url(f"{site.url}/dashboards")
    response = await site.client.post("/graphql", json={"query": f'{{ dashboard(id: "{copy}") {{ id }} }}'})
    gone = response.json()
    assert gone.get("errors") and not (gone.get("data") or {}).get("dashboard"), gone

    # Share the original with a role, stop sharing, then hand it to Bo.
    await page.goto(f"{site.url}/dashboards/{original}")
    await page.get_by_role("button", name="Share").click()
    dialog = page.locator("dialog[open]")
    await dialog.locator("select[name=share-kind]").select_option("ROLE")
    await dialog.get_by_label("User or role").fill("operator")
    await dialog.get_by_role("button", name="Share").click()
    await expect(dialog.locator(".shares")).to_contain_text("role operator — view")
    await dialog.get_by_role("button", name="Stop sharing with role operator").click()
    await expect(dialog.locator(".shares")).to_have_text("Not shared.")
    assert (await ask(site.client, f'{{ dashboard(id: "{original}") {{ shares {{ name }} }} }}'))["dashboard"][
        "shares"
    ] == []
    await dialog.get_by_label("New owner (user)").fill("bo")
    await dialog.get_by_role("button", name="Transfer").click()
    await expect(dialog.get_by_role("status")).to_have_text("bo owns it now.")
    owner = (await ask(site.client, f'{{ dashboard(id: "{original}") {{ owner }} }}'))["dashboard"]["owner"]
    assert owner == "bo"
