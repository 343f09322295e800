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
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from strix_config.access import Access

# The nodes, field types and metric kinds the model is made of, importable from here as before.
from strix_config.base import LIST_OPS as LIST_OPS
from strix_config.base import ORDER_OPS as ORDER_OPS
from strix_config.base import STRING_OPS as STRING_OPS
from strix_config.base import WHERE_TAGS as WHERE_TAGS
from strix_config.base import Annotated_ as Annotated_
from strix_config.base import FieldTest as FieldTest
from strix_config.base import Scalar as Scalar
from strix_config.base import Strict as Strict
from strix_config.base import condition_tests as condition_tests
from strix_config.fieldtypes import FIELD_TYPES, FieldTypeSpec
from strix_config.fieldtypes import NUMERIC_TYPES as NUMERIC_TYPES
from strix_config.fieldtypes import FieldType as FieldType
from strix_config.metrics import AvgMetric as AvgMetric
from strix_config.metrics import CountMetric as CountMetric
from strix_config.metrics import FieldMetric as FieldMetric
from strix_config.metrics import MaxMetric as MaxMetric
from strix_config.metrics import Metric as Metric
from strix_config.metrics import MetricBase as MetricBase
from strix_config.metrics import MinMetric as MinMetric
from strix_config.metrics import QuantileMetric as QuantileMetric
from strix_config.metrics import RatioMetric as RatioMetric
from strix_config.metrics import SumMetric as SumMetric
from strix_config.metrics import UniqApproxMetric as UniqApproxMetric
from strix_config.metrics import UniqExactMetric as UniqExactMetric
from strix_config.metrics import UniqMetric as UniqMetric

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
DURATION_PATTERN = r"^[1-9][0-9]*(m|h|d|w)$"

Granularity = Literal["minute", "hour", "day"]

_DURATION_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


# An event id is remembered at least this long unless a module declares its own window (ARCHITECTURE §5).
DEFAULT_DEDUP_WINDOW = timedelta(days=7)


def parse_duration(text: str) -> timedelta:
    """'90d' -> 90 days; the pattern is validated by the model before this is called."""
    match = re.fullmatch(DURATION_PATTERN, text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration such as 30m, 12h, 90d or 2w")
    return int(text[:-1]) * _DURATION_UNITS[text[-1]]


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

    @property
    def type_spec(self) -> FieldTypeSpec:
        """Every fact about this field's type: storage, parameter, Python and GraphQL types (fieldtypes.py)."""
        return FIELD_TYPES[self.type]

    def column_type(self, low_cardinality: bool = False) -> str:
        """The ClickHouse column type of the field (LowCardinality only for types that allow it)."""
        return self.type_spec.column_type(self.scale, low_cardinality)

    def parameter_type(self) -> str:
        """The ClickHouse type of a query parameter compared with the field."""
        return self.type_spec.parameter_type(self.scale)


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
    metrics: dict[Annotated[str, Field(pattern=NAME_PATTERN)], RatioMetric] = Field(
        default_factory=dict,
        description="Metrics derived after the join from the merged values of both sides, by name, such as "
        "return_on_spend: {kind: ratio, numerator: revenue, denominator: campaigns.spend}. A name alone is a metric "
        "of this module; <module>.<metric> is one of the joined module.",
    )

    def side(self, ref: str) -> tuple[bool, str]:
        """Whether an input of a derived metric names a metric of the joined module, and that metric's name."""
        joined = ref.startswith(self.module + ".")
        return joined, ref.removeprefix(self.module + ".") if joined else ref

    def derived_inputs(self, name: str) -> tuple[list[str], list[str]]:
        """The metrics of this module and of the joined module that derived metric `name` reads."""
        sides = [self.side(ref) for ref in self.metrics[name].inputs()]
        return [m for joined, m in sides if not joined], [m for joined, m in sides if joined]


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

    def metric_value_type(self, name: str) -> FieldTypeSpec:
        """The type of a metric's values: Long for counts and integer sums, Float for the rest (fieldtypes.py)."""
        metric = self.metrics[name]
        field = metric.source_field
        return FIELD_TYPES[metric.value_type(self.field_type(field) if field in self.event.fields else None)]

    def stored_metrics(self) -> list[str]:
        """Metrics that hold an aggregate state (derived ratios are computed from these at query time)."""
        return [name for name, m in self.metrics.items() if m.stored]

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
        if metric.stored:
            return [name]
        return sorted({stored for part in metric.inputs() for stored in self.metric_inputs(part)})


def python_default(field: EventField) -> Any:
    """The default of an optional field as the Python value of its type (fieldtypes.py): a decimal's exact digits,
    an instant from its RFC 3339 text (ingestion compares it with the column's range as it does a sent one)."""
    if field.default is None:
        return None
    return TypeAdapter(field.type_spec.python).validate_python(field.default)
