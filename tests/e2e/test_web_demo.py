"""The first paint of a six-panel dashboard over the demo data, as `strix up --demo` serves it: the configs/
clickstream module, the demo generator posting (a day of history, then a live stream), the UI signed in. The time
to every panel drawn is printed (target under 1.5 s; the test fails only past 5 s, as on a machine shared by
other builds it varies); the dashboard is screenshotted on a laptop (1366x768) and a
wall screen (2560x1440)."""

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
RATE = 100.0  # events per second: a day of history is RATE * 60 events, then RATE a second live


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
            f"{platform.http_url}/v1/modules/clickstream/events", rate=RATE, headers={"Authorization": f"Bearer {key}"}
        )
        generator.start()
        try:
            await _until_the_history_is_in(client, generator, int(RATE * 60))
            await _measure(platform.http_url, client, new_context)
        finally:
            await generator.stop()
            await revoke_demo_key(platform.nc, key_id)


async def _until_the_history_is_in(client: Any, generator: DemoGenerator, history: int) -> None:
    deadline = time.monotonic() + 120
    counted = 0
    while time.monotonic() < deadline:
        if generator.sent >= history:
            rows = (
                await ask(
                    client, "{ clickstream(window: {last: 2, unit: DAY}, granularity: TOTAL) { rows { events } } }"
                )
            )["clickstream"]["rows"]
            counted = rows[0]["events"] if rows else 0
            if counted >= history:
                return
        await asyncio.sleep(0.5)
    raise AssertionError(f"the demo's history never became queryable: sent {generator.sent}, counted {counted}")


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
        assert await serious_accessibility_problems(page) == []
        await watched.context.close()  # its live panels end here, before the platform stops under them
        assert best < 5_000, f"a six-panel dashboard over the demo data took {best:.0f} ms to draw every panel"
