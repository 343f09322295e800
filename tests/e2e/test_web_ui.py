"""The web UI in a real Chromium against the whole platform: pages that work offline, sign-in, a query built in
the form whose chart and table show exactly what GraphQL answers (and what an independent count of the events
says), every visualization (screenshotted), and pages of raw events. The module is `tests/e2e/configs/arcade.yaml`,
written only for these tests: the builder is generated from its metadata with no front-end change."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import expect

from tests.e2e.conftest import ContextFactory, Site, answered, ask, post_plays, screenshot_path, sign_in

pytestmark = pytest.mark.e2e


async def test_pages_work_offline_and_sign_in(site: Site, new_context: ContextFactory) -> None:
    watched = await new_context()
    page = await watched.page()
    await sign_in(page, site.url)
    await expect(page.get_by_label("Module")).to_have_value("arcade")
    await answered(page)

    # GraphiQL from bundled assets, signed in as the local developer (embedded mode), running a query.
    await page.goto(site.url + "/graphql")
    await expect(page.locator(".graphiql-container")).to_be_visible(timeout=20_000)
    response = page.locator(".graphiql-response")
    for _ in range(10):  # a click before the editor has mounted its query runs nothing: click until it answers
        await page.locator(".graphiql-execute-button").click()
        try:
            await expect(response).to_contain_text('"arcade"', timeout=2_000)
            break
        except AssertionError:
            continue
    await expect(response).to_contain_text('"arcade"')
    await page.screenshot(path=screenshot_path("graphiql"))

    # An app path answers the app (SPA fallback); an API path does not.
    app_page = await site.client.get("/dashboards/some-id")
    assert app_page.status_code == 200 and '<div id="app">' in app_page.text
    assert (await site.client.get("/v1/nowhere")).status_code == 404
    assert watched.blocked == [] and watched.errors == []


def _plays_by_cabinet(events: list[dict[str, Any]], start: str, end: str, venues: set[str]) -> Counter[str]:
    """The independent count: plays per cabinet in [start, end) at the given venues."""
    lo, hi = datetime.fromisoformat(start), datetime.fromisoformat(end)
    return Counter(
        e["cabinet"] for e in events if lo <= datetime.fromisoformat(e["played_at"]) < hi and e["venue"] in venues
    )


async def test_a_query_built_in_the_form_draws_what_graphql_answers(site: Site, new_context: ContextFactory) -> None:
    watched = await new_context(timezone_id="Europe/Helsinki")
    page = await watched.page()
    await sign_in(page, site.url)
    await answered(page)

    # Build: bar chart of plays and takings by cabinet, venue in {harbour, station}, vs the previous period.
    await page.locator(".segmented label", has_text="Bar").click()
    await page.locator("input[name=metric][value=takings]").check()
    await page.locator("input[name=group-by][value=cabinet]").check()
    await page.get_by_role("button", name="+ Add filter").click()
    await page.locator("[data-filter] select[name=filter-dimension]").select_option("venue")
    await page.locator("[data-filter=venue] select[name=filter-operator]").select_option("IN")
    await page.get_by_label("Values of Venue").select_option(["harbour", "station"])
    await page.get_by_label("Compare with").select_option("PREVIOUS_PERIOD")
    query = await answered(page)
    assert "where: {venue: {in: [harbour, station]}}" in query and "compare: PREVIOUS_PERIOD" in query
    assert 'timeZone: "Europe/Helsinki"' in query and "groupBy: [CABINET]" in query

    answer = (await ask(site.client, query))["arcade"]
    rows = answer["rows"]
    assert {r["cabinet"] for r in rows} == {"pinball", "racer", "tetra_2"}
    option = await page.evaluate("strixChartOption(document.querySelector('.result-panel'))")
    assert option["xAxis"][0]["data"] == [{"tetra_2": "tetra-2"}.get(r["cabinet"], r["cabinet"]) for r in rows]
    assert [s["name"] for s in option["series"]] == ["Plays", "Takings"]
    assert option["series"][0]["data"] == [r["plays"] for r in rows]
    assert option["series"][1]["data"] == [r["takings"] for r in rows]
    # ... and the numbers are the events': counted here from what was sent, over the window the answer reports.
    expected = _plays_by_cabinet(site.events, answer["start"], answer["end"], {"harbour", "station"})
    assert sum(expected.values()) > 0
    assert {r["cabinet"].replace("_", "-"): r["plays"] for r in rows} == dict(expected)
    previous = _plays_by_cabinet(site.events, answer["compareStart"], answer["compareEnd"], {"harbour", "station"})
    assert {r["cabinet"].replace("_", "-"): r["previous"]["plays"] for r in rows} == dict(previous)
    await page.locator(".result-panel").screenshot(path=screenshot_path("bar-compared"))

    # The same question as a table: every cell and change indicator from the same answer.
    await page.locator(".segmented label", has_text="Table").click()
    table_query = await answered(page)
    assert table_query == query
    cells = page.locator(".result-panel td[data-metric=plays]")
    assert await cells.evaluate_all("tds => tds.map(td => Number(td.dataset.value))") == [r["plays"] for r in rows]
    changes = await page.locator(".result-panel td[data-metric=plays] .change").all_text_contents()
    for text, row in zip(changes, rows, strict=True):
        arrow = "▲" if row["change"]["plays"] > 0 else "▼" if row["change"]["plays"] < 0 else "■"
        assert text.startswith(arrow), (text, row)
    await page.locator(".result-panel").screenshot(path=screenshot_path("table-compared"))
    # Reload: the question is in the URL, so the same answer comes back.
    await page.reload()
    assert await answered(page) == query


async def test_every_visualization_draws_the_answer(site: Site, new_context: ContextFactory) -> None:
    watched = await new_context()
    page = await watched.page()
    await sign_in(page, site.url)
    await answered(page)
    base: dict[str, Any] = {
        "module": "arcade",
        "metrics": ["plays"],
        "groupBy": [],
        "filters": [],
        "window": {"kind": "relative", "last": 2, "unit": "DAY"},
        "timeZone": "UTC",
        "granularity": "TOTAL",
        "compare": None,
        "top": None,
    }
    views: list[tuple[str, dict[str, Any]]] = [
        ("kpi", {"metrics": ["plays", "takings", "avg_score"], "compare": "PREVIOUS_PERIOD"}),
        ("pie", {"groupBy": ["venue"]}),
        ("line", {"groupBy": ["cabinet"], "granularity": "HOUR", "metrics": ["plays"]}),
        ("bar", {"groupBy": ["stage"], "top": {"n": 4, "by": "plays", "others": True}}),
    ]
    for visualization, patch in views:
        state = {**base, **patch, "visualization": visualization}
        await page.goto(site.url + "/?" + str(httpx.QueryParams({"q": json.dumps(state)})))
        query = await answered(page)
        rows = (await ask(site.client, query))["arcade"]["rows"]
        assert rows, visualization
        if visualization == "kpi":
            values = await page.locator(".kpi-value").evaluate_all("els => els.map(e => Number(e.dataset.value))")
            assert values == [rows[0]["plays"], rows[0]["takings"], rows[0]["avgScore"]]
            assert await page.locator(".kpi .change").count() == 3
        else:
            option = await page.evaluate("strixChartOption(document.querySelector('.result-panel'))")
            series = option["series"]
            if visualization == "pie":
                assert [d["value"] for d in series[0]["data"]] == [r["plays"] for r in rows]
            elif visualization == "line":
                by_series: dict[str, int] = {s["name"]: sum(v or 0 for v in s["data"]) for s in series}
                expected: Counter[str] = Counter()
                for r in rows:
                    expected[r["cabinet"].replace("_", "-")] += r["plays"]
                assert by_series == dict(expected)
                assert len(option["xAxis"][0]["data"]) > 1
            else:
                assert series[0]["data"] == [r["plays"] for r in rows]
                assert option["xAxis"][0]["data"][-1] == "Others" and rows[-1]["others"] is True
                assert len(rows) == 5
        await page.locator(".result-panel").screenshot(path=screenshot_path(visualization))

    # Raw events, a page at a time: the second page holds the next 25, older ones.
    state = {**base, "visualization": "records", "timeZone": "Asia/Kolkata"}
    await page.goto(site.url + "/?" + str(httpx.QueryParams({"q": json.dumps(state)})))
    table = page.locator(".result-panel table.records tbody tr")
    await expect(table).to_have_count(25, timeout=20_000)
    # Times as wall times of the question's zone, named in the header; the instant itself on hover.
    await expect(page.locator(".result-panel table.records th", has_text="(Asia/Kolkata)")).to_have_count(1)
    stamp = table.first.locator("td[data-instant]")
    instant = await stamp.get_attribute("data-instant") or ""
    wall = datetime.fromisoformat(instant).astimezone(ZoneInfo("Asia/Kolkata")).strftime("%Y-%m-%d %H:%M:%S")
    await expect(stamp).to_have_text(wall)
    assert await stamp.get_attribute("title") == instant
    first_page = await table.first.text_content()
    await page.get_by_role("button", name="Older →").click()
    await expect(page.get_by_text("Page 2")).to_be_visible()
    await expect(table.first).not_to_have_text(first_page or "")
    await page.locator(".result-panel").screenshot(path=screenshot_path("records"))
    # The whole page, with the builder, for the README's reader.
    await page.screenshot(path=screenshot_path("explore"), full_page=True)


async def test_states_say_what_happened(site: Site, new_context: ContextFactory) -> None:
    watched = await new_context()
    page = await watched.page()
    await sign_in(page, site.url)
    await answered(page)
    # Empty: a window with no events says so (grouped: a total without groups is one row of zeros).
    state = {
        "module": "arcade",
        "visualization": "table",
        "metrics": ["plays"],
        "groupBy": ["cabinet"],
        "filters": [],
        "window": {"kind": "absolute", "start": "2020-01-01T00:00", "end": "2020-01-02T00:00"},
        "timeZone": "UTC",
        "granularity": "TOTAL",
        "compare": None,
        "top": None,
    }
    await page.goto(site.url + "/?" + str(httpx.QueryParams({"q": json.dumps(state)})))
    await expect(page.locator(".result-panel .notice-empty")).to_contain_text("No events in this window")
    # Invalid: a pie without a group is explained, and Run is disabled.
    await page.locator("input[name=group-by][value=cabinet]").uncheck()
    await page.locator(".segmented label", has_text="Pie").click()
    await expect(page.locator(".problems")).to_contain_text("A pie needs a dimension to group by.")
    await expect(page.get_by_role("button", name="Run")).to_be_disabled()


async def test_a_live_answer_follows_new_events(site: Site, new_context: ContextFactory) -> None:
    watched = await new_context()
    page = await watched.page()
    await sign_in(page, site.url)
    await page.locator("input[name=live]").check()
    query = await answered(page)
    cell = page.locator(".result-panel td[data-metric=plays]")
    before = (await ask(site.client, query))["arcade"]["rows"][0]["plays"]
    await expect(cell).to_have_attribute("data-value", str(before))
    await expect(page.locator(".freshness")).to_have_text(re.compile(r"updated \d+ s ago"))

    now = datetime.now(UTC)
    extra = [
        {**e, "play_id": f"live-{i}", "played_at": (now - timedelta(seconds=5)).isoformat()}
        for i, e in enumerate(site.events[:7])
    ]
    await post_plays(site.client, extra)
    # Pushed by the subscription after the rollup commit: no reload, no click.
    await expect(cell).to_have_attribute("data-value", str(before + 7), timeout=30_000)
    assert int(await page.locator(".freshness").get_attribute("data-updates") or 0) >= 2
    await page.locator(".result-panel").screenshot(path=screenshot_path("live"))


async def test_a_join_with_another_module_draws_both(site: Site, new_context: ContextFactory) -> None:
    watched = await new_context()
    page = await watched.page()
    await sign_in(page, site.url)
    await answered(page)
    await page.locator("input[name=group-by][value=cabinet]").check()
    await page.locator("select[name=join]").select_option("repairs")
    await page.locator("input[name=joined-metric][value=repair_cost]").check()
    await page.locator("select[name=join-kind]").select_option("LEFT")
    query = await answered(page)
    assert "arcadeWithRepairs(" in query and "joinedMetrics: [REPAIRS, REPAIR_COST], kind: LEFT" in query
    rows = (await ask(site.client, query))["arcadeWithRepairs"]["rows"]
    assert len(rows) == 3
    cells = page.locator(".result-panel td[data-metric=joined_repairs]")
    assert await cells.evaluate_all("tds => tds.map(td => Number(td.dataset.value))") == [
        r["joined"]["repairs"] for r in rows
    ]
    # ... and the joined counts are the repairs sent, in the window the answer covers.
    answer = (await ask(site.client, query))["arcadeWithRepairs"]
    lo, hi = datetime.fromisoformat(answer["start"]), datetime.fromisoformat(answer["end"])
    counted = Counter(r["cabinet"] for r in site.repairs if lo <= datetime.fromisoformat(r["repaired_at"]) < hi)
    assert {r["cabinet"].replace("_", "-"): r["joined"]["repairs"] for r in rows} == dict(counted)
    await expect(page.locator(".result-panel th", has_text="Repairs: Repair cost")).to_be_visible()
    await page.locator(".result-panel").screenshot(path=screenshot_path("join"))


SUM_OF_CELLS = """([selector, expected]) =>
  [...document.querySelectorAll(selector)].reduce((sum, td) => sum + Number(td.dataset.value || 0), 0) === expected"""


async def test_a_live_join_follows_new_events_of_either_module(site: Site, new_context: ContextFactory) -> None:
    """A joined answer is pushed again when the joined module (repairs) gets events, and when the module itself
    (arcade) does: a subscription over both, no polling. The sums are the GraphQL answer's plus what was sent."""
    watched = await new_context()
    page = await watched.page()
    await sign_in(page, site.url)
    await answered(page)
    await page.locator("input[name=group-by][value=cabinet]").check()
    await page.locator("select[name=join]").select_option("repairs")
    await page.locator("select[name=join-kind]").select_option("LEFT")
    await page.locator("input[name=live]").check()
    query = await answered(page)
    assert "arcadeWithRepairs(" in query
    rows = (await ask(site.client, query))["arcadeWithRepairs"]["rows"]
    repairs, plays = sum(r["joined"]["repairs"] or 0 for r in rows), sum(r["plays"] for r in rows)
    repaired = ".result-panel td[data-metric=joined_repairs]"
    played = ".result-panel td[data-metric=plays]"
    await page.wait_for_function(SUM_OF_CELLS, arg=[repaired, repairs], timeout=20_000)
    # Turning live on right after a form change mounts one panel: the one answering now is the one that follows.
    fresh = page.locator(".result-panel .freshness")
    following = await fresh.element_handle()
    pushed = int(await fresh.get_attribute("data-updates") or 0)
    assert pushed >= 1

    now = datetime.now(UTC)
    cabinets = sorted({r["cabinet"] for r in site.repairs})
    more_repairs = [
        {
            "repair_id": f"live-r-{i}",
            "repaired_at": (now - timedelta(seconds=5)).isoformat(),
            "cabinet": c,
            "cost": "12.50",
        }
        for i, c in enumerate(cabinets * 2)
    ]
    await post_plays(site.client, more_repairs, "repairs")
    await page.wait_for_function(SUM_OF_CELLS, arg=[repaired, repairs + len(more_repairs)], timeout=30_000)
    more_plays = [
        {**e, "play_id": f"live-p-{i}", "played_at": (now - timedelta(seconds=5)).isoformat()}
        for i, e in enumerate(site.events[:9])
    ]
    await post_plays(site.client, more_plays)
    await page.wait_for_function(SUM_OF_CELLS, arg=[played, plays + len(more_plays)], timeout=30_000)
    assert await following.evaluate("el => el.isConnected"), "the live panel was mounted again"
    assert int(await fresh.get_attribute("data-updates") or 0) >= pushed + 2
    await page.locator(".result-panel").screenshot(path=screenshot_path("join-live"))


