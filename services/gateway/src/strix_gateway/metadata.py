"""The `modules` query: what each module holds and what may be asked of it, as typed data.

Cube's `/meta` is the model: a client (the web UI's query builder first) generates its forms from this rather
than from prose. Everything here is read from the module configs and from the generated GraphQL types (so a
dimension's filter operators are the fields of its filter input, its GraphQL type the type its rows carry): the
answer cannot disagree with the schema it describes.
"""

from __future__ import annotations

import enum
import json
from typing import Any

import strawberry
from strawberry.scalars import JSON

from strix_config import Catalog, ModuleConfig
from strix_config.fieldtypes import FIELD_TYPES
from strix_config.metrics import METRIC_KINDS, kind_description
from strix_config.model import JoinSpec, PredefinedQuery
from strix_config.schema import event_json_schema
from strix_gateway.names import camel, pascal
from strix_gateway.types import (
    SCALARS,
    Comparison,
    Granularity,
    ModuleTypes,
    TimeUnit,
    WindowPreset,
    described,
    graphql_enum,
)

# The kinds of event fields and metrics, generated from the model: a field type or metric kind added there is
# described here without an edit.
FieldKind: Any = graphql_enum(
    "FieldKind",
    {name: spec.description for name, spec in FIELD_TYPES.items()},
    "The type of an event field, as the config declares it.",
)
MetricKind: Any = graphql_enum(
    "MetricKind", {kind: kind_description(kind) for kind in METRIC_KINDS}, "How a metric aggregates events."
)


@strawberry.enum(description="A test a filter can make on a dimension (the fields of its filter input).")
class FilterOperator(enum.Enum):
    EQ = described("eq", "Equal to.")
    NEQ = described("neq", "Not equal to.")
    IN = described("in", "One of a list.")
    NOT_IN = described("not_in", "None of a list.")
    PREFIX = described("prefix", "Starts with.")
    CONTAINS = described("contains", "Contains.")
    GT = described("gt", "Greater than (sorts after, for text).")
    GTE = described("gte", "Greater than or equal.")
    LT = described("lt", "Less than (sorts before, for text).")
    LTE = described("lte", "Less than or equal.")


@strawberry.type(description="One value a dimension may take (the field's `allowed:` list).")
class AllowedValue:
    value: str = strawberry.field(description="The value as stored (JSON text for a number or a boolean).")
    graphql_name: str | None = strawberry.field(
        description="The GraphQL enum value that stands for it in rows and filters (string dimensions only)."
    )


@strawberry.type(description="A dimension: something to filter and group by.")
class DimensionInfo:
    name: str = strawberry.field(description="Name in the config (and in predefined queries).")
    graphql_name: str = strawberry.field(description="Name of its field in rows and in the Where input.")
    enum_value: str = strawberry.field(description="Its value in the module's Dimension enum (groupBy).")
    label: str | None = strawberry.field(description="Short human name.")
    description: str | None = strawberry.field(description="What it means.")
    unit: str | None = strawberry.field(description="Unit of its values.")
    format: str | None = strawberry.field(description="How to display its values.")
    field: str = strawberry.field(description="The event field behind it.")
    type: FieldKind = strawberry.field(description="Type of that event field.")
    graphql_type: str = strawberry.field(description="GraphQL type of its values in rows and filters.")
    allowed_values: list[AllowedValue] | None = strawberry.field(
        description="The values it may take, when the config lists them (a string dimension's are then an enum)."
    )
    filter_type: str = strawberry.field(description="The GraphQL input type that filters it.")
    filter_operators: list[FilterOperator] = strawberry.field(description="The tests a filter on it can make.")


@strawberry.type(description="A metric: an aggregate over events.")
class MetricInfo:
    name: str = strawberry.field(description="Name in the config (and in predefined queries).")
    graphql_name: str = strawberry.field(description="Name of its field in rows.")
    enum_value: str = strawberry.field(description="Its value in the module's Metric enum (metrics, top, orderBy).")
    label: str | None = strawberry.field(description="Short human name.")
    description: str | None = strawberry.field(description="What it measures.")
    unit: str | None = strawberry.field(description="Unit of its values, such as EUR or ms.")
    format: str | None = strawberry.field(description="How to display its values, such as currency or percent.")
    kind: MetricKind = strawberry.field(description="How it aggregates.")
    graphql_type: str = strawberry.field(description="GraphQL type of its values: Long for integers, else Float.")
    field: str | None = strawberry.field(description="The event field aggregated (none for counts and ratios).")
    numerator: str | None = strawberry.field(description="For a ratio: the metric divided.")
    denominator: str | None = strawberry.field(description="For a ratio: the metric divided by.")
    level: float | None = strawberry.field(description="For a quantile: its level, such as 0.99.")


