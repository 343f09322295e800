"""Compile a validated query into parameterised ClickHouse SQL over the chosen source.

Pure: request, config and resolved window in; SQL text and parameters out. Every value from the caller is a
`{name:Type}` parameter; identifiers come from the config and go through `quote_identifier`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from strix_clickhouse.columns import BUCKET_COLUMN, BUCKET_TYPE, events_table, merge_expr, raw_expr, rollup_table
from strix_clickhouse.sql import qualified, quote_identifier
from strix_config import ModuleConfig
from strix_config.fieldtypes import decimal_bound
from strix_contracts.errors import QueryError
from strix_contracts.query import AllOf, AnyOf, Condition, Filter, Order, QueryRequest
from strix_query.planner import Source

BUCKET_ALIAS = "__bucket"
CURRENT_ALIAS = "__current"  # 1 on a row of the window asked, 0 on the earlier window's (`compile_query(earlier=)`)
_LIST_OPS = {"in", "not_in"}
_ORDER_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_STRING_OPS = {"prefix", "contains"}


def dimension_alias(name: str) -> str:
    return f"__d_{name}"


def metric_alias(name: str) -> str:
    return f"__m_{name}"


@dataclass
class Params:
    """Allocates parameter names: values never enter the SQL text."""

    values: dict[str, Any] = field(default_factory=dict)

    def add(self, value: Any, type_: str) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{type_}}}"


# The most rows one answer may hold: beyond it a query grouped by a high-cardinality dimension, or at minutes
# over months, would hold the service's memory and CPU for an answer no dashboard can draw.
MAX_ROWS = 100_000


# The longest one statement may run: ClickHouse stops it and says so (a thread reading a huge window would
# otherwise run on after its caller gave up).
STATEMENT_SECONDS = 10.0


def with_time_limit(sql: str, seconds: float = STATEMENT_SECONDS) -> str:
    """The statement with ClickHouse's own time limit: past it, the statement fails with TIMEOUT_EXCEEDED."""
    return f"{sql}\nSETTINGS max_execution_time = {seconds:g}, timeout_overflow_mode = 'throw'"


@dataclass(frozen=True)
class CompiledQuery:
    sql: str
    parameters: dict[str, Any]
    dimensions: list[str]
    metrics: list[str]
    bucketed: bool


def filter_dimensions(filters: list[Filter]) -> set[str]:
    found: set[str] = set()
    for item in filters:
        if isinstance(item, Condition):
            found.add(item.dimension)
        elif isinstance(item, AllOf):
            found |= filter_dimensions(item.all)
        elif isinstance(item, AnyOf):
            found |= filter_dimensions(item.any)
    return found


def _bucket_expr(granularity: str, column: str, params: Params, tz: str) -> str:
    if granularity == "minute":
        return f"toStartOfMinute({column})"
    zone = params.add(tz, "String")
    if granularity == "hour":
        return f"toStartOfHour({column}, {zone})"
    if granularity == "day":
        return f"toStartOfDay({column}, {zone})"
    if granularity == "week":
        return f"toDateTime(toStartOfWeek({column}, 1, {zone}), {zone})"
    return f"toDateTime(toStartOfMonth({column}, {zone}), {zone})"


def condition_type(config: ModuleConfig, cond: Condition, path: str) -> tuple[str, list[Any]]:
    """The parameter type of a condition's value(s) and the values as a list, or a QueryError naming `path`
    (the planner checks every condition this way before any SQL exists). Decimals are compared exactly, as
    Decimal parameters: 1.15 stays 1.15, never a float's 1.149999..."""
    field = config.event.fields[config.dimension_field(cond.dimension)]
    kind = field.type_spec
    values = cond.value if isinstance(cond.value, list) else [cond.value]
    if (cond.op in _LIST_OPS) != isinstance(cond.value, list):
        wanted = "a list of values" if cond.op in _LIST_OPS else "a single value"
        raise QueryError(f"`{cond.op}` takes {wanted}", argument=path)
    for value in values:
        if not kind.accepts(value):
            raise QueryError(f"{value!r} is not a {field.type} value of {cond.dimension}", argument=path)
        if isinstance(value, int) and kind.python is int and not -(2**63) <= value < 2**63:
            raise QueryError(f"{value} is outside the 64-bit range of {cond.dimension}", argument=path)
    if cond.op in _STRING_OPS and not kind.text:
        raise QueryError(f"`{cond.op}` applies to string dimensions; {cond.dimension} is {field.type}", argument=path)
    ptype = field.parameter_type()
    if kind.python is Decimal:
        most = decimal_bound(field.scale)
        for value in values:
            if isinstance(value, int | float) and not -most < value < most:
                raise QueryError(f"{value} is outside the range of {cond.dimension} ({ptype})", argument=path)
    return ptype, values


