"""The module config model.

A module is one family of events and what is computed from it. The model is structural only: pydantic checks
shapes and types here, and `references.py` checks that names point at things that exist, so that all problems
of a file are reported together with their YAML paths.

Every field carries a description: they become the JSON Schema that editors show, the GraphQL docs and the UI
help (a test fails when one is missing).
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from strix_config.access import Access

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
DURATION_PATTERN = r"^[1-9][0-9]*(m|h|d|w)$"

FieldType = Literal["string", "int", "float", "decimal", "bool", "datetime"]
Granularity = Literal["minute", "hour", "day"]
NUMERIC_TYPES: frozenset[str] = frozenset({"int", "float", "decimal"})

Scalar = str | int | float | bool

_DURATION_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


# An event id is remembered at least this long unless a module declares its own window (ARCHITECTURE §5).
DEFAULT_DEDUP_WINDOW = timedelta(days=7)


def parse_duration(text: str) -> timedelta:
    """'90d' -> 90 days; the pattern is validated by the model before this is called."""
    match = re.fullmatch(DURATION_PATTERN, text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration such as 30m, 12h, 90d or 2w")
    return int(text[:-1]) * _DURATION_UNITS[text[-1]]


class Strict(BaseModel):
    """Base of every config node: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=False)


class Annotated_(Strict):
    """Annotations change nothing in the pipeline and everything in the API docs and the UI."""

    label: str | None = Field(default=None, description="Short human name shown in the UI and API docs.")
    description: str | None = Field(default=None, description="What this element means, for API docs and UI help.")
    unit: str | None = Field(default=None, description="Unit of the values, such as EUR, ms or events.")
    format: str | None = Field(
        default=None, description="Display hint for values, such as 'currency', 'percent', 'integer' or 'duration'."
    )
    ui: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Free-form hints for the web UI (chart preferences, colours, ordering)."
    )


class EventField(Annotated_):
    """One field of an incoming event."""

    type: FieldType = Field(
        description="Value type: string, int, float, decimal, bool or datetime (RFC 3339, with zone)."
    )
    required: bool = Field(default=True, description="Whether every event must carry this field.")
    default: Scalar | None = Field(
        default=None, description="Value used when an optional field is absent; required when `required` is false."
    )
    allowed: list[Scalar] | None = Field(
        default=None, description="The only values accepted; anything else is rejected with the list in the error."
    )
    min: float | None = Field(default=None, description="Smallest accepted value, for numeric fields.")
    max: float | None = Field(default=None, description="Largest accepted value, for numeric fields.")
    scale: int = Field(default=2, ge=0, le=9, description="Digits after the decimal point, for decimal fields.")
    max_length: int | None = Field(default=None, ge=1, description="Longest accepted string, in characters.")


class EventSpec(Strict):
    """The shape of the events of a module."""

    time_field: str = Field(description="The field holding event time (type datetime); buckets are cut on it.")
    id_field: str | None = Field(
        default=None,
        description="Optional unique id of an event: an event re-sent with the same id (alone, in another batch, "
        "hours later) is counted once within `dedup_window`.",
    )
    dedup_window: Annotated[str, Field(pattern=DURATION_PATTERN)] | None = Field(
        default=None,
        description="How long an event id is remembered, counted from the later of its event time and its arrival "
        "(such as 7d, the default, or max_lateness when that is longer); never shorter than max_lateness.",
    )
    fields: dict[str, EventField] = Field(min_length=1, description="The fields of an event, by name.")
    max_lateness: Annotated[str, Field(pattern=DURATION_PATTERN)] | None = Field(
        default=None,
        description="Events older than this (such as 7d) are refused over HTTP and dead-lettered from topics, "
        "with that reason; late events within it land in their own buckets.",
    )


class Dimension(Annotated_):
    """A field one may filter and group by."""

    field: str | None = Field(default=None, description="The event field behind this dimension; defaults to its name.")


ORDER_OPS: frozenset[str] = frozenset({"gt", "gte", "lt", "lte"})
STRING_OPS: frozenset[str] = frozenset({"prefix", "contains"})
LIST_OPS: frozenset[str] = frozenset({"in", "not_in"})


