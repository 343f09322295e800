"""The partition loop: fetch a microbatch, insert it, and only then ack it and announce it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from nats.aio.client import Client as NATS
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client import Counter, Histogram

from strix_clickhouse import ClickHouse
from strix_clickhouse.columns import events_table
from strix_config import ModuleConfig
from strix_contracts.events import wire_decoder
from strix_contracts.notices import Committed
from strix_contracts.subjects import committed_subject, event_stream, event_subject, rollup_consumer
from strix_rollup.batches import Microbatch, build_microbatch
from strix_runtime.logs import get_logger

log = get_logger("rollup")

EVENTS_INSERTED = Counter("strix_rollup_events_inserted", "Events inserted into ClickHouse", ["module"])
INSERT_SECONDS = Histogram("strix_rollup_insert_seconds", "Time to insert one microbatch", ["module"])
INSERT_FAILURES = Counter("strix_rollup_insert_failures", "Failed microbatch inserts (retried)", ["module"])


@dataclass(frozen=True)
class BatchLimits:
    """100 messages of up to 500 events: microbatches of up to 50 k events, cut sooner when the stream is idle."""

    max_messages: int = 100
    fetch_timeout: float = 0.2
    max_backoff: float = 10.0


@dataclass
class PartitionState:
    inserted_events: int = 0
    batches: int = 0
    last_commit: float | None = None
    last_error: str | None = None
    lag: dict[str, Any] = field(default_factory=dict)


async def insert_microbatch(clickhouse: ClickHouse, batch: Microbatch) -> None:
    await clickhouse.insert_columns(
        events_table(batch.module),
        batch.columns,
        settings={
            "insert_deduplicate": 1,
            "insert_deduplication_token": batch.token,
            "deduplicate_blocks_in_dependent_materialized_views": 1,
        },
    )


async def _subscribe(nc: NATS, config: ModuleConfig, partition: int) -> JetStreamContext.PullSubscription:
    durable = rollup_consumer(config.module, partition)
    return await nc.jetstream().pull_subscribe(
        event_subject(config.module, partition),
        durable=durable,
        stream=event_stream(config.module),
        config=ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.ALL,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=60,
            max_ack_pending=-1,
            filter_subject=event_subject(config.module, partition),
        ),
    )


async def _insert_with_retry(
    clickhouse: ClickHouse, batch: Microbatch, state: PartitionState, stopping: asyncio.Event, limits: BatchLimits
) -> bool:
    """Insert until ClickHouse holds the batch (True) or we are stopping (False: leave it unacked)."""
    backoff = 0.2
    while not stopping.is_set():
        started = time.perf_counter()
        try:
            await insert_microbatch(clickhouse, batch)
        except Exception as exc:  # ClickHouse away or refusing: retry with back-off, never ack
            INSERT_FAILURES.labels(batch.module).inc()
            state.last_error = str(exc)[:500]
            log.warning(
                "rollup.insert_failed",
                module=batch.module,
                partition=batch.partition,
                token=batch.token,
                error=state.last_error,
                retry_in=backoff,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, limits.max_backoff)
            continue
        INSERT_SECONDS.labels(batch.module).observe(time.perf_counter() - started)
        return True
    return False


async def _process_one_fetch(
    nc: NATS,
    clickhouse: ClickHouse,
    config: ModuleConfig,
    partition: int,
    subscription: JetStreamContext.PullSubscription,
    decoder: msgspec.json.Decoder[Any],
    state: PartitionState,
    stopping: asyncio.Event,
    limits: BatchLimits,
) -> None:
    try:
        messages = await subscription.fetch(limits.max_messages, timeout=limits.fetch_timeout)
    except (TimeoutError, NatsTimeout):
        return
    if not messages:
        return
    payloads = [(m.metadata.sequence.stream, m.data) for m in messages]
    try:
        batch = build_microbatch(config, decoder, partition, payloads)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        # Ingestion validated these; a payload rollup cannot read is a contract bug. Keep it, loudly.
        log.error(
            "rollup.undecodable_batch",
            module=config.module,
            partition=partition,
            error=str(exc),
            first_seq=payloads[0][0],
            last_seq=payloads[-1][0],
        )
        await nc.publish(f"dlq.rollup.{config.module}", b"\n".join(p for _, p in payloads))
        await messages[-1].ack_sync()
        return
    if not await _insert_with_retry(clickhouse, batch, state, stopping, limits):
        return  # stopping: the batch stays unacked and is re-delivered to whoever takes the partition
    await messages[-1].ack_sync()
    EVENTS_INSERTED.labels(config.module).inc(batch.events)
    state.inserted_events += batch.events
    state.batches += 1
    state.last_commit = time.time()
    state.last_error = None
    if batch.first_event is not None and batch.last_event is not None:
        notice = Committed(
            module=config.module,
            partition=partition,
            events=batch.events,
            first_event=batch.first_event,
            last_event=batch.last_event,
            stream_first=batch.first_seq,
            stream_last=batch.last_seq,
        )
        await nc.publish(committed_subject(config.module), notice.model_dump_json().encode())


async def run_partition(
    nc: NATS,
    clickhouse: ClickHouse,
    config: ModuleConfig,
    partition: int,
    state: PartitionState,
    stopping: asyncio.Event,
    limits: BatchLimits = BatchLimits(),
) -> None:
    """Supervised loop: an unexpected failure is logged and the loop carries on after a pause."""
    decoder = wire_decoder(config)
    subscription = None
    while not stopping.is_set():
        try:
            if subscription is None:
                subscription = await _subscribe(nc, config, partition)
            await _process_one_fetch(nc, clickhouse, config, partition, subscription, decoder, state, stopping, limits)
        except Exception as exc:
            state.last_error = repr(exc)[:500]
            log.exception("rollup.loop_error", module=config.module, partition=partition)
            subscription = None
            await asyncio.sleep(1.0)
