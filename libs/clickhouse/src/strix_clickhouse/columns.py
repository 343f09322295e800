"""How module fields, dimensions and metrics become ClickHouse columns and expressions.

Types come from the field type table (strix_config.fieldtypes) and each metric kind renders its own aggregate
(strix_config.metrics): here they meet the config's names. A stored metric has three renderings that must agree:
its aggregate state in a rollup (`state_expr`, typed by `state_type`), the merge of those states at query time
(`merge_expr`), and the same aggregate computed directly over raw events (`raw_expr`); all three come from one
`Aggregate`, which is what makes rollup and raw answers equal.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from strix_clickhouse.sql import quote_identifier, quote_literal
from strix_config import EventField, ModuleConfig
from strix_config.aggregates import Aggregate
from strix_config.granularities import GRANULARITIES
from strix_config.model import Scalar, condition_tests

EVENTS_SUFFIX = "_events"
# Where each event sits in its stream: message sequence and position in the message. Unique per event, stable
# across re-deliveries, so they order raw records for cursor pagination.
SEQUENCE_COLUMN = "_seq"
POSITION_COLUMN = "_pos"
BUCKET_COLUMN = "bucket"
# Rollup buckets are whole seconds (a minute at the finest): DateTime, not the events' DateTime64.
BUCKET_TYPE = "DateTime('UTC')"


def events_table(module: str) -> str:
    """The table events are inserted into: raw MergeTree, or Null when raw events are not kept."""
    return module + EVENTS_SUFFIX


def rollup_table(module: str, rollup: str) -> str:
    return f"{module}__{rollup}"


def rollup_view(module: str, rollup: str) -> str:
    return f"{module}__{rollup}__mv"


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
    if field.type_spec.python is Decimal and not isinstance(value, bool):
        return f"toDecimal64({quote_literal(str(Decimal(str(value))))}, {field.scale})"
    if field.type_spec.python is datetime and isinstance(value, str):
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


def _condition(config: ModuleConfig, name: str, qualifier: str = "") -> str | None:
    where = config.metrics[name].where
    if not where:
        return None
    parts = []
    for field, condition in sorted(where.items()):
        column = qualifier + quote_identifier(field)
        for op, value in condition_tests(condition):
            parts.append(test_sql(config.event.fields[field], column, op, value))
    return " AND ".join(parts)


def aggregate(config: ModuleConfig, name: str, qualifier: str = "") -> Aggregate:
    """A stored metric's aggregate, as its kind renders it, over its field's column and within its condition.

    `qualifier` (such as "e.") makes every column a table column: in a view's SELECT, the aliases of dimensions
    and metrics would otherwise shadow event fields of the same name."""
    metric = config.metrics[name]
    source = metric.source_field
    column = qualifier + quote_identifier(source) if source else ""
    column_type = config.event.fields[source].column_type() if source else ""  # states are typed without LowCardinality
    return metric.aggregate(column, column_type).where(_condition(config, name, qualifier))


def state_expr(config: ModuleConfig, name: str, qualifier: str = "") -> str:
    return aggregate(config, name, qualifier).state()


def state_type(config: ModuleConfig, name: str) -> str:
    return aggregate(config, name).state_type()


def merge_expr(config: ModuleConfig, name: str) -> str:
    """Merge of a stored metric's states in a rollup table."""
    return aggregate(config, name).merge(quote_identifier(name))


def raw_expr(config: ModuleConfig, name: str) -> str:
    """The same aggregate computed over raw events."""
    return aggregate(config, name).raw()
