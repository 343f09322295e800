"""Hostile and careless clients of the query side (issue 9, reproductions 5 to 7), against the whole platform:
nothing a client sends blocks the process, errors name what to fix and never leak internals, joins filter both
sides exactly (numbers checked against plain Python over the events sent), and the demo's rate is bounded."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from strix.demo import MAX_RATE, MIN_RATE, DemoGenerator, demo_router, mount_demo
from strix_clickhouse.columns import events_table, rollup_table
from strix_config import load_catalog
from strix_runtime.callers import CallerVerifier
from tests.conftest import EXAMPLE_CONFIGS, PlatformFactory
from tests.support import api_key, bearer, expected_rows, graphql, normalised, post_events, wait_for_count

pytestmark = pytest.mark.e2e

CLICKS_FIELD = "clickstream(window: {last: 2, unit: DAY}, granularity: TOTAL, metrics: [EVENTS]) { rows { events } }"


def doubling(n: int) -> str:
    """824 bytes at n=30 that stand for 2^30 fields: each fragment spreads the next twice."""
    parts = ["query { ...F0 }"]
    parts += [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(n)]
    parts.append(f"fragment F{n} on Query {{ __typename }}")
    return " ".join(parts)


async def test_a_fragment_bomb_is_refused_at_once_while_health_answers(start_platform: PlatformFactory) -> None:
    async with start_platform(EXAMPLE_CONFIGS) as (_, client):
        health_times: list[float] = []
        done = asyncio.Event()

        async def poll_health() -> None:
            while not done.is_set():
                started = time.perf_counter()
                response = await client.get("/healthz")
                health_times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
                await asyncio.sleep(0.01)

        poller = asyncio.create_task(poll_health())
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        body = await graphql(client, doubling(30))
        elapsed = time.perf_counter() - started
        done.set()
        await poller
        print(f"n=30 answered in {elapsed * 1000:.0f} ms; /healthz at most {max(health_times) * 1000:.0f} ms")
        assert body["data"] is None
        (error,) = body["errors"]
        assert "the document asks for over 2000 fields once its fragments are spread" in error["message"]
        assert error["extensions"]["argument"] == "query"
        assert health_times

        # A dashboard's document with a few fragments is served as before.
        body = await graphql(
            client,
            "query { ...Clicks } fragment Clicks on Query { "
            + CLICKS_FIELD.replace("{ rows { events } }", "{ ...Rows }")
            + " } fragment Rows on ClickstreamResult { source rows { events } }",
        )
        assert "errors" not in body, body
        assert body["data"]["clickstream"]["rows"] == [{"events": 0}]


async def test_oversized_variables_are_refused_naming_where_and_the_limit(start_platform: PlatformFactory) -> None:
    query = (
        "query($w: ClickstreamWhere) { clickstream(window: {last: 1, unit: DAY}, metrics: [EVENTS], where: $w) "
        "{ rows { events } } }"
    )
    async with start_platform(EXAMPLE_CONFIGS) as (_, client):
        where = '{"or": [' * 500 + '{"device": {"eq": "mobile"}}' + "]}" * 500
        response = await client.post(
            "/graphql",
            content=f'{{"query": {json.dumps(query)}, "variables": {{"w": {where}}}}}',
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 400, response.text
        assert "a `where` at most 8 levels of and/or" in response.text

        nested: dict[str, Any] = {"device": {"eq": "mobile"}}
        for _ in range(20):
            nested = {"or": [nested]}
        body = await graphql(client, query, {"w": nested})
        assert body["errors"][0]["message"].startswith("w: where nests more than 8 levels of and/or")

        started = time.perf_counter()
        body = await graphql(client, query, {"w": {"country": {"in": [f"C{i}" for i in range(500_000)]}}})
        print(f"an `in` of 500 000 values refused in {(time.perf_counter() - started) * 1000:.0f} ms")
        assert "where has an `in` list of 500000 values, at most 10000" in body["errors"][0]["message"]

        started = time.perf_counter()
        body = await graphql(client, query, {"w": {"or": [{"country": {"eq": f"C{i}"}} for i in range(50_000)]}})
        print(f"an `or` of 50 000 branches refused in {(time.perf_counter() - started) * 1000:.0f} ms")
        assert "where has 50000 branches in one and/or, at most 100" in body["errors"][0]["message"]


async def test_errors_never_carry_clickhouse_text_or_paths(start_platform: PlatformFactory) -> None:
    async with start_platform(EXAMPLE_CONFIGS) as (platform, client):
        body = await graphql(
            client,
            "{ clickstream(window: {last: 1, unit: DAY}, metrics: [EVENTS], "
            + f'timeZone: "{"Europe/" + "x" * 400}") {{ source }} }}',
        )
        (error,) = body["errors"]
        assert error["extensions"]["argument"] == "timeZone"
        assert "/usr" not in json.dumps(body) and "zoneinfo" not in json.dumps(body)

        # The store loses the module's tables under the running service: ClickHouse's own error text (table
        # names, codes, the statement) must stay in the log.
        assert platform.clickhouse is not None
        catalog = load_catalog(EXAMPLE_CONFIGS)
        database = platform.options.clickhouse_database
        for table in [
            events_table("clickstream"),
            *(rollup_table("clickstream", r) for r in catalog.modules["clickstream"].rollups),
        ]:
            await platform.clickhouse.command(f"DROP TABLE IF EXISTS `{database}`.`{table}`")
        response = await client.post(
            "/graphql",
            json={
                "query": "{ " + CLICKS_FIELD.replace("granularity: TOTAL,", "granularity: TOTAL, fresh: true,") + " }"
            },
            headers={"X-Request-ID": "hostile-7"},
        )
        assert response.status_code == 200
        (error,) = response.json()["errors"]
        assert error["message"] == "internal error (request id hostile-7)", error
        assert error["extensions"]["requestId"] == "hostile-7"
        for leak in ("DB::Exception", "Code:", "clickstream_", "UNKNOWN_TABLE", database):
            assert leak not in response.text


async def test_a_query_past_its_deadline_says_what_to_narrow(start_platform: PlatformFactory) -> None:
    async with start_platform(EXAMPLE_CONFIGS) as (platform, client):
        platform.services["query"].deadline = 0.001  # the service's own setting, as run_query_service takes it
        body = await graphql(client, "{ " + CLICKS_FIELD + " }")
        (error,) = body["errors"]
        assert error["message"].startswith("window: the query took longer than 0.001 s")
        assert "narrow the window" in error["extensions"]["hint"]


# --- joins ----------------------------------------------------------------------------------------------------

JOIN_CONFIGS = Path(__file__).resolve().parent / "fixtures" / "join-configs"


def _events(rng: random.Random, now: datetime, count: int, fields: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return [
        {
            "ts": (now - timedelta(seconds=rng.randrange(1, 40 * 3600))).isoformat(),
            **{name: rng.choice(values) for name, values in fields.items()},
        }
        for _ in range(count)
    ]


async def test_join_filters_apply_to_both_sides_and_a_missing_side_is_null(start_platform: PlatformFactory) -> None:
    catalog = load_catalog(JOIN_CONFIGS)
    shop_config, ads_config = catalog.modules["shop"], catalog.modules["ads"]
    now = datetime.now(UTC)
    rng = random.Random(9)
    devices = ["mobile", "desktop", "tablet"]
    shop = _events(rng, now, 400, {"market": ["FI", "SE", "DE"], "device": devices, "action": ["view", "buy"]})
    ads = _events(rng, now, 300, {"country": ["FI", "SE", "NO"], "device": devices, "spend": ["1.25", "0.40", "3.10"]})
    async with start_platform(JOIN_CONFIGS) as (_, client):
        await post_events(client, "shop", shop)
        await post_events(client, "ads", ads)
        await wait_for_count(client, "shop", "events", len(shop))
        await wait_for_count(client, "ads", "reports", len(ads))
        start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
        end = start + timedelta(days=3)
        window = f'window: {{start: "{start.isoformat()}", end: "{end.isoformat()}"}}'
        body = await graphql(
            client,
            f"{{ shopWithAds({window}, granularity: DAY, kind: FULL, groupBy: [MARKET], metrics: [EVENTS], "
            'joinedMetrics: [SPEND, REPORTS], where: {device: {eq: "mobile"}, or: [{market: {eq: "FI"}}, '
            '{market: {eq: "NO"}}, {market: {eq: "DE"}}]}) { rows { bucket market events joined { spend reports } } } }',
        )
        assert "errors" not in body, body
        chosen = {"FI", "NO", "DE"}
        clicks = [normalised(shop_config, e) for e in shop]
        spends = [normalised(ads_config, e) for e in ads]
        left = expected_rows(
            shop_config,
            clicks,
            start=start,
            end=end,
            granularity="day",
            group_by=["market"],
            keep=lambda e: e["device"] == "mobile" and e["market"] in chosen,
            metrics=["events"],
        )
        right = expected_rows(
            ads_config,
            spends,
            start=start,
            end=end,
            granularity="day",
            group_by=["country"],
            keep=lambda e: e["device"] == "mobile" and e["country"] in chosen,
            metrics=["spend", "reports"],
        )
        unfiltered = expected_rows(
            ads_config,
            spends,
            start=start,
            end=end,
            granularity="day",
            group_by=["country"],
            keep=lambda e: e["country"] in chosen,
            metrics=["spend", "reports"],
        )
        assert left.keys() - right.keys() and right.keys() - left.keys(), "the data must leave each side unmatched"
        assert any(unfiltered[k] != right[k] for k in right), "the device filter must change the joined numbers"
        got = {(datetime.fromisoformat(r["bucket"]), r["market"]): r for r in body["data"]["shopWithAds"]["rows"]}
        assert set(got) == left.keys() | right.keys()
        for key, row in got.items():
            mine = left.get(key, {"events": None})
            theirs = right.get(key, {"spend": None, "reports": None})
            assert row["events"] == mine["events"], (key, row)
            assert row["joined"] == theirs, (key, row)  # null, not 0, where the side has no row

        body = await graphql(
            client,
            f'{{ shopWithAds({window}, metrics: [EVENTS], joinedMetrics: [SPEND], where: {{action: {{eq: "buy"}}}}) '
            "{ rows { events } } }",
        )
        (error,) = body["errors"]
        assert error["message"].startswith("where: ads has no dimension 'action', so the joined side cannot apply")
        assert (
            error["extensions"]["hint"]
            == "a join filters both sides alike: filter on market or device, or ask shop on its own"
        )


# --- the demo -------------------------------------------------------------------------------------------------


async def test_demo_rates_out_of_range_are_refused_and_the_demo_keeps_running(
    start_platform: PlatformFactory,
) -> None:
    async with start_platform(EXAMPLE_CONFIGS) as (platform, client):
        assert platform.app is not None
        url = f"{platform.http_url}/v1/modules/clickstream/events"
        producer = bearer(await api_key(platform.nc, ["write"]))
        generator = DemoGenerator(url, rate=20, backfill_hours=0, headers=producer)
        mount_demo(platform.app, demo_router(generator, CallerVerifier(platform.nc)))
        try:
            response = await client.post("/demo/start")
            assert response.status_code == 200 and response.json()["running"]
            for rate in ("1e9", "nan", "-1", "inf", "0", "5000.5"):
                response = await client.post("/demo/start", params={"rate": rate})
                assert response.status_code == 422, (rate, response.text)
                answer = response.json()
                assert answer["argument"] == "rate"
                assert f"{MIN_RATE:g}..{MAX_RATE:g}" in answer["message"], answer
            status = (await client.get("/demo/status")).json()
            assert status["running"] and status["rate"] == 20
            sent = status["sent"]
            deadline = time.monotonic() + 10
            while (await client.get("/demo/status")).json()["sent"] <= sent:
                assert time.monotonic() < deadline, "the demo stopped sending"
                await asyncio.sleep(0.2)
            response = await client.post("/demo/start", params={"rate": "50"})
            assert response.status_code == 200 and response.json()["rate"] == 50
        finally:
            await generator.stop()
        # Every event the demo sent is counted before the platform stops (no insert races the teardown).
        await wait_for_count(client, "clickstream", "events", generator.sent)
