"""The partition loop: form a batch, record its boundaries, insert it, and only then ack it and announce it.

Invariants:
- a batch is acked only after ClickHouse holds it (AckAll on its last message);
- its boundaries are recorded (boundaries.py) before the insert, and a batch whose boundaries are recorded
  is always re-formed from exactly those sequences, under the same token;
- messages re-delivered while still buffered (same sequence) are dropped, never counted twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.kv import KeyValue
from prometheus_client import Counter, Histogram

from strix_clickhouse import ClickHouse
from strix_clickhouse.columns import events_table
from strix_config import ModuleConfig
from strix_contracts.consumers import ensure_pinned_consumer, partition_consumer
from strix_contracts.events import wire_decoder
from strix_contracts.notices import Committed
from strix_contracts.subjects import committed_subject
from strix_rollup.batches import Microbatch, build_microbatch
from strix_rollup.boundaries import Boundary, plan_batch
from strix_rollup.boundary_store import read_open, write_open
from strix_rollup.discovery import Membership
from strix_rollup.pinned import PinnedPuller
from strix_runtime.logs import get_logger

log = get_logger("rollup")

EVENTS_INSERTED = Counter("strix_rollup_events_inserted", "Events inserted into ClickHouse", ["module"])
INSERT_SECONDS = Histogram("strix_rollup_insert_seconds", "Time to insert one microbatch", ["module"])
INSERT_FAILURES = Counter("strix_rollup_insert_failures", "Failed microbatch inserts (retried)", ["module"])
REFORMED = Counter("strix_rollup_batches_reformed", "Recorded batches re-formed after a restart", ["module"])


@dataclass(frozen=True)
class BatchLimits:
    """Up to 100 messages of up to 500 events: microbatches of up to 50 k events, cut sooner when idle."""

    max_messages: int = 100
    fetch_wait: float = 0.25
    max_backoff: float = 10.0
    ack_wait: float = 30.0
    priority_timeout: float = 5.0


@dataclass
class PartitionState:
    inserted_events: int = 0
    batches: int = 0
    last_commit: float | None = None
    last_error: str | None = None
    pin: str | None = None  # the pin id this worker last held; the server's consumer info says who holds it now


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


class PartitionWorker:
    """One module partition: its pinned consumer, its buffer of delivered messages, its recorded boundary."""

    def __init__(
        self,
        nc: NATS,
        clickhouse: ClickHouse,
        boundaries: KeyValue,
        config: ModuleConfig,
        partition: int,
        state: PartitionState,
        limits: BatchLimits,
        membership: Membership | None = None,
    ) -> None:
        self.nc = nc
        self.clickhouse = clickhouse
        self.boundaries = boundaries
        self.config = config
        self.partition = partition
        self.state = state
        self.limits = limits
        self.membership = membership
        self.decoder = wire_decoder(config)
        self.consumer = partition_consumer(config.module, partition, limits.ack_wait, limits.priority_timeout)
        self.puller = PinnedPuller(nc, self.consumer)
        self.buffer: dict[int, Msg] = {}  # delivered, not yet acked, by stream sequence
        self.open: list[Boundary] = []
        self.open_known = False  # whether `open` reflects the KV record (reset when the pin may have moved)

    def reset(self) -> None:
        """Forget everything local: another replica may have processed the partition meanwhile."""
        self.buffer = {}
        self.open = []
        self.open_known = False

    async def start(self) -> None:
        await ensure_pinned_consumer(self.nc, self.consumer)

    def _absorb(self, messages: list[Msg]) -> None:
        for message in messages:
            # A re-delivery of a buffered message is the same message: keep the newest delivery (its ack counts).
            self.buffer[message.metadata.sequence.stream] = message

    async def release(self) -> None:
        """Hand the partition over: buffered messages go back for immediate re-delivery (a recorded batch
        among them is re-formed by the next reader from the KV record), and the pin is given up."""
        for message in self.buffer.values():
            await message.nak()
        self.reset()
        await self.puller.unpin()
        self.state.pin = None

    async def step(self, stopping: asyncio.Event) -> None:
        if self.membership is not None and not self.membership.serves(self.config.module, self.partition):
            if self.buffer or self.puller.pin is not None:
                await self.release()
                log.info("rollup.partition_released", module=self.config.module, partition=self.partition)
            await asyncio.sleep(self.limits.fetch_wait)
            return
        had_pin = self.puller.pin is not None
        messages = await self.puller.fetch(self.limits.max_messages, self.limits.fetch_wait)
        if self.puller.lost_pin or (messages and not had_pin):
            self.puller.lost_pin = False
            self.reset()  # the partition was someone else's for a while: re-read its recorded boundary
        self.state.pin = self.puller.pin
        self._absorb(messages)
        if not self.buffer:
            return
        if not self.open_known:
            self.open = await read_open(self.boundaries, self.config.module, self.partition)
            self.open_known = True
        sequences = sorted(self.buffer)
        count, recorded = plan_batch(sequences, self.open, self.limits.max_messages)
        if count == 0:
            if recorded is not None and await self._nothing_else_pending():
                await self._finish_partly_acked(recorded, sequences)
            return  # the recorded batch is not fully re-delivered yet: keep fetching
        chosen_sequences = sequences[:count]
        chosen = [self.buffer[s] for s in chosen_sequences]
        if recorded is not None:
            boundary = recorded
            REFORMED.labels(self.config.module).inc()
            log.info(
                "rollup.batch_reformed",
                module=self.config.module,
                partition=self.partition,
                first=boundary.first,
                last=boundary.last,
            )
        else:
            boundary = Boundary(chosen_sequences[0], chosen_sequences[-1], count)
            self.open = [*self.open, boundary]
            await write_open(self.boundaries, self.config.module, self.partition, self.open)
        batch = self._decode(chosen)
        if batch is not None and not await self._insert(batch, stopping):
            return  # stopping: left unacked, re-formed by whoever takes the partition
        await self._close_batch(chosen_sequences, boundary)
        if batch is not None:
            await self._committed(batch)

    async def _close_batch(self, sequences: list[int], boundary: Boundary) -> None:
        """Ack the batch's buffered messages one by one, then forget its recorded boundary."""
        for sequence in sequences:
            await self.buffer.pop(sequence).ack_sync()
        self.open = [b for b in self.open if b != boundary]
        await write_open(self.boundaries, self.config.module, self.partition, self.open)

    async def _nothing_else_pending(self) -> bool:
        """Whether every message delivered and not acked on this partition is in our buffer."""
        subject = f"$JS.API.CONSUMER.INFO.{self.consumer.stream}.{self.consumer.name}"
        reply = await self.nc.request(subject, b"", timeout=5)
        pending = json.loads(reply.data).get("num_ack_pending")
        return isinstance(pending, int) and pending <= len(self.buffer)

    async def _finish_partly_acked(self, recorded: Boundary, sequences: list[int]) -> None:
        """A recorded batch some of whose messages will never come back: they were acked, and a batch is
        acked only after ClickHouse holds it (the process died between two acks). Ack the rest, do not insert."""
        members = [s for s in sequences if recorded.first <= s <= recorded.last]
        await self._close_batch(members, recorded)
        log.warning(
            "rollup.batch_finished_after_partial_ack",
            module=self.config.module,
            partition=self.partition,
            first=recorded.first,
            last=recorded.last,
            acked_now=len(members),
            recorded=recorded.count,
        )

    def _decode(self, chosen: list[Msg]) -> Microbatch | None:
        payloads = [(m.metadata.sequence.stream, m.data) for m in chosen]
        try:
            return build_microbatch(self.config, self.decoder, self.partition, payloads)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            # Ingestion validated these; a payload rollup cannot read is a contract bug. Keep it, loudly.
            log.error(
                "rollup.undecodable_batch",
                module=self.config.module,
                partition=self.partition,
                error=str(exc),
                first_seq=payloads[0][0],
                last_seq=payloads[-1][0],
            )
            return None

    async def _insert(self, batch: Microbatch, stopping: asyncio.Event) -> bool:
        """Insert until ClickHouse holds the batch (True) or we are stopping (False)."""
        backoff = 0.2
        while not stopping.is_set():
            started = time.perf_counter()
            try:
                await insert_microbatch(self.clickhouse, batch)
            except Exception as exc:  # ClickHouse away or refusing: retry with back-off, never ack
                INSERT_FAILURES.labels(batch.module).inc()
                self.state.last_error = str(exc)[:500]
                log.warning(
                    "rollup.insert_failed",
                    module=batch.module,
                    partition=batch.partition,
                    token=batch.token,
                    error=self.state.last_error,
                    retry_in=backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.limits.max_backoff)
                continue
            INSERT_SECONDS.labels(batch.module).observe(time.perf_counter() - started)
            return True
        return False

    async def _committed(self, batch: Microbatch) -> None:
        EVENTS_INSERTED.labels(self.config.module).inc(batch.events)
        self.state.inserted_events += batch.events
        self.state.batches += 1
        self.state.last_commit = time.time()
        self.state.last_error = None
        if batch.first_event is not None and batch.last_event is not None:
            notice = Committed(
                module=self.config.module,
                partition=self.partition,
                events=batch.events,
                first_event=batch.first_event,
                last_event=batch.last_event,
                stream_first=batch.first_seq,
                stream_last=batch.last_seq,
            )
            await self.nc.publish(committed_subject(self.config.module), notice.model_dump_json().encode())


async def run_partition(worker: PartitionWorker, stopping: asyncio.Event) -> None:
    """Supervised loop: an unexpected failure is logged, local state dropped, and the loop carries on."""
    started = False
    while not stopping.is_set():
        try:
            if not started:
                await worker.start()
                started = True
            await worker.step(stopping)
        except Exception as exc:
            worker.state.last_error = repr(exc)[:500]
            log.exception("rollup.loop_error", module=worker.config.module, partition=worker.partition)
            worker.reset()
            await asyncio.sleep(1.0)
