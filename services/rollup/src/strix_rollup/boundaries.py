"""Batch boundaries recorded before the insert, so a re-delivered batch is re-formed identically.

Before ClickHouse sees a batch, its boundaries (first and last stream sequence, and how many messages of the
partition lie between them) are added to the partition's record in a KV bucket; once every message of the
batch is acked the boundary is removed. Whoever processes the partition next — this process after a restart,
or a replica after fail-over — reads the record: a delivered message inside a recorded boundary belongs to
that batch, which is rebuilt from exactly those messages and inserted under the same de-duplication token, so
ClickHouse drops it if the first insert had landed. Messages may be re-delivered out of order (new ones first,
then the unacked ones after `ack_wait`), so acks are explicit, per message: acking a newer message never
acknowledges an older one that was not counted.

A joint batch (joint.py) inserts one batch of each of a module's partitions as one block: each member's
boundary then also names its *group*, the token the block goes under and every member's boundary, so whoever
reads any member's record can re-form the whole group, and only the whole group.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Member:
    """One partition's part of a joint batch."""

    partition: int
    first: int
    last: int
    count: int


@dataclass(frozen=True)
class Boundary:
    first: int
    last: int
    count: int
    group: str | None = None  # the joint batch's token, when this batch is a member of one
    members: tuple[Member, ...] = ()  # every member of that joint batch, by partition
    landed: bool = False  # the joint batch is known to be in ClickHouse: its members are only to be acked


def member_boundary(member: Member, group: str, members: tuple[Member, ...]) -> Boundary:
    return Boundary(member.first, member.last, member.count, group, members)


def plan_batch(sequences: list[int], open_batches: list[Boundary], max_messages: int) -> tuple[int, Boundary | None]:
    """The next batch from buffered sequences (ascending, distinct).

    Returns (n, recorded): take the first n sequences; `recorded` is the boundary being re-formed, or None for a
    new batch. n is 0 when the recorded batch the oldest message belongs to is not fully buffered yet. A new
    batch never reaches into a recorded range.
    """
    if not sequences:
        return 0, None
    head = sequences[0]
    for boundary in open_batches:
        if boundary.first <= head <= boundary.last:
            members = [s for s in sequences if boundary.first <= s <= boundary.last]
            if len(members) < boundary.count or sequences[len(members) - 1] != members[-1]:
                return 0, boundary
            return len(members), boundary
    limit = min(len(sequences), max_messages)
    later = [b.first for b in open_batches if b.first > head]
    if later:
        limit = min(limit, sum(1 for s in sequences[:limit] if s < min(later)))
    return limit, None
