"""Approximate distinct counts (`uniq_approx`) end to end: 20 000 distinct visitors over four hours sent over
HTTP, asked over GraphQL per hour, in total, against the previous period, ranked top-N, filtered by a query and
by a caller's row filter; every answer within the documented error of the exact count computed here in Python
from the same events. And what a restart does when a stored `uniq` becomes `uniq_approx`.

The bound: three standard errors, 3 x 1.04/sqrt(2^precision) (4.9 % at precision 12, 2.4 % at 14). The sketch
hashes deterministically, so a failure here is an answer outside the documented error, not bad luck.
Module config: tests/fixtures/approx-configs/visits.yaml."""

from __future__ import annotations

import math
import random
import re
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from strix.platform import Platform, PlatformOptions, run_platform
from strix_clickhouse import connect
from strix_clickhouse.ddl import StateConflictError
from strix_config import load_catalog
from strix_runtime.natsserver import NatsServer
from tests.conftest import PlatformFactory
from tests.support import api_key, bearer, graphql, post_events, signed_in_client, wait_for_count

pytestmark = pytest.mark.e2e

CONFIGS = Path(__file__).resolve().parent / "fixtures" / "approx-configs"
COUNTRIES = {"de": 0.45, "fr": 0.25, "it": 0.15, "es": 0.10, "pt": 0.05}  # far apart: a top-N the error cannot swap
CHANNELS = ("paid", "organic", "social")
Event = dict[str, Any]


def bound(precision: int) -> float:
    """The relative error the tests accept: three standard errors of the sketch."""
    return 3 * 1.04 / math.sqrt(2**precision)


def visits(rng: random.Random, start: datetime, hours: int, visitors: int) -> list[Event]:
    """`visitors` distinct visitors, each with its own country and channel, visiting 1-3 times anywhere in the
    `hours` from `start`; ids look like real ones (not a sequence a hash might favour)."""
    events = []
    for n in range(visitors):
        visitor = f"v-{rng.getrandbits(64):016x}-{n}"
        country = rng.choices(list(COUNTRIES), weights=list(COUNTRIES.values()))[0]
        channel = rng.choice(CHANNELS)
        for _ in range(rng.randint(1, 3)):
            ts = start + timedelta(seconds=rng.uniform(0, hours * 3600 - 1))
            events.append({"ts": ts.isoformat(), "visitor": visitor, "country": country, "channel": channel})
    rng.shuffle(events)
    return events


def distinct(events: Iterable[Event], keep: Callable[[Event], bool] = lambda e: True) -> int:
    found = {e["visitor"] for e in events if keep(e)}
    assert found, "an empty comparison proves nothing"
    return len(found)


def within(got: int, exact: int, precision: int = 12) -> bool:
    return abs(got - exact) <= bound(precision) * exact


def hour_of(event: Event) -> datetime:
    return datetime.fromisoformat(event["ts"]).astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def ask(client: httpx.AsyncClient, text: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": "{ " + text + " }"}, headers=headers or {})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["visits"]
    return result


def window(start: datetime, end: datetime) -> str:
    return f'window: {{start: "{start.isoformat()}", end: "{end.isoformat()}"}}'


async def test_approximate_distinct_counts_stay_within_their_documented_error(start_platform: PlatformFactory) -> None:
    origin = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=4)
    events = visits(random.Random(13), origin, 4, 20_000)
    end = origin + timedelta(hours=4)
    async with start_platform(CONFIGS) as (platform, client):
        await post_events(client, "visits", events, batch=2000)
        await wait_for_count(client, "visits", "visits", len(events))

        # Per hour and in total, at both precisions, and the conditional one.
        for granularity in ("HOUR", "TOTAL"):
            answer = await ask(
                client,
                f"visits({window(origin, end)}, granularity: {granularity}, "
                "metrics: [VISITS, VISITORS, VISITORS_FINE, PAID_VISITORS]) "
                "{ rows { bucket visits visitors visitorsFine paidVisitors } }",
            )
            rows = answer["rows"]
            assert len(rows) == (4 if granularity == "HOUR" else 1)
            for row in rows:
                bucket = datetime.fromisoformat(row["bucket"]) if row["bucket"] else None

                def here(e: Event, bucket: datetime | None = bucket) -> bool:
                    return bucket is None or hour_of(e) == bucket

                assert row["visits"] == sum(1 for e in events if here(e))
                exact = distinct(events, here)
                assert exact > 5000 and isinstance(row["visitors"], int)
                assert within(row["visitors"], exact), (bucket, row["visitors"], exact)
                assert within(row["visitorsFine"], exact, 14), (bucket, row["visitorsFine"], exact)
                paid = distinct([e for e in events if here(e)], lambda e: e["channel"] == "paid")
                assert within(row["paidVisitors"], paid), (bucket, row["paidVisitors"], paid)
        total = distinct(events)
        assert total == 20_000

        # The last two hours against the two before them.
        middle = origin + timedelta(hours=2)
        answer = await ask(
            client,
            f"visits({window(middle, end)}, granularity: TOTAL, metrics: [VISITORS], compare: PREVIOUS_PERIOD) "
            "{ rows { visitors previous { visitors } change { visitors } } }",
        )
        [row] = answer["rows"]
        later = distinct(events, lambda e: hour_of(e) >= middle)
        earlier = distinct(events, lambda e: hour_of(e) < middle)
        assert within(row["visitors"], later) and within(row["previous"]["visitors"], earlier), (row, later, earlier)
        assert row["change"]["visitors"] == row["visitors"] - row["previous"]["visitors"]

        # Top 3 countries by distinct visitors, hour by hour, the rest folded into others: the exact top 3,
        # and the rows in the order of the answer's own numbers.
        answer = await ask(
            client,
            f"visits({window(origin, end)}, granularity: TOTAL, groupBy: [COUNTRY], metrics: [VISITORS], "
            "top: {n: 3, by: VISITORS}) { rows { country others visitors } }",
        )
        ranked = [r for r in answer["rows"] if not r["others"]]
        assert [r["country"] for r in ranked] == ["de", "fr", "it"]
        assert [r["visitors"] for r in ranked] == sorted((r["visitors"] for r in ranked), reverse=True)
        by_country: dict[str, list[Event]] = defaultdict(list)
        for e in events:
            by_country[e["country"]].append(e)
        for row in ranked:
            assert within(row["visitors"], distinct(by_country[row["country"]])), row
        [others] = [r for r in answer["rows"] if r["others"]]
        assert within(others["visitors"], distinct(events, lambda e: e["country"] in ("es", "pt")))

        # A query filter, then a partner whose row filter shows only its channel, grouped by country.
        answer = await ask(
            client,
            f'visits({window(origin, end)}, granularity: TOTAL, metrics: [VISITORS], where: {{channel: {{eq: "social"}}}})'
            " { rows { visitors } }",
        )
        assert within(answer["rows"][0]["visitors"], distinct(events, lambda e: e["channel"] == "social"))
        partner = bearer(await api_key(platform.nc, ["read"], roles=["partner"], attributes={"channel": ["organic"]}))
        answer = await ask(
            client,
            f"visits({window(origin, end)}, granularity: TOTAL, groupBy: [COUNTRY], metrics: [VISITORS, VISITS]) "
            "{ rows { country visitors visits } }",
            partner,
        )
        organic: dict[str, list[Event]] = defaultdict(list)
        for e in events:
            if e["channel"] == "organic":
                organic[e["country"]].append(e)
        assert {r["country"] for r in answer["rows"]} == set(organic)
        for row in answer["rows"]:
            assert row["visits"] == len(organic[row["country"]])
            assert within(row["visitors"], distinct(organic[row["country"]])), row


