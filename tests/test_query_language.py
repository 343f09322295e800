"""The query language an analyst lives in — top-N with others, comparisons, continuous series, joins of every
kind, predefined queries — each answer checked against plain Python over the events that were sent."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from strix.generators import campaign_events, clickstream_events
from strix_config import load_catalog
from tests.conftest import EXAMPLE_CONFIGS, PlatformFactory
from tests.support import (
    bucket_of,
    camel,
    expected_rows,
    graphql,
    metric_value,
    normalised,
    post_events,
    wait_for_count,
)

pytestmark = pytest.mark.e2e

CATALOG = load_catalog(EXAMPLE_CONFIGS)
CLICKS = CATALOG.modules["clickstream"]
ADS = CATALOG.modules["campaigns"]


def _day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _close(got: float | None, want: float | None) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return abs(got - want) <= 1e-9 * max(1.0, abs(want))


async def _query(client: Any, text: str, field: str) -> dict[str, Any]:
    body = await graphql(client, "{ " + text + " }")
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"][field]
    return result


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


async def _load(client: Any, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    clicks = clickstream_events(random.Random(11), 3000, now - timedelta(hours=60), now - timedelta(seconds=1))
    ads = campaign_events(random.Random(12), 800, now - timedelta(hours=60), now - timedelta(seconds=1))
    await post_events(client, "clickstream", clicks)
    await post_events(client, "campaigns", ads)
    await wait_for_count(client, "clickstream", "events", len(clicks))
    ads_sum = sum(e["impressions"] for e in ads)
    await wait_for_count(client, "campaigns", "impressions", ads_sum)
    return [normalised(CLICKS, e) for e in clicks], [normalised(ADS, e) for e in ads]


async def test_top_n_others_comparison_and_fill(start_platform: PlatformFactory, now: datetime) -> None:
    async with start_platform(EXAMPLE_CONFIGS) as (_, client):
        clicks, _ = await _load(client, now)
        start, end = _day(now) - timedelta(days=1), _day(now) + timedelta(days=1)
        window = f'window: {{start: "{start.isoformat()}", end: "{end.isoformat()}"}}'

        # Top 3 product groups by revenue over the window, hour by hour, the rest folded into "others".
        result = await _query(
            client,
            f"clickstream({window}, granularity: HOUR, groupBy: [PRODUCT_GROUP], metrics: [REVENUE, EVENTS, CUSTOMERS],"
            " top: {n: 3, by: REVENUE}) { rows { bucket productGroup others revenue events customers } }",
            "clickstream",
        )
        in_window = [e for e in clicks if start <= e["ts"] < end]
        totals: dict[str, float] = defaultdict(float)
        for e in in_window:
            totals[e["product_group"]] += float(metric_value(CLICKS, "revenue", [e]) or 0)
        top = sorted(totals, key=lambda g: (-totals[g], g))[:3]
        groups: dict[tuple[datetime | None, str | None], list[dict[str, Any]]] = defaultdict(list)
        for e in in_window:
            group = e["product_group"] if e["product_group"] in top else None
            groups[(bucket_of(e["ts"], "hour", "UTC"), group)].append(e)
        got = {(datetime.fromisoformat(r["bucket"]), r["productGroup"]): r for r in result["rows"]}
        assert set(got) == set(groups)
        assert all(r["others"] == (r["productGroup"] is None) for r in result["rows"])
        assert any(r["others"] for r in result["rows"])
        for key, events in groups.items():
            for metric in ("revenue", "events", "customers"):  # others' customers: a merged uniq, not a sum
                assert _close(got[key][metric], metric_value(CLICKS, metric, events)), (key, metric)

        # Daily with comparison to the previous period, zero-filled for a rarely bought group.
        result = await _query(
            client,
            f"clickstream({window}, granularity: DAY, groupBy: [COUNTRY], metrics: [PURCHASES, REVENUE, MAX_PRICE],"
            ' where: {productGroup: {eq: "toys"}, action: {eq: purchase}}, compare: PREVIOUS_PERIOD, fill: true)'
            " { compareStart compareEnd rows { bucket country purchases revenue maxPrice"
            " previous { purchases revenue maxPrice } change { purchases revenue } changeRatio { purchases revenue } } }",
            "clickstream",
        )
        assert datetime.fromisoformat(result["compareStart"]) == start - timedelta(days=2)
        assert datetime.fromisoformat(result["compareEnd"]) == start

        def keep(e: dict[str, Any]) -> bool:
            return e["product_group"] == "toys" and e["action"] == "purchase"

        metrics = ["purchases", "revenue", "max_price"]
        current = expected_rows(
            CLICKS, clicks, start=start, end=end, granularity="day", group_by=["country"], keep=keep, metrics=metrics
        )
        earlier = expected_rows(
            CLICKS,
            clicks,
            start=start - timedelta(days=2),
            end=start,
            granularity="day",
            group_by=["country"],
            keep=keep,
            metrics=metrics,
        )
        countries = {k[1] for k in current}
        assert len(result["rows"]) == 2 * len(countries)  # every day for every country seen: a continuous series
        for row in result["rows"]:
            bucket = datetime.fromisoformat(row["bucket"])
            now_values = current.get((bucket, row["country"]), {"purchases": 0.0, "revenue": 0.0, "max_price": None})
            before = earlier.get(
                (bucket - timedelta(days=2), row["country"]), {"purchases": 0.0, "revenue": 0.0, "max_price": None}
            )
            for metric in metrics:
                assert _close(row[camel(metric)], now_values[metric]), (row, metric)
                assert _close(row["previous"][camel(metric)], before[metric]), (row, metric)
            for metric in ("purchases", "revenue"):
                change = (now_values[metric] or 0) - (before[metric] or 0)
                assert _close(row["change"][metric], change)
                ratio = change / before[metric] if before[metric] else None
                assert _close(row["changeRatio"][metric], ratio)

        # Hourly, no fill: rows kept per bucket with their comparison (the bucket cache's path), both periods
        # read at once when they touch; and a week-earlier comparison over 8 days, whose periods overlap.
        hour = now.replace(minute=0, second=0, microsecond=0)
        for compare, length, lag in (
            ("PREVIOUS_PERIOD", timedelta(hours=24), timedelta(hours=24)),
            ("WEEK_EARLIER", timedelta(days=8), timedelta(days=7)),
        ):
            h_start = hour - length
            result = await _query(
                client,
                f'clickstream(window: {{start: "{h_start.isoformat()}", end: "{hour.isoformat()}"}}, granularity: HOUR, '
                f"groupBy: [COUNTRY], metrics: [EVENTS, CUSTOMERS], compare: {compare}) "
                "{ rows { bucket country events customers previous { events customers } } }",
                "clickstream",
            )
            names = ["events", "customers"]
            current = expected_rows(
                CLICKS, clicks, start=h_start, end=hour, granularity="hour", group_by=["country"], metrics=names
            )
            earlier = expected_rows(
                CLICKS,
                clicks,
                start=h_start - lag,
                end=hour - lag,
                granularity="hour",
                group_by=["country"],
                metrics=names,
            )
            got = {(datetime.fromisoformat(r["bucket"]), r["country"]): r for r in result["rows"]}
            assert set(got) == set(current), compare
            assert any(row["previous"]["events"] for row in got.values()) == (compare == "PREVIOUS_PERIOD")
            for (bucket, country), row in got.items():
                before = earlier.get((bucket - lag, country), {"events": 0.0, "customers": 0.0})
                for metric in names:
                    assert _close(row[metric], current[(bucket, country)][metric]), (compare, row, metric)
                    assert _close(row["previous"][metric], before[metric]), (compare, row, metric)


@pytest.mark.parametrize("kind", ["INNER", "LEFT", "RIGHT", "FULL"])
async def test_joins_of_every_kind(start_platform: PlatformFactory, now: datetime, kind: str) -> None:
    async with start_platform(EXAMPLE_CONFIGS) as (_, client):
        clicks, ads = await _load(client, now)
        start, end = _day(now) - timedelta(days=1), _day(now) + timedelta(days=1)
        result = await _query(
            client,
            f'clickstreamWithCampaigns(window: {{start: "{start.isoformat()}", end: "{end.isoformat()}"}}, '
            f"granularity: DAY, kind: {kind}, groupBy: [PRODUCT_GROUP, COUNTRY], metrics: [REVENUE, VIEWS], "
            'joinedMetrics: [SPEND, CLICKS, CTR], where: {country: {in: ["FI", "SE", "DE", "JP", "NO"]}}) '
            "{ source joinedSource rows { bucket productGroup country revenue views joined { spend clicks ctr } } }",
            "clickstreamWithCampaigns",
        )
        assert result["source"] == "rollup:daily_groups" and result["joinedSource"].startswith("rollup:")
        chosen = {"FI", "SE", "DE", "JP", "NO"}
        left = expected_rows(
            CLICKS,
            clicks,
            start=start,
            end=end,
            granularity="day",
            group_by=["product_group", "country"],
            keep=lambda e: e["country"] in chosen,
            metrics=["revenue", "views"],
        )
        right = expected_rows(
            ADS,
            ads,
            start=start,
            end=end,
            granularity="day",
            group_by=["product_group", "country"],
            keep=lambda e: e["country"] in chosen,
            metrics=["spend", "clicks", "ctr"],
        )
        keys = {
            "INNER": left.keys() & right.keys(),
            "LEFT": left.keys(),
            "RIGHT": right.keys(),
            "FULL": left.keys() | right.keys(),
        }[kind]
        assert left.keys() - right.keys() and right.keys() - left.keys(), "the data must exercise unmatched rows"
        got = {(datetime.fromisoformat(r["bucket"]), r["productGroup"], r["country"]): r for r in result["rows"]}
        assert set(got) == set(keys)
        for key in keys:
            row = got[key]
            # A missing side is null (no row matched), not a count of 0.
            mine = left.get(key, {"revenue": None, "views": None})
            theirs = right.get(key, {"spend": None, "clicks": None, "ctr": None})
            assert _close(row["revenue"], mine["revenue"]) and _close(row["views"], mine["views"])
            for metric in ("spend", "clicks", "ctr"):
                assert _close(row["joined"][metric], theirs[metric]), (key, metric)


async def test_predefined_queries_and_presets(start_platform: PlatformFactory, now: datetime) -> None:
    async with start_platform(EXAMPLE_CONFIGS) as (_, client):
        clicks, _ = await _load(client, now)
        result = await _query(
            client,
            'clickstreamConversionByCountry(timeZone: "Europe/Helsinki") { start end source rows { bucket country views '
            "purchases conversionRate } }",
            "clickstreamConversionByCountry",
        )
        start, end = datetime.fromisoformat(result["start"]), datetime.fromisoformat(result["end"])
        assert end - start >= timedelta(days=7) and start.utcoffset() in (timedelta(hours=2), timedelta(hours=3))
        expected = expected_rows(
            CLICKS,
            clicks,
            start=start,
            end=end,
            granularity="day",
            tz="Europe/Helsinki",
            group_by=["country"],
            metrics=["views", "purchases", "conversion_rate"],
        )
        got = {(datetime.fromisoformat(r["bucket"]), r["country"]): r for r in result["rows"]}
        assert set(got) == set(expected)
        for key, values in expected.items():
            for metric, value in values.items():
                assert _close(got[key][camel(metric)], value), (key, metric)
        rates = [r["conversionRate"] for r in result["rows"] if r["conversionRate"] is not None]
        assert rates == sorted(rates, reverse=True)  # order_by from the config

        result = await _query(
            client,
            'clickstream(window: {preset: TODAY}, timeZone: "Asia/Tokyo", granularity: TOTAL, metrics: [EVENTS]) '
            "{ start end rows { events } }",
            "clickstream",
        )
        start, end = datetime.fromisoformat(result["start"]), datetime.fromisoformat(result["end"])
        local_now = now.astimezone(start.tzinfo)
        assert (start.hour, start.minute, end - start) == (0, 0, timedelta(days=1))
        assert start <= local_now < end
        want = sum(1 for e in clicks if start <= e["ts"] < end)
        assert result["rows"][0]["events"] == want


async def test_record_pages_walk_every_matching_event_once(start_platform: PlatformFactory, now: datetime) -> None:
    async with start_platform(EXAMPLE_CONFIGS) as (_, client):
        clicks, _ = await _load(client, now)
        start, end = now - timedelta(hours=30), now
        window = f'window: {{start: "{start.isoformat()}", end: "{end.isoformat()}"}}'
        wanted = sorted(
            (e for e in clicks if start <= e["ts"] < end and e["action"] == "purchase" and e["country"] != "JP"),
            key=lambda e: e["ts"],
            reverse=True,
        )
        seen: list[dict[str, Any]] = []
        after = "null"
        pages = 0
        while True:
            page = await _query(
                client,
                f'clickstreamRecords({window}, where: {{action: {{eq: purchase}}, country: {{neq: "JP"}}}}, '
                f"first: 20, after: {after}) {{ endCursor hasNextPage records {{ eventId ts price quantity device }} }}",
                "clickstreamRecords",
            )
            seen.extend(page["records"])
            pages += 1
            if not page["hasNextPage"]:
                break
            after = f'"{page["endCursor"]}"'
        assert pages == -(-len(wanted) // 20) and pages > 2
        assert [r["eventId"] for r in seen] == [e["event_id"] for e in wanted]
        by_id = {e["event_id"]: e for e in wanted}
        for record in seen:
            event = by_id[record["eventId"]]
            # Decimals are Float everywhere: the JSON number has the exact digits (up to 15 significant ones).
            assert Decimal(repr(record["price"])) == event["price"]
            assert (record["quantity"], record["device"]) == (event["quantity"], event["device"])
            assert datetime.fromisoformat(record["ts"]) == event["ts"]

        body = await graphql(
            client, '{ clickstreamRecords(window: {last: 1, unit: DAY}, after: "bogus") { hasNextPage } }'
        )
        assert body["errors"][0]["extensions"]["argument"] == "after"