def check_filters(config: ModuleConfig, filters: list[Filter], path: str = "filters") -> None:
    """Every condition's operator and values against its dimension's type (names are checked before)."""
    for i, item in enumerate(filters):
        here = f"{path}[{i}]"
        if isinstance(item, Condition):
            condition_type(config, item, here)
        elif isinstance(item, AllOf):
            check_filters(config, item.all, here + ".all")
        elif isinstance(item, AnyOf):
            check_filters(config, item.any, here + ".any")


def _condition_sql(config: ModuleConfig, cond: Condition, column: str, params: Params, path: str) -> str:
    ptype, values = condition_type(config, cond, path)
    if cond.op == "eq":
        return f"{column} = {params.add(cond.value, ptype)}"
    if cond.op == "neq":
        return f"{column} != {params.add(cond.value, ptype)}"
    if cond.op == "in":
        return f"{column} IN {params.add(values, f'Array({ptype})')}"
    if cond.op == "not_in":
        return f"{column} NOT IN {params.add(values, f'Array({ptype})')}"
    if cond.op in _ORDER_OPS:
        return f"{column} {_ORDER_OPS[cond.op]} {params.add(cond.value, ptype)}"
    if cond.op == "prefix":
        return f"startsWith({column}, {params.add(cond.value, 'String')})"
    return f"position({column}, {params.add(cond.value, 'String')}) > 0"


def filters_sql(
    config: ModuleConfig, filters: list[Filter], source: Source, params: Params, joiner: str, path: str
) -> str:
    parts = []
    for i, item in enumerate(filters):
        here = f"{path}[{i}]"
        if isinstance(item, Condition):
            column = quote_identifier(item.dimension if source.rollup else config.dimension_field(item.dimension))
            parts.append(_condition_sql(config, item, column, params, here))
        elif isinstance(item, AllOf):
            parts.append("(" + (filters_sql(config, item.all, source, params, " AND ", here + ".all") or "1") + ")")
        elif isinstance(item, AnyOf):
            parts.append("(" + (filters_sql(config, item.any, source, params, " OR ", here + ".any") or "0") + ")")
    return joiner.join(parts)


def metric_expr(config: ModuleConfig, name: str, source: Source) -> str:
    """A stored metric's merge (rollup) or raw aggregate; a derived one computed from its inputs' values."""
    metric = config.metrics[name]
    if metric.stored:
        return merge_expr(config, name) if source.rollup else raw_expr(config, name)
    return metric.derive_sql([metric_expr(config, part, source) for part in metric.inputs()])


def _in_keys(
    config: ModuleConfig, dims: list[str], columns: list[str], keys: list[tuple[Any, ...]], params: Params
) -> str:
    """`(d1, d2) IN {keys}` with the keys as one typed array parameter."""
    types = [config.event.fields[config.dimension_field(d)].parameter_type() for d in dims]
    if len(dims) == 1:
        return f"{columns[0]} IN {params.add([k[0] for k in keys], f'Array({types[0]})')}"
    tuple_type = f"Array(Tuple({', '.join(types)}))"
    return f"tuple({', '.join(columns)}) IN {params.add([tuple(k) for k in keys], tuple_type)}"


def order_alias(request: QueryRequest, item: Order) -> str:
    """The column an `orderBy` item sorts on, or a QueryError: only the bucket, a requested metric or a
    group-by dimension can be ordered by."""
    if item.field == "bucket":
        return BUCKET_ALIAS
    if item.field in request.metrics:
        return metric_alias(item.field)
    if item.field in request.group_by:
        return dimension_alias(item.field)
    raise QueryError(
        f"cannot order by {item.field!r}: it is neither the bucket, a requested metric nor a group-by dimension",
        argument="orderBy",
    )