@strawberry.type(description="A rollup: a pre-aggregated table queries are answered from when it suffices.")
class RollupInfo:
    name: str = strawberry.field(description="Name in the config.")
    granularity: Granularity = strawberry.field(description="Width of its (UTC) buckets.")
    dimensions: list[str] = strawberry.field(description="Dimensions it keeps; queries on others skip it.")
    metrics: list[str] = strawberry.field(description="Metrics it keeps.")
    retention: str | None = strawberry.field(description="How long its buckets are kept (such as 52w); null: forever.")


@strawberry.type(description="A pair of dimensions a join matches on.")
class JoinMatch:
    dimension: str = strawberry.field(description="This module's dimension.")
    joined_dimension: str = strawberry.field(description="The joined module's dimension it equals.")


@strawberry.type(
    description="A metric a join derives after joining, from the merged values of both sides of each row (a bare "
    "name is this module's metric, <module>.<metric> the joined module's). Selecting its field in the join's rows "
    "is enough to compute it."
)
class JoinMetricInfo:
    name: str = strawberry.field(description="Name in the config.")
    graphql_name: str = strawberry.field(description="Name of its field in the join's rows.")
    label: str | None = strawberry.field(description="Short human name.")
    description: str | None = strawberry.field(description="What it measures.")
    unit: str | None = strawberry.field(description="Unit of its values, such as EUR.")
    format: str | None = strawberry.field(description="How to display its values, such as currency or percent.")
    kind: MetricKind = strawberry.field(description="How it is derived.")
    graphql_type: str = strawberry.field(description="GraphQL type of its values.")
    numerator: str = strawberry.field(description="The metric divided.")
    denominator: str = strawberry.field(description="The metric divided by; a zero gives null.")


@strawberry.type(description="A join declared in the config: this module with another, on shared dimensions.")
class JoinInfo:
    name: str = strawberry.field(description="Name in the config.")
    graphql_name: str = strawberry.field(description="The query field that asks it.")
    module: str = strawberry.field(description="The joined module.")
    label: str | None = strawberry.field(description="Short human name.")
    description: str | None = strawberry.field(description="What the join answers.")
    match: list[JoinMatch] = strawberry.field(description="The keys rows are matched on (with the time bucket).")
    joined_metrics: list[str] = strawberry.field(description="Metrics of the joined module one may ask for.")
    metrics: list[JoinMetricInfo] = strawberry.field(description="Metrics the join derives from both sides.")


@strawberry.type(description="The default window of a predefined query.")
class WindowDefault:
    last: int | None = strawberry.field(description="The last N units, counting the current one.")
    unit: TimeUnit | None = strawberry.field(description="Unit of `last`.")
    preset: WindowPreset | None = strawberry.field(description="A calendar window.")


@strawberry.type(description="One filter of a predefined query.")
class FilterInfo:
    dimension: str = strawberry.field(description="The dimension tested.")
    operator: FilterOperator = strawberry.field(description="The test.")
    values: list[str] = strawberry.field(description="The value, or the values of in/notIn, as JSON text.")


@strawberry.type(description="One ordering key of a predefined query.")
class OrderInfo:
    field: str = strawberry.field(description="bucket, a dimension or a metric.")
    descending: bool = strawberry.field(description="Largest first.")


@strawberry.type(description="The top-N of a predefined query.")
class TopInfo:
    n: int = strawberry.field(description="How many groups are kept.")
    by: str = strawberry.field(description="The metric that ranks them.")
    others: bool = strawberry.field(description="Whether one row holds every other group.")


