"""Live results and the answer cache: both must follow new events, never lag behind them or invent them."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
import websockets

from strix.generators import clickstream_events
from tests.conftest import EXAMPLE_CONFIGS, PlatformFactory
from tests.support import graphql, post_events, wait_for_count

pytestmark = pytest.mark.e2e

TOTAL = "{ rows { events } cached }"


async def test_subscription_pushes_a_new_result_when_events_land(start_platform: PlatformFactory) -> None:
    now = datetime.now(UTC)
    first = clickstream_events(random.Random(21), 300, now - timedelta(hours=5), now)
    more = clickstream_events(random.Random(22), 200, now - timedelta(hours=1), now)
    async with start_platform(EXAMPLE_CONFIGS) as (platform, client):
        await post_events(client, "clickstream", first)
        await wait_for_count(client, "clickstream", "events", len(first))
        url = platform.http_url.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            query = "subscription { clickstream(window: {last: 2, unit: DAY}, granularity: TOTAL, metrics: [EVENTS]) { rows { events } } }"
            await ws.send(json.dumps({"id": "live", "type": "subscribe", "payload": {"query": query}}))
            message = json.loads(await asyncio.wait_for(ws.recv(), 30))
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
        answers = [(await graphql(client, query))["data"]["clickstream"] for _ in range(2)]
        assert [a["cached"] for a in answers] == [False, True]
        assert answers[1]["rows"] == answers[0]["rows"]

        await post_events(client, "clickstream", events[100:])
        await wait_for_count(client, "clickstream", "events", 200)
        fresh = (await graphql(client, query))["data"]["clickstream"]
        assert fresh["rows"][0]["events"] == 200
        assert (await graphql(client, query))["data"]["clickstream"]["cached"]
        await graphql(client, old)
        assert (await graphql(client, old))["data"]["clickstream"]["cached"]
