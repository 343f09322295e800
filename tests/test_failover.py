"""Two rollup replicas share the partitions; when one dies abruptly its partitions move to the other within
seconds and every total stays exact.

An embedded chDB store opens in one process only, so both replicas run here as separate rollup components
(each with its own NATS connection) inside the process that holds the store — the situation ARCHITECTURE §5
allows when no ClickHouse server is available. The victim is stopped abruptly: its loops cancelled and its
NATS connection dropped without draining, its in-flight batches left unacked.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nats
import pytest

from strix.generators import clickstream_events
from strix.platform import PlatformOptions, run_platform
from strix_clickhouse import ClickHouse
from strix_config import load_catalog
from strix_rollup.app import run_rollup
from strix_rollup.consumer import BatchLimits
from strix_runtime.natsserver import NatsServer
from tests.conftest import EXAMPLE_CONFIGS
from tests.support import post_events, wait_for_count

pytestmark = pytest.mark.e2e

LIMITS = BatchLimits(max_messages=5, ack_wait=2.0, priority_timeout=1.0)


async def test_partitions_move_to_the_surviving_replica(
    tmp_path: Path, nats_server: NatsServer, clickhouse: ClickHouse, clickhouse_url: str
) -> None:
    catalog = load_catalog(EXAMPLE_CONFIGS)
    now = datetime.now(UTC)
    first = clickstream_events(random.Random(41), 2000, now - timedelta(hours=2), now)
    second = clickstream_events(random.Random(42), 2000, now - timedelta(hours=1), now)
    nc_a = await nats.connect(nats_server.url)
    nc_b = await nats.connect(nats_server.url)
    async with contextlib.AsyncExitStack() as stack:
        replica_a = await stack.enter_async_context(run_rollup(nc_a, clickhouse, catalog, LIMITS))
        replica_b = await stack.enter_async_context(run_rollup(nc_b, clickhouse, catalog, LIMITS))
        options = PlatformOptions(
            catalog=catalog,
            data_dir=tmp_path,
            services=("ingestion", "query", "gateway"),
            nats_url=nats_server.url,
            clickhouse_url=clickhouse_url,
            clickhouse_database=clickhouse.database,
            port=0,
        )
        platform = await stack.enter_async_context(run_platform(options))
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=platform.http_url, timeout=60))

        await post_events(client, "clickstream", first)
        await wait_for_count(client, "clickstream", "events", len(first))
        held_by_a = {key for key, state in replica_a.partitions.items() if state.pinned and key[0] == "clickstream"}
        held_by_b = {key for key, state in replica_b.partitions.items() if state.pinned and key[0] == "clickstream"}
        assert held_by_a and not held_by_a & held_by_b, (held_by_a, held_by_b)  # one reader per partition

        # Replica A dies abruptly: loops cancelled, connection dropped without draining.
        for task in replica_a.tasks:
            task.cancel()
        await asyncio.gather(*replica_a.tasks, return_exceptions=True)
        await nc_a.close()
        killed = time.monotonic()

        await post_events(client, "clickstream", second)
        await wait_for_count(client, "clickstream", "events", len(first) + len(second), within=60)
        moved_in = time.monotonic() - killed
        assert all(replica_b.partitions[key].pinned for key in held_by_a)
        print(f"partitions {sorted(p for _, p in held_by_a)} moved; all events counted {moved_in:.1f}s after the kill")
        assert moved_in < 15

        await asyncio.sleep(LIMITS.ack_wait * 2)  # late re-deliveries of A's unacked batches must not count twice
        await wait_for_count(client, "clickstream", "events", len(first) + len(second))
    await nc_b.close()