@strawberry.type(description="A predefined query: a named question with its own query field.")
class PredefinedQueryInfo:
    name: str = strawberry.field(description="Name in the config.")
    graphql_name: str = strawberry.field(description="The query field that asks it.")
    label: str | None = strawberry.field(description="Short human name.")
    description: str | None = strawberry.field(description="What it answers.")
    window: WindowDefault = strawberry.field(description="Default window (the field takes another).")
    granularity: Granularity = strawberry.field(description="Bucket width.")
    time_zone: str = strawberry.field(description="Default IANA time zone (the field takes another).")
    metrics: list[str] = strawberry.field(description="Metrics returned.")
    group_by: list[str] = strawberry.field(description="Dimensions grouped by.")
    filters: list[FilterInfo] = strawberry.field(description="Filters, all of which hold.")
    order_by: list[OrderInfo] = strawberry.field(description="Ordering.")
    limit: int | None = strawberry.field(description="At most this many rows.")
    top: TopInfo | None = strawberry.field(description="Top-N groups with an others row.")
    compare: Comparison | None = strawberry.field(description="The earlier window compared with.")
    fill: bool = strawberry.field(description="Whether empty buckets are filled.")


@strawberry.type(description="A module: a family of events, what it holds and what can be asked of it.")
class ModuleInfo:
    name: str = strawberry.field(description="Module name.")
    graphql_name: str = strawberry.field(description="Its query field (and subscription).")
    records_field: str | None = strawberry.field(description="The query field of its raw events; null if none.")
    label: str | None = strawberry.field(description="Short human name.")
    description: str | None = strawberry.field(description="What the module holds.")
    keeps_raw_events: bool = strawberry.field(description="Whether raw events are kept (any query can be answered).")
    raw_retention: str | None = strawberry.field(description="How long raw events are kept; null: forever.")
    dimensions: list[DimensionInfo] = strawberry.field(description="Its dimensions, in config order.")
    metrics: list[MetricInfo] = strawberry.field(description="Its metrics, in config order.")
    rollups: list[RollupInfo] = strawberry.field(description="Its rollups.")
    joins: list[JoinInfo] = strawberry.field(description="The joins it declares.")
    queries: list[PredefinedQueryInfo] = strawberry.field(description="Its predefined queries.")
    granularities: list[Granularity] = strawberry.field(
        description="Granularities its tables can answer: all with raw events, else from its finest rollup up."
    )
    time_units: list[TimeUnit] = strawberry.field(description="Units of relative windows, by the same rule.")
    event_schema: JSON = strawberry.field(
        description="JSON Schema of one event as ingestion accepts it: each field's type, allowed values, bounds "
        "and length, which fields are required, and no others."
    )


_SCALAR_NAMES: dict[Any, str] = {annotation: name for name, annotation in SCALARS.items()}
_ORDER = ["minute", "hour", "day", "week", "month", "total"]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _type_name(annotation: Any) -> str:
    definition = getattr(annotation, "__strawberry_definition__", None) or getattr(annotation, "_enum_definition", None)
    if definition is not None:
        return str(definition.name)
    return _SCALAR_NAMES[annotation]


def _operators(filter_type: Any) -> list[FilterOperator]:
    return [FilterOperator(f.python_name.rstrip("_")) for f in filter_type.__strawberry_definition__.fields]


def _dimension(types: ModuleTypes, dim: str) -> DimensionInfo:
    config = types.config
    spec = config.dimensions[dim]
    field = config.dimension_field(dim)
    event_field = config.event.fields[field]
    scalar, filter_type = types.dimensions[dim]
    names = types.value_names.get(dim, {})
    allowed = None
    if event_field.allowed is not None:
        allowed = [
            AllowedValue(value=_text(v), graphql_name=names.get(str(v)) if isinstance(v, str) else None)
            for v in event_field.allowed
        ]
    return DimensionInfo(
        name=dim,
        graphql_name=camel(dim),
        enum_value=dim.upper(),
        label=spec.label,
        description=spec.description,
        unit=spec.unit or event_field.unit,
        format=spec.format or event_field.format,
        field=field,
        type=FieldKind(event_field.type),
        graphql_type=_type_name(scalar),
        allowed_values=allowed,
        filter_type=_type_name(filter_type),
        filter_operators=_operators(filter_type),
    )


