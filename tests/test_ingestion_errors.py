"""What a client sees when it sends something wrong: precise rejections, and nothing half-stored."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from strix.generators import clickstream_events
from tests.conftest import EXAMPLE_CONFIGS, PlatformFactory
from tests.support import graphql, wait_for_count

pytestmark = pytest.mark.e2e


async def test_bad_events_are_reported_and_good_ones_kept_only_when_asked(start_platform: PlatformFactory) -> None:
    now = datetime.now(UTC)
    good = clickstream_events(random.Random(5), 5, now - timedelta(minutes=30), now)
    bad = [dict(e) for e in good]
    bad[1]["action"] = "buy"
    bad[3]["price"] = "1.999"
    bad[4]["colour"] = "red"
    async with start_platform(EXAMPLE_CONFIGS) as (_, client):
        response = await client.post("/v1/modules/clickstream/events", json=bad)
        assert response.status_code == 422
        body = response.json()
        assert body["accepted"] == 0
        assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "action"), (3, "price"), (4, "colour")]
        assert "buy" in body["rejected"][0]["reason"]
        assert "2 decimal places" in body["rejected"][1]["reason"]

        response = await client.post("/v1/modules/clickstream/events?partial=true", json=bad)
        assert response.status_code == 200
        assert response.json()["accepted"] == 2
        await wait_for_count(client, "clickstream", "events", 2)

        naive = dict(good[0], ts="2026-11-22T10:00:00")
        body = (await client.post("/v1/modules/clickstream/events", json=naive)).json()
        assert body["rejected"][0]["field"] == "ts" and "timezone" in body["rejected"][0]["reason"]

        lines = "\n".join([json.dumps(good[0]), "{not json", json.dumps(good[1])])
        response = await client.post(
            "/v1/modules/clickstream/events", content=lines, headers={"content-type": "application/x-ndjson"}
        )
        assert response.status_code == 422
        assert [r["index"] for r in response.json()["rejected"]] == [1]

        response = await client.post("/v1/modules/clikstream/events", json=good)
        assert response.status_code == 404
        assert response.json()["error"]["known_modules"] == ["campaigns", "clickstream", "gaming"]

        # Re-sending the same request with the same Idempotency-Key stores it once.
        for _ in range(2):
            response = await client.post(
                "/v1/modules/clickstream/events", json=good, headers={"Idempotency-Key": "order-42"}
            )
            assert response.status_code == 200
        assert response.headers["idempotent-replayed"] == "true"  # the first answer, stored once
        # good[0] and good[2] were stored above (as bad[0] and bad[2], the same event ids): they count once.
        await wait_for_count(client, "clickstream", "events", len(good))


async def test_graphql_errors_name_the_argument_to_fix(start_platform: PlatformFactory) -> None:
    async with start_platform(EXAMPLE_CONFIGS) as (_, client):
        body = await graphql(
            client,
            '{ clickstream(window: {last: 1, unit: DAY}, timeZone: "Mars/Olympus", metrics: [EVENTS]) { rows { events } } }',
        )
        error = body["errors"][0]
        assert error["extensions"]["argument"] == "timeZone"
        assert "Mars/Olympus" in error["message"]

        body = await graphql(
            client,
            "{ clickstream(window: {last: 400, unit: DAY}, granularity: MINUTE, metrics: [EVENTS]) { rows { events } } }",
        )
        assert body["errors"][0]["extensions"]["argument"] == "granularity"

        body = await graphql(
            client, "{ clickstream(window: {last: 1, unit: DAY}, metrics: [REVENEU]) { rows { revenue } } }"
        )
        assert "REVENUE" in body["errors"][0]["message"]  # GraphQL's own did-you-mean on the enum

        body = await graphql(
            client,
            '{ clickstream(window: {start: "2026-11-22T10:00:00Z", end: "2026-11-22T09:00:00Z"}, metrics: [EVENTS]) { rows { events } } }',
        )
        assert body["errors"][0]["extensions"]["argument"] == "window.end"
