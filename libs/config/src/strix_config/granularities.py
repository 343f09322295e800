"""Time granularities, each fact about them in one table: order, nominal width, how ClickHouse cuts its buckets.

Rollups keep minute, hour or day buckets (cut in UTC: their bucket function takes no zone); queries may also
ask for week, month or a single total, cut in the caller's zone at query time. A week starts on Monday; a
month's width is its shortest (28 days), which is what checks of "at least this wide" need.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GranularitySpec:
    name: str
    order: int  # finer < coarser; `total` is the coarsest
    seconds: int | None  # nominal width (None for total)
    rollup: bool  # whether a rollup may keep buckets of this size
    # ClickHouse: the function that starts a UTC rollup bucket, and the rollup table's partition key
    bucket_function: str | None = None
    partition_key: str | None = None


GRANULARITIES: dict[str, GranularitySpec] = {
    spec.name: spec
    for spec in (
        GranularitySpec("minute", 1, 60, True, "toStartOfMinute", "toYYYYMMDD"),
        GranularitySpec("hour", 2, 3600, True, "toStartOfHour", "toYYYYMM"),
        GranularitySpec("day", 3, 86400, True, "toStartOfDay", "toYear"),
        GranularitySpec("week", 4, 7 * 86400, False),
        GranularitySpec("month", 5, 28 * 86400, False),
        GranularitySpec("total", 6, None, False),
    )
}

# Widths of the granularities that have one: rollup buckets and query time units.
GRANULARITY_SECONDS: dict[str, int] = {
    name: spec.seconds for name, spec in GRANULARITIES.items() if spec.rollup and spec.seconds is not None
}
UNIT_SECONDS: dict[str, int] = {name: spec.seconds for name, spec in GRANULARITIES.items() if spec.seconds}
