"""The query service answers requests concurrently, over a real NATS server and chDB: an answer that needs no
slow statement does not wait behind one that does (NATS hands a subscription's messages over one at a time)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import nats

from strix_clickhouse import ClickHouse, plan_module
from strix_config import load_catalog
from strix_contracts.caller import Caller
from strix_contracts.subjects import QUERY_RUN
from strix_query.app import run_query_service
from strix_runtime.natsserver import NatsServer

CONFIGS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "access-configs"
ADMIN = Caller(subject="root", kind="user", scopes=("admin",))
WINDOW = {"start": "2026-11-02T00:00:00+00:00", "end": "2026-11-03T00:00:00+00:00"}
SLOW = 2.0


class SlowPayouts:
    """The real store, but every statement over the payouts module waits SLOW seconds first (a heavy query)."""

    def __init__(self, clickhouse: ClickHouse) -> None:
        self.inner, self.database = clickhouse, clickhouse.database

    async def query_formed(self, form: Any) -> Any:
        sql, parameters = form()
        if "payouts" in sql:
            await asyncio.sleep(SLOW)
        return await self.inner.query(sql, parameters)


async def test_a_quick_answer_does_not_wait_behind_a_slow_one(nats_server: NatsServer, clickhouse: ClickHouse) -> None:
    catalog = load_catalog(CONFIGS)
    for config in catalog.modules.values():
        await clickhouse.apply(plan_module(config, clickhouse.database))
    store: Any = SlowPayouts(clickhouse)
    nc = await nats.connect(nats_server.url)
    try:
        async with run_query_service(nc, store, catalog):

            async def ask(module: str, metric: str) -> float:
                body = {"module": module, "window": WINDOW, "granularity": "total", "metrics": [metric]}
                began = time.perf_counter()
                reply = await nc.request(QUERY_RUN, json.dumps({**body, "caller": ADMIN.model_dump()}).encode(), 20)
                assert not (reply.headers and "Nats-Service-Error-Code" in reply.headers), reply.data
                return time.perf_counter() - began

            slow = asyncio.create_task(ask("payouts", "paid"))
            await asyncio.sleep(0.2)  # the slow request is under way
            quick = await ask("rounds", "rounds")
            assert quick < SLOW / 2, quick  # answered while the slow statement still ran
            assert await slow >= SLOW
    finally:
        await nc.close()
