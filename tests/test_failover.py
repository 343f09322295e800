"""Two rollup replicas run against the same partitions; when the one serving them dies abruptly its partitions
move to the other within seconds and every total stays exact. (With the pinned_client policy a replica keeps a
partition while it keeps pulling, so the first to pull may serve all of them and the other stands by.)

An embedded chDB store opens in one process only, so both replicas run here as separate rollup components
(each with its own NATS connection) inside the process that holds the store — the situation ARCHITECTURE §5
allows when no ClickHouse server is available. The victim is stopped abruptly: its loops cancelled and its
NATS connection dropped without draining, its in-flight batches left unacked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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

LIMITS = BatchLimits(max_messages=5, ack_wait=2.0, priority_timeout=2.0)


async def _pinned_clients(nc: nats.NATS, module: str, partitions: int) -> dict[int, str | None]:
    """Who the server has pinned, per partition: the truth, not what each replica believes."""
    pins: dict[int, str | None] = {}
    for partition in range(partitions):
        reply = await nc.request(f"$JS.API.CONSUMER.INFO.events_{module}.rollup_{module}_{partition}", b"", timeout=5)
        groups = json.loads(reply.data).get("priority_groups") or [{}]
        pins[partition] = groups[0].get("pinned_client_id")
    return pins


async def test_partitions_move_to_the_surviving_replica(
    tmp_path: Path, nats_server: NatsServer, clickhouse: ClickHouse, clickhouse_url: str
) -> None:
    catalog = load_catalog(EXAMPLE_CONFIGS)
    now = datetime.now(UTC)
    first = clickstream_events(random.Random(41), 2000, now - timedelta(hours=2), now)
    second = clickstream_events(random.Random(42), 2000, now - timedelta(hours=1), now)
    nc_a = await nats.connect(nats_server.url)
    nc_b = await nats.connect(nats_server.url)
    async with asyncio.timeout(240), contextlib.AsyncExitStack() as stack:  # a hang fails, it never blocks CI
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
        # Kill the replica that served more partitions (the pinned_client policy lets the first puller keep a
        # partition as long as it keeps pulling; the other is a hot standby for it).
        victim, survivor, victim_nc = (
            (replica_a, replica_b, nc_a)
            if replica_a.inserted("clickstream") >= replica_b.inserted("clickstream")
            else (replica_b, replica_a, nc_b)
        )
        held = {p for (m, p), s in victim.partitions.items() if m == "clickstream" and s.inserted_events}
        assert held

        # The victim dies abruptly: loops cancelled (and told to stop, should a library swallow the
        # cancellation), connection dropped without draining; its in-flight batches stay unacked.
        victim.stopping.set()
        for task in victim.tasks:
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*victim.tasks, return_exceptions=True), 30)
        await asyncio.wait_for(victim_nc.close(), 30)
        killed = time.monotonic()

        await post_events(client, "clickstream", second)
        await wait_for_count(client, "clickstream", "events", len(first) + len(second), within=60)
        moved_in = time.monotonic() - killed
        survivor_nc = nc_b if survivor is replica_b else nc_a
        pins = await _pinned_clients(survivor_nc, "clickstream", 4)
        alive = {state.pin for state in survivor.partitions.values()}
        assert all(pin is None or pin in alive for pin in pins.values()), pins  # nothing pinned to the dead replica
        print(f"partitions {sorted(held)} moved; all events counted {moved_in:.1f}s after the kill")
        assert moved_in < 15

        await asyncio.sleep(LIMITS.ack_wait * 2)  # late re-deliveries of A's unacked batches must not count twice
        await wait_for_count(client, "clickstream", "events", len(first) + len(second))
    for connection in (nc_a, nc_b):
        if not connection.is_closed:
            await connection.close()
