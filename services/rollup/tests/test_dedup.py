"""Which events of a batch are repeats: the rule that makes a re-sent event count once (dedup.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from strix_rollup.batches import Microbatch
from strix_rollup.dedup import first_counts, keep_events


def test_an_id_counted_in_an_earlier_batch_is_a_repeat() -> None:
    keep = first_counts(["a", "b", "c"], [10, 10, 11], [0, 1, 0], {"b": (3, 7)})
    assert keep == [True, False, True]


def test_the_first_occurrence_inside_a_batch_counts_and_later_ones_do_not() -> None:
    keep = first_counts(["a", "a", "b", "a"], [5, 5, 6, 7], [0, 1, 0, 0], {})
    assert keep == [True, False, True, False]


def test_a_reformed_batch_keeps_its_own_events() -> None:
    """After a crash the batch's first insert may have landed: its ids are found at its own places, which are
    not earlier, so the batch is rebuilt identically (and its token drops it)."""
    earlier = {"a": (5, 0), "b": (5, 1), "z": (1, 0)}
    keep = first_counts(["a", "b", "z"], [5, 5, 6], [0, 1, 0], earlier)
    assert keep == [True, True, False]


def test_an_occurrence_recorded_later_in_the_stream_does_not_hide_an_earlier_one() -> None:
    # Another partition may have counted the same id at a later place (the client changed the partition key):
    # the earliest place wins, so the rule does not depend on which partition ran first.
    assert first_counts(["a"], [4], [2], {"a": (9, 0)}) == [True]


def test_keep_events_filters_every_column_and_recomputes_the_time_span() -> None:
    times = [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
    batch = Microbatch(
        module="m",
        partition=0,
        first_seq=1,
        last_seq=2,
        columns={"id": ["a", "b", "c"], "ts": times, "_seq": [1, 1, 2], "_pos": [0, 1, 0]},
        events=3,
        first_event=times[0],
        last_event=times[2],
    )
    kept = keep_events(batch, [False, True, True], "ts")
    assert kept.columns == {"id": ["b", "c"], "ts": times[1:], "_seq": [1, 2], "_pos": [1, 0]}
    assert (kept.events, kept.first_event, kept.last_event, kept.token) == (2, times[1], times[2], batch.token)
    assert keep_events(batch, [True] * 3, "ts") is batch
    empty = keep_events(batch, [False] * 3, "ts")
    assert (empty.events, empty.first_event, empty.last_event) == (0, None, None)
