"""Run one query end to end: validate, resolve the window, pick the source, compile, execute, shape the rows.

A request may need several SQL statements (top-N keys, the comparison window, the joined module); each goes
through the same planner, so each reads the smallest table that answers it exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from msgspec.structs import replace

from strix_clickhouse import ClickHouse, QueryResult
from strix_clickhouse.columns import rollup_table
from strix_config import Catalog, ModuleConfig
from strix_contracts.query import (
    QueryRequest,
    QueryResponse,
    RecordsRequest,
    RecordsResponse,
    Row,
    encode_answer,
)
from strix_query.buckets_cache import BucketCache
from strix_query.cache import ResultCache, Window
from strix_query.compiler import (
    CompiledQuery,
    compile_query,
    compile_top_keys,
    filter_dimensions,
    with_time_limit,
)
from strix_query.planner import Source, choose_source
from strix_query.records import compile_records, page
from strix_query.shaping import attach_previous, empty_values, fill_series, join_rows
from strix_query.validation import (
    check_bucket_count,
    check_row_count,
    joined_filters,
    module_of,
    validate_filters,
    validate_join,
    validate_request,
)
from strix_query.window import buckets, comparison_window, constant_lag, resolve_window, shift, zone
from strix_runtime.tracing import clickhouse_span

Sizes = Mapping[str, Mapping[str, int]]


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


async def select(clickhouse: ClickHouse, sql: str, parameters: Mapping[str, Any]) -> QueryResult:
    """Every statement of the query service, under ClickHouse's time limit."""
    with clickhouse_span("select"):
        return await clickhouse.query(with_time_limit(sql), parameters)


@dataclass(frozen=True)
class Plan:
    """One SQL question: its request, module, resolved window and source."""

    request: QueryRequest
    config: ModuleConfig
    tz: ZoneInfo
    start: datetime
    end: datetime
    source: Source


