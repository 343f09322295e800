"""Pick the smallest table that answers a query exactly: a rollup if one can, else the raw events.

A rollup answers when it keeps every dimension the query filters or groups by, every stored metric the query
needs, still holds the window (retention), and its UTC buckets tile both the window and every query bucket
in the caller's zone (an hourly rollup serves Asia/Kolkata days only if they start on UTC hours: they don't).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from strix_config import GRANULARITY_SECONDS, ModuleConfig, Rollup
from strix_config.granularities import GRANULARITIES, UNIT_SECONDS
from strix_config.model import parse_duration
from strix_contracts.errors import QueryError


@dataclass(frozen=True)
class Source:
    """Where a query reads from, and a sentence saying why (returned to the caller)."""

    rollup: str | None  # None: the raw events table
    reason: str

    @property
    def label(self) -> str:
        return f"rollup:{self.rollup}" if self.rollup else "raw"


def _aligned(moment: datetime, seconds: int) -> bool:
    return int(moment.timestamp()) % seconds == 0 and moment.microsecond == 0


def _offsets_aligned(tz: ZoneInfo, start: datetime, end: datetime, seconds: int) -> bool:
    """Whether local bucket boundaries fall on UTC multiples of `seconds` across the window."""
    return all(offset % seconds == 0 for offset in _window_offsets(tz, start, end))


@lru_cache(maxsize=64)
def _window_offsets(tz: ZoneInfo, start: datetime, end: datetime) -> frozenset[int]:
    """The zone's UTC offsets (seconds) across the window, sampled every 6 hours and at its end; a missing
    offset counts as misaligned (-1). Kept for the few windows being planned: every rollup asks the same."""
    step = timedelta(hours=6)
    found: set[int] = set()
    moment = start
    while moment <= end:
        offset = moment.astimezone(tz).utcoffset()
        found.add(-1 if offset is None else int(offset.total_seconds()))
        moment += step
    offset = end.astimezone(tz).utcoffset()
    found.add(-1 if offset is None else int(offset.total_seconds()))
    return frozenset(found)


def rollup_fits(
    config: ModuleConfig,
    name: str,
    dimensions: set[str],
    metrics: set[str],
    granularity: str,
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    now: datetime,
) -> str | None:
    """None when the rollup answers exactly, else why not."""
    return _shape_misfit(config, name, dimensions, metrics, granularity, tz, start, end) or _retention_misfit(
        config.rollups[name], start, now
    )


def _retention_misfit(rollup: Rollup, start: datetime, now: datetime) -> str | None:
    if rollup.retention is not None and start < now - parse_duration(rollup.retention):
        return f"it keeps only {rollup.retention}"
    return None


def _shape_misfit(
    config: ModuleConfig,
    name: str,
    dimensions: set[str],
    metrics: set[str],
    granularity: str,
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
) -> str | None:
    """Why the rollup could not answer even had it kept everything (dimensions, metrics, buckets), or None."""
    rollup = config.rollups[name]
    missing_dims = dimensions - set(rollup.dimensions)
    if missing_dims:
        return f"lacks dimension(s) {', '.join(sorted(missing_dims))}"
    missing_metrics = metrics - set(config.rollup_metrics(rollup))
    if missing_metrics:
        return f"lacks metric(s) {', '.join(sorted(missing_metrics))}"
    seconds = GRANULARITY_SECONDS[rollup.granularity]
    if granularity != "total" and GRANULARITIES[rollup.granularity].order > GRANULARITIES[granularity].order:
        return f"its {rollup.granularity} buckets are coarser than {granularity}"
    if granularity != "total" and UNIT_SECONDS[granularity] < seconds:
        return f"its {rollup.granularity} buckets are coarser than {granularity}"
    if not (_aligned(start, seconds) and _aligned(end, seconds)):
        return f"the window does not start and end on whole {rollup.granularity}s"
    if granularity != "total" and not _offsets_aligned(tz, start, end, seconds):
        return f"{tz.key} buckets do not start on UTC {rollup.granularity} boundaries"
    return None


@dataclass(frozen=True)
class Held:
    """Rows one part of a rollup table holds and the span of their buckets (first and last bucket start): what
    the planner needs to estimate the rows a window reads from that rollup."""

    rows: int
    first: datetime
    last: datetime


def rows_within(parts: Sequence[Held], start: datetime, end: datetime, step: timedelta) -> int:
    """The rows of `parts` whose buckets fall in [start, end), estimated part by part as spread evenly over the
    part's span (`step`: the rollup's bucket length). A rollup keeping years of data but little of the window
    then ranks below a finer one that holds the window densely."""
    total = 0.0
    for part in parts:
        if part.last.year <= 1970:  # a part without a time span (no minmax index): every row may be in the window
            total += part.rows
            continue
        span_end = part.last + step
        overlap = (min(end, span_end) - max(start, part.first)).total_seconds()
        if overlap > 0:
            total += part.rows * overlap / (span_end - part.first).total_seconds()
    return math.ceil(total)


def window_sizes(
    config: ModuleConfig, sizes: Mapping[str, int | Sequence[Held]] | None, start: datetime, end: datetime
) -> dict[str, int] | None:
    """Rows per rollup as `choose_source` ranks them: those within [start, end) when the parts are known, else
    the rollup's whole count."""
    if sizes is None:
        return None
    found: dict[str, int] = {}
    for name, held in sizes.items():
        if isinstance(held, int):
            found[name] = held
        elif name in config.rollups:
            step = timedelta(seconds=GRANULARITY_SECONDS[config.rollups[name].granularity])
            found[name] = rows_within(held, start, end, step)
    return found


