"""How module fields, dimensions and metrics become ClickHouse columns and expressions.

One metric has three renderings that must agree: its aggregate state in a rollup (`state_expr`, typed by
`state_type`), the merge of those states at query time (`merge_expr`), and the same aggregate computed
directly over raw events (`raw_expr`). Keeping them side by side is what makes rollup and raw answers equal.
"""

from __future__ import annotations

from decimal import Decimal

from strix_clickhouse.sql import quote_identifier, quote_literal
from strix_config import EventField, ModuleConfig
from strix_config.granularities import GRANULARITIES
from strix_config.model import (
    AvgMetric,
    CountMetric,
    MaxMetric,
    MinMetric,
    QuantileMetric,
    RatioMetric,
    Scalar,
    SumMetric,
    UniqExactMetric,
    UniqMetric,
    condition_tests,
)

EVENTS_SUFFIX = "_events"
# Where each event sits in its stream: message sequence and position in the message. Unique per event, stable
# across re-deliveries, so they order raw records for cursor pagination.
SEQUENCE_COLUMN = "_seq"
POSITION_COLUMN = "_pos"
BUCKET_COLUMN = "bucket"


def events_table(module: str) -> str:
    """The table events are inserted into: raw MergeTree, or Null when raw events are not kept."""
    return module + EVENTS_SUFFIX


def rollup_table(module: str, rollup: str) -> str:
    return f"{module}__{rollup}"


def rollup_view(module: str, rollup: str) -> str:
    return f"{module}__{rollup}__mv"


def column_type(field: EventField, low_cardinality: bool = False) -> str:
    kind = field.type
    if kind == "string":
        return "LowCardinality(String)" if low_cardinality else "String"
    if kind == "int":
        return "Int64"
    if kind == "float":
        return "Float64"
    if kind == "decimal":
        return f"Decimal(18, {field.scale})"
    if kind == "bool":
        return "Bool"
    return "DateTime64(3, 'UTC')"


def stored_type(field: EventField) -> str:
    """The type of a field after LowCardinality is stripped (what aggregate states are typed over)."""
    return column_type(field, low_cardinality=False)


def bucket_function(granularity: str) -> str:
    function = GRANULARITIES[granularity].bucket_function
    assert function is not None, f"{granularity} is not a rollup granularity"
    return function


def partition_key(granularity: str) -> str:
    key = GRANULARITIES[granularity].partition_key
    assert key is not None, f"{granularity} is not a rollup granularity"
    return key


_COMPARISONS = {"eq": "=", "neq": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def condition_literal(field: EventField, value: Scalar) -> str:
    """A config value as a literal of its field's type: decimals exactly (never a Float64 literal), times
    parsed as DateTime64 in UTC. Values were checked against the field's type when the config loaded."""
    if field.type == "decimal" and not isinstance(value, bool):
        return f"toDecimal64({quote_literal(str(Decimal(str(value))))}, {field.scale})"
    if field.type == "datetime" and isinstance(value, str):
        return f"parseDateTime64BestEffort({quote_literal(value)}, 3, 'UTC')"
    return quote_literal(value)


def test_sql(field: EventField, column: str, op: str, value: Scalar | list[Scalar]) -> str:
    """One test of a metric condition (the operators of query filters) over `column`."""
    if op in ("in", "not_in"):
        items = value if isinstance(value, list) else [value]
        negation = "NOT " if op == "not_in" else ""
        return f"{column} {negation}IN ({', '.join(condition_literal(field, v) for v in items)})"
    if isinstance(value, list):
        raise ValueError(f"`{op}` takes one value, not a list")
    if op == "prefix":
        return f"startsWith({column}, {quote_literal(value)})"
    if op == "contains":
        return f"position({column}, {quote_literal(value)}) > 0"
    return f"{column} {_COMPARISONS[op]} {condition_literal(field, value)}"


def _condition(config: ModuleConfig, metric: object, qualifier: str = "") -> str | None:
    where = getattr(metric, "where", None)
    if not where:
        return None
    parts = []
    for field, condition in sorted(where.items()):
        column = qualifier + quote_identifier(field)
        for op, value in condition_tests(condition):
            parts.append(test_sql(config.event.fields[field], column, op, value))
    return " AND ".join(parts)


def _aggregate(config: ModuleConfig, name: str, qualifier: str = "") -> tuple[str, str, list[str], list[str]]:
    """(function, parameters, argument expressions, argument types) of a stored metric."""
    metric = config.metrics[name]
    if isinstance(metric, CountMetric):
        return "count", "", [], []
    if isinstance(metric, RatioMetric):
        raise ValueError(f"metric {name!r} is derived and has no stored state")
    field = config.event.fields[metric.field]
    column = qualifier + quote_identifier(metric.field)
    if isinstance(metric, QuantileMetric):
        return "quantileTDigest", f"({metric.level!r})", [f"toFloat64({column})"], ["Float64"]
    function = {
        SumMetric: "sum",
        MinMetric: "min",
        MaxMetric: "max",
        AvgMetric: "avg",
        UniqMetric: "uniq",
        UniqExactMetric: "uniqExact",
    }[type(metric)]
    return function, "", [column], [stored_type(field)]


def _with_condition(config: ModuleConfig, name: str, qualifier: str = "") -> tuple[str, str, list[str], list[str]]:
    function, params, args, types = _aggregate(config, name, qualifier)
    condition = _condition(config, config.metrics[name], qualifier)
    if condition is None:
        return function, params, args, types
    return function + "If", params, [*args, condition], [*types, "UInt8"]


def state_expr(config: ModuleConfig, name: str, qualifier: str = "") -> str:
    """`qualifier` (such as "e.") makes every column a table column: in a view's SELECT, the aliases of
    dimensions and metrics would otherwise shadow event fields of the same name."""
    function, params, args, _ = _with_condition(config, name, qualifier)
    return f"{function}State{params}({', '.join(args)})"


def state_type(config: ModuleConfig, name: str) -> str:
    function, params, _, types = _with_condition(config, name)
    return f"AggregateFunction({', '.join([function + params, *types])})"


def merge_expr(config: ModuleConfig, name: str) -> str:
    """Merge of a stored metric's states in a rollup table."""
    function, params, _, _ = _with_condition(config, name)
    return f"{function}Merge{params}({quote_identifier(name)})"


def raw_expr(config: ModuleConfig, name: str) -> str:
    """The same aggregate computed over raw events."""
    function, params, args, _ = _with_condition(config, name)
    return f"{function}{params}({', '.join(args)})"