class FieldTest(Strict):
    """Tests on one event field, with the operators of query filters; every test given must hold.

    `in` is a Python keyword, so the attribute is `in_` and the key in the file is `in`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    eq: Scalar | None = Field(default=None, description="The field equals this value.")
    neq: Scalar | None = Field(default=None, description="The field differs from this value.")
    in_: list[Scalar] | None = Field(
        default=None, alias="in", min_length=1, description="The field equals one of these values."
    )
    not_in: list[Scalar] | None = Field(
        default=None, min_length=1, description="The field equals none of these values."
    )
    gt: Scalar | None = Field(default=None, description="Greater than (numeric and datetime fields).")
    gte: Scalar | None = Field(default=None, description="Greater than or equal (numeric and datetime fields).")
    lt: Scalar | None = Field(default=None, description="Less than (numeric and datetime fields).")
    lte: Scalar | None = Field(default=None, description="Less than or equal (numeric and datetime fields).")
    prefix: str | None = Field(default=None, description="The string field starts with this text.")
    contains: str | None = Field(default=None, description="The string field contains this text.")

    @model_validator(mode="after")
    def _one_test_at_least(self) -> FieldTest:
        if not self.tests():
            raise ValueError("give at least one operator: eq, neq, in, not_in, gt, gte, lt, lte, prefix, contains")
        return self

    def tests(self) -> list[tuple[str, Scalar | list[Scalar]]]:
        """(operator, value) of every test given, in a fixed order; `in` named as in the file."""
        found: list[tuple[str, Scalar | list[Scalar]]] = []
        for op in ("eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "prefix", "contains"):
            value = getattr(self, "in_" if op == "in" else op)
            if value is not None:
                found.append((op, value))
        return found


def _where_tag(value: Any) -> str:
    if isinstance(value, dict | FieldTest):
        return "operators"
    if isinstance(value, list):
        return "any_of"
    return "value"


WHERE_TAGS: frozenset[str] = frozenset({"operators", "any_of", "value"})

# One condition on one field: a value (equality), a list (any of them) or a mapping of operators. The tag
# function picks the form from the shape, so a mistake is reported against that form only.
WhereCondition = Annotated[
    Annotated[Scalar, Tag("value")] | Annotated[list[Scalar], Tag("any_of")] | Annotated[FieldTest, Tag("operators")],
    Discriminator(_where_tag),
]


def condition_tests(condition: Scalar | list[Scalar] | FieldTest) -> list[tuple[str, Scalar | list[Scalar]]]:
    """Every form of a condition as (operator, value) pairs: a value is `eq`, a list is `in`."""
    if isinstance(condition, FieldTest):
        return condition.tests()
    if isinstance(condition, list):
        return [("in", condition)]
    return [("eq", condition)]


class MetricBase(Annotated_):
    """What every metric kind shares."""

    where: dict[str, WhereCondition] | None = Field(
        default=None,
        description="Count only events whose fields pass these tests (all of them): a conditional metric. Per "
        "field, a value (equality), a list (any of them) or operators as in query filters, such as "
        "{neq: x}, {not_in: [a, b]}, {gte: 10, lt: 100}, {prefix: ab} or {contains: ab}.",
    )


class CountMetric(MetricBase):
    """Number of events."""

    kind: Literal["count"] = Field(description="count: the number of events.")


class FieldMetric(MetricBase):
    """A metric over one numeric or string field."""

    field: str = Field(description="The event field aggregated.")


class SumMetric(FieldMetric):
    kind: Literal["sum"] = Field(description="sum: the total of a numeric field.")


class MinMetric(FieldMetric):
    kind: Literal["min"] = Field(description="min: the smallest value of a numeric field.")


class MaxMetric(FieldMetric):
    kind: Literal["max"] = Field(description="max: the largest value of a numeric field.")


class AvgMetric(FieldMetric):
    kind: Literal["avg"] = Field(description="avg: the mean of a numeric field, merged exactly (sum and count).")


class UniqMetric(FieldMetric):
    kind: Literal["uniq"] = Field(
        description="uniq: distinct values of a field (ClickHouse uniq: exact up to 65 536 values, then ~1.6% error)."
    )


class UniqExactMetric(FieldMetric):
    kind: Literal["uniq_exact"] = Field(description="uniq_exact: exact distinct values (costs memory per group).")


class QuantileMetric(FieldMetric):
    kind: Literal["quantile"] = Field(
        description="quantile: a quantile of a numeric field (ClickHouse quantileTDigest, relative error ~1%)."
    )
    level: float = Field(gt=0, lt=1, description="The quantile level, such as 0.5 for the median or 0.99.")


class RatioMetric(MetricBase):
    """A derived metric: computed from two other metrics after they are merged, never from averaged averages."""

    kind: Literal["ratio"] = Field(description="ratio: numerator / denominator, both names of metrics of this module.")
    numerator: str = Field(description="Name of the metric divided.")
    denominator: str = Field(description="Name of the metric divided by; a zero denominator gives no value.")


Metric = Annotated[
    CountMetric
    | SumMetric
    | MinMetric
    | MaxMetric
    | AvgMetric
    | UniqMetric
    | UniqExactMetric
    | QuantileMetric
    | RatioMetric,
    Field(discriminator="kind"),
]


class Rollup(Strict):
    """A pre-aggregation: a time granularity and the dimensions it keeps."""

    granularity: Granularity = Field(description="Bucket width: minute, hour or day (UTC buckets).")
    dimensions: list[str] = Field(default_factory=list, description="Dimensions kept; queries on others skip it.")
    metrics: list[str] | None = Field(
        default=None, description="Metrics kept; all stored (non-derived) metrics when absent."
    )
    retention: Annotated[str, Field(pattern=DURATION_PATTERN)] | None = Field(
        default=None, description="How long buckets are kept, such as 7d or 52w; forever when absent."
    )


class Raw(Strict):
    """Whether raw events are kept for drill-down and for queries no rollup answers."""

    keep: bool = Field(
        default=True, description="Keep every raw event in a table (otherwise a Null table feeds rollups)."
    )
    retention: Annotated[str, Field(pattern=DURATION_PATTERN)] | None = Field(
        default=None, description="How long raw events are kept, such as 30d; forever when absent."
    )


class JoinSpec(Annotated_):
    """Another module this one can be joined with, on shared dimensions and the time bucket."""

    module: str = Field(description="Name of the other module.")
    match: dict[str, str] = Field(
        min_length=1,
        description="This module's dimension -> the other module's dimension it matches (not `on:`, which YAML reads "
        "as true).",
    )


class TopSpec(Strict):
    """Keep the largest groups; fold the rest into one "others" row."""

    n: int = Field(ge=1, le=1000, description="How many groups to keep.")
    by: str = Field(description="The metric that ranks groups over the whole window.")
    others: bool = Field(default=True, description="Add one row holding every other group.")


class FilterSpec(Strict):
    """One test on one dimension."""

    dimension: str = Field(description="The dimension tested.")
    op: Literal["eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "prefix", "contains"] = Field(
        description="The test: eq, neq, in, not_in, gt, gte, lt, lte, prefix or contains."
    )
    value: Scalar | list[Scalar] = Field(description="The value (a list for in and not_in).")


class OrderSpec(Strict):
    field: str = Field(description="bucket, a group-by dimension or a requested metric.")
    descending: bool = Field(default=True, description="Largest first.")


class WindowSpec(Strict):
    """A default window: the last N units, or a calendar preset."""

    last: int | None = Field(
        default=None, ge=1, description="The last N units, counting the current one (with `unit`)."
    )
    unit: Literal["minute", "hour", "day", "week", "month"] | None = Field(default=None, description="Unit of `last`.")
    preset: (
        Literal["today", "yesterday", "this_week", "last_week", "this_month", "month_to_date", "last_month"] | None
    ) = Field(default=None, description="A calendar window in the query's time zone.")


class PredefinedQuery(Annotated_):
    """A named query: appears as its own GraphQL field, with the window and time zone overridable."""

    window: WindowSpec = Field(description="Default window (callers may pass another).")
    granularity: Literal["minute", "hour", "day", "week", "month", "total"] = Field(
        default="hour", description="Bucket width."
    )
    time_zone: str = Field(default="UTC", description="Default IANA time zone.")
    metrics: list[str] = Field(min_length=1, description="Metrics returned.")
    group_by: list[str] = Field(default_factory=list, description="Dimensions grouped by.")
    filters: list[FilterSpec] = Field(default_factory=list, description="Filters, all of which must hold.")
    order_by: list[OrderSpec] = Field(default_factory=list, description="Ordering.")
    limit: int | None = Field(default=None, ge=1, description="At most this many rows.")
    top: TopSpec | None = Field(default=None, description="Top-N groups with an others row.")
    compare: Literal["previous_period", "week_earlier", "year_earlier"] | None = Field(
        default=None, description="Compare with an earlier window."
    )
    fill: bool = Field(default=False, description="Zero-fill empty buckets (a continuous series).")


class KafkaSource(Strict):
    """A Kafka or Redpanda topic (an external depot) feeding this module besides HTTP."""

    description: str | None = Field(default=None, description="What the topic carries.")
    kind: Literal["kafka"] = Field(description="kafka: a Kafka-protocol topic (Apache Kafka, Redpanda).")
    bootstrap_servers: str = Field(description="host:port[,host:port...] of the brokers.")
    topic: str = Field(description="The topic to consume.")
    group: str | None = Field(default=None, description="Consumer group; strix-<module> when absent.")
    format: Literal["json", "ndjson"] = Field(
        default="json", description="json: a message holds one event or an array of events; ndjson: one per line."
    )
    mapping: dict[str, str] = Field(
        default_factory=dict, description="Renames applied before validation: source field name -> event field name."
    )
    start: Literal["earliest", "latest"] = Field(
        default="earliest", description="Where a new consumer group starts reading."
    )


class ModuleConfig(Annotated_):
    """One module: a family of events and what is computed from it."""

    module: Annotated[str, Field(pattern=NAME_PATTERN)] = Field(
        description="Module name: lowercase letters, digits and underscores; names the GraphQL field and tables."
    )
    event: EventSpec = Field(description="The fields of an event.")
    partition_by: str = Field(description="The field whose hash picks the stream partition of an event.")
    partitions: int = Field(default=4, ge=1, le=256, description="Number of stream partitions.")
    dimensions: dict[Annotated[str, Field(pattern=NAME_PATTERN)], Dimension] = Field(
        description="Fields one may filter and group by, by name."
    )
    metrics: dict[Annotated[str, Field(pattern=NAME_PATTERN)], Metric] = Field(
        min_length=1, description="Named aggregations, by name."
    )
    rollups: dict[Annotated[str, Field(pattern=NAME_PATTERN)], Rollup] = Field(
        default_factory=dict, description="Pre-aggregations kept, by name."
    )
    raw: Raw = Field(default_factory=Raw, description="Whether and how long raw events are kept.")
    sources: list[KafkaSource] = Field(
        default_factory=list, description="Kafka/Redpanda topics consumed by ingestion besides HTTP."
    )
    queries: dict[Annotated[str, Field(pattern=NAME_PATTERN)], PredefinedQuery] = Field(
        default_factory=dict, description="Named, predefined queries, each its own GraphQL field."
    )
    joins: dict[Annotated[str, Field(pattern=NAME_PATTERN)], JoinSpec] = Field(
        default_factory=dict, description="Other modules this one can be joined with, by join name."
    )
    access: Access = Field(
        default_factory=Access,
        description="Who may read the module and post its events, and the rows each caller sees (admins: all).",
    )

    def dimension_field(self, name: str) -> str:
        """The event field behind a dimension."""
        return self.dimensions[name].field or name

    def field_type(self, field: str) -> FieldType:
        return self.event.fields[field].type

    def stored_metrics(self) -> list[str]:
        """Metrics that hold an aggregate state (derived ratios are computed from these at query time)."""
        return [name for name, m in self.metrics.items() if m.kind != "ratio"]

    def rollup_metrics(self, rollup: Rollup) -> list[str]:
        return rollup.metrics if rollup.metrics is not None else self.stored_metrics()

    def dedup_window(self) -> timedelta | None:
        """How long an event id is remembered: the declared window, else 7 days or max_lateness if longer.
        None when events carry no id."""
        if self.event.id_field is None:
            return None
        if self.event.dedup_window is not None:
            return parse_duration(self.event.dedup_window)
        lateness = parse_duration(self.event.max_lateness) if self.event.max_lateness else timedelta(0)
        return max(DEFAULT_DEDUP_WINDOW, lateness)

    def metric_inputs(self, name: str) -> list[str]:
        """Stored metrics a metric needs: itself, or the two sides of a ratio (recursively)."""
        metric = self.metrics[name]
        if isinstance(metric, RatioMetric):
            return sorted({*self.metric_inputs(metric.numerator), *self.metric_inputs(metric.denominator)})
        return [name]


def python_default(field: EventField) -> Any:
    """The default of an optional field as the Python value of its type."""
    if field.default is None:
        return None
    if field.type == "decimal":
        return Decimal(str(field.default))
    return field.default
