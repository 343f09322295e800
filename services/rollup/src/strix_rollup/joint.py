"""One loop for every partition of a module, inserting one batch of each as a single block (embedded chDB).

chDB runs one statement at a time, and every insert pays a fixed cost per table it fills whatever its size
(~70 ms for the clickstream example's eight tables, see the README's ingest costs): four partitions inserting
apart pay it four times, and leave four parts per table for the merges to combine. The joint loop forms each
partition's batch as PartitionWorker does, reads and probes them, and records them as one group (each member's KV
record names the group's token and every member, ascending by partition; the first member's record written
first) once the group before has settled; then it inserts the members as one block under that token, acks every
member's messages, and only then forgets the members. Rounds overlap: the insert, acks and forgets of a group run
while the next group is read and probed (never recorded: a partition's record holds one group at a time).

After a crash the next reader re-forms a recorded group only as a whole, from the records:
- every member still recorded: wait until all of every member's messages are back and insert them together
  under the group's token (ClickHouse drops the block if the first insert had landed) — unless a member is found
  acked halfway, which happens only after the insert: the group is then marked landed in every record, and each
  member is acked without an insert;
- a member's messages all acked: acking had begun, so the insert had landed: likewise;
- the first member no longer recorded: forgetting had begun, so every message had been acked: likewise;
- the first member recorded and a later one not: recording was cut short (nothing inserted: the messages come
  back and form new batches) or forgetting was (every message acked: none comes back): the group is forgotten.
Membership deals whole modules in joint mode (discovery.py), so one replica holds every member.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.kv import KeyValue

from strix_clickhouse import ClickHouse
from strix_clickhouse.columns import SEQUENCE_COLUMN
from strix_config import ModuleConfig
from strix_rollup.batches import Microbatch, Rows, join_batches, row_count, rows_between
from strix_rollup.boundaries import Boundary, Member, member_boundary, plan_batch
from strix_rollup.boundary_store import read_open, write_open
from strix_rollup.consumer import REFORMED, BatchLimits, PartitionState, PartitionWorker, Stopping, drop_repeats
from strix_rollup.discovery import Membership
from strix_rollup.probe import IdProbe
from strix_runtime.logs import get_logger

log = get_logger("rollup")

Plan = tuple[int, Boundary | None]  # plan_batch's answer for one partition


def group_token(module: str, members: list[Member]) -> str:
    """The joint batch's de-duplication token: its members' sequences, so it is the same whenever re-formed."""
    return f"{module}:joint:" + ",".join(f"{m.partition}:{m.first}-{m.last}" for m in members)


def events_between(rows: Rows, first: int, last: int) -> int:
    """How many rows have a stream sequence in [first, last]."""
    if isinstance(rows, pa.Table):
        sequences = rows.column(SEQUENCE_COLUMN).to_numpy()
        return int(np.count_nonzero((sequences >= first) & (sequences <= last)))
    return sum(1 for s in rows[SEQUENCE_COLUMN] if first <= s <= last)


class JointWorker:
    """Every partition of one module: their consumers and buffers (PartitionWorker's), one insert per round."""

    def __init__(
        self,
        nc: NATS,
        clickhouse: ClickHouse,
        boundaries: KeyValue,
        config: ModuleConfig,
        states: dict[int, PartitionState],
        limits: BatchLimits,
        membership: Membership | None = None,
    ) -> None:
        self.config = config
        self.clickhouse = clickhouse
        self.boundaries = boundaries
        self.limits = limits
        self.membership = membership
        self.parts = {
            p: PartitionWorker(nc, clickhouse, boundaries, config, p, states[p], limits) for p in sorted(states)
        }
        self.lead = self.parts[min(self.parts)]  # its stage counters and insert retries serve the joint batch
        self.fetches: dict[int, asyncio.Task[tuple[bool, list[Msg]]]] = {}
        self.probe: IdProbe | None = None
        # The last group's landing: its insert, then its acks, record forgets and notices (`_land`), while the
        # next group is read; `inserting` resolves once its insert has ended.
        self.landing: asyncio.Task[bool] | None = None
        self.inserting: asyncio.Future[None] | None = None

    async def settle_quietly(self, wait: float = 5.0) -> None:
        """Let the last group's landing finish (the loop failed or ends): its failure only logged — its messages
        come back, and its records say what became of it."""
        landing, self.landing = self.landing, None
        if landing is None:
            return
        await asyncio.wait([landing], timeout=wait)
        if landing.done() and not landing.cancelled() and landing.exception() is not None:
            log.warning("rollup.landing_failed", module=self.config.module, error=repr(landing.exception()))
        elif not landing.done():
            landing.cancel()

    async def settled(self) -> bool:
        """Wait for the last group's landing; whether it landed (False: the loop is stopping). Its failure is
        raised here, as if it had been waited for."""
        landing, self.landing = self.landing, None
        return True if landing is None else await landing

    async def inserted(self) -> None:
        """Wait for the last group's insert to end (its ids must be in ClickHouse before the next probe)."""
        if self.inserting is not None and self.landing is not None:
            either: list[asyncio.Future[Any]] = [self.inserting, self.landing]  # the landing may fail before
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)

    async def start(self) -> None:
        for part in self.parts.values():
            await part.start()

    def reset(self) -> None:
        for part in self.parts.values():
            part.reset()

    def stop_fetches(self) -> None:
        """Messages a cancelled fetch had on the way come back after `ack_wait`."""
        for task in self.fetches.values():
            task.cancel()
        self.fetches = {}

    async def step(self, stopping: asyncio.Event) -> None:
        module = self.config.module
        if self.landing is not None and self.landing.done():
            await self.settled()  # a failure while landing the last group is this loop's failure
        if self.membership is not None and not self.membership.serves(module, 0):
            await self.settled()
            self.stop_fetches()
            for part in self.parts.values():
                if part.buffer or part.puller.pin is not None:
                    await part.release()
                    log.info("rollup.partition_released", module=module, partition=part.partition)
            await asyncio.sleep(self.limits.fetch_wait)
            return
        for partition, (had_pin, messages) in (await self._gather()).items():
            part = self.parts[partition]
            if part.puller.lost_pin or (messages and not had_pin):
                part.puller.lost_pin = False
                await self.settle_quietly()  # the last group's forgets write the records this reset re-reads
                part.reset()  # the partition was someone else's for a while: re-read its recorded boundary
            part.state.pin = part.puller.pin
            part.absorb(messages)
        if not all(part.open_known for part in self.parts.values()):
            for part in self.parts.values():
                part.open = await read_open(self.boundaries, module, part.partition)
                part.open_known = True
            await self._forget_acked()
        if not any(part.buffer for part in self.parts.values()):
            return
        plans = {
            p: plan_batch(sorted(part.buffer), part.open, self.limits.max_messages)
            for p, part in self.parts.items()
            if part.buffer
        }
        for partition, (count, recorded) in plans.items():
            if recorded is None:
                continue
            await self.settled()  # re-forming reads the records and the ack floors: the last group's must be in
            if recorded.group is not None:
                await self._reform(recorded, plans, stopping)
                return
            # A batch the per-partition loop recorded (before this module ran jointly): re-formed on its own.
            part = self.parts[partition]
            sequences = sorted(part.buffer)
            if count:
                await part.process(sequences[:count], recorded, stopping)
            elif await part.nothing_else_pending():
                await part.finish_partly_acked(recorded, sequences)
            return
        members = []
        for partition, (count, _) in sorted(plans.items()):
            if count:
                sequences = sorted(self.parts[partition].buffer)[:count]
                members.append(Member(partition, sequences[0], sequences[-1], count))
        if members:
            await self._count_new(members, stopping)

    async def _gather(self) -> dict[int, tuple[bool, list[Msg]]]:
        """What each partition's fetch brought: (whether it held the pin before, messages). Fetches run side by
        side and outlive a round: once one answers, the others have `linger` to answer too."""
        for partition, part in self.parts.items():
            if partition not in self.fetches:
                self.fetches[partition] = asyncio.create_task(self._fetch(part))
        _, pending = await asyncio.wait(self.fetches.values(), return_when=asyncio.FIRST_COMPLETED)
        if pending and self.limits.linger > 0:
            await asyncio.wait(pending, timeout=self.limits.linger)
        arrived = {}
        for partition, task in list(self.fetches.items()):
            if task.done():
                del self.fetches[partition]
                arrived[partition] = task.result()
        return arrived

    async def _fetch(self, part: PartitionWorker) -> tuple[bool, list[Msg]]:
        had_pin = part.puller.pin is not None
        return had_pin, await part.puller.fetch(self.limits.max_messages, self.limits.fetch_wait)

    async def _count_new(self, members: list[Member], stopping: asyncio.Event) -> None:
        group = group_token(self.config.module, members)
        chosen = []
        for member in members:
            part = self.parts[member.partition]
            boundary = member_boundary(member, group, tuple(members))
            chosen.append((part, sorted(part.buffer)[: member.count], boundary))
        await self._count(group, chosen, stopping, new=True)

    async def _record(self, parts: list[PartitionWorker]) -> None:
        """The first member's record first, the others after it (side by side): a record of a later member
        without the first's is then never a group being recorded (see _reform)."""
        await self._write_open(parts[0])
        await asyncio.gather(*(self._write_open(part) for part in parts[1:]))

    async def _write_open(self, part: PartitionWorker) -> None:
        await write_open(self.boundaries, self.config.module, part.partition, part.open)

    async def _reform(self, recorded: Boundary, plans: dict[int, Plan], stopping: asyncio.Event) -> None:
        """Re-form (or finish) the recorded joint batch `recorded` belongs to; see the module docstring."""
        group = recorded.group
        assert group is not None
        module = self.config.module
        held = {m.partition: self._recorded(m.partition, group) for m in recorded.members}
        landed = any(b is not None and b.landed for b in held.values())
        first = recorded.members[0].partition
        if held[first] is None:
            landed = True  # its first member was acked and forgotten: that happens only after the insert
        elif not landed and any(b is None for b in held.values()):
            for partition, boundary in held.items():  # recording was cut short: nothing was inserted
                if boundary is not None:
                    await self.parts[partition].forget(boundary)
            log.warning("rollup.joint_batch_unrecorded", module=module, group=group)
            return
        ready = []
        for partition, boundary in held.items():
            if boundary is None:
                continue
            part = self.parts[partition]
            count, head = plans.get(partition, (0, None))
            if head == boundary and count:
                ready.append((part, sorted(part.buffer)[:count], boundary))
            elif head == boundary and not landed and await part.nothing_else_pending():
                landed = True  # messages acked halfway never come back: the insert had landed
            elif head != boundary and not landed and await part.acked_through() >= boundary.last:
                landed = True  # acked, record not yet forgotten: likewise
        if landed:
            await self._finish_landed(held, plans, ready)
            return
        if len(ready) < len(held):
            return  # not every member is back yet: keep fetching
        REFORMED.labels(module).inc()
        log.info("rollup.batch_reformed", module=module, group=group)
        await self._count(group, ready, stopping)

    async def _finish_landed(
        self,
        held: dict[int, Boundary | None],
        plans: dict[int, Plan],
        ready: list[tuple[PartitionWorker, list[int], Boundary]],
    ) -> None:
        """The group is in ClickHouse: say so in every record still holding a member, then ack each member whose
        messages are back (all of them, or all that will ever come back) and forget it. No insert."""
        await self._mark_landed(held)
        for part, sequences, member in ready:
            await part.close_batch(sequences, replace(member, landed=True))
        finished = {part.partition for part, _, _ in ready}
        for partition, boundary in held.items():
            part = self.parts[partition]
            count, head = plans.get(partition, (0, None))
            if boundary is None or partition in finished:
                continue
            if head is not None and head.group == boundary.group:
                if not count and await part.nothing_else_pending():
                    await part.finish_partly_acked(replace(head, landed=True), sorted(part.buffer))
            elif await part.acked_through() >= boundary.last:  # every message acked before the record was forgotten
                await part.forget(boundary)

    async def _forget_acked(self) -> None:
        """Forget recorded batches all of whose messages are acked, in every member: a crash while forgetting a
        group leaves such records, and none of their messages comes back to resolve them."""
        floors: dict[int, int] = {}
        for part in self.parts.values():
            kept = []
            for boundary in part.open:
                members = boundary.members or (Member(part.partition, boundary.first, boundary.last, boundary.count),)
                for member in members:
                    if member.partition not in floors:
                        floors[member.partition] = await self.parts[member.partition].acked_through()
                if not all(floors[m.partition] >= m.last for m in members):
                    kept.append(boundary)
            if len(kept) < len(part.open):
                part.open = kept
                await self._write_open(part)

    def _recorded(self, partition: int, group: str) -> Boundary | None:
        return next((b for b in self.parts[partition].open if b.group == group), None)

    async def _mark_landed(self, held: dict[int, Boundary | None]) -> None:
        """Say in every record still holding a member that the group landed, before any member is forgotten."""
        for partition, boundary in held.items():
            if boundary is None or boundary.landed:
                continue
            part = self.parts[partition]
            part.open = [replace(b, landed=True) if b == boundary else b for b in part.open]
            await self._write_open(part)
            held[partition] = replace(boundary, landed=True)

    async def _count(
        self,
        group: str,
        members: list[tuple[PartitionWorker, list[int], Boundary]],
        stopping: asyncio.Event,
        new: bool = False,
    ) -> None:
        """Read and probe the members, then land them (`_land`: insert as one block under `group`, ack, announce)
        in the background: the next group is read while this one is inserted. A `new` group is recorded only
        once the last one has settled (its records forgotten): a partition's record then holds one group at a
        time, and no forget of the last group writes a record of this one before its first member's (_reform
        reads a later member recorded without the first as a group already forgotten)."""
        messages = [(part, [part.buffer[s] for s in sequences]) for part, sequences, _ in members]
        with self.lead.stages["read"]:  # Arrow's JSON reader lets go of the interpreter: off the event loop
            batches = await asyncio.to_thread(lambda: [part.decode(chosen) for part, chosen in messages])
        decoded = [b for b in batches if b is not None]
        joint = join_batches(decoded, group) if decoded else None
        await self.inserted()
        if joint is not None and self.config.event.id_field is not None:
            if self.probe is None:
                self.probe = IdProbe.of(self.clickhouse, self.config, self.lead.partition)
            with self.lead.stages["probe"]:
                joint = await drop_repeats(self.probe, joint)
        if not await self.settled():  # one group in ClickHouse and not yet acked at a time
            return  # the last group was left for a re-forming (stopping): so is this one
        if new:
            for part, _, boundary in members:
                part.open = [*part.open, boundary]
            with self.lead.stages["settle"]:
                await self._record([part for part, _, _ in members])
        # The group's messages leave the buffers now: the next batch is planned without them.
        taken = [(part, part.take(sequences), boundary) for part, sequences, boundary in members]
        self.inserting = inserting = asyncio.get_running_loop().create_future()
        self.landing = asyncio.create_task(self._land(group, joint, decoded, batches, taken, stopping, inserting))

    async def _land(
        self,
        group: str,
        joint: Microbatch | None,
        decoded: list[Microbatch],
        batches: list[Microbatch | None],
        taken: list[tuple[PartitionWorker, list[Msg], Boundary]],
        stopping: asyncio.Event,
        inserting: asyncio.Future[None],
    ) -> bool:
        """Insert a group, then settle it; whether it landed (False: stopping, its messages left unacked, so the
        group is re-formed and inserted under the same token)."""
        refused: dict[int, int] = {}
        try:
            if joint is not None and joint.events:
                with self.lead.stages["insert"]:
                    try:
                        refusal = await self.lead.insert_rows(joint, joint.columns, group, stopping)
                    except Stopping:
                        return False
                    if refusal is not None:
                        outcome = await self._insert_apart(joint, decoded, stopping)
                        if outcome is None:
                            return False
                        refused = outcome
        finally:
            inserting.set_result(None)
        counted = []
        for (part, _, _), batch in zip(taken, batches, strict=True):
            if batch is not None and joint is not None:
                inserted = events_between(joint.columns, batch.first_seq, batch.last_seq)
                counted.append((part, batch, inserted - refused.get(part.partition, 0)))
        await self._settle(taken, counted)
        return True

    async def _settle(
        self,
        taken: list[tuple[PartitionWorker, list[Msg], Boundary]],
        counted: list[tuple[PartitionWorker, Microbatch, int]],
    ) -> None:
        """Ack a group in ClickHouse, forget its records, announce it. Every member acked before any is
        forgotten: once all the group's messages are acked, whatever the records say after a crash leaves
        nothing to count again (see _reform), so both go side by side."""
        with self.lead.stages["settle"]:
            await asyncio.gather(*(part.ack_taken(messages) for part, messages, _ in taken))
            await asyncio.gather(*(part.forget(boundary) for part, _, boundary in taken))
            for part, batch, inserted in counted:
                await part.committed(batch, inserted)

    async def _insert_apart(
        self, joint: Microbatch, members: list[Microbatch], stopping: asyncio.Event
    ) -> dict[int, int] | None:
        """ClickHouse refused the joint block: each member goes in on its own (under a token derived from the
        group's, so a re-formed group repeats the same inserts), its refused events isolated and dead-lettered."""
        refused = {}
        for member in members:
            rows = rows_between(joint.columns, member.first_seq, member.last_seq)
            alone = replace(member, columns=rows, events=row_count(rows), group=f"{joint.token}|{member.partition}")
            if not alone.events:
                continue
            outcome = await self.parts[member.partition].insert(alone, stopping)
            if outcome is None:
                return None
            refused[member.partition] = outcome
        return refused


async def run_joint(worker: JointWorker, stopping: asyncio.Event) -> None:
    """Supervised loop: an unexpected failure is logged, local state dropped, and the loop carries on."""
    started = False
    try:
        while not stopping.is_set():
            try:
                if not started:
                    await worker.start()
                    started = True
                await worker.step(stopping)
            except Exception as exc:
                for part in worker.parts.values():
                    part.state.last_error = repr(exc)[:500]
                log.exception("rollup.loop_error", module=worker.config.module, partition="joint")
                await worker.settle_quietly()
                worker.reset()
                await asyncio.sleep(1.0)
    finally:
        worker.stop_fetches()
        await worker.settle_quietly()  # the last group's acks go out before the loop ends
