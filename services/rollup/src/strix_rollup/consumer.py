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
import pyarrow as pa
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.kv import KeyValue
from prometheus_client import Counter, Histogram

from strix_clickhouse import ClickHouse
from strix_clickhouse.columns import POSITION_COLUMN, SEQUENCE_COLUMN, events_table
from strix_config import ModuleConfig
from strix_contracts.deadletters import DeadLetter
from strix_contracts.notices import Committed
from strix_contracts.subjects import committed_subject
from strix_rollup.batches import BatchReader, Columns, Microbatch, Rows, as_lists, build_microbatch, distinct, values
from strix_rollup.boundaries import Boundary, plan_batch
from strix_rollup.boundary_store import read_open, write_open
from strix_rollup.deadletters import SOURCE as DEAD_LETTER_SOURCE
from strix_rollup.deadletters import event_bytes, send_dead_letters
from strix_rollup.dedup import first_counts, keep_events
from strix_rollup.discovery import Membership
from strix_rollup.isolation import Isolation, classify, cut, reason_text, refused_field
from strix_rollup.pinned import PinnedPuller
from strix_rollup.probe import IdProbe
from strix_runtime.consumers import ensure_pinned_consumer, partition_consumer
from strix_runtime.logs import get_logger
from strix_runtime.tracing import clickhouse_span

log = get_logger("rollup")

EVENTS_INSERTED = Counter("strix_rollup_events_inserted", "Events inserted into ClickHouse", ["module"])
INSERT_SECONDS = Histogram("strix_rollup_insert_seconds", "Time to insert one microbatch", ["module"])
INSERT_FAILURES = Counter("strix_rollup_insert_failures", "Failed microbatch inserts (retried)", ["module"])
REPEATS = Counter("strix_rollup_events_repeated", "Events left out: their id was counted before", ["module"])
REFORMED = Counter("strix_rollup_batches_reformed", "Recorded batches re-formed after a restart", ["module"])
# Where a partition worker's time goes, per stage: `read` (messages into columns), `probe` (earlier ids),
# `insert` (ClickHouse), `settle` (boundary records, acks and the commit notice). The bench reports them.
STAGE_SECONDS = Counter("strix_rollup_stage_seconds", "Seconds spent per stage of a microbatch", ["module", "stage"])


class Stopping(Exception):
    """The worker is stopping in the middle of an insert: leave the batch unacked."""


_AT_ONCE = 0.001  # a fetch of the messages waiting now, no wait for more


@dataclass(frozen=True)
class BatchLimits:
    """Up to 100 messages of up to 500 events: microbatches of up to 50 k events, cut sooner when idle.

    A fetch returns the messages waiting at once; when none wait, the first to arrive within `fetch_wait`, and
    that batch lingers `linger` and takes what came meanwhile. Every insert costs a part in each table it fills
    (~15-20 ms each here, ~65 ms for the clickstream example's seven), so batches grow by themselves while
    ClickHouse is busy, and stay small, and fresh, while it is not."""

    max_messages: int = 100
    fetch_wait: float = 0.25
    linger: float = 0.05
    max_backoff: float = 10.0
    ack_wait: float = 30.0
    priority_timeout: float = 5.0


@dataclass
class PartitionState:
    inserted_events: int = 0
    batches: int = 0
    last_commit: float | None = None
    last_error: str | None = None
    dead_letters: int = 0  # events ClickHouse refused, sent to the dead-letter stream
    pin: str | None = None  # the pin id this worker last held; the server's consumer info says who holds it now


# A backfill may span years in one batch: the parts per partition are still checked by ClickHouse (TOO_MANY_PARTS,
# transient), but one block touching more than 100 monthly partitions must not be refused (code 252) forever.
INSERT_SETTINGS = {
    "insert_deduplicate": 1,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
    # The views fill their tables side by side: a small insert into the example's seven tables 100-115 ms -> 60-70.
    "parallel_view_processing": 1,
    "max_partitions_per_insert_block": 0,
    "throw_on_max_partitions_per_insert_block": 0,
}


async def insert_rows(clickhouse: ClickHouse, module: str, columns: Rows, token: str) -> None:
    """One block into the raw table (and through it every rollup), de-duplicated by `token`."""
    settings = {**INSERT_SETTINGS, "insert_deduplication_token": token}
    table = events_table(module)
    if isinstance(columns, pa.Table):
        with clickhouse_span("insert", table=table, rows=columns.num_rows):
            await clickhouse.insert_arrow(table, columns, settings=settings)
        return
    with clickhouse_span("insert", table=table, rows=len(columns[SEQUENCE_COLUMN])):
        await clickhouse.insert_columns(table, columns, settings=settings)


