"""Run one query end to end: validate, resolve the window, pick the source, compile, execute, type the rows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from strix_clickhouse import ClickHouse
from strix_clickhouse.columns import rollup_table
from strix_config import Catalog
from strix_contracts.query import QueryRequest, QueryResponse, Row
from strix_query.compiler import CompiledQuery, compile_query, filter_dimensions
from strix_query.planner import Source, choose_source
from strix_query.validation import check_bucket_count, module_of, validate_request
from strix_query.window import resolve_window, zone


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


def plan(
    catalog: Catalog,
    request: QueryRequest,
    database: str,
    now: datetime,
    sizes: Mapping[str, int] | None = None,
) -> tuple[CompiledQuery, Source, datetime, datetime]:
    """`sizes`: rows per rollup of the requested module, when known (see `rollup_sizes`)."""
    config = module_of(catalog, request)
    validate_request(config, request)
    tz = zone(request.time_zone)
    start, end = resolve_window(request.window, request.granularity, tz, now)
    check_bucket_count(request.granularity, (end - start).total_seconds())
    dims = set(request.group_by) | filter_dimensions(request.filters)
    stored = {m for name in request.metrics for m in config.metric_inputs(name)}
    source = choose_source(config, dims, stored, request.granularity, tz, start, end, now, sizes)
    compiled = compile_query(request, config, source, start, end, database)
    return compiled, source, start, end


async def rollup_sizes(clickhouse: ClickHouse, catalog: Catalog) -> dict[str, dict[str, int]]:
    """Rows held by each rollup table, by module and rollup name (active parts; merges shrink them later)."""
    result = await clickhouse.query(
        "SELECT table, sum(rows) FROM system.parts WHERE database = {db:String} AND active GROUP BY table",
        {"db": clickhouse.database},
    )
    by_table = {str(table): int(rows) for table, rows in result.rows}
    return {
        name: {
            rollup: by_table[rollup_table(name, rollup)]
            for rollup in config.rollups
            if rollup_table(name, rollup) in by_table
        }
        for name, config in catalog.modules.items()
    }


async def execute(
    clickhouse: ClickHouse,
    catalog: Catalog,
    request: QueryRequest,
    now: datetime,
    sizes: Mapping[str, int] | None = None,
) -> QueryResponse:
    compiled, source, start, end = plan(catalog, request, clickhouse.database, now, sizes)
    result = await clickhouse.query(compiled.sql, compiled.parameters)
    tz = zone(request.time_zone)
    rows = []
    for values in result.rows:
        offset = 1 if compiled.bucketed else 0
        bucket = datetime.fromtimestamp(values[0], UTC).astimezone(tz) if compiled.bucketed else None
        dims = dict(zip(compiled.dimensions, values[offset : offset + len(compiled.dimensions)], strict=True))
        metric_values = values[offset + len(compiled.dimensions) :]
        metrics = {name: _number(v) for name, v in zip(compiled.metrics, metric_values, strict=True)}
        rows.append(Row(bucket=bucket, dimensions=dims, metrics=metrics))
    return QueryResponse(
        module=request.module,
        granularity=request.granularity,
        time_zone=request.time_zone,
        start=start.astimezone(tz),
        end=end.astimezone(tz),
        source=source.label,
        source_reason=source.reason,
        rows=rows,
        sql=compiled.sql,
    )
