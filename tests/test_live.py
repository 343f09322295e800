"""Live results and the answer cache: both must follow new events, never lag behind them or invent them."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from strix.generators import clickstream_events
from tests.conftest import EXAMPLE_CONFIGS, PlatformFactory
from tests.support import graphql, post_events, wait_for_count

pytestmark = pytest.mark.e2e

TOTAL = "{ rows { events } cached }"
JOIN_CONFIGS = Path(__file__).resolve().parent / "fixtures" / "join-configs"


async def test_subscription_pushes_a_new_result_when_events_land(start_platform: PlatformFactory) -> None:
    now = datetime.now(UTC)
    first = clickstream_events(random.Random(21), 300, now - timedelta(hours=5), now)
    more = clickstream_events(random.Random(22), 200, now - timedelta(hours=1), now)
    async with start_platform(EXAMPLE_CONFIGS) as (platform, client):
        await post_events(client, "clickstream", first)
        await wait_for_count(client, "clickstream", "events", len(first))
        url = platform.http_url.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            # Browsers cannot set headers on a websocket: the credential travels in connection_init.
            init = {"type": "connection_init", "payload": {"Authorization": client.headers["Authorization"]}}
            await ws.send(json.dumps(init))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            query = "subscription { clickstream(window: {last: 2, unit: DAY}, granularity: TOTAL, metrics: [EVENTS]) { rows { events } } }"
            await ws.send(json.dumps({"id": "live", "type": "subscribe", "payload": {"query": query}}))
            frame = await asyncio.wait_for(ws.recv(), 30)
            assert isinstance(frame, str), "browsers' graphql-ws clients parse text frames only"
            message = json.loads(frame)
            assert message["type"] == "next", message
            assert message["payload"]["data"]["clickstream"]["rows"][0]["events"] == len(first)

            await post_events(client, "clickstream", more)
            seen = [len(first)]
            while seen[-1] < len(first) + len(more):
                message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                assert message["type"] == "next", message
                seen.append(message["payload"]["data"]["clickstream"]["rows"][0]["events"])
            assert seen == sorted(seen) and seen[-1] == len(first) + len(more)
            await ws.send(json.dumps({"id": "live", "type": "complete"}))


async def answer_once_settled(client: httpx.AsyncClient, query: str, within: float = 20) -> dict[str, Any]:
    """Ask until the answer comes from the cache, checking each answer equals the first one.

    A commit notice travels after its insert, so an answer computed between the two is dropped when the
    notice lands: the cache settles a moment after the numbers do, never serving anything but them.
    """
    first = (await graphql(client, query))["data"]["clickstream"]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        answer = (await graphql(client, query))["data"]["clickstream"]
        assert answer["rows"] == first["rows"]
        if answer["cached"]:
            return answer
        await asyncio.sleep(0.2)
    raise AssertionError(f"no answer came from the cache within {within}s: {query}")


async def test_identical_queries_come_from_the_cache_until_a_commit_touches_them(
    start_platform: PlatformFactory,
) -> None:
    now = datetime.now(UTC)
    events = clickstream_events(random.Random(23), 200, now - timedelta(hours=2), now)
    query = "{ clickstream(window: {last: 3, unit: HOUR}, granularity: TOTAL, metrics: [EVENTS]) " + TOTAL + " }"
    old = "{ clickstream(window: {last: 30, unit: DAY}, granularity: DAY, metrics: [EVENTS]) " + TOTAL + " }"
    async with start_platform(EXAMPLE_CONFIGS) as (_, client):
        await post_events(client, "clickstream", events[:100])
        await wait_for_count(client, "clickstream", "events", 100)
        first = (await graphql(client, query))["data"]["clickstream"]
        assert not first["cached"] and first["rows"][0]["events"] == 100
        assert (await answer_once_settled(client, query))["rows"] == first["rows"]

        await post_events(client, "clickstream", events[100:])
        await wait_for_count(client, "clickstream", "events", 200)
        # The commit that brought the new events dropped the cached 100: never served again.
        fresh = (await graphql(client, query))["data"]["clickstream"]
        assert fresh["rows"][0]["events"] == 200
        assert (await answer_once_settled(client, query))["rows"][0]["events"] == 200
        assert sum(row["events"] for row in (await answer_once_settled(client, old))["rows"]) == 200


async def test_a_sliding_window_reuses_buckets_and_still_sees_late_events(start_platform: PlatformFactory) -> None:
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    events = clickstream_events(random.Random(24), 1500, hour - timedelta(hours=14), now)

    def query(start: datetime, fresh: bool = False, top: str = "") -> str:
        window = f'window: {{start: "{start.isoformat()}", end: "{(start + timedelta(hours=6)).isoformat()}"}}'
        return (
            f"{{ clickstream({window}, granularity: HOUR, groupBy: [PRODUCT_GROUP], metrics: [EVENTS, CUSTOMERS, "
            f"REVENUE], compare: PREVIOUS_PERIOD, fresh: {'true' if fresh else 'false'} {top}) {{ reusedBuckets "
            "rows { bucket productGroup others events customers revenue previous { events customers revenue } } } }"
        )

    async def ask(text: str) -> dict[str, Any]:
        body = await graphql(client, text)
        assert "errors" not in body, body
        answer: dict[str, Any] = body["data"]["clickstream"]
        return answer

    async with start_platform(EXAMPLE_CONFIGS) as (_, client):
        await post_events(client, "clickstream", events)
        await wait_for_count(client, "clickstream", "events", len(events))
        assert (await ask(query(hour - timedelta(hours=7))))["reusedBuckets"] == 0
        # One hour later: every bucket but the newest of each period was read a moment ago (the previous
        # period's newest bucket was the first window's oldest). A batch's commit notice is published after its
        # rows are queryable, so one may still drop buckets just after the count is complete: ask again then.
        for _ in range(20):
            slid = await ask(query(hour - timedelta(hours=6)))
            if slid["reusedBuckets"] == 11:
                break
            await asyncio.sleep(0.25)
            await ask(query(hour - timedelta(hours=7)))
        assert slid["reusedBuckets"] == 11
        assert slid["rows"] == (await ask(query(hour - timedelta(hours=6), fresh=True)))["rows"]
        top = "top: {n: 3, by: EVENTS}"
        await ask(query(hour - timedelta(hours=7), top=top))
        assert (await ask(query(hour - timedelta(hours=6), top=top)))["rows"] == (
            await ask(query(hour - timedelta(hours=6), fresh=True, top=top))
        )["rows"]

        # A late event lands in a bucket both windows read: the next answer counts it.
        late = dict(events[0], event_id="late-one", ts=(hour - timedelta(hours=4, minutes=-5)).isoformat())
        await post_events(client, "clickstream", [late])
        await wait_for_count(client, "clickstream", "events", len(events) + 1)
        deadline = time.monotonic() + 10
        while True:
            answer = await ask(query(hour - timedelta(hours=6)))
            if sum(row["events"] for row in answer["rows"]) == sum(row["events"] for row in slid["rows"]) + 1:
                break
            assert time.monotonic() < deadline, "the late event never reached the sliding window's answer"
            await asyncio.sleep(0.2)
        assert answer["reusedBuckets"] == 11  # all 12 were cached; the commit dropped the late event's bucket
        assert answer["rows"] == (await ask(query(hour - timedelta(hours=6), fresh=True)))["rows"]

        # Whole months compare with the previous month, whose hours outnumber or fall short of this one's:
        # paired by position, a constant lag apart, they are kept per bucket all the same.
        month = hour.replace(day=1, hour=0)
        following = (month + timedelta(days=32)).replace(day=1)
        hours = int((following - month).total_seconds()) // 3600
        previous_hours = int((month - (month - timedelta(days=1)).replace(day=1)).total_seconds()) // 3600
        monthly = (
            f'{{ clickstream(window: {{start: "{month.isoformat()}", end: "{following.isoformat()}"}}, '
            "granularity: HOUR, groupBy: [PRODUCT_GROUP], metrics: [EVENTS, CUSTOMERS], compare: PREVIOUS_PERIOD, "
            "fresh: %s) { reusedBuckets rows { bucket productGroup events %s } } }"
        )
        await ask(monthly % ("false", ""))
        # Other fields of the same rows: not the cached answer, the cached buckets.
        again = await ask(monthly % ("false", "customers previous { events }"))
        assert again["reusedBuckets"] == hours + min(hours, previous_hours)  # and each paired one's partner
        assert again["rows"] == (await ask(monthly % ("true", "customers previous { events }")))["rows"]
        assert sum(row["events"] for row in again["rows"]) > 0


async def test_a_join_subscription_pushes_a_new_result_when_either_module_gets_events(
    start_platform: PlatformFactory,
) -> None:
    """shop joined with ads (tests/fixtures/join-configs): new shop events change `events`, new ads reports change
    `joined.spend`; each push is checked against sums over the events sent."""
    now = datetime.now(UTC)
    rng = random.Random(31)

    def shop(count: int) -> list[dict[str, Any]]:
        moments = [now - timedelta(minutes=rng.randrange(1, 600)) for _ in range(count)]
        return [{"ts": m.isoformat(), "market": "FI", "device": "mobile", "action": "view"} for m in moments]

    def ads(count: int) -> list[dict[str, Any]]:
        moments = [now - timedelta(minutes=rng.randrange(1, 600)) for _ in range(count)]
        spends = [rng.choice(["0.50", "1.25", "2.00"]) for _ in range(count)]
        return [
            {"ts": m.isoformat(), "country": "FI", "device": "mobile", "spend": s}
            for m, s in zip(moments, spends, strict=True)
        ]

    def spent(events: list[dict[str, Any]]) -> float:
        return float(sum(Decimal(e["spend"]) for e in events))

    first_shop, first_ads, more_shop, more_ads = shop(40), ads(30), shop(25), ads(20)
    async with start_platform(JOIN_CONFIGS) as (platform, client):
        await post_events(client, "shop", first_shop)
        await post_events(client, "ads", first_ads)
        await wait_for_count(client, "shop", "events", len(first_shop))
        await wait_for_count(client, "ads", "reports", len(first_ads))
        url = platform.http_url.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            init = {"type": "connection_init", "payload": {"Authorization": client.headers["Authorization"]}}
            await ws.send(json.dumps(init))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            query = (
                "subscription { shopWithAds(window: {last: 2, unit: DAY}, granularity: TOTAL, kind: FULL, "
                "groupBy: [MARKET], metrics: [EVENTS], joinedMetrics: [SPEND]) { rows { market events joined { spend } } } }"
            )
            await ws.send(json.dumps({"id": "join", "type": "subscribe", "payload": {"query": query}}))

            async def pushed() -> tuple[int, float]:
                message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                assert message["type"] == "next", message
                [row] = message["payload"]["data"]["shopWithAds"]["rows"]
                assert row["market"] == "FI"
                return row["events"], row["joined"]["spend"]

            assert await pushed() == (len(first_shop), pytest.approx(spent(first_ads)))
            # New events of the joined module only: the join is pushed again.
            await post_events(client, "ads", more_ads)
            seen = await pushed()
            while seen[1] < spent(first_ads + more_ads) - 1e-9:
                seen = await pushed()
            assert seen == (len(first_shop), pytest.approx(spent(first_ads + more_ads)))
            # And of the module itself.
            await post_events(client, "shop", more_shop)
            while seen[0] < len(first_shop + more_shop):
                seen = await pushed()
            assert seen == (len(first_shop + more_shop), pytest.approx(spent(first_ads + more_ads)))
            await ws.send(json.dumps({"id": "join", "type": "complete"}))