async def drop_repeats(probe: IdProbe, batch: Microbatch) -> Microbatch:
    """Leave out events whose id was counted before (dedup.py); the ids table is the memory, in ClickHouse,
    so it survives restarts and moves with the partition (probe.py looks it up)."""
    if not batch.events:
        return batch
    module = probe.config.module
    earlier = await probe.earlier(batch)
    rows = batch.columns
    id_field = probe.id_field
    if not earlier and distinct(rows, id_field):
        return batch  # nothing counted before, no id twice: every event counts (no Python value needed)
    ids = values(rows, id_field)
    keep = first_counts(ids, values(rows, SEQUENCE_COLUMN), values(rows, POSITION_COLUMN), earlier)
    kept = keep_events(batch, keep, probe.config.event.time_field)
    if kept.events < batch.events:
        REPEATS.labels(module).inc(batch.events - kept.events)
        log.info("rollup.repeats_dropped", module=module, partition=batch.partition, repeats=batch.events - kept.events)
    return kept


class _Stage:
    """Adds the seconds of a `with` block to STAGE_SECONDS. Blocks may overlap (a group settles while the next
    is read): the sum of their ends less the sum of their starts is the same whichever start an end is paired
    with."""

    def __init__(self, module: str, stage: str) -> None:
        self.counter = STAGE_SECONDS.labels(module, stage)
        self.began: list[float] = []

    def __enter__(self) -> None:
        self.began.append(time.perf_counter())

    def __exit__(self, *_: object) -> None:
        self.counter.inc(time.perf_counter() - self.began.pop())


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
        self.reader = BatchReader.of(config)
        self.stages = {s: _Stage(config.module, s) for s in ("read", "probe", "insert", "settle")}
        self.consumer = partition_consumer(config.module, partition, limits.ack_wait, limits.priority_timeout)
        self.puller = PinnedPuller(nc, self.consumer)
        self.buffer: dict[int, Msg] = {}  # delivered, not yet acked, by stream sequence
        self.taken: dict[int, Msg] = {}  # out of the buffer (inserted), not yet acked: dead letters read them
        self.open: list[Boundary] = []
        self.probe: IdProbe | None = None  # made at the first batch with ids (dedup)
        self.open_known = False  # whether `open` reflects the KV record (reset when the pin may have moved)

    def reset(self) -> None:
        """Forget everything local: another replica may have processed the partition meanwhile."""
        self.buffer = {}
        self.taken = {}
        self.open = []
        self.open_known = False

    async def start(self) -> None:
        await ensure_pinned_consumer(self.nc, self.consumer)

    def absorb(self, messages: list[Msg]) -> None:
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
        messages = await self._gather()
        if self.puller.lost_pin or (messages and not had_pin):
            self.puller.lost_pin = False
            self.reset()  # the partition was someone else's for a while: re-read its recorded boundary
        self.state.pin = self.puller.pin
        self.absorb(messages)
        if not self.buffer:
            return
        if not self.open_known:
            self.open = await read_open(self.boundaries, self.config.module, self.partition)
            self.open_known = True
        sequences = sorted(self.buffer)
        count, recorded = plan_batch(sequences, self.open, self.limits.max_messages)
        if count == 0:
            if recorded is not None and await self.nothing_else_pending():
                await self.finish_partly_acked(recorded, sequences)
            return  # the recorded batch is not fully re-delivered yet: keep fetching
        if recorded is not None and recorded.group is not None:
            # A member of a joint batch (joint.py) is re-formed only with the other members, by a joint loop: alone it
            # would go under another token, and count twice if the joint insert had landed. A deployment that
            # mixes joint and per-partition replicas of one module stops here, loudly (readiness names it stalled).
            log.error(
                "rollup.joint_batch_needs_joint_reader",
                module=self.config.module,
                partition=self.partition,
                group=recorded.group,
            )
            await asyncio.sleep(self.limits.fetch_wait)
            return
        await self.process(sequences[:count], recorded, stopping)

    async def process(self, chosen_sequences: list[int], recorded: Boundary | None, stopping: asyncio.Event) -> None:
        """Count one batch of buffered messages: record it (unless re-formed), read, probe, insert, ack, announce."""
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
            boundary = Boundary(chosen_sequences[0], chosen_sequences[-1], len(chosen_sequences))
            self.open = [*self.open, boundary]
            with self.stages["settle"]:
                await write_open(self.boundaries, self.config.module, self.partition, self.open)
        with self.stages["read"]:
            batch = self.decode(chosen)
        if batch is not None and self.config.event.id_field is not None:
            with self.stages["probe"]:
                batch = await self._drop_repeats(batch)
        refused = 0
        if batch is not None and batch.events:
            with self.stages["insert"]:
                outcome = await self.insert(batch, stopping)
            if outcome is None:
                return  # stopping: left unacked, re-formed by whoever takes the partition
            refused = outcome
        with self.stages["settle"]:
            await self.close_batch(chosen_sequences, boundary)
            if batch is not None:
                await self.committed(batch, batch.events - refused)

    async def _gather(self) -> list[Msg]:
        """The next batch's messages: those waiting now, at once; after idleness, the first to arrive within
        `fetch_wait` and, after `linger`, those that came meanwhile. Messages already waiting mean the partition
        is busy and its batches fill by themselves (the last batch took that long): lingering then only delays them."""
        limit = self.limits.max_messages
        messages = await self.puller.fetch(limit, _AT_ONCE)
        if messages:
            return messages
        messages = await self.puller.fetch(limit, self.limits.fetch_wait)
        if messages and len(messages) < limit and self.limits.linger > 0:
            await asyncio.sleep(self.limits.linger)  # let the batch fill: every insert has a fixed cost
            messages += await self.puller.fetch(limit - len(messages), _AT_ONCE)
        return messages

    async def _drop_repeats(self, batch: Microbatch) -> Microbatch:
        if self.probe is None:
            self.probe = IdProbe.of(self.clickhouse, self.config, self.partition)
        return await drop_repeats(self.probe, batch)

    async def close_batch(self, sequences: list[int], boundary: Boundary) -> None:
        """Ack the batch's buffered messages, then forget its recorded boundary."""
        await self.ack(sequences)
        await self.forget(boundary)

    async def ack(self, sequences: list[int]) -> None:
        """Ack buffered messages (taken out of the buffer)."""
        await self.ack_taken(self.take(sequences))

    def take(self, sequences: list[int]) -> list[Msg]:
        """Buffered messages out of the buffer, to be acked: the next batch is planned without them."""
        taken = [self.buffer.pop(sequence) for sequence in sequences]
        self.taken.update(zip(sequences, taken, strict=True))
        return taken

    async def ack_taken(self, messages: list[Msg]) -> None:
        """The acks go out in order on one connection and only the last waits for the server's answer: the server
        has then taken every one before it."""
        for message in messages[:-1]:
            await message.ack()
        await messages[-1].ack_sync()
        for message in messages:
            self.taken.pop(message.metadata.sequence.stream, None)

    async def forget(self, boundary: Boundary) -> None:
        """Remove a batch from the partition's record."""
        self.open = [b for b in self.open if b != boundary]
        await write_open(self.boundaries, self.config.module, self.partition, self.open)

    async def acked_through(self) -> int:
        """The partition's ack floor: every message up to this stream sequence is acked."""
        subject = f"$JS.API.CONSUMER.INFO.{self.consumer.stream}.{self.consumer.name}"
        reply = await self.nc.request(subject, b"", timeout=5)
        floor = (json.loads(reply.data).get("ack_floor") or {}).get("stream_seq")
        return floor if isinstance(floor, int) else 0

    async def nothing_else_pending(self) -> bool:
        """Whether every message delivered and not acked on this partition is in our buffer."""
        subject = f"$JS.API.CONSUMER.INFO.{self.consumer.stream}.{self.consumer.name}"
        reply = await self.nc.request(subject, b"", timeout=5)
        pending = json.loads(reply.data).get("num_ack_pending")
        return isinstance(pending, int) and pending <= len(self.buffer)

    async def finish_partly_acked(self, recorded: Boundary, sequences: list[int]) -> None:
        """A recorded batch some of whose messages will never come back: they were acked, and a batch is
        acked only after ClickHouse holds it (the process died between two acks). Ack the rest, do not insert."""
        members = [s for s in sequences if recorded.first <= s <= recorded.last]
        await self.close_batch(members, recorded)
        log.warning(
            "rollup.batch_finished_after_partial_ack",
            module=self.config.module,
            partition=self.partition,
            first=recorded.first,
            last=recorded.last,
            acked_now=len(members),
            recorded=recorded.count,
        )

    def decode(self, chosen: list[Msg]) -> Microbatch | None:
        payloads = [(m.metadata.sequence.stream, m.data) for m in chosen]
        try:
            return build_microbatch(self.reader, self.partition, payloads)
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

    async def insert(self, batch: Microbatch, stopping: asyncio.Event) -> int | None:
        """Insert until ClickHouse holds the batch: the number of events it refused (isolated by isolation.py and
        dead-lettered, the rest inserted), or None when we are stopping."""
        try:
            refusal = await self.insert_rows(batch, batch.columns, batch.token, stopping)
            if refusal is None:
                return 0
            return await self._isolate(batch, refusal, stopping)
        except Stopping:
            return None  # left unacked: the batch is re-formed and the same sub-inserts repeated

    async def _isolate(self, batch: Microbatch, refusal: str, stopping: asyncio.Event) -> int:
        """Split the refused batch down to the events ClickHouse refuses on their own; dead-letter those."""
        columns = as_lists(batch.columns)  # slices and dead letters want Python values
        rows = len(columns[SEQUENCE_COLUMN])
        log.warning(
            "rollup.batch_refused", module=batch.module, partition=batch.partition, token=batch.token, reason=refusal
        )
        isolation = Isolation(rows, batch.token)
        reasons = dict.fromkeys(isolation.dead, refusal)  # a batch of one event is refused as it stands
        while (piece := isolation.next()) is not None:
            reason = await self.insert_rows(batch, cut(columns, piece), piece.token, stopping)
            if reason is None:
                isolation.landed(piece)
                continue
            isolation.refused(piece)
            if piece.size == 1:
                reasons[piece.start] = reason
        letters = [self._dead_letter(batch, columns, row, reasons[row]) for row in isolation.dead]
        await send_dead_letters(self.nc.jetstream(), batch.module, batch.partition, letters)
        self.state.dead_letters += len(letters)
        for letter in letters:
            log.error(
                "rollup.event_dead_lettered",
                module=batch.module,
                partition=batch.partition,
                sequence=letter.sequence,
                position=letter.position,
                reason=letter.reason,
            )
        return len(letters)

    async def insert_rows(self, batch: Microbatch, columns: Rows, token: str, stopping: asyncio.Event) -> str | None:
        """Insert rows under `token`, retrying transient failures with back-off until ClickHouse holds them
        (None); ClickHouse's reason when it refuses the data itself. Raises Stopping when we are stopping."""
        backoff = 0.2
        while not stopping.is_set():
            started = time.perf_counter()
            try:
                await insert_rows(self.clickhouse, batch.module, columns, token)
            except Exception as exc:
                reason = reason_text(exc)
                if classify(exc) == "refused":
                    return reason
                INSERT_FAILURES.labels(batch.module).inc()
                self.state.last_error = reason[:500]
                log.warning(
                    "rollup.insert_failed",
                    module=batch.module,
                    partition=batch.partition,
                    token=token,
                    error=self.state.last_error,
                    retry_in=backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.limits.max_backoff)
                continue
            INSERT_SECONDS.labels(batch.module).observe(time.perf_counter() - started)
            return None
        raise Stopping

    def _dead_letter(self, batch: Microbatch, columns: Columns, row: int, reason: str) -> DeadLetter:
        sequence = int(columns[SEQUENCE_COLUMN][row])
        position = int(columns[POSITION_COLUMN][row])
        message = self.buffer.get(sequence) or self.taken.get(sequence)
        fields = {name: columns[name][row] for name in self.config.event.fields}
        return DeadLetter(
            payload=event_bytes(message.data if message is not None else None, position, fields),
            reason=reason,
            field=refused_field(reason),
            source=DEAD_LETTER_SOURCE,
            partition=batch.partition,
            module=batch.module,
            sequence=sequence,
            position=position,
        )

    async def committed(self, batch: Microbatch, inserted: int) -> None:
        EVENTS_INSERTED.labels(self.config.module).inc(inserted)
        self.state.inserted_events += inserted
        self.state.batches += 1
        self.state.last_commit = time.time()
        self.state.last_error = None
        if batch.first_event is not None and batch.last_event is not None:
            notice = Committed(
                module=self.config.module,
                partition=self.partition,
                events=inserted,
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
