"""ClickHouse result rows as `Row`s: buckets in the caller's zone, dimension and metric values by name.

Plain functions over the tuples a statement returned; no I/O. Runs once per row of answers thousands of rows
long, so the common cases (an int count, a bucket seen before) cost no call.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from strix_contracts.query import Row
from strix_query.compiler import CompiledQuery
from strix_query.validation import check_row_count


def _number(value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    number = float(value)
    return None if number != number else number  # NaN (e.g. avg of nothing) is no value


def result_rows(compiled: CompiledQuery, values_of_rows: list[tuple[Any, ...]], tz: ZoneInfo) -> list[Row]:
    """The rows of `compiled`'s result; a QueryError when they are more than an answer may hold."""
    check_row_count(len(values_of_rows))
    rows = []
    offset = 1 if compiled.bucketed else 0
    starts: dict[int, datetime] = {}  # a bucket's rows share its start: one conversion per bucket, not per row
    for values in values_of_rows:
        bucket = None
        if compiled.bucketed:
            bucket = starts.get(values[0])
            if bucket is None:
                bucket = starts[values[0]] = datetime.fromtimestamp(values[0], UTC).astimezone(tz)
        dims = dict(zip(compiled.dimensions, values[offset : offset + len(compiled.dimensions)], strict=True))
        metric_values = values[offset + len(compiled.dimensions) :]
        metrics = {
            name: v if type(v) is int else _number(v)  # counts as they are, without a call
            for name, v in zip(compiled.metrics, metric_values, strict=True)
        }
        others = bool(compiled.dimensions) and all(v is None for v in dims.values())
        rows.append(Row(bucket=bucket, dimensions=dims, metrics=metrics, others=others))
    return rows