async def test_a_predefined_query_loads_into_the_form_and_answers_as_its_own_field(
    site: Site, new_context: ContextFactory
) -> None:
    watched = await new_context()
    page = await watched.page()
    await sign_in(page, site.url)
    await answered(page)
    await page.get_by_label("Predefined query").select_option("busiest_cabinets")
    await expect(page.locator(".predefined")).to_contain_text("against the day before")
    query = await answered(page)
    assert "where: {venue: {in: [harbour, station]}}" in query and "compare: PREVIOUS_PERIOD" in query
    await expect(page.locator("input[name=metric][value=takings]")).to_be_checked()
    await expect(page.locator("input[name=group-by][value=cabinet]")).to_be_checked()
    # The predefined field's own answer (its default window, in UTC: same instants for a relative window).
    own = (await ask(site.client, "{ arcadeBusiestCabinets { rows { cabinet plays takings } } }"))[
        "arcadeBusiestCabinets"
    ]["rows"]
    option = await page.evaluate("strixChartOption(document.querySelector('.result-panel'))")
    drawn = dict(zip(option["xAxis"][0]["data"], option["series"][0]["data"], strict=True))
    assert drawn == {r["cabinet"].replace("_", "-"): r["plays"] for r in own} and sum(drawn.values()) > 0
    await page.locator(".explore").screenshot(path=screenshot_path("builder-predefined"))
