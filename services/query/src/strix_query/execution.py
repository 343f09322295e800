"""Run a planned query: the answer cache, then each part's rows from the bucket cache or ClickHouse.

Every decision is taken in `plan.py` (pure); this module only reads. An answer-cache hit costs the window's
resolution and nothing else. On a miss, each part's buckets come from the bucket cache as they are, and one
statement reads the span of the missing ones: its SQL is compiled then, never for buckets the cache answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from msgspec.structs import replace
from prometheus_client import Histogram

from strix_clickhouse import ClickHouse, QueryResult
from strix_clickhouse.columns import rollup_table
from strix_config import Catalog
from strix_contracts.errors import QueryError
from strix_contracts.query import (
    QueryRequest,
    QueryResponse,
    RecordsRequest,
    RecordsResponse,
    Row,
    encode_answer,
)
from strix_query.access import authorize, restricted_records
from strix_query.buckets_cache import BucketCache, read_ahead
from strix_query.cache import ResultCache
from strix_query.compiler import MAX_ROWS, CompiledQuery, with_time_limit
from strix_query.plan import Part, QueryPlan, Sizes, TopKeys, answer_scope, compared_span, plan_query
from strix_query.planner import Held
from strix_query.records import compile_records, page
from strix_query.results import result_rows
from strix_query.shaping import attach_previous, derive_joined, empty_values, fill_series, join_rows
from strix_query.span_reads import SpanRead
from strix_query.validation import check_row_count, module_of, validate_filters
from strix_query.window import buckets as bucket_starts
from strix_query.window import resolve_window, shift, zone
from strix_runtime.tracing import clickhouse_span

# What each statement was for (how many answers the caches could not give, and which part of them) and how long
# it took, waiting for the store included (embedded, chDB runs one statement at a time).
STATEMENTS = Histogram(
    "strix_query_statement_seconds",
    "Statements the query service ran, by purpose: time from asking to rows",
    ["purpose"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


async def select(clickhouse: ClickHouse, sql: str, parameters: Mapping[str, Any], purpose: str) -> QueryResult:
    return await select_formed(clickhouse, lambda: (sql, parameters), purpose)


async def select_formed(
    clickhouse: ClickHouse, form: Callable[[], tuple[str, Mapping[str, Any]]], purpose: str
) -> QueryResult:
    """Every statement of the query service, under ClickHouse's time limit, formed when the store takes it."""

    def limited() -> tuple[str, Mapping[str, Any]]:
        sql, parameters = form()
        return with_time_limit(sql), parameters

    with clickhouse_span("select"), STATEMENTS.labels(purpose).time():
        return await clickhouse.query_formed(limited)


@dataclass
class Reuse:
    """The bucket cache and whether this request may read it (`fresh` requests only refill it)."""

    cache: BucketCache[Row]
    read: bool = True
    buckets: int = 0  # buckets answered from the cache, for the response


# Rows and the SQL of the statement that read them (None: every bucket came from the bucket cache).
Read = tuple[list[Row], str | None]
BucketsRead = tuple[list[list[Row]], str | None]  # the same, bucket by bucket
SpanOf = Callable[[], tuple[datetime, datetime]]  # the span to read, asked when the statement is formed
ComputeSpan = Callable[[SpanOf], Awaitable[Read]]


async def _read(
    clickhouse: ClickHouse, part: Part, keys: TopKeys | None, purpose: str, span_of: SpanOf | None = None
) -> tuple[list[Row], str]:
    """`part`'s rows, over the span `span_of` gives when the store takes the statement if given (span_reads.py)."""
    formed: list[CompiledQuery] = []

    def form() -> tuple[str, Mapping[str, Any]]:
        compiled = (part if span_of is None else part.over(*span_of())).statement(clickhouse.database, keys)
        formed.append(compiled)
        return compiled.sql, compiled.parameters

    result = await select_formed(clickhouse, form, purpose)
    return result_rows(formed[0], result.rows, part.tz), formed[0].sql