async def signed_in(platform: Platform) -> httpx.AsyncClient:
    return await signed_in_client(platform.http_url, platform.nc)


def _with_customers_as(directory: Path, kind: str) -> Path:
    """The fixture with `visitors` of another kind (uniq before, uniq_approx after)."""
    directory.mkdir()
    text = (CONFIGS / "visits.yaml").read_text(encoding="utf-8")
    (directory / "visits.yaml").write_text(text.replace("visitors: {kind: uniq_approx,", f"visitors: {{kind: {kind},"))
    return directory


async def test_a_stored_uniq_turned_uniq_approx_is_refused_at_start_until_its_rollup_is_dropped(
    tmp_path: Path, nats_server: NatsServer, clickhouse_url: str, clickhouse_database: str
) -> None:
    """The rollup's states cannot become sketches: a restart with the changed config fails, naming module,
    rollup, metric and what to do; after doing it (drop the rollup's view and table) the platform starts and
    the recreated rollup counts the events sent from then on."""

    def options(config_dir: Path) -> PlatformOptions:
        return PlatformOptions(
            catalog=load_catalog(config_dir),
            data_dir=tmp_path / "data",
            nats_url=nats_server.url,
            clickhouse_url=clickhouse_url,
            clickhouse_database=clickhouse_database,
            port=0,
        )

    origin = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    rng = random.Random(5)
    before, after = visits(rng, origin, 2, 300), visits(rng, origin, 2, 200)
    exact_customers = _with_customers_as(tmp_path / "v1", "uniq")
    sketched = _with_customers_as(tmp_path / "v2", "uniq_approx")
    store = connect(clickhouse_url, clickhouse_database)
    try:
        async with run_platform(options(exact_customers)) as platform, await signed_in(platform) as client:
            await post_events(client, "visits", before)
            await wait_for_count(client, "visits", "visits", len(before))

        with pytest.raises(StateConflictError) as refused:
            async with run_platform(options(sketched)):
                pass
        message = str(refused.value)
        assert message.startswith("module 'visits', rollup 'hourly', metric 'visitors':"), message
        assert "AggregateFunction(uniq, String)" in message and "uniqCombined64(12)" in message
        drops = re.findall(r"DROP (?:VIEW|TABLE) `[^`]+`\.`[^`]+`", message)
        assert drops == [
            f"DROP VIEW `{clickhouse_database}`.`visits__hourly__mv`",
            f"DROP TABLE `{clickhouse_database}`.`visits__hourly`",
        ], message

        for statement in drops:  # what the message says to do
            await store.command(statement)
        async with run_platform(options(sketched)) as platform, await signed_in(platform) as client:
            await post_events(client, "visits", after)
            await wait_for_count(client, "visits", "visits", len(after))  # the recreated rollup: new events only
            answer = await graphql(
                client,
                f"{{ visits({window(origin, origin + timedelta(hours=2))}, granularity: TOTAL, "
                "metrics: [VISITORS]) { rows { visitors } } }",
            )
            assert within(answer["data"]["visits"]["rows"][0]["visitors"], distinct(after))
    finally:
        await store.command(f"DROP DATABASE IF EXISTS `{clickhouse_database}` SYNC")
        store.close()
        shutil.rmtree(tmp_path / "data", ignore_errors=True)