def _metric(config: ModuleConfig, name: str) -> MetricInfo:
    spec = config.metrics[name]
    return MetricInfo(
        name=name,
        graphql_name=camel(name),
        enum_value=name.upper(),
        label=spec.label,
        description=spec.description,
        unit=spec.unit,
        format=spec.format,
        kind=MetricKind(spec.kind),
        graphql_type=config.metric_value_type(name).graphql,
        field=spec.source_field,
        numerator=getattr(spec, "numerator", None),
        denominator=getattr(spec, "denominator", None),
        level=getattr(spec, "level", None),
    )


def _join_metric(spec: JoinSpec, name: str) -> JoinMetricInfo:
    metric = spec.metrics[name]
    return JoinMetricInfo(
        name=name,
        graphql_name=camel(name),
        label=metric.label,
        description=metric.description,
        unit=metric.unit,
        format=metric.format,
        kind=MetricKind(metric.kind),
        graphql_type=FIELD_TYPES[metric.value_type(None)].graphql,
        numerator=metric.numerator,
        denominator=metric.denominator,
    )


def _query(module: str, name: str, query: PredefinedQuery) -> PredefinedQueryInfo:
    window = query.window
    return PredefinedQueryInfo(
        name=name,
        graphql_name=camel(module) + pascal(name),
        label=query.label,
        description=query.description,
        window=WindowDefault(
            last=window.last,
            unit=TimeUnit(window.unit) if window.unit else None,
            preset=WindowPreset(window.preset) if window.preset else None,
        ),
        granularity=Granularity(query.granularity),
        time_zone=query.time_zone,
        metrics=list(query.metrics),
        group_by=list(query.group_by),
        filters=[
            FilterInfo(
                dimension=f.dimension,
                operator=FilterOperator(f.op),
                values=[_text(v) for v in f.value] if isinstance(f.value, list) else [_text(f.value)],
            )
            for f in query.filters
        ],
        order_by=[OrderInfo(field=o.field, descending=o.descending) for o in query.order_by],
        limit=query.limit,
        top=TopInfo(n=query.top.n, by=query.top.by, others=query.top.others) if query.top else None,
        compare=Comparison(query.compare) if query.compare else None,
        fill=query.fill,
    )


def answerable_granularities(config: ModuleConfig) -> list[str]:
    """Every granularity with raw events; otherwise those no finer than the finest rollup."""
    if config.raw.keep or not config.rollups:
        return list(_ORDER)
    finest = min(_ORDER.index(r.granularity) for r in config.rollups.values())
    return _ORDER[finest:]


def module_info(catalog: Catalog, types: ModuleTypes, records: bool) -> ModuleInfo:
    """The metadata of one module; `records` says whether the schema serves its raw events."""
    config = types.config
    name = config.module
    granularities = answerable_granularities(config)
    stored = config.stored_metrics()
    return ModuleInfo(
        name=name,
        graphql_name=camel(name),
        records_field=camel(name) + "Records" if records and config.raw.keep else None,
        label=config.label,
        description=config.description,
        keeps_raw_events=config.raw.keep,
        raw_retention=config.raw.retention,
        dimensions=[_dimension(types, d) for d in config.dimensions],
        metrics=[_metric(config, m) for m in config.metrics],
        rollups=[
            RollupInfo(
                name=rollup_name,
                granularity=Granularity(rollup.granularity),
                dimensions=list(rollup.dimensions),
                metrics=list(rollup.metrics) if rollup.metrics is not None else list(stored),
                retention=rollup.retention,
            )
            for rollup_name, rollup in config.rollups.items()
        ],
        joins=[
            JoinInfo(
                name=join_name,
                graphql_name=camel(name) + "With" + pascal(join_name),
                module=spec.module,
                label=spec.label,
                description=spec.description,
                match=[JoinMatch(dimension=mine, joined_dimension=theirs) for mine, theirs in spec.match.items()],
                joined_metrics=list(catalog.modules[spec.module].metrics) if spec.module in catalog.modules else [],
                metrics=[_join_metric(spec, m) for m in spec.metrics],
            )
            for join_name, spec in config.joins.items()
        ],
        queries=[_query(name, q, query) for q, query in config.queries.items()],
        granularities=[Granularity(g) for g in granularities],
        time_units=[TimeUnit(g) for g in granularities if g != "total"],
        event_schema=JSON(event_json_schema(config)),
    )
