"""Live results and the answer cache: both must follow new events, never lag behind them or invent them."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
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
