"""The first paint of a six-panel dashboard over the demo data, as `strix up --demo` serves it: the configs/
clickstream module, the demo generator posting (two days of history on the demo's daily curve, beside a live
stream at the same rate), the UI signed in. The time to every panel drawn is printed (target under 1.5 s; the test
fails only past 5 s, as on a machine shared by other builds it varies); the dashboard is screenshotted on a laptop
(1366x768) and a wall screen (2560x1440), and no panel's freshness line may cover its content there. The
comparisons with the day before stay within what chance gives, as the history and the live stream agree."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from strix.demo import DemoGenerator, demo_key, revoke_demo_key
from strix_auth.app import AuthOptions
from strix_runtime.callers import DoorOptions
from tests.conftest import PlatformFactory
from tests.e2e.conftest import REPO, ContextFactory, ask, screenshot_path, serious_accessibility_problems, sign_in

pytestmark = pytest.mark.e2e

PANEL_READY = ".dash-panel .panel-body[data-state=ready]"
# The panels whose freshness line overlaps their content (a table's last row, a chart, a KPI tile).
COVERED = """() => [...document.querySelectorAll('.dash-panel')].filter((panel) => {
  const fresh = panel.querySelector('.freshness')?.getBoundingClientRect();
  const viz = panel.querySelector('.viz')?.getBoundingClientRect();
  if (!fresh || !viz) return false;
  // What shows of each element: its box clipped to the visualization's, which scrolls what does not fit.
  const shown = [...panel.querySelectorAll('.viz, .kpi, .chart, .viz tr')].map((e) => {
    const r = e.getBoundingClientRect();
    return { left: Math.max(r.left, viz.left), right: Math.min(r.right, viz.right), top: Math.max(r.top, viz.top), bottom: Math.min(r.bottom, viz.bottom) };
  });
  return shown.some((r) => r.left < fresh.right && fresh.left < r.right && r.top < fresh.bottom && fresh.top < r.bottom);
}).map((panel) => panel.dataset.panel)"""
RATE = 1.0  # events per second, in the history and live (the demo's default is 2: eight days are 1.4 M events)
HISTORY_HOURS = 48  # the day shown and the day it is compared with


def _panel(pid: str, title: str, visualization: str, layout: tuple[int, int, int, int], **query: Any) -> dict[str, Any]:
    x, y, w, h = layout
    base = {"module": "clickstream", "metrics": ["events"], "window": {"last": 24, "unit": "hour"}}
    return {
        "id": pid,
        "title": title,
        "visualization": visualization,
        "layout": {"x": x, "y": y, "w": w, "h": h},
        "query": {**base, "granularity": "total", **query},
    }


PANELS = [
    _panel(
        "kpi",
        "Store today vs the day before",
        "KPI",
        (0, 0, 12, 3),
        metrics=["events", "customers", "revenue", "conversion_rate"],
        compare="previous_period",
    ),
    _panel("line", "Events per hour by action", "LINE", (0, 3, 8, 6), group_by=["action"], granularity="hour"),
    _panel("pie", "Revenue by device", "PIE", (8, 3, 4, 6), metrics=["revenue"], group_by=["device"]),
    _panel(
        "bar",
        "Top product groups by revenue",
        "BAR",
        (0, 9, 6, 6),
        metrics=["revenue"],
        group_by=["product_group"],
        top={"n": 5, "by": "revenue", "others": True},
    ),
    _panel(
        "table",
        "Countries vs the day before",
        "TABLE",
        (6, 9, 6, 6),
        metrics=["purchases", "revenue"],
        group_by=["country"],
        compare="previous_period",
        top={"n": 8, "by": "revenue", "others": True},
    ),
    _panel("purchases", "Purchases per hour", "BAR", (0, 15, 12, 5), metrics=["purchases"], granularity="hour"),
]


async def test_first_paint_of_a_six_panel_dashboard_over_the_demo_data(
    start_platform: PlatformFactory, web_dist: Path, new_context: ContextFactory
) -> None:
    options: dict[str, Any] = {
        "auth": AuthOptions(dev_sign_in=True),
        "doors": DoorOptions(open_schema=True, developer_graphiql=True),
    }
    async with start_platform(REPO / "configs", **options) as (platform, client):
        key_id, key = await demo_key(platform.nc)
        generator = DemoGenerator(
            f"{platform.http_url}/v1/modules/clickstream/events",
            rate=RATE,
            backfill_hours=HISTORY_HOURS,
            headers={"Authorization": f"Bearer {key}"},
        )
        generator.start()
        try:
            await _until_the_history_is_in(client, generator)
            await _day_over_day_is_steady(client)
            await _measure(platform.http_url, client, new_context)
        finally:
            await generator.stop()
            await revoke_demo_key(platform.nc, key_id)


async def _until_the_history_is_in(client: Any, generator: DemoGenerator) -> None:
    deadline = time.monotonic() + 300
    counted = 0
    while time.monotonic() < deadline:
        if generator.history_done:
            rows = (
                await ask(
                    client, "{ clickstream(window: {last: 4, unit: DAY}, granularity: TOTAL) { rows { events } } }"
                )
            )["clickstream"]["rows"]
            counted = rows[0]["events"] if rows else 0
            if counted >= generator.history_sent > 0:
                return
        await asyncio.sleep(0.5)
    raise AssertionError(f"the demo's history never became queryable: sent {generator.sent}, counted {counted}")


async def _day_over_day_is_steady(client: Any) -> None:
    """The last 24 hours against the 24 before: the same rate on the same curve, so within chance (a Poisson count
    of ~86 k events moves by ~0.3 %; 5 % is far outside it), where one day of history gave +100 % and more."""
    rows = (
        await ask(
            client,
            "{ clickstream(window: {last: 24, unit: HOUR}, granularity: TOTAL, metrics: [EVENTS], "
            "compare: PREVIOUS_PERIOD) { rows { events previous { events } changeRatio { events } } } }",
        )
    )["clickstream"]["rows"]
    ratio = rows[0]["changeRatio"]["events"]
    print(
        f"\ndemo: last 24 h {rows[0]['events']} events, the 24 h before {rows[0]['previous']['events']} ({ratio:+.1%})"
    )
    assert abs(ratio) < 0.05, rows


async def _measure(url: str, client: Any, new_context: ContextFactory) -> None:
    body = (
        await client.post(
            "/graphql",
            json={
                "query": "mutation($input: DashboardInput!) { createDashboard(input: $input) { id } }",
                "variables": {"input": {"title": "Web store live", "panels": PANELS}},
            },
        )
    ).json()
    assert "errors" not in body, body
    dashboard_id = body["data"]["createDashboard"]["id"]
    await ask(client, f'mutation {{ shareDashboard(id: "{dashboard_id}", kind: EVERYONE) {{ id }} }}')

    for name, viewport in (("laptop", (1366, 768)), ("wall", (2560, 1440))):
        watched = await new_context(viewport={"width": viewport[0], "height": viewport[1]})
        page = await watched.page()
        await sign_in(page, url)
        await page.goto(f"{url}/dashboards/{dashboard_id}")  # warm: assets cached, as for a returning viewer
        await expect(page.locator(PANEL_READY)).to_have_count(6, timeout=30_000)
        timings = []
        for _ in range(3):
            await page.goto(f"{url}/dashboards/{dashboard_id}")
            await expect(page.locator(PANEL_READY)).to_have_count(6, timeout=30_000)
            timings.append(await page.evaluate("performance.now()"))
        best = min(timings)
        print(
            f"\nsix-panel demo dashboard at {viewport[0]}x{viewport[1]}: every panel drawn "
            + ", ".join(f"{t:.0f} ms" for t in timings)
            + f"; best {best:.0f} ms (target 1500 ms)"
        )
        await page.wait_for_timeout(600)  # chart entry animations settle before the screenshot
        await page.screenshot(path=screenshot_path(f"dashboard-demo-{name}"), full_page=True)
        covered = await page.evaluate(COVERED)
        assert covered == [], f"freshness lines over panel content at {viewport[0]}x{viewport[1]}: {covered}"
        assert await serious_accessibility_problems(page) == []
        await watched.context.close()  # its live panels end here, before the platform stops under them
        assert best < 5_000, f"a six-panel dashboard over the demo data took {best:.0f} ms to draw every panel"