async def _through_bucket_cache(
    reuse: Reuse,
    shape: str,
    part: Part,
    starts: list[datetime],
    compute: ComputeSpan,
    lag: timedelta | None = None,
    until: datetime | None = None,
) -> BucketsRead:
    """Each bucket's rows, in `starts` order (the lists the cache holds, not copies): cached buckets as they
    are; `compute` over the span of the missing ones, whose rows are then kept; and the SQL that read them.
    Compared rows (`lag`): each bucket starting before `until` also read its comparison bucket `lag` earlier;
    both count in `reuse.buckets`."""
    granularity, tz = part.request.granularity, part.tz
    found = reuse.cache.lookup(shape, starts) if reuse.read else {}
    reuse.buckets += len(found) + (0 if until is None else sum(1 for s in found if s < until))
    missing = [s for s in starts if s not in found]
    sql = None
    if missing:
        span = [s for s in starts if missing[0] <= s <= missing[-1]]
        rows_per_bucket = max(map(len, found.values())) if found else None
        if lag is None and rows_per_bucket is not None and missing[-1] == starts[-1]:
            span += _ahead(span[-1], len(starts), len(span), rows_per_bucket, granularity, tz)
        generation = reuse.cache.generation(part.config.module)
        if lag is None:
            # Merged reads stay near a window's size: a statement's cost grows with its buckets past its fixed part.
            budget = 4 * len(starts)
            if rows_per_bucket is not None:
                budget = min(budget, MAX_ROWS // 10 // max(rows_per_bucket, 1))
            (rows, sql), span = await _read_merged(reuse.cache, shape, part, span, compute, max(budget, len(span)))
        else:
            rows, sql = await compute(lambda: (span[0], shift(span[-1], granularity, 1, tz)))
        computed: dict[datetime, list[Row]] = {}
        for row in rows:
            assert row.bucket is not None
            computed.setdefault(row.bucket, []).append(row)
        kept = [(s, shift(s, granularity, 1, tz), computed.get(s, [])) for s in span]
        reuse.cache.store(shape, part.config.module, kept, generation, lag)
        found.update((s, rows) for s, _, rows in kept)
    return [found.get(start, []) for start in starts], sql


async def _read_merged(
    cache: BucketCache[Row], shape: str, part: Part, span: list[datetime], compute: ComputeSpan, most: int
) -> tuple[Read, list[datetime]]:
    """The rows of `span` (bucket starts), through a read of the shape still waiting for the store if one can
    widen to cover it within `most` buckets, else a read of its own that later requests may widen; with the
    bucket starts the rows cover (span_reads.py)."""
    granularity, tz = part.request.granularity, part.tz

    def covered(first: datetime, last: datetime) -> list[datetime]:
        return [b for b in bucket_starts(first, shift(last, granularity, 1, tz), granularity, tz) if b is not None]

    def fits(first: datetime, last: datetime) -> bool:
        return len(covered(first, last)) <= most

    pending = cache.reading.get(shape)
    if pending is not None and pending.join(span[0], span[-1], fits):
        await asyncio.wait([pending.done])
        if not pending.done.cancelled() and pending.done.exception() is None:
            return pending.done.result(), span
        # The merged read failed (too many rows, its caller gone): read this span alone.
    read: SpanRead[Read] = SpanRead(span[0], span[-1], asyncio.get_running_loop().create_future())
    cache.reading[shape] = read

    def span_of() -> tuple[datetime, datetime]:
        first, last = read.take()
        return first, shift(last, granularity, 1, tz)

    try:
        done = await compute(span_of)
    except Exception as exc:
        read.done.set_exception(exc)
        read.done.exception()  # seen: no warning when nobody joined
        raise
    except BaseException:
        read.done.cancel()  # this request was cancelled: whoever joined reads alone
        raise
    else:
        read.done.set_result(done)
    finally:
        if cache.reading.get(shape) is read:
            del cache.reading[shape]
    return done, covered(read.first, read.last)


def _ahead(
    last: datetime, window: int, missing: int, rows_per_bucket: int, granularity: str, tz: ZoneInfo
) -> list[datetime]:
    """The bucket starts after `last` to read with a slide's missing buckets (`read_ahead`), none after now."""
    now = datetime.now(UTC)
    following: list[datetime] = []
    moment = shift(last, granularity, 1, tz)
    while moment <= now and len(following) < window:
        following.append(moment)
        moment = shift(moment, granularity, 1, tz)
    count = read_ahead(window, missing, rows_per_bucket, len(following), MAX_ROWS // 10)
    return following[:count]


def _flat(buckets: list[list[Row]]) -> list[Row]:
    return [row for rows in buckets for row in rows]


async def _buckets(
    clickhouse: ClickHouse, part: Part, keys: TopKeys | None, reuse: Reuse, purpose: str = "buckets"
) -> BucketsRead:
    """A reusable part's rows bucket by bucket through the cache, and the SQL that read the missing ones."""

    async def compute(span_of: SpanOf) -> Read:
        return await _read(clickhouse, part, keys, purpose, span_of)

    starts = [b for b in part.bucket_starts() if b is not None]
    return await _through_bucket_cache(reuse, part.shape(clickhouse.database, keys), part, starts, compute)


async def _run(clickhouse: ClickHouse, part: Part, keys: TopKeys | None, reuse: Reuse | None) -> Read:
    """A part's rows: bucket by bucket through the cache when it may, else one statement; filled if asked."""
    if reuse is not None and part.reusable:
        buckets, sql = await _buckets(clickhouse, part, keys, reuse)
        rows = _flat(buckets)
    else:
        rows, sql = await _read(clickhouse, part, keys, "window")
    if part.request.fill:
        local = [b.astimezone(part.tz) if b else None for b in part.bucket_starts()]
        rows = fill_series(rows, part.config, local, part.request.group_by, part.request.metrics)
    return rows, sql


async def _compared_by_bucket(clickhouse: ClickHouse, plan: QueryPlan, keys: TopKeys | None, reuse: Reuse) -> Read:
    """Rows with their comparison attached, kept per bucket: a sliding window attaches (and encodes) only the
    rows of its new buckets. The missing span is read for both periods through the bucket cache (`compared_span`
    says how). Buckets pair by position, as `attach_previous` pairs them for a whole window."""
    main, comparison = plan.main, plan.comparison
    assert comparison is not None and comparison.lag is not None
    starts = [b for b in comparison.current if b is not None]
    shape = f"{main.shape(clickhouse.database, keys)}|compared:{comparison.lag.total_seconds():.0f}"
    empty = empty_values(main.config, main.request.metrics)

    async def compute(span_of: SpanOf) -> Read:
        start, end = span_of()
        span = compared_span(plan, starts, start, end)
        previous_rows: list[Row] = []
        if span.both is not None:
            every, ran = await _run(clickhouse, span.both, keys, reuse)
            rows = [r for r in every if r.bucket is not None and r.bucket >= span.start]
            previous_rows = [r for r in every if r.bucket is not None and r.bucket < span.previous_end]
        else:
            assert span.current is not None
            if span.previous is None:
                rows, ran = await _run(clickhouse, span.current, keys, reuse)
            else:
                (rows, ran), (previous_rows, _) = await asyncio.gather(
                    _run(clickhouse, span.current, keys, reuse), _run(clickhouse, span.previous, keys, reuse)
                )
        return attach_previous(rows, previous_rows, span.bucket_map, main.request.group_by, empty), ran

    buckets, sql = await _through_bucket_cache(reuse, shape, main, starts, compute, comparison.lag, comparison.until)
    return _flat(buckets), sql


async def _compared_in_one(clickhouse: ClickHouse, plan: QueryPlan, keys: TopKeys | None) -> Read:
    """Totals and their comparison from one statement over both windows (`QueryPlan.compared_in_one`): its rows
    end with the window they belong to, split here, then paired as two statements' rows would be."""
    main, comparison = plan.main, plan.comparison
    assert comparison is not None
    compiled = main.statement(clickhouse.database, keys, comparison.earlier)
    result = await select(clickhouse, compiled.sql, compiled.parameters, "compared totals")
    current = [values[:-1] for values in result.rows if values[-1]]
    earlier = [values[:-1] for values in result.rows if not values[-1]]
    rows = result_rows(compiled, current, main.tz)
    previous_rows = result_rows(compiled, earlier, main.tz)
    empty = empty_values(main.config, main.request.metrics)
    return attach_previous(rows, previous_rows, comparison.bucket_map, main.request.group_by, empty), compiled.sql


async def _top_keys(clickhouse: ClickHouse, plan: QueryPlan, reuse: Reuse | None) -> TopKeys | None:
    """The top-N groups: ranked from bucket rows when the plan can and the bucket cache may be read (a sliding
    window then reads its new buckets only, shared with every viewer asking a top-N of the same groups), else
    by the top-N statement (fresh requests: one small statement costs less than every bucket of the window)."""
    if plan.top is None:
        return None
    ranking = plan.ranking
    if ranking is not None and reuse is not None and reuse.read:
        shape = ranking.part.shape(clickhouse.database, None)
        if shape not in reuse.cache.oversized:
            try:
                buckets, _ = await _buckets(clickhouse, ranking.part, None, Reuse(reuse.cache), "ranking")
            except QueryError:
                reuse.cache.refuse(shape)  # more groups x buckets than an answer holds: the statement ranks them
            else:
                groups, totals = reuse.cache.vectors.of(shape, buckets, ranking.bucket_totals)
                return ranking.keys_of_buckets(totals, groups)
    result = await select(clickhouse, plan.top.sql, plan.top.parameters, "top")
    return [tuple(row[: len(plan.main.request.group_by)]) for row in result.rows]


async def execute(clickhouse: ClickHouse, plan: QueryPlan, reuse: Reuse | None = None) -> QueryResponse:
    main = plan.main
    request, tz = main.request, main.tz
    keys = await _top_keys(clickhouse, plan, reuse)
    response: dict[str, Any] = {}
    comparison = plan.comparison
    if comparison is None:
        rows, sql = await _run(clickhouse, main, keys, reuse)
    else:
        if reuse is not None and plan.compared_by_bucket:
            rows, sql = await _compared_by_bucket(clickhouse, plan, keys, reuse)
        elif plan.compared_in_one:
            rows, sql = await _compared_in_one(clickhouse, plan, keys)
        else:
            # Both periods at once: a ClickHouse server runs them in parallel (chDB serialises them anyway).
            (rows, sql), (previous_rows, _) = await asyncio.gather(
                _run(clickhouse, main, keys, reuse), _run(clickhouse, comparison.earlier, keys, reuse)
            )
            empty = empty_values(main.config, request.metrics)
            rows = attach_previous(rows, previous_rows, comparison.bucket_map, request.group_by, empty)
        response["compare_start"] = comparison.earlier.start.astimezone(tz)
        response["compare_end"] = comparison.earlier.end.astimezone(tz)

    if plan.join is not None:
        assert request.join is not None
        other, back = plan.join.part, plan.join.back
        other_rows, _ = await _run(clickhouse, other, None, reuse)
        renamed = [replace(r, dimensions={back[k]: v for k, v in r.dimensions.items()}, wire=None) for r in other_rows]
        rows = join_rows(rows, renamed, request.join.kind, request.group_by, other.request.metrics, request.metrics)
        rows = derive_joined(rows, main.config.joins[request.join.name], request.join.derived)
        response["joined_source"] = other.source.label

    check_row_count(len(rows))  # filled series and outer joins add rows to what the statements returned
    return QueryResponse(
        module=request.module,
        granularity=request.granularity,
        time_zone=request.time_zone,
        start=main.start.astimezone(tz),
        end=main.end.astimezone(tz),
        source=main.source.label,
        source_reason=main.source.reason,
        rows=rows,
        sql=sql,
        reused_buckets=reuse.buckets if reuse else 0,
        **response,
    )


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
    scope = answer_scope(catalog, request, now)
    found = None if request.fresh else cache.get(scope.key)
    if found is not None:
        return found, True
    generation = cache.generation([w[0] for w in scope.windows])
    plan = plan_query(catalog, request, now, clickhouse.database, sizes, scope)
    reuse = None if bucket_cache is None else Reuse(bucket_cache, read=not request.fresh)
    response = await execute(clickhouse, plan, reuse)
    answer = Answer(
        encode_answer(response, request.row_layout), response.source, len(response.rows), response.reused_buckets
    )
    cache.put(scope.key, scope.windows, answer, generation)
    return answer, False


async def read_records(
    clickhouse: ClickHouse, catalog: Catalog, request: RecordsRequest, now: datetime
) -> RecordsResponse:
    grant = authorize(catalog, request)
    config = module_of(catalog, request)
    request = restricted_records(request, grant.rows)
    validate_filters(config, request.filters)
    tz = zone(request.time_zone)
    start, end = resolve_window(request.window, "total", tz, now)
    compiled = compile_records(request, config, start, end, clickhouse.database)
    result = await select(clickhouse, compiled.sql, compiled.parameters, "records")
    records, cursor, more = page(result.rows, compiled.metrics, request.first, tz)
    return RecordsResponse(
        module=request.module,
        start=start.astimezone(tz),
        end=end.astimezone(tz),
        records=records,
        end_cursor=cursor,
        has_next_page=more,
    )


async def rollup_sizes(clickhouse: ClickHouse, catalog: Catalog) -> dict[str, dict[str, list[Held]]]:
    """The active parts of each rollup table (rows, first and last bucket), by module and rollup name: the
    planner estimates from them the rows a window reads (merges shrink them later)."""
    result = await select(
        clickhouse,
        "SELECT table, rows, min_time, max_time FROM system.parts WHERE database = {db:String} AND active",
        {"db": clickhouse.database},
        "rollup sizes",
    )
    by_table: dict[str, list[Held]] = {}
    for table, rows, first, last in result.rows:
        by_table.setdefault(str(table), []).append(Held(int(rows), _utc(first), _utc(last)))
    return {
        name: {
            rollup: by_table[rollup_table(name, rollup)]
            for rollup in config.rollups
            if rollup_table(name, rollup) in by_table
        }
        for name, config in catalog.modules.items()
    }


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
