"""Exactly once by event id (issue 9, reproduction 1): an event re-sent alone, inside another batch, in another
order, after a restart or after its partition moved counts once — in the raw table and in every rollup."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from strix.generators import clickstream_events
from strix.platform import Platform, PlatformOptions, run_platform
from strix_clickhouse import ClickHouse
from strix_clickhouse.columns import events_table, merge_expr, rollup_table
from strix_config import ModuleConfig, load_catalog
from strix_runtime.natsserver import start_nats_server
from tests.conftest import EXAMPLE_CONFIGS, PlatformFactory
from tests.support import signed_in_client

pytestmark = pytest.mark.e2e

MODULE = "clickstream"


async def counts_everywhere(clickhouse: ClickHouse, config: ModuleConfig) -> dict[str, int]:
    """Events counted by the raw table and by each rollup's `events` metric."""
    database = clickhouse.database
    tables = {"raw": f"SELECT count() FROM `{database}`.`{events_table(MODULE)}`"}
    for name in config.rollups:
        tables[name] = f"SELECT {merge_expr(config, 'events')} FROM `{database}`.`{rollup_table(MODULE, name)}`"
    return {name: int((await clickhouse.query(sql)).rows[0][0] or 0) for name, sql in tables.items()}


async def settle(clickhouse: ClickHouse, config: ModuleConfig, expected: int, within: float = 60) -> dict[str, int]:
    """Wait until the raw table holds `expected` events, then a little longer: a late double count must show."""
    deadline = time.monotonic() + within
    counts = await counts_everywhere(clickhouse, config)
    while counts["raw"] < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        counts = await counts_everywhere(clickhouse, config)
    await asyncio.sleep(2.0)  # several batch cycles: a repeat counted late would appear now
    return await counts_everywhere(clickhouse, config)


async def post(client: httpx.AsyncClient, events: list[dict[str, Any]], **headers: str) -> dict[str, Any]:
    response = await client.post(f"/v1/modules/{MODULE}/events", json=events, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sample(n: int, seed: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return clickstream_events(random.Random(seed), n, now - timedelta(hours=6), now)


async def test_an_event_resent_alone_regrouped_or_reordered_counts_once(start_platform: PlatformFactory) -> None:
    events = sample(400, 31)
    async with start_platform(EXAMPLE_CONFIGS) as (platform, client):
        assert platform.clickhouse is not None
        config = platform.options.catalog.modules[MODULE]
        e3, e4 = events[0], events[1]
        await post(client, [e3])
        await post(client, [e3, e4])  # e3 again, inside another batch
        await post(client, [e4, e3])  # and in another order
        await post(client, events)  # everything, including both, in one request
        shuffled = events[:]
        random.Random(5).shuffle(shuffled)
        for start in range(0, len(shuffled), 37):  # regrouped in odd-sized batches, as a retrying client might
            await post(client, shuffled[start : start + 37])
        await post(client, events[:10] + events[:10])  # one id twice in the same request
        counts = await settle(platform.clickhouse, config, len(events))
        assert counts == dict.fromkeys(counts, len(events)), counts


async def test_an_event_resent_after_a_restart_counts_once(
    tmp_path: Path, clickhouse_url: str, clickhouse_database: str
) -> None:
    catalog = load_catalog(EXAMPLE_CONFIGS)
    config = catalog.modules[MODULE]
    events = sample(300, 32)

    def options(nats_url: str) -> PlatformOptions:
        return PlatformOptions(
            catalog=catalog,
            data_dir=tmp_path,
            services=("ingestion", "rollup", "auth"),
            nats_url=nats_url,
            clickhouse_url=clickhouse_url,
            clickhouse_database=clickhouse_database,
            port=0,
        )

    async def client_of(platform: Platform) -> httpx.AsyncClient:
        return await signed_in_client(platform.http_url, platform.nc)

    server = start_nats_server(tmp_path / "nats")
    try:
        async with run_platform(options(server.url)) as platform, await client_of(platform) as client:
            await post(client, events[:200])
            assert platform.clickhouse is not None
            await settle(platform.clickhouse, config, 200)
    finally:
        server.stop()
    # A new NATS server and new processes on the same store: the ids table is the memory, not the process.
    server = start_nats_server(tmp_path / "nats")
    try:
        async with run_platform(options(server.url)) as platform, await client_of(platform) as client:
            await post(client, list(reversed(events)))
            assert platform.clickhouse is not None
            counts = await settle(platform.clickhouse, config, len(events))
            assert counts == dict.fromkeys(counts, len(events)), counts
            await platform.clickhouse.command(f"DROP DATABASE IF EXISTS `{clickhouse_database}` SYNC")
    finally:
        server.stop()
