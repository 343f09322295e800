"""Keep the garbage collector out of the way of answers thousands of rows long.

A full collection walks every tracked object: after start-up that is the imported libraries, the GraphQL
schema and the config models, hundreds of thousands of objects, which made 100 ms pauses land mid-query.
`gc.freeze` moves them to a generation no collection visits. And CPython starts a young-generation collection
every 700 allocations: an answer of 8 000 rows builds ~25 000 containers, so 35 collections, some of them
full, per answer. A threshold of 50 000 lets one answer's short-lived containers die by reference counting
first; cycles are still collected, only less often. Call this once, in a process entry point, after start-up.
"""

from __future__ import annotations

import gc
import time

from prometheus_client import Histogram

YOUNG_THRESHOLD = 50_000


def freeze_startup_heap() -> int:
    """Collect start-up garbage, exempt what survives from future collections, collect less often.
    Returns how many objects were frozen."""
    watch_collections()
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, max(middle, 20), max(old, 100))
    return gc.get_freeze_count()


GC_PAUSES = Histogram(
    "strix_gc_pause_seconds",
    "Time the interpreter stood still in a garbage collection, by generation collected.",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
_collection_started = 0.0  # collections never nest: one start time at a time


def _time_collection(phase: str, info: dict[str, int]) -> None:
    global _collection_started
    if phase == "start":
        _collection_started = time.perf_counter()
    else:
        GC_PAUSES.labels(str(info["generation"])).observe(time.perf_counter() - _collection_started)


def watch_collections() -> None:
    """Time every collection into `strix_gc_pause_seconds`: a pause is a latency every request in flight pays."""
    if _time_collection not in gc.callbacks:
        gc.callbacks.append(_time_collection)
