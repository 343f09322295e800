"""Two rollup replicas share the partitions (each serves half of them); when one dies abruptly its partitions
move to the other within seconds and every total stays exact, re-sent events included.

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

import nats
import pytest

from strix.generators import clickstream_events
from strix.platform import PlatformOptions, run_platform
from strix_clickhouse import ClickHouse
from strix_config import load_catalog
from strix_rollup.app import run_rollup
from strix_rollup.assignment import owner
from strix_rollup.consumer import BatchLimits
from strix_runtime.natsserver import NatsServer
from tests.conftest import EXAMPLE_CONFIGS
from tests.support import post_events, signed_in_client, wait_for_count

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


@pytest.mark.parametrize("joint", [False, True], ids=["per-partition", "joint"])
async def test_partitions_move_to_the_surviving_replica(
    tmp_path: Path, nats_server: NatsServer, clickhouse: ClickHouse, clickhouse_url: str, joint: bool
) -> None:
    """Per-partition loops deal partitions to replicas; joint loops (one insert for all of a module's partitions,
    the default over chDB) deal whole modules. Either way the dead replica's share moves and counts once."""
    catalog = load_catalog(EXAMPLE_CONFIGS)
    now = datetime.now(UTC)
    first = clickstream_events(random.Random(41), 2000, now - timedelta(hours=2), now)
    second = clickstream_events(random.Random(42), 2000, now - timedelta(hours=1), now)
    nc_a = await nats.connect(nats_server.url)
    nc_b = await nats.connect(nats_server.url)
    async with asyncio.timeout(240), contextlib.AsyncExitStack() as stack:  # a hang fails, it never blocks CI
        replica_a = await stack.enter_async_context(run_rollup(nc_a, clickhouse, catalog, LIMITS, joint=joint))
        replica_b = await stack.enter_async_context(run_rollup(nc_b, clickhouse, catalog, LIMITS, joint=joint))
        options = PlatformOptions(
            catalog=catalog,
            data_dir=tmp_path,
            services=("ingestion", "query", "gateway", "auth"),
            nats_url=nats_server.url,
            clickhouse_url=clickhouse_url,
            clickhouse_database=clickhouse.database,
            port=0,
        )
        platform = await stack.enter_async_context(run_platform(options))
        client = await stack.enter_async_context(await signed_in_client(platform.http_url, platform.nc))

        # Both replicas see each other (discovery refreshes every 1.5 s) before the events come.
        for _ in range(100):
            if all(r.membership and len(r.membership.replicas) == 2 for r in (replica_a, replica_b)):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(4 * LIMITS.fetch_wait)  # pulls issued before the views agreed have expired
        await post_events(client, "clickstream", first)
        await wait_for_count(client, "clickstream", "events", len(first))
        # Scale-out, not a standby: each replica serves its share of the partitions, pinned to it on the server.
        served = {
            name: {p for (m, p), state in replica.partitions.items() if m == "clickstream" and state.inserted_events}
            for name, replica in (("a", replica_a), ("b", replica_b))
        }
        ids = {"a": replica_a.membership.id, "b": replica_b.membership.id}  # type: ignore[union-attr]
        owned = {
            name: {p for p in range(4) if owner(sorted(ids.values()), "clickstream", 0 if joint else p) == i}
            for name, i in ids.items()
        }
        if joint:
            assert sorted(map(len, owned.values())) == [0, 4]  # the whole module on one replica
        else:
            assert owned["a"] and owned["b"]
        assert served == owned, (served, owned)
        victim, survivor, victim_nc = replica_a, replica_b, nc_a
        if not owned["a"]:
            victim, survivor, victim_nc = replica_b, replica_a, nc_b
        held = owned["a"] or owned["b"]

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

        # The events the dead replica had counted, re-sent in other groupings to partitions that moved: their ids
        # are remembered in ClickHouse, not in the replica that counted them, so they count once.
        regrouped = first[:]
        random.Random(43).shuffle(regrouped)
        await post_events(client, "clickstream", regrouped, batch=333)
        await asyncio.sleep(LIMITS.ack_wait * 2)  # late re-deliveries of A's unacked batches must not count twice
        await wait_for_count(client, "clickstream", "events", len(first) + len(second))
    for connection in (nc_a, nc_b):
        if not connection.is_closed:
            await connection.close()
