"""Events in over HTTP, numbers out over GraphQL, each compared with an independent computation.

Each test runs the whole platform in-process (every service, talking over a real NATS server, storing in
chDB), sends thousands of generated events, and checks every group and every number of several queries —
at two or more granularities, with filters and group-by — against plain Python over the same events.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from strix.generators import clickstream_events, config_events, gaming_events
from strix_config import load_catalog
from tests.conftest import CLIENT_CONFIGS, EXAMPLE_CONFIGS, PlatformFactory
from tests.support import (
    actual_rows,
    assert_same_numbers,
    camel,
    expected_rows,
    graphql,
    normalised,
    post_events,
    wait_for_count,
)

pytestmark = pytest.mark.e2e


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _query(module: str, args: str, fields: list[str]) -> str:
    return f"""{{ {module}({args}) {{ source sourceReason start end rows {{ bucket {" ".join(fields)} }} }} }}"""


async def _ask(client: Any, module: str, args: str, group_by: list[str], metrics: list[str]) -> dict[str, Any]:
    body = await graphql(client, _query(camel(module), args, [camel(x) for x in [*group_by, *metrics]]))
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"][camel(module)]
    return result


def _iso(moment: datetime) -> str:
    return moment.isoformat()


async def test_clickstream_numbers_match_an_independent_computation(start_platform: PlatformFactory) -> None:
    config = load_catalog(EXAMPLE_CONFIGS).modules["clickstream"]
    now = datetime.now(UTC)
    sent = clickstream_events(random.Random(1), 4000, now - timedelta(hours=20), now - timedelta(seconds=1))
    events = [normalised(config, e) for e in sent]
    async with start_platform(EXAMPLE_CONFIGS) as (_, client):
        await post_events(client, "clickstream", sent)
        await wait_for_count(client, "clickstream", "events", len(sent))

        # Hourly, two filters, grouped by product group: the hourly rollup answers.
        start, end = _floor_hour(now - timedelta(hours=21)), _floor_hour(now) + timedelta(hours=1)
        metrics = [
            "events",
            "customers",
            "revenue",
            "avg_price",
            "max_price",
            "items_sold",
            "conversion_rate",
            "median_price",
            "views",
            "purchases",
        ]
        result = await _ask(
            client,
            "clickstream",
            f'window: {{start: "{_iso(start)}", end: "{_iso(end)}"}}, granularity: HOUR, '
            f'where: {{action: {{in: [view, purchase]}}, country: {{neq: "JP"}}}}, groupBy: [PRODUCT_GROUP], '
            f"metrics: [{', '.join(m.upper() for m in metrics)}]",
            ["product_group"],
            metrics,
        )
        assert result["source"] == "rollup:hourly_groups"
        expected = expected_rows(
            config,
            events,
            start=start,
            end=end,
            granularity="hour",
            group_by=["product_group"],
            keep=lambda e: e["action"] in ("view", "purchase") and e["country"] != "JP",
            metrics=metrics,
        )
        assert_same_numbers(config, actual_rows(config, result, ["product_group"], metrics), expected)
        # Counts and integer sums are Long: JSON numbers without a fraction (37444, not 37444.0).
        integers = ("events", "customers", "items_sold", "views", "purchases")
        assert result["rows"] and all(type(r[camel(m)]) is int for r in result["rows"] for m in integers)
        assert any(type(r["avgPrice"]) is float for r in result["rows"])

        # Daily in UTC, an or-filter, grouped by two dimensions: the daily rollup answers.
        start, end = _floor_day(now - timedelta(days=1)), _floor_day(now) + timedelta(days=1)
        metrics = ["events", "sessions", "purchases", "revenue", "carts"]
        result = await _ask(
            client,
            "clickstream",
            f'window: {{start: "{_iso(start)}", end: "{_iso(end)}"}}, granularity: DAY, '
            f'where: {{or: [{{productGroup: {{prefix: "ga"}}}}, {{productGroup: {{eq: "books"}}}}]}}, '
            f"groupBy: [COUNTRY, DEVICE], metrics: [{', '.join(m.upper() for m in metrics)}]",
            ["country", "device"],
            metrics,
        )
        assert result["source"] == "rollup:daily_groups"
        expected = expected_rows(
            config,
            events,
            start=start,
            end=end,
            granularity="day",
            group_by=["country", "device"],
            keep=lambda e: e["product_group"].startswith("ga") or e["product_group"] == "books",
            metrics=metrics,
        )
        assert_same_numbers(config, actual_rows(config, result, ["country", "device"], metrics), expected)

        # Days in Asia/Kolkata (UTC+05:30) start on no UTC hour: only the minute rollup tiles them.
        metrics = ["events", "customers", "revenue", "conversion_rate"]
        result = await _ask(
            client,
            "clickstream",
            'window: {last: 2, unit: DAY}, granularity: DAY, timeZone: "Asia/Kolkata", groupBy: [ACTION], '
            f"metrics: [{', '.join(m.upper() for m in metrics)}]",
            ["action"],
            metrics,
        )
        assert result["source"] == "rollup:minute_overview", result["sourceReason"]
        window = datetime.fromisoformat(result["start"]), datetime.fromisoformat(result["end"])
        assert window[0].utcoffset() == timedelta(hours=5, minutes=30)
        expected = expected_rows(
            config,
            events,
            start=window[0],
            end=window[1],
            granularity="day",
            tz="Asia/Kolkata",
            group_by=["action"],
            metrics=metrics,
        )
        assert_same_numbers(config, actual_rows(config, result, ["action"], metrics), expected)

        # Hourly by product: no hourly rollup keeps products, so the raw table answers.
        start, end = _floor_hour(now - timedelta(hours=21)), _floor_hour(now) + timedelta(hours=1)
        metrics = ["events", "revenue", "max_price"]
        result = await _ask(
            client,
            "clickstream",
            f'window: {{start: "{_iso(start)}", end: "{_iso(end)}"}}, granularity: HOUR, '
            f'where: {{productGroup: {{eq: "games"}}}}, groupBy: [PRODUCT], metrics: [EVENTS, REVENUE, MAX_PRICE]',
            ["product"],
            metrics,
        )
        assert result["source"] == "raw"
        expected = expected_rows(
            config,
            events,
            start=start,
            end=end,
            granularity="hour",
            group_by=["product"],
            keep=lambda e: e["product_group"] == "games",
            metrics=metrics,
        )
        assert_same_numbers(config, actual_rows(config, result, ["product"], metrics), expected)

        # Top 5 products by revenue over whole UTC days: the daily product rollup answers.
        start, end = _floor_day(now - timedelta(days=1)), _floor_day(now) + timedelta(days=1)
        result = await _ask(
            client,
            "clickstream",
            f'window: {{start: "{_iso(start)}", end: "{_iso(end)}"}}, granularity: TOTAL, groupBy: [PRODUCT], '
            "metrics: [REVENUE, PURCHASES], orderBy: [{field: REVENUE}, {field: PRODUCT, descending: false}], limit: 5",
            ["product"],
            ["revenue", "purchases"],
        )
        assert result["source"] == "rollup:daily_products"
        expected = expected_rows(
            config,
            events,
            start=start,
            end=end,
            granularity="total",
            group_by=["product"],
            metrics=["revenue", "purchases"],
        )
        top = sorted(expected.items(), key=lambda kv: (-(kv[1]["revenue"] or 0), kv[0][1]))[:5]
        assert [(r["product"], r["revenue"], r["purchases"]) for r in result["rows"]] == [
            (key[1], values["revenue"], values["purchases"]) for key, values in top
        ]


async def test_gaming_numbers_match_an_independent_computation(start_platform: PlatformFactory) -> None:
    config = load_catalog(EXAMPLE_CONFIGS).modules["gaming"]
    now = datetime.now(UTC)
    sent = gaming_events(random.Random(2), 3000, now - timedelta(hours=30), now - timedelta(seconds=1))
    events = [normalised(config, e) for e in sent]
    async with start_platform(EXAMPLE_CONFIGS) as (_, client):
        await post_events(client, "gaming", sent, batch=700)
        await wait_for_count(client, "gaming", "rounds", len(sent))

        start, end = _floor_hour(now - timedelta(hours=31)), _floor_hour(now) + timedelta(hours=1)
        metrics = ["rounds", "players", "bets", "rewards", "rtp", "win_rate", "max_reward", "avg_bet", "p95_duration"]
        result = await _ask(
            client,
            "gaming",
            f'window: {{start: "{_iso(start)}", end: "{_iso(end)}"}}, granularity: HOUR, '
            f"where: {{currency: {{in: [EUR, USD]}}}}, groupBy: [GAME, REWARD_TYPE], "
            f"metrics: [{', '.join(m.upper() for m in metrics)}]",
            ["game", "reward_type"],
            metrics,
        )
        assert result["source"] == "rollup:hourly_games"
        expected = expected_rows(
            config,
            events,
            start=start,
            end=end,
            granularity="hour",
            group_by=["game", "reward_type"],
            keep=lambda e: e["currency"] in ("EUR", "USD"),
            metrics=metrics,
        )
        assert_same_numbers(config, actual_rows(config, result, ["game", "reward_type"], metrics), expected)

        # Daily by seed (a 64-bit integer dimension), filtered on a range of seeds.
        start, end = _floor_day(now - timedelta(days=2)), _floor_day(now) + timedelta(days=1)
        metrics = ["rounds", "bets", "rewards", "rtp"]
        threshold = 8 * 1_000_000_007
        result = await _ask(
            client,
            "gaming",
            f'window: {{start: "{_iso(start)}", end: "{_iso(end)}"}}, granularity: DAY, '
            f"where: {{seed: {{gt: {threshold}}}}}, groupBy: [SEED, CURRENCY], metrics: [ROUNDS, BETS, REWARDS, RTP]",
            ["seed", "currency"],
            metrics,
        )
        assert result["source"] == "rollup:daily_seeds"
        expected = expected_rows(
            config,
            events,
            start=start,
            end=end,
            granularity="day",
            group_by=["seed", "currency"],
            keep=lambda e: e["seed_id"] > threshold,
            metrics=metrics,
        )
        assert_same_numbers(config, actual_rows(config, result, ["seed", "currency"], metrics), expected)


async def test_a_client_config_strix_never_saw_works_without_code_changes(start_platform: PlatformFactory) -> None:
    catalog = load_catalog(CLIENT_CONFIGS)
    config = catalog.modules["fleet"]
    now = datetime.now(UTC)
    sent = config_events(random.Random(3), config, 2500, now - timedelta(hours=10), now - timedelta(seconds=1))
    events = [normalised(config, e) for e in sent]
    async with start_platform(CLIENT_CONFIGS) as (_, client):
        await post_events(client, "fleet", sent)
        await wait_for_count(client, "fleet", "trips", len(sent))
        metrics = list(config.metrics)
        for granularity, group_by, source in [
            ("hour", ["depot", "on_time"], "rollup:hourly_depots"),
            ("day", ["zone"], "rollup:daily_zones"),
        ]:
            unit = "hour" if granularity == "hour" else "day"
            start = _floor_hour(now - timedelta(hours=11)) if unit == "hour" else _floor_day(now - timedelta(days=1))
            end = _floor_hour(now) + timedelta(hours=1) if unit == "hour" else _floor_day(now) + timedelta(days=1)
            result = await _ask(
                client,
                "fleet",
                f'window: {{start: "{_iso(start)}", end: "{_iso(end)}"}}, granularity: {granularity.upper()}, '
                f"where: {{fuelType: {{notIn: [hybrid]}}}}, groupBy: [{', '.join(g.upper() for g in group_by)}], "
                f"metrics: [{', '.join(m.upper() for m in metrics)}]"
                if granularity == "hour"
                else f'window: {{start: "{_iso(start)}", end: "{_iso(end)}"}}, granularity: DAY, '
                f"where: {{zone: {{gte: 3}}}}, groupBy: [ZONE], metrics: [{', '.join(m.upper() for m in metrics)}]",
                group_by,
                metrics,
            )
            assert result["source"] == source
            keep = (lambda e: e["fuel_type"] != "hybrid") if granularity == "hour" else (lambda e: e["zone"] >= 3)
            expected = expected_rows(
                config,
                events,
                start=start,
                end=end,
                granularity=granularity,
                group_by=group_by,
                keep=keep,
                metrics=metrics,
            )
            assert_same_numbers(config, actual_rows(config, result, group_by, metrics), expected)

        # No raw table and no rollup keeping vehicles: the query is refused with the reason.
        body = await graphql(
            client,
            "{ fleet(window: {last: 1, unit: DAY}, metrics: [TRIPS], groupBy: [ZONE, FUEL_TYPE]) { rows { trips } } }",
        )
        assert "raw events are not kept" in body["errors"][0]["message"]
