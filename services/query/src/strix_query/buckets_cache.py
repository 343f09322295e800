"""Rows of each time bucket, kept per query shape, so a sliding window recomputes only the buckets it lacks.

Druid caches results per segment; Strix keeps them per bucket of a query *shape* (everything a query says but
its window). A dashboard asking for the last 30 days hour by hour reads 720 buckets, 719 of which it read an
hour ago; a comparison with the previous period reads buckets the previous month's dashboards already read.

Invariants, as for `ResultCache`: a commit notice for module M with events in [first, last] drops every bucket
of M overlapping it; rows are stored only if no commit for their module arrived while they were computed
(generation check); buckets expire after `max_age` seconds (notices travel at most once). Shapes are evicted
least-recently-used once the cache holds more than `capacity_rows` rows.
"""

from __future__ import annotations

import time
from bisect import bisect_right, insort
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import numpy as np

from strix_query.span_reads import SpanRead

Item = TypeVar("Item")
Groups = dict[tuple[Any, ...], int]  # a group's values -> its position in the vectors


@dataclass
class ShapeBuckets(Generic[Item]):
    """The cached buckets of one shape, kept sorted so a commit finds the buckets it touches by bisection."""

    module: str
    lag: timedelta | None = None  # rows also read the bucket `lag` earlier (comparisons): commits there count
    starts: list[datetime] = field(default_factory=list)
    ends: list[datetime] = field(default_factory=list)
    items: dict[datetime, tuple[list[Item], float]] = field(default_factory=dict)
    size: int = 0

    def drop(self, lo: int, hi: int) -> int:
        """Forget the buckets at sorted positions [lo, hi); the number of rows they held."""
        freed = 0
        for start in self.starts[lo:hi]:
            freed += len(self.items.pop(start)[0])
        del self.starts[lo:hi], self.ends[lo:hi]
        self.size -= freed
        return freed


def read_ahead(window: int, missing: int, rows_per_bucket: int, room: int, row_budget: int) -> int:
    """How many buckets after a slide's missing ones (some of the window's buckets cached, the missing ones at
    its end) to read in the same statement, for the windows that slide next: up to a window's length more — a
    statement's cost is mostly fixed, so viewers stepping through a dashboard then find their next buckets
    cached — within `room` (buckets before now) and with the span's rows, at the largest cached bucket's, under
    `row_budget`. A first view (nothing cached) or a gap inside the window reads only what it lacks."""
    if missing >= window:
        return 0
    by_rows = row_budget // max(rows_per_bucket, 1) - missing
    return max(0, min(window, room, by_rows))


@dataclass
class BucketCache(Generic[Item]):
    capacity_rows: int = 200_000  # ~1 kB a row with its encoded form: ~200 MB at most
    max_age: float = 300.0
    clock: Callable[[], float] = time.monotonic
    shapes: OrderedDict[str, ShapeBuckets[Item]] = field(default_factory=OrderedDict)
    generations: dict[str, int] = field(default_factory=dict)
    size: int = 0
    hits: int = 0
    misses: int = 0
    # Shapes found to hold more rows than one answer may: not tried again (a top-N ranks its groups by a statement).
    oversized: set[str] = field(default_factory=set)
    vectors: BucketVectors[Item] = field(default_factory=lambda: BucketVectors())  # top-N totals of cached buckets
    # Per shape, its read waiting for the store: its rows, and the SQL that read them.
    reading: dict[str, SpanRead[tuple[list[Item], str | None]]] = field(default_factory=dict)

    def refuse(self, shape: str) -> None:
        if len(self.oversized) >= 1000:
            self.oversized.clear()
        self.oversized.add(shape)

    def generation(self, module: str) -> int:
        return self.generations.get(module, 0)

    def lookup(self, shape: str, starts: Sequence[datetime]) -> dict[datetime, list[Item]]:
        """The rows of every bucket in `starts` that the cache holds, unexpired."""
        entry = self.shapes.get(shape)
        if entry is None:
            self.misses += len(starts)
            return {}
        self.shapes.move_to_end(shape)
        now = self.clock()
        found = {}
        for start in starts:
            held = entry.items.get(start)
            if held is not None and now - held[1] <= self.max_age:
                found[start] = held[0]
        self.hits += len(found)
        self.misses += len(starts) - len(found)
        return found

    def store(
        self,
        shape: str,
        module: str,
        buckets: Sequence[tuple[datetime, datetime, list[Item]]],
        generation: int,
        lag: timedelta | None = None,
    ) -> bool:
        """Keep (start, end, rows) of each bucket unless a commit for `module` arrived since `generation`.
        With `lag`, each bucket's rows also depend on the bucket that much earlier (a comparison's)."""
        if self.generation(module) != generation:
            return False
        entry = self.shapes.setdefault(shape, ShapeBuckets(module, lag))
        self.shapes.move_to_end(shape)
        now = self.clock()
        for start, end, items in buckets:
            held = entry.items.get(start)
            if held is None:
                insort(entry.starts, start)
                insort(entry.ends, end)
            else:
                entry.size -= len(held[0])
                self.size -= len(held[0])
            entry.items[start] = (items, now)
            entry.size += len(items)
            self.size += len(items)
        while self.size > self.capacity_rows and len(self.shapes) > 1:
            _, evicted = self.shapes.popitem(last=False)
            self.size -= evicted.size
        return True

    def invalidate(self, module: str, first: datetime, last: datetime) -> int:
        """A commit of events between `first` and `last` (inclusive): drop the buckets it changed."""
        self.generations[module] = self.generation(module) + 1
        dropped = 0
        for entry in self.shapes.values():
            if entry.module != module:
                continue
            ranges = [(first, last)] if entry.lag is None else [(first, last), (first + entry.lag, last + entry.lag)]
            for low, high in ranges:
                lo = bisect_right(entry.ends, low)  # buckets ending after `low` ...
                hi = bisect_right(entry.starts, high)  # ... and starting at or before `high`
                if lo < hi:
                    self.size -= entry.drop(lo, hi)
                    dropped += hi - lo
        return dropped


@dataclass
class BucketVectors(Generic[Item]):
    """A vector derived from each cached bucket's rows (a top-N ranking's total per group), kept per row list by
    identity — a bucket recomputed after a commit is a new list, so its vector is derived again — for lists
    holding up to `capacity_rows` rows in all (the oldest forgotten first)."""

    capacity_rows: int = 100_000
    groups: dict[str, Groups] = field(default_factory=dict)  # per shape, shared by its vectors
    vectors: OrderedDict[int, tuple[list[Item], np.ndarray]] = field(default_factory=OrderedDict)
    rows: int = 0

    def of(
        self, shape: str, buckets: Sequence[list[Item]], derive: Callable[[list[Item], Groups], np.ndarray]
    ) -> tuple[Groups, list[np.ndarray]]:
        """Each bucket's vector (derived now if not kept) and the groups they are indexed by."""
        groups = self.groups.setdefault(shape, {})
        found = []
        for items in buckets:
            held = self.vectors.get(id(items))
            if held is None or held[0] is not items:
                held = (items, derive(items, groups))
                self.vectors[id(items)] = held
                self.rows += len(items)
                while self.rows > self.capacity_rows and len(self.vectors) > 1:
                    self.rows -= len(self.vectors.popitem(last=False)[1][0])
            found.append(held[1])
        return groups, found
