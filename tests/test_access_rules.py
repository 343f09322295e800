"""Access rules end to end (issue 11): module configs say who reads what, and every path through GraphQL — a plain
query, a predefined query, a join's joined side, a record page, a subscription, and an answer the cache first
filled for a caller who may see more — shows an operator its own brand's rows only. Callers are API keys with
roles and attributes from the platform's auth service; every number is checked against plain Python over the
events sent. Module configs: tests/fixtures/access-configs (`rounds` joined with `payouts`)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.conftest import PlatformFactory
from tests.support import api_key, bearer, post_events, wait_for_count

pytestmark = pytest.mark.e2e

CONFIGS = Path(__file__).resolve().parent / "fixtures" / "access-configs"
BRANDS = ("acme", "zenith", "orbit")
GAMES = ("g1", "g2", "g3")
WINDOW = "window: {last: 2, unit: DAY}, granularity: TOTAL"
PLAIN = f"{{ rounds({WINDOW}, groupBy: [GAME], metrics: [ROUNDS, STAKES]) {{ cached rows {{ game rounds stakes }} }} }}"
PREDEFINED = "{ roundsStakesByGame { rows { game rounds stakes } } }"
JOINED = (
    f"{{ roundsWithPayouts({WINDOW}, kind: FULL, groupBy: [GAME], metrics: [ROUNDS], joinedMetrics: [PAYOUTS, PAID]) "
    "{ rows { game rounds joined { payouts paid } } } }"
)
RECORDS = "{ roundsRecords(window: {last: 2, unit: DAY}, first: 1000) { hasNextPage records { roundId brand } } }"
LIVE = f"subscription {{ rounds({WINDOW}, groupBy: [GAME], metrics: [ROUNDS]) {{ rows {{ game rounds }} }} }}"

Event = dict[str, Any]


def rounds(rng: random.Random, n: int, start: datetime, end: datetime, first_id: int = 0) -> list[Event]:
    span = (end - start).total_seconds()
    return [
        {
            "round_id": f"r{first_id + i}",
            "ts": (start + timedelta(seconds=rng.uniform(0, span))).isoformat(),
            "brand": rng.choice(BRANDS),
            "game": rng.choice(GAMES),
            "studio": rng.choice((1, 2, 3)),
            "stake": f"{rng.randrange(1, 10_000) / 100:.2f}",
        }
        for i in range(n)
    ]


def payouts(rng: random.Random, n: int, start: datetime, end: datetime) -> list[Event]:
    span = (end - start).total_seconds()
    return [
        {
            "ts": (start + timedelta(seconds=rng.uniform(0, span))).isoformat(),
            "brand": rng.choice(BRANDS),
            "game": rng.choice(GAMES),
            "amount": f"{rng.randrange(1, 50_000) / 100:.2f}",
        }
        for _ in range(n)
    ]


def by_game(events: list[Event], amount: str | None, keep: Callable[[Event], bool]) -> dict[str, Any]:
    """game -> count (and the sum of `amount`), in plain Python; refuses an empty comparison."""
    count: dict[str, int] = defaultdict(int)
    total: dict[str, Decimal] = defaultdict(Decimal)
    for event in events:
        if keep(event):
            count[event["game"]] += 1
            if amount:
                total[event["game"]] += Decimal(event[amount])
    assert count, "an empty comparison proves nothing"
    if amount is None:
        return dict(count)
    return {game: (count[game], float(total[game])) for game in count}


def acme(event: Event) -> bool:
    return bool(event["brand"] == "acme")


def everything(event: Event) -> bool:
    return True


def plain_rows(answer: dict[str, Any], field: str = "rounds") -> dict[str, Any]:
    return {row["game"]: (row["rounds"], pytest.approx(row["stakes"])) for row in answer["data"][field]["rows"]}


async def ask(client: httpx.AsyncClient, query: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_operator_sees_only_its_brand_on_every_path(start_platform: PlatformFactory) -> None:
    now = datetime.now(UTC)
    rng = random.Random(31)
    played = rounds(rng, 300, now - timedelta(hours=6), now - timedelta(minutes=1))
    paid = payouts(rng, 200, now - timedelta(hours=6), now - timedelta(minutes=1))
    async with start_platform(CONFIGS) as (platform, client):  # `client` carries an admin key
        await post_events(client, "rounds", played)
        await post_events(client, "payouts", paid)
        await wait_for_count(client, "rounds", "rounds", len(played))
        await wait_for_count(client, "payouts", "payouts", len(paid))

        operator = bearer(await api_key(platform.nc, ["read"], roles=["operator"], attributes={"brand": ["acme"]}))
        analyst = bearer(await api_key(platform.nc, ["read"], roles=["analyst"]))
        lead = bearer(await api_key(platform.nc, ["read"], roles=["studio-lead"], attributes={"studio": ["2"]}))
        stranger = bearer(await api_key(platform.nc, ["read"], roles=["guest"]))
        nameless = bearer(await api_key(platform.nc, ["read"], roles=["operator"]))  # no brand attribute

        # An answer first filled by callers who may see everything never reaches the operator.
        whole = by_game(played, "stake", everything)
        for _ in range(50):
            answer = await ask(client, PLAIN, {})
            assert plain_rows(answer) == whole
            if answer["data"]["rounds"]["cached"]:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the admin's answer never came from the cache")
        assert plain_rows(await ask(client, PLAIN, analyst)) == whole
        mine = await ask(client, PLAIN, operator)
        assert plain_rows(mine) == by_game(played, "stake", acme)
        assert not mine["data"]["rounds"]["cached"]
        assert plain_rows(await ask(client, PLAIN, lead)) == by_game(played, "stake", lambda e: e["studio"] == 2)
        assert (await ask(client, PLAIN, nameless))["data"]["rounds"]["rows"] == []

        # A predefined query takes the same path.
        predefined = await ask(client, PREDEFINED, operator)
        assert plain_rows(predefined, "roundsStakesByGame") == by_game(played, "stake", acme)

        # A join: the main side by the rounds' rule, the joined side by the payouts' own.
        joined = (await ask(client, JOINED, operator))["data"]["roundsWithPayouts"]["rows"]
        assert {row["game"]: row["rounds"] for row in joined} == by_game(played, None, acme)
        assert {
            row["game"]: (row["joined"]["payouts"], pytest.approx(row["joined"]["paid"])) for row in joined
        } == by_game(paid, "amount", acme)
        refused = await ask(client, JOINED, lead)  # studio leads may read rounds, not payouts
        assert refused["data"] is None or refused["data"].get("roundsWithPayouts") is None
        assert "may not read module 'payouts' (joined by rounds)" in refused["errors"][0]["message"]

        # Record pages.
        page = (await ask(client, RECORDS, operator))["data"]["roundsRecords"]
        assert sorted(r["roundId"] for r in page["records"]) == sorted(e["round_id"] for e in played if acme(e))
        assert {r["brand"] for r in page["records"]} == {"acme"} and not page["hasNextPage"]

        # A module the role may not read: refused naming it, no data.
        for query in (PLAIN, RECORDS):
            body = await ask(client, query, stranger)
            assert body["data"] is None or all(v is None for v in body["data"].values()), body
            assert "may not read module 'rounds'" in body["errors"][0]["message"]

        # A subscription re-runs the operator's question as events land: still its brand only.
        more = rounds(random.Random(32), 120, now - timedelta(minutes=30), now - timedelta(minutes=1), 10_000)
        await subscribe_and_post(platform.http_url, operator, client, played, more)


async def subscribe_and_post(
    base_url: str, credential: dict[str, str], admin: httpx.AsyncClient, played: list[Event], more: list[Event]
) -> None:
    url = base_url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": credential}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "live", "type": "subscribe", "payload": {"query": LIVE}}))

        async def frame() -> dict[str, int]:
            message = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert message["type"] == "next", message
            return {row["game"]: row["rounds"] for row in message["payload"]["data"]["rounds"]["rows"]}

        assert await frame() == by_game(played, None, acme)
        await post_events(admin, "rounds", more)
        wanted = by_game(played + more, None, acme)
        assert wanted != by_game(played + more, None, everything)
        seen = await frame()
        deadline = time.monotonic() + 60
        while seen != wanted and time.monotonic() < deadline:
            assert all(seen.get(g, 0) <= n for g, n in wanted.items()), seen  # never another brand's rounds
            seen = await frame()
        assert seen == wanted
        await ws.send(json.dumps({"id": "live", "type": "complete"}))