def choose_source(
    config: ModuleConfig,
    dimensions: set[str],
    metrics: set[str],
    granularity: str,
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    now: datetime,
    sizes: Mapping[str, int] | None = None,
) -> Source:
    """`sizes` (rows per rollup, when known: `window_sizes`) ranks the candidates: fewest rows to read wins; without sizes,
    the coarsest granularity, then the fewest dimensions."""
    candidates: list[tuple[tuple[float, int, int], str]] = []
    too_short: list[str] = []  # rollups that would answer but for their retention
    reasons: list[str] = []
    for name, rollup in config.rollups.items():
        why_not = _shape_misfit(config, name, dimensions, metrics, granularity, tz, start, end)
        if why_not is None:
            why_not = _retention_misfit(rollup, start, now)
            if why_not is not None:
                too_short.append(name)
        if why_not is None:
            rows = float(sizes[name]) if sizes and name in sizes else float("inf")
            candidates.append(((rows, -GRANULARITIES[rollup.granularity].order, len(rollup.dimensions)), name))
        else:
            reasons.append(f"{name}: {why_not}")
    if candidates:
        best = min(candidates)[1]
        others = len(candidates) - 1
        return Source(
            best,
            f"rollup {best} ({config.rollups[best].granularity}) answers exactly"
            + (f"; the smallest of {others + 1} that do" if others else ""),
        )
    fallback = _longest_kept(config, too_short, start, now)
    if fallback is not None:
        return fallback
    if config.raw.keep:
        return Source(None, "no rollup answers exactly (" + "; ".join(reasons) + ")" if reasons else "no rollups")
    raise QueryError(
        "no rollup answers this query and raw events are not kept",
        argument="groupBy",
        hint="; ".join(reasons) or "declare a rollup",
    )


def _kept_for(retention: str | None) -> timedelta:
    return timedelta.max if retention is None else parse_duration(retention)


def _longest_kept(config: ModuleConfig, too_short: list[str], start: datetime, now: datetime) -> Source | None:
    """When no table keeps the whole window, the one that keeps the most of it among `too_short` (rollups that
    would answer but for their retention): raw and rollups then agree on an old event (kept by any table that
    could answer, it is counted). None when raw events hold the window, or no rollup keeps more of it."""
    raw_kept = _kept_for(config.raw.retention) if config.raw.keep else timedelta(0)
    if config.raw.keep and (raw_kept == timedelta.max or start >= now - raw_kept):
        return None
    fitting = [(_kept_for(config.rollups[name].retention), name) for name in too_short]
    if not fitting:
        return None
    kept, name = max(fitting)
    if kept <= raw_kept:
        return None
    return Source(
        name,
        f"no table keeps the whole window: rollup {name} ({config.rollups[name].granularity}) keeps the most of it "
        f"({config.rollups[name].retention}); events older than that are no longer counted",
    )