def compile_top_keys(
    request: QueryRequest, config: ModuleConfig, source: Source, start: datetime, end: datetime, database: str
) -> CompiledQuery:
    """The groups with the largest `top.by` over the whole window (ties broken by the group values)."""
    assert request.top is not None
    keys_request = request.model_copy(
        update={
            "granularity": "total",
            "metrics": [request.top.by],
            "order_by": [Order(field=request.top.by), *(Order(field=d, descending=False) for d in request.group_by)],
            "limit": request.top.n,
            "top": None,
        }
    )
    return compile_query(keys_request, config, source, start, end, database)


def compile_query(
    request: QueryRequest,
    config: ModuleConfig,
    source: Source,
    start: datetime,
    end: datetime,
    database: str,
    top_keys: list[tuple[Any, ...]] | None = None,
    earlier: tuple[datetime, datetime] | None = None,
) -> CompiledQuery:
    """The SQL of `request` over [start, end). With `earlier`, the same statement also reads that window: every
    row then ends with a column CURRENT_ALIAS (1 for the window's rows, 0 for the earlier window's), grouped by
    it, so a comparison costs one statement and one pass over the table."""
    params = Params()
    if source.rollup:
        table = qualified(database, rollup_table(config.module, source.rollup))
        time_column = quote_identifier(BUCKET_COLUMN)
        time_type = BUCKET_TYPE
    else:
        table = qualified(database, events_table(config.module))
        time_column = quote_identifier(config.event.time_field)
        time_type = config.event.fields[config.event.time_field].parameter_type()
    selects: list[str] = []
    groups: list[str] = []
    bucketed = request.granularity != "total"
    if bucketed:
        bucket = _bucket_expr(request.granularity, time_column, params, request.time_zone)
        selects.append(f"toUnixTimestamp({bucket}) AS {quote_identifier(BUCKET_ALIAS)}")
        groups.append(quote_identifier(BUCKET_ALIAS))
    columns = [quote_identifier(dim if source.rollup else config.dimension_field(dim)) for dim in request.group_by]
    in_top = None
    if top_keys is not None:
        in_top = _in_keys(config, request.group_by, columns, top_keys, params)
    for dim, column in zip(request.group_by, columns, strict=True):
        if in_top is not None and request.top is not None and request.top.others:
            column = f"if({in_top}, {column}, NULL)"  # every group outside the top folds into one row
        selects.append(f"{column} AS {quote_identifier(dimension_alias(dim))}")
        groups.append(quote_identifier(dimension_alias(dim)))
    for name in request.metrics:
        selects.append(f"{metric_expr(config, name, source)} AS {quote_identifier(metric_alias(name))}")
    current = f"{time_column} >= {params.add(start, time_type)} AND {time_column} < {params.add(end, time_type)}"
    where = [current]
    if earlier is not None:
        before = f"{time_column} >= {params.add(earlier[0], time_type)} AND {time_column} < {params.add(earlier[1], time_type)}"
        where = [f"(({current}) OR ({before}))"]
        selects.append(f"toUInt8({current}) AS {quote_identifier(CURRENT_ALIAS)}")
        groups.append(quote_identifier(CURRENT_ALIAS))
    filters = filters_sql(config, request.filters, source, params, " AND ", "filters")
    if filters:
        where.append(f"({filters})")
    if in_top is not None and request.top is not None and not request.top.others:
        where.append(in_top)
    sql = f"SELECT {', '.join(selects)}\nFROM {table}\nWHERE {' AND '.join(where)}"
    if groups:
        sql += f"\nGROUP BY {', '.join(groups)}"
    order = [
        f"{quote_identifier(order_alias(request, item))} {'DESC' if item.descending else 'ASC'}"
        for item in request.order_by
    ]
    if not order:
        order = [g + " ASC" for g in groups]
    if order:
        sql += f"\nORDER BY {', '.join(order)}"
    # One row past the cap, so an answer that would exceed it is refused rather than cut short.
    cap = MAX_ROWS + 1 if request.limit is None else min(request.limit, MAX_ROWS + 1)
    if earlier is not None:
        cap *= 2  # both windows' rows, each checked against the cap apart
    sql += f"\nLIMIT {params.add(cap, 'UInt64')}"
    return CompiledQuery(sql, params.values, list(request.group_by), list(request.metrics), bucketed)
