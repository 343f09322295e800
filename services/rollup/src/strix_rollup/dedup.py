"""Exactly once by event id: which events of a batch were counted before (ARCHITECTURE §5, Pinot's dedup).

An event is a repeat when its id was counted at an earlier place in the stream — in an earlier batch (the ids
table says where, see strix_clickhouse.event_ids) or earlier in the same batch. Places are (stream sequence,
position in the message), so the rule is the same whoever evaluates it: a batch re-formed after a crash whose
first insert had landed finds its own events at their own places, keeps them, and is rebuilt identically (its
de-duplication token then drops it). A re-sent event carries the same `partition_by` value, so it reaches the
same partition, whose single reader decides.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from strix_rollup.batches import Microbatch, keep_rows, row_count, time_span

Place = tuple[int, int]


def first_counts(
    ids: Sequence[Hashable], sequences: Sequence[int], positions: Sequence[int], earlier: Mapping[Any, Place]
) -> list[bool]:
    """For each event, whether it is the first counted occurrence of its id (keep it) or a repeat (drop it)."""
    first_place: dict[Any, Place] = dict(earlier)
    for event_id, place in zip(ids, zip(sequences, positions, strict=True), strict=True):
        known = first_place.get(event_id)
        if known is None or place < known:
            first_place[event_id] = place
    return [first_place[i] == place for i, place in zip(ids, zip(sequences, positions, strict=True), strict=True)]


def keep_events(batch: Microbatch, keep: Sequence[bool], time_field: str) -> Microbatch:
    """The batch with only the kept events (same token: it stands for the same stream sequences)."""
    if all(keep):
        return batch
    columns = keep_rows(batch.columns, list(keep))
    first, last = time_span(columns, time_field)
    return replace(batch, columns=columns, events=row_count(columns), first_event=first, last_event=last)
