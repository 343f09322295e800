"""A partition worker that dies between two acks of one batch leaves a recorded batch whose first messages will
never come back. Whoever takes the partition next must finish it without inserting it again, then carry on."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg

from strix_clickhouse import ClickHouse
from strix_clickhouse.columns import events_table
from strix_config import Catalog, load_catalog
from strix_contracts.subjects import event_subject
from strix_rollup.app import apply_schema
from strix_rollup.boundary_store import open_bucket, read_open
from strix_rollup.consumer import BatchLimits, PartitionState, PartitionWorker
from strix_runtime.natsserver import NatsServer
from strix_runtime.streams import ensure_event_stream

REPO = Path(__file__).resolve().parents[3]
EVENTS_PER_MESSAGE = 5


def payload(message: int) -> bytes:
    """One message of normalised clickstream events, as ingestion writes them."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)  # inside the raw table's retention
    events = [
        {
            "event_id": f"m{message}-e{i}",
            "ts": (start + timedelta(seconds=message * 10 + i)).isoformat(),
            "customer_id": "c1",
            "session_id": "s1",
            "action": "view",
            "product_group": "shoes",
            "product_id": "p1",
            "country": "FI",
            "device": "mobile",
            "price": "10.00",
            "quantity": 1,
        }
        for i in range(EVENTS_PER_MESSAGE)
    ]
    return json.dumps(events).encode()


async def count(clickhouse: ClickHouse) -> int:
    result = await clickhouse.query(f"SELECT count() FROM `{clickhouse.database}`.`{events_table('clickstream')}`")
    return int(result.rows[0][0])


def dying_acks(monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    """Every ack after the first `after` raises, as a process killed between two acks."""
    acks = 0
    real_ack, real_ack_sync = Msg.ack, Msg.ack_sync

    def dies(real: Any) -> Any:
        async def ack(self: Msg, *args: Any) -> Any:
            nonlocal acks
            if acks >= after:
                raise ConnectionError("SIGKILL")
            acks += 1
            return await real(self, *args)

        return ack

    monkeypatch.setattr(Msg, "ack", dies(real_ack))
    monkeypatch.setattr(Msg, "ack_sync", dies(real_ack_sync))


async def ack_pending(nc: Any, worker: PartitionWorker) -> int:
    reply = await nc.request(f"$JS.API.CONSUMER.INFO.{worker.consumer.stream}.{worker.consumer.name}", b"")
    pending: int = json.loads(reply.data)["num_ack_pending"]
    return pending


async def test_a_batch_acked_halfway_is_finished_by_the_next_worker_without_a_second_insert(
    nats_server: NatsServer, clickhouse: ClickHouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_catalog(REPO / "configs").modules["clickstream"]
    await apply_schema(clickhouse, Catalog({"clickstream": config}))
    limits = BatchLimits(max_messages=6, fetch_wait=0.2, ack_wait=1.0, priority_timeout=1.0)
    stopping = asyncio.Event()
    first = await nats.connect(nats_server.url)
    js = first.jetstream()
    await ensure_event_stream(js, "clickstream")
    boundaries = await open_bucket(js)
    dying = PartitionWorker(first, clickhouse, boundaries, config, 0, PartitionState(), limits)
    await dying.start()
    for message in range(6):
        await js.publish(event_subject("clickstream", 0), payload(message))

    # The first worker inserts its batch of 6 messages, acks 2 of them and dies.
    dying_acks(monkeypatch, 2)
    with pytest.raises(ConnectionError):
        for _ in range(20):
            await dying.step(stopping)
    monkeypatch.undo()
    assert await count(clickhouse) == 6 * EVENTS_PER_MESSAGE
    assert len(await read_open(boundaries, "clickstream", 0)) == 1
    await first.close()

    # The next worker gets the 4 unacked messages back after ack_wait and finishes the recorded batch.
    second = await nats.connect(nats_server.url)
    try:
        boundaries = await open_bucket(second.jetstream())
        survivor = PartitionWorker(second, clickhouse, boundaries, config, 0, PartitionState(), limits)
        await survivor.start()
        deadline = time.monotonic() + 20
        while await read_open(boundaries, "clickstream", 0) or await ack_pending(second, survivor):
            assert time.monotonic() < deadline, "the recorded batch was never finished: the partition is stuck"
            await survivor.step(stopping)
        assert await count(clickhouse) == 6 * EVENTS_PER_MESSAGE  # not inserted a second time

        # And the partition flows again.
        await second.jetstream().publish(event_subject("clickstream", 0), payload(6))
        while await count(clickhouse) < 7 * EVENTS_PER_MESSAGE:
            assert time.monotonic() < deadline + 10, "new events after the finished batch never landed"
            await survivor.step(stopping)
        assert await count(clickhouse) == 7 * EVENTS_PER_MESSAGE
    finally:
        await second.close()