def plan(
    catalog: Catalog,
    request: QueryRequest,
    now: datetime,
    sizes: Sizes | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> Plan:
    config = module_of(catalog, request)
    validate_request(config, request)
    tz = zone(request.time_zone)
    start, end = window or resolve_window(request.window, request.granularity, tz, now)
    check_bucket_count(request.granularity, (end - start).total_seconds())
    dims = set(request.group_by) | filter_dimensions(request.filters)
    stored = {m for name in request.metrics for m in config.metric_inputs(name)}
    if request.top is not None:
        stored |= set(config.metric_inputs(request.top.by))
    module_sizes = (sizes or {}).get(config.module)
    source = choose_source(config, dims, stored, request.granularity, tz, start, end, now, module_sizes)
    return Plan(request, config, tz, start, end, source)


def compile_plan(p: Plan, database: str, top_keys: list[tuple[Any, ...]] | None = None) -> CompiledQuery:
    return compile_query(p.request, p.config, p.source, p.start, p.end, database, top_keys)


def _rows(compiled: CompiledQuery, result_rows: list[tuple[Any, ...]], tz: ZoneInfo) -> list[Row]:
    check_row_count(len(result_rows))
    rows = []
    offset = 1 if compiled.bucketed else 0
    starts: dict[int, datetime] = {}  # a bucket's rows share its start: one conversion per bucket, not per row
    for values in result_rows:
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


def reusable(p: Plan) -> bool:
    """Whether the rows of each bucket depend on that bucket alone: bucketed, no limit, the default order."""
    return p.request.granularity != "total" and p.request.limit is None and not p.request.order_by


def shape_key(p: Plan, database: str, top_keys: list[tuple[Any, ...]] | None) -> str:
    """Everything that decides the rows of one bucket: the request but its window, the source, the top groups."""
    fields = {"module", "granularity", "time_zone", "filters", "group_by", "metrics", "top"}
    keys = None if top_keys is None else sorted(top_keys, key=repr)  # the set decides the rows, not its order
    return f"{database}|{p.source.label}|{keys!r}|{p.request.model_dump_json(include=fields)}"


@dataclass
class Reuse:
    """The bucket cache and whether this request may read it (`fresh` requests only refill it)."""

    cache: BucketCache[Row]
    read: bool = True
    buckets: int = 0  # buckets answered from the cache, for the response


async def _query_rows(
    clickhouse: ClickHouse, p: Plan, top_keys: list[tuple[Any, ...]] | None, start: datetime, end: datetime
) -> list[Row]:
    compiled = compile_query(p.request, p.config, p.source, start, end, clickhouse.database, top_keys)
    result = await select(clickhouse, compiled.sql, compiled.parameters)
    return _rows(compiled, result.rows, p.tz)


ComputeSpan = Callable[[datetime, datetime], Awaitable[list[Row]]]


@dataclass(frozen=True)
class Pairing:
    """Each bucket starting before `until` is compared with the bucket `lag` earlier; later ones (the last
    days of a month longer than the one before) are compared with nothing."""

    lag: timedelta
    until: datetime


async def _through_bucket_cache(
    reuse: Reuse,
    shape: str,
    p: Plan,
    starts: list[datetime],
    compute: ComputeSpan,
    pairing: Pairing | None = None,
) -> list[Row]:
    """Cached buckets as they are; `compute` over the span of the missing ones, whose rows are then kept.
    With a `pairing`, a bucket also read its comparison bucket: both count in `reuse.buckets`."""
    granularity = p.request.granularity
    found = reuse.cache.lookup(shape, starts) if reuse.read else {}
    reuse.buckets += len(found) + (0 if pairing is None else sum(1 for s in found if s < pairing.until))
    missing = [s for s in starts if s not in found]
    if missing:
        generation = reuse.cache.generation(p.config.module)
        computed: dict[datetime, list[Row]] = {}
        for row in await compute(missing[0], shift(missing[-1], granularity, 1, p.tz)):
            assert row.bucket is not None
            computed.setdefault(row.bucket, []).append(row)
        span = [s for s in starts if missing[0] <= s <= missing[-1]]
        kept = [(s, shift(s, granularity, 1, p.tz), computed.get(s, [])) for s in span]
        reuse.cache.store(shape, p.config.module, kept, generation, pairing.lag if pairing else None)
        found.update((s, rows) for s, _, rows in kept)
    return [row for start in starts for row in found.get(start, ())]


async def _rows_by_bucket(
    clickhouse: ClickHouse, p: Plan, top_keys: list[tuple[Any, ...]] | None, reuse: Reuse
) -> list[Row]:
    """The plan's rows, bucket by bucket through the cache; one SQL statement over the missing span."""
    starts = [b for b in buckets(p.start, p.end, p.request.granularity, p.tz) if b is not None]

    async def compute(start: datetime, end: datetime) -> list[Row]:
        return await _query_rows(clickhouse, p, top_keys, start, end)

    return await _through_bucket_cache(reuse, shape_key(p, clickhouse.database, top_keys), p, starts, compute)


async def _run(
    clickhouse: ClickHouse, p: Plan, top_keys: list[tuple[Any, ...]] | None, reuse: Reuse | None = None
) -> tuple[list[Row], str]:
    compiled = compile_plan(p, clickhouse.database, top_keys)
    if reuse is not None and reusable(p):
        rows = await _rows_by_bucket(clickhouse, p, top_keys, reuse)
    else:
        result = await select(clickhouse, compiled.sql, compiled.parameters)
        rows = _rows(compiled, result.rows, p.tz)
    if p.request.fill:
        starts = buckets(p.start, p.end, p.request.granularity, p.tz)
        local = [b.astimezone(p.tz) if b else None for b in starts]
        rows = fill_series(rows, p.config, local, p.request.group_by, p.request.metrics)
    return rows, compiled.sql


async def _compared_by_bucket(
    clickhouse: ClickHouse,
    main: Plan,
    earlier: Plan,
    starts: list[datetime],
    lag: timedelta,
    top_keys: list[tuple[Any, ...]] | None,
    reuse: Reuse,
) -> list[Row]:
    """Rows with their comparison attached, kept per bucket: a sliding window attaches (and encodes) only the
    rows of its new buckets. The missing span is computed for both periods through the bucket cache.
    Buckets pair by position, as `attach_previous` pairs them for a whole window."""
    shape = f"{shape_key(main, clickhouse.database, top_keys)}|compared:{lag.total_seconds():.0f}"
    pairing = Pairing(lag, earlier.end + lag)

    async def compute(start: datetime, end: datetime) -> list[Row]:
        paired_end = min(end, pairing.until)
        before_start, before_end = start - lag, paired_end - lag
        current = dataclass_replace(main, start=start, end=end)
        previous_rows: list[Row] = []
        if start >= paired_end:  # the last days of a month longer than the one before: nothing to compare with
            rows, _ = await _run(clickhouse, current, top_keys, reuse)
        elif before_end >= start and earlier.source.label == main.source.label:
            # The periods touch or overlap (a first view compared with the previous period): one statement
            # reads both, which ClickHouse spreads over the month partitions' parts. Measured on the
            # benchmark's rollup: both 30-day periods at once 487 ms, one after the other 920 ms.
            both = dataclass_replace(main, start=before_start, end=end)
            every, _ = await _run(clickhouse, both, top_keys, reuse)
            rows = [r for r in every if r.bucket is not None and r.bucket >= start]
            previous_rows = [r for r in every if r.bucket is not None and r.bucket < before_end]
        else:
            span = dataclass_replace(earlier, start=before_start, end=before_end)
            (rows, _), (previous_rows, _) = await asyncio.gather(
                _run(clickhouse, current, top_keys, reuse), _run(clickhouse, span, top_keys, reuse)
            )
        bucket_map: dict[datetime | None, datetime | None] = {s - lag: s for s in starts if start <= s < paired_end}
        empty = empty_values(main.config, main.request.metrics)
        return attach_previous(rows, previous_rows, bucket_map, main.request.group_by, empty)

    return await _through_bucket_cache(reuse, shape, main, starts, compute, pairing)


async def _top_keys(clickhouse: ClickHouse, p: Plan) -> list[tuple[Any, ...]] | None:
    if p.request.top is None:
        return None
    compiled = compile_top_keys(p.request, p.config, p.source, p.start, p.end, clickhouse.database)
    result = await select(clickhouse, compiled.sql, compiled.parameters)
    return [tuple(row[: len(p.request.group_by)]) for row in result.rows]


def _joined_request(catalog: Catalog, request: QueryRequest) -> tuple[QueryRequest, dict[str, str]]:
    """The request for the joined module: shared dimensions renamed, every filter applied on its side too."""
    assert request.join is not None
    config = module_of(catalog, request)
    spec = validate_join(catalog, config, request)
    rename = dict(spec.match)  # this module's dimension -> the other module's
    other = QueryRequest(
        module=spec.module,
        window=request.window,
        granularity=request.granularity,
        time_zone=request.time_zone,
        filters=joined_filters(config, catalog.modules[spec.module], spec, request.filters),
        group_by=[rename[d] for d in request.group_by],
        metrics=request.join.metrics,
        fill=request.fill,
    )
    return other, {v: k for k, v in rename.items()}


def cache_scope(catalog: Catalog, request: QueryRequest, now: datetime) -> tuple[str, list[Window]]:
    """The cache key of a request (its text and resolved window) and every (module, window) it reads."""
    config = module_of(catalog, request)
    tz = zone(request.time_zone)
    start, end = resolve_window(request.window, request.granularity, tz, now)
    windows: list[Window] = [(config.module, start, end)]
    if request.compare is not None:
        windows.append((config.module, *comparison_window(start, end, request.compare, tz)))
    if request.join is not None and request.join.name in config.joins:
        windows.append((config.joins[request.join.name].module, start, end))
    key = f"{request.model_dump_json(exclude={'fresh'})}|{start.isoformat()}|{end.isoformat()}"
    return key, windows


@dataclass(frozen=True)
class Answer:
    """An encoded answer (what goes on the wire; what the cache keeps) and what the metrics need of it."""

    payload: bytes
    source: str
    rows: int
    reused_buckets: int = 0


async def execute_cached(
    clickhouse: ClickHouse,
    catalog: Catalog,
    request: QueryRequest,
    now: datetime,
    cache: ResultCache[Answer],
    sizes: Sizes | None = None,
    bucket_cache: BucketCache[Row] | None = None,
) -> tuple[Answer, bool]:
    """(answer, whether it came from the cache). The cache keeps encoded bytes: a hit costs no re-encoding.
    A `fresh` request reads neither cache and refills both."""
    key, windows = cache_scope(catalog, request, now)
    found = None if request.fresh else cache.get(key)
    if found is not None:
        return found, True
    generation = cache.generation([w[0] for w in windows])
    reuse = None if bucket_cache is None else Reuse(bucket_cache, read=not request.fresh)
    response = await execute(clickhouse, catalog, request, now, sizes, reuse)
    answer = Answer(
        encode_answer(response, request.row_layout), response.source, len(response.rows), response.reused_buckets
    )
    cache.put(key, windows, answer, generation)
    return answer, False


async def execute(
    clickhouse: ClickHouse,
    catalog: Catalog,
    request: QueryRequest,
    now: datetime,
    sizes: Sizes | None = None,
    reuse: Reuse | None = None,
) -> QueryResponse:
    main = plan(catalog, request, now, sizes)
    keys = await _top_keys(clickhouse, main)
    response: dict[str, Any] = {}
    if request.compare is None:
        rows, sql = await _run(clickhouse, main, keys, reuse)
    else:
        window = comparison_window(main.start, main.end, request.compare, main.tz)
        earlier = plan(catalog, request, now, sizes, window)
        current = buckets(main.start, main.end, request.granularity, main.tz)
        before = buckets(earlier.start, earlier.end, request.granularity, main.tz)
        lag = None if request.granularity == "total" else constant_lag(current, before)
        if reuse is not None and lag is not None and reusable(main) and not request.fill:
            starts = [b for b in current if b is not None]
            rows = await _compared_by_bucket(clickhouse, main, earlier, starts, lag, keys, reuse)
            sql = compile_plan(main, clickhouse.database, keys).sql
        else:
            # Both periods at once: a ClickHouse server runs them in parallel (chDB serialises them anyway).
            (rows, sql), (previous_rows, _) = await asyncio.gather(
                _run(clickhouse, main, keys, reuse), _run(clickhouse, earlier, keys, reuse)
            )
            bucket_map = {
                (b.astimezone(main.tz) if b else None): (c.astimezone(main.tz) if c else None)
                for b, c in zip(before, current, strict=False)
            }
            empty = empty_values(main.config, request.metrics)
            rows = attach_previous(rows, previous_rows, bucket_map, request.group_by, empty)
        response["compare_start"], response["compare_end"] = (
            earlier.start.astimezone(main.tz),
            earlier.end.astimezone(main.tz),
        )

    if request.join is not None:
        other_request, back = _joined_request(catalog, request)
        other = plan(catalog, other_request, now, sizes, (main.start, main.end))
        other_rows, _ = await _run(clickhouse, other, None, reuse)
        renamed = [replace(r, dimensions={back[k]: v for k, v in r.dimensions.items()}, wire=None) for r in other_rows]
        rows = join_rows(rows, renamed, request.join.kind, request.group_by, other_request.metrics, request.metrics)
        response["joined_source"] = other.source.label

    check_row_count(len(rows))  # filled series and outer joins add rows to what the statements returned
    return QueryResponse(
        module=request.module,
        granularity=request.granularity,
        time_zone=request.time_zone,
        start=main.start.astimezone(main.tz),
        end=main.end.astimezone(main.tz),
        source=main.source.label,
        source_reason=main.source.reason,
        rows=rows,
        sql=sql,
        reused_buckets=reuse.buckets if reuse else 0,
        **response,
    )


async def read_records(
    clickhouse: ClickHouse, catalog: Catalog, request: RecordsRequest, now: datetime
) -> RecordsResponse:
    config = module_of(catalog, request)
    validate_filters(config, request.filters)
    tz = zone(request.time_zone)
    start, end = resolve_window(request.window, "total", tz, now)
    compiled = compile_records(request, config, start, end, clickhouse.database)
    result = await select(clickhouse, compiled.sql, compiled.parameters)
    records, cursor, more = page(result.rows, compiled.metrics, request.first, tz)
    return RecordsResponse(
        module=request.module,
        start=start.astimezone(tz),
        end=end.astimezone(tz),
        records=records,
        end_cursor=cursor,
        has_next_page=more,
    )


async def rollup_sizes(clickhouse: ClickHouse, catalog: Catalog) -> dict[str, dict[str, int]]:
    """Rows held by each rollup table, by module and rollup name (active parts; merges shrink them later)."""
    result = await select(
        clickhouse,
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
