"""Shape result rows after SQL: continuous series, comparison with an earlier window, and joins.

Plain functions over `Row`s; no I/O. Rows are keyed by (bucket, dimension values, others flag).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from msgspec.structs import replace

from strix_config import ModuleConfig
from strix_config.model import JoinSpec
from strix_contracts.query import Row, Value, Values

Key = tuple[datetime | None, tuple[Value | None, ...], bool]


def row_key(row: Row, dimensions: Sequence[str]) -> Key:
    return row.bucket, tuple(row.dimensions.get(d) for d in dimensions), row.others


def empty_values(config: ModuleConfig, metrics: Sequence[str]) -> Values:
    """Each metric's value over no events, as its kind says (0 for counts and sums; none for the rest)."""
    return {m: config.metrics[m].empty for m in metrics}


def fill_series(
    rows: list[Row],
    config: ModuleConfig,
    bucket_starts: Sequence[datetime | None],
    dimensions: Sequence[str],
    metrics: Sequence[str],
) -> list[Row]:
    """Every bucket for every group seen anywhere in the window; missing buckets hold empty values."""
    existing = {row_key(r, dimensions): r for r in rows}
    groups = sorted({(k[1], k[2]) for k in existing}, key=lambda g: (g[1], tuple(str(v) for v in g[0])))
    if not groups:
        groups = [((), False)] if not dimensions else []
    filled = []
    for bucket in bucket_starts:
        for values, others in groups:
            found = existing.get((bucket, values, others))
            if found is None:
                found = Row(
                    bucket=bucket,
                    dimensions=dict(zip(dimensions, values, strict=True)),
                    metrics=empty_values(config, metrics),
                    others=others,
                )
            filled.append(found)
    return filled


def attach_previous(
    rows: list[Row],
    previous_rows: list[Row],
    bucket_map: dict[datetime | None, datetime | None],
    dimensions: Sequence[str],
    empty: Values,
) -> list[Row]:
    """Give each row the values of the same group in the matching earlier bucket, the absolute change and
    the relative change (change / previous; none when previous is 0 or missing).

    Runs once per row of answers thousands of rows long: keys built without a call per dimension, both changes
    of a value computed in one step."""
    earlier = {}
    for row in previous_rows:
        key = (bucket_map.get(row.bucket, row.bucket), tuple(map(row.dimensions.get, dimensions)), row.others)
        earlier[key] = row.metrics
    out = []
    for row in rows:
        previous = earlier.get((row.bucket, tuple(map(row.dimensions.get, dimensions)), row.others), empty)
        change: Values = {}
        ratio: Values = {}
        for name, now in row.metrics.items():
            then = previous.get(name)
            if now is None or then is None:
                change[name] = ratio[name] = None
            else:
                change[name] = difference = float(now) - float(then)
                ratio[name] = difference / float(then) if then else None
        out.append(
            Row(
                bucket=row.bucket,
                dimensions=row.dimensions,
                metrics=row.metrics,
                others=row.others,
                previous=previous,
                change=change,
                change_ratio=ratio,
                joined=row.joined,
            )
        )
    return out


def join_rows(
    left: list[Row],
    right: list[Row],
    kind: str,
    dimensions: Sequence[str],
    right_metrics: Sequence[str],
    left_metrics: Sequence[str],
) -> list[Row]:
    """Join on (bucket, shared dimensions). Left/right/full keep unmatched rows of their side; the missing side's
    metrics are null: no row matched, which is not a count of 0 (a matched row says 0 where it counted none)."""
    right_by_key = {row_key(r, dimensions): r for r in right}
    right_missing: Values = dict.fromkeys(right_metrics)
    out: list[Row] = []
    matched: set[Key] = set()
    for row in left:
        key = row_key(row, dimensions)
        other = right_by_key.get(key)
        if other is not None:
            matched.add(key)
            out.append(replace(row, joined=other.metrics, wire=None))
        elif kind in ("left", "full"):
            out.append(replace(row, joined=dict(right_missing), wire=None))
    if kind in ("right", "full"):
        for key, row in right_by_key.items():
            if key not in matched:
                out.append(
                    Row(
                        bucket=row.bucket,
                        dimensions=row.dimensions,
                        metrics=dict.fromkeys(left_metrics),
                        joined=row.metrics,
                    )
                )
        out.sort(
            key=lambda r: (
                r.bucket is None,
                r.bucket or datetime.min.replace(tzinfo=UTC),
                tuple(str(v) for v in r.dimensions.values()),
            )
        )
    return out


def derive_joined(rows: list[Row], join: JoinSpec, names: Sequence[str]) -> list[Row]:
    """The join's derived metrics `names` of every joined row, each from the merged values of both sides (this
    module's metrics and the joined ones), added to the row's metrics. A side without a row gives no value."""
    if not names:
        return rows
    plans = [(name, join.metrics[name], [join.side(ref) for ref in join.metrics[name].inputs()]) for name in names]
    out = []
    for row in rows:
        joined = row.joined or {}
        values = dict(row.metrics)
        for name, metric, sides in plans:
            values[name] = metric.derive([(joined if theirs else row.metrics).get(ref) for theirs, ref in sides])
        out.append(replace(row, metrics=values, wire=None))
    return out
