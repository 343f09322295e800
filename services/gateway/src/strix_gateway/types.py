"""GraphQL types generated from module configs, and the shared inputs every module uses.

Per module: enums of its dimensions and metrics (with descriptions from the annotations), a Where input with a
typed filter per dimension, a Values type (one nullable value per metric, typed as its kind says: Long or Float;
reused for comparisons and joins), a Row type and a Result type. Scalars come from the field type table
(strix_config.fieldtypes) through SCALARS. Names follow one rule (`names.py`).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NewType

import strawberry

from strix_config import ModuleConfig
from strix_config.fieldtypes import FIELD_TYPES, INT64_MAX, INT64_MIN
from strix_config.model import Annotated_
from strix_gateway.fastrows import FLAT_TYPES, MAPPED_ENUMS
from strix_gateway.names import camel, enum_value, pascal

Long = NewType("Long", int)


def parse_long(value: Any) -> int:
    """A 64-bit integer, refused outside the range ClickHouse's Int64 holds."""
    number = int(value)
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError(f"{number} is outside the 64-bit range")
    return number


LONG_SCALAR = strawberry.scalar(
    name="Long",
    serialize=int,
    parse_value=parse_long,
    description="A 64-bit signed integer, written as a JSON number without a fraction (GraphQL Int is 32-bit): "
    "counts, distinct counts, and sums, minima and maxima of integer fields. Every other number is a Float, "
    "decimals included (aggregates, dimensions and raw records alike: exact digits up to 15 significant ones).",
)


def metric_scalar(config: ModuleConfig, name: str) -> Any:
    """The GraphQL scalar of a metric's values, as its kind types them: Long for counts and integer sums, Float
    for the rest."""
    return SCALARS[config.metric_value_type(name).graphql]


def described(value: str, description: str) -> Any:
    """An enum member's value with its description (the schema documents every enum value)."""
    return strawberry.enum_value(value, description=description)


@strawberry.enum(description="Width of the time buckets of a result; TOTAL gives one row per group.")
class Granularity(enum.Enum):
    MINUTE = described("minute", "One-minute buckets.")
    HOUR = described("hour", "One-hour buckets.")
    DAY = described("day", "Calendar days in the query's time zone.")
    WEEK = described("week", "Calendar weeks in the query's time zone, starting on Monday.")
    MONTH = described("month", "Calendar months in the query's time zone.")
    TOTAL = described("total", "No time buckets: one row per group over the whole window.")


@strawberry.enum(description="Unit of a relative window.")
class TimeUnit(enum.Enum):
    MINUTE = described("minute", "Whole minutes.")
    HOUR = described("hour", "Whole hours.")
    DAY = described("day", "Whole calendar days in the query's time zone.")
    WEEK = described("week", "Whole calendar weeks (Monday to Sunday) in the query's time zone.")
    MONTH = described("month", "Whole calendar months in the query's time zone.")


@strawberry.enum(description="Calendar windows in the query's time zone; weeks start on Monday.")
class WindowPreset(enum.Enum):
    TODAY = described("today", "From midnight today to midnight tomorrow.")
    YESTERDAY = described("yesterday", "The whole of yesterday.")
    THIS_WEEK = described("this_week", "From Monday of this week to the next Monday.")
    LAST_WEEK = described("last_week", "The whole of last week, Monday to Sunday.")
    THIS_MONTH = described("this_month", "The whole of this month, to its last day.")
    MONTH_TO_DATE = described("month_to_date", "From the first of this month to the end of today.")
    LAST_MONTH = described("last_month", "The whole of last month.")


@strawberry.enum(description="The earlier window a result is compared with.")
class Comparison(enum.Enum):
    PREVIOUS_PERIOD = described("previous_period", "The window of the same length just before this one.")
    WEEK_EARLIER = described("week_earlier", "The same window seven days earlier.")
    YEAR_EARLIER = described("year_earlier", "The same window one year earlier.")


@strawberry.enum(description="Which rows a join keeps: matched only, or also the unmatched of one or both sides.")
class JoinKind(enum.Enum):
    INNER = described("inner", "Only buckets and keys both modules have.")
    LEFT = described("left", "Every row of this module; the joined metrics are null where the other has none.")
    RIGHT = described("right", "Every row of the joined module; this module's metrics are null where it has none.")
    FULL = described("full", "Every row of either module; the side without a match is null.")


@strawberry.input(
    description="One of: an absolute window (start, end; end excluded), a relative one (the last N whole units "
    "up to and including the current one, e.g. last: 24, unit: HOUR), or a calendar preset. Evaluated in the "
    "query's time zone and widened to whole buckets."
)
class WindowInput:
    start: datetime | None = strawberry.field(default=None, description="Start, RFC 3339 with a zone.")
    end: datetime | None = strawberry.field(default=None, description="End (excluded), RFC 3339 with a zone.")
    last: int | None = strawberry.field(default=None, description="How many units back, counting the current one.")
    unit: TimeUnit | None = strawberry.field(default=None, description="Unit of `last`.")
    preset: WindowPreset | None = strawberry.field(default=None, description="A calendar window.")


@strawberry.input(description="Tests on a string dimension; all given tests must hold.")
class StringFilter:
    eq: str | None = strawberry.field(default=None, description="Equal to.")
    neq: str | None = strawberry.field(default=None, description="Not equal to.")
    in_: list[str] | None = strawberry.field(default=None, name="in", description="One of.")
    not_in: list[str] | None = strawberry.field(default=None, description="None of.")
    prefix: str | None = strawberry.field(default=None, description="Starts with.")
    contains: str | None = strawberry.field(default=None, description="Contains.")
    gt: str | None = strawberry.field(default=None, description="Sorts after.")
    gte: str | None = strawberry.field(default=None, description="Sorts after or equal.")
    lt: str | None = strawberry.field(default=None, description="Sorts before.")
    lte: str | None = strawberry.field(default=None, description="Sorts before or equal.")


@strawberry.input(description="Tests on an integer dimension; all given tests must hold.")
class IntFilter:
    eq: Long | None = strawberry.field(default=None, description="Equal to.")
    neq: Long | None = strawberry.field(default=None, description="Not equal to.")
    in_: list[Long] | None = strawberry.field(default=None, name="in", description="One of.")
    not_in: list[Long] | None = strawberry.field(default=None, description="None of.")
    gt: Long | None = strawberry.field(default=None, description="Greater than.")
    gte: Long | None = strawberry.field(default=None, description="Greater than or equal.")
    lt: Long | None = strawberry.field(default=None, description="Less than.")
    lte: Long | None = strawberry.field(default=None, description="Less than or equal.")


@strawberry.input(description="Tests on a decimal dimension; all given tests must hold.")
class NumberFilter:
    eq: float | None = strawberry.field(default=None, description="Equal to.")
    neq: float | None = strawberry.field(default=None, description="Not equal to.")
    in_: list[float] | None = strawberry.field(default=None, name="in", description="One of.")
    not_in: list[float] | None = strawberry.field(default=None, description="None of.")
    gt: float | None = strawberry.field(default=None, description="Greater than.")
    gte: float | None = strawberry.field(default=None, description="Greater than or equal.")
    lt: float | None = strawberry.field(default=None, description="Less than.")
    lte: float | None = strawberry.field(default=None, description="Less than or equal.")


@strawberry.input(description="Test on a boolean dimension.")
class BoolFilter:
    eq: bool | None = strawberry.field(default=None, description="Equal to.")


# The scalar each field type's values are served as (its `graphql` in strix_config.fieldtypes), and the filter
# input of a dimension of that scalar.
SCALARS: dict[str, Any] = {"String": str, "Long": Long, "Float": float, "Boolean": bool, "DateTime": datetime}
FILTERS: dict[str, type] = {"String": StringFilter, "Long": IntFilter, "Float": NumberFilter, "Boolean": BoolFilter}


def _instant(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


# A raw record's value as the query service's JSON carries it -> the scalar's Python value, for the scalars whose
# JSON form is another (a decimal arrives as text, an instant as ISO text); the others pass as they are.
FROM_JSON: dict[str, Any] = {"Float": float, "DateTime": _instant}

FILTER_OPS = ("eq", "neq", "in_", "not_in", "prefix", "contains", "gt", "gte", "lt", "lte")


def describe(element: Annotated_, fallback: str, allowed: list[Any] | None = None) -> str:
    """API docs of an element: its description (or label), allowed values, unit and format."""
    parts = [element.description or element.label or fallback]
    if allowed:
        parts.append("Values: " + ", ".join(str(v) for v in allowed) + ".")
    if element.unit:
        parts.append(f"Unit: {element.unit}.")
    if element.format:
        parts.append(f"Format: {element.format}.")
    return " ".join(parts)


def describe_dimension(config: ModuleConfig, dim: str) -> str:
    return describe(config.dimensions[dim], dim, config.event.fields[config.dimension_field(dim)].allowed)


REMOVED = "Removed from the module config; asking for it is an error. Kept so existing queries fail clearly."


def graphql_enum(name: str, values: dict[str, str], description: str, removed: tuple[str, ...] = ()) -> Any:
    """A GraphQL enum generated at run time: member NAME carries the config name as its value. Names a config
    no longer has stay as deprecated values rather than vanishing from the schema."""
    members = enum.Enum(name, {enum_value(v): v for v in [*values, *removed]})  # type: ignore[misc]
    wrapped: Any = strawberry.enum(members, description=description)
    for definition in wrapped.__strawberry_definition__.values:
        if definition.value in values:
            definition.description = values[definition.value]
        else:
            definition.description = f"{definition.value} (removed)."
            definition.deprecation_reason = REMOVED
    return wrapped


@dataclasses.dataclass(frozen=True)
class Removed:
    """Dimensions and metrics an earlier config of the module served and the current one does not, and values an
    earlier config allowed for a dimension that is still an enum."""

    dimensions: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    values: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


def graphql_object(name: str, fields: dict[str, tuple[Any, Any]], description: str, is_input: bool = False) -> Any:
    """A GraphQL type generated at run time from {attribute: (annotation, strawberry.field(...))}."""
    cls: Any = type(
        name, (), {"__annotations__": {k: v[0] for k, v in fields.items()}, **{k: v[1] for k, v in fields.items()}}
    )
    return strawberry.input(cls, description=description) if is_input else strawberry.type(cls, description=description)


_GRAPHQL_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
_RESERVED = frozenset({"true", "false", "null"})


def value_names(values: list[str]) -> dict[str, str]:
    """The GraphQL enum value standing for each allowed value: the value itself when it is a GraphQL name (so rows
    carry it unchanged); otherwise every other character becomes `_`, a leading digit or `__` gets a `v` in
    front, true/false/null get a trailing `_`, and a name already taken gets `_2`, `_3`, ..."""
    names: dict[str, str] = {}
    taken = {v for v in values if _GRAPHQL_NAME.match(v) and v not in _RESERVED and not v.startswith("__")}
    for value in values:
        if value in taken:
            names[value] = value
            continue
        name = re.sub(r"[^_0-9A-Za-z]", "_", value)
        if not name or name[0].isdigit() or name.startswith("__"):
            name = "v" + name
        if name in _RESERVED:
            name += "_"
        base, n = name, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name)
        names[value] = name
    return names


def allowed_values(config: ModuleConfig, dim: str) -> list[str]:
    """The `allowed:` values of a string dimension's field: such a dimension is an enum (empty: it is not)."""
    field = config.event.fields[config.dimension_field(dim)]
    if not field.type_spec.text or not field.allowed:
        return []
    return [str(v) for v in field.allowed]


NO_LONGER_ALLOWED = "No longer allowed by the module config; events stored before may still carry it."


def _allowed_enum(
    config: ModuleConfig, dim: str, prefix: str, names: dict[str, str], removed: tuple[str, ...]
) -> tuple[Any, Any]:
    """The enum of an `allowed:` dimension and its filter input (eq, neq, in, notIn); values an earlier config
    allowed stay, deprecated."""
    name = f"{prefix}{pascal(dim)}Value"
    members = enum.Enum(name, {graphql: value for value, graphql in names.items()})  # type: ignore[misc]
    label = config.dimensions[dim].label or dim
    wrapped: Any = strawberry.enum(members, description=f"Values of {label} ({config.module}.{dim}).")
    for definition in wrapped.__strawberry_definition__.values:
        mapped = "" if definition.name == definition.value else f" (stands for {definition.value!r})"
        definition.description = f"{label}: {definition.value}{mapped}."
        if definition.value in removed:
            definition.deprecation_reason = NO_LONGER_ALLOWED
    if any(graphql != value for value, graphql in names.items()):
        MAPPED_ENUMS.add(name)
    ops = {
        "eq": (wrapped | None, _field("Equal to.", None)),
        "neq": (wrapped | None, _field("Not equal to.", None)),
        "in_": (list[wrapped] | None, _field("One of.", None, "in")),
        "not_in": (list[wrapped] | None, _field("None of.", None)),
    }
    filter_type = graphql_object(f"{prefix}{pascal(dim)}Filter", ops, f"Tests on {label}; all given must hold.", True)
    return wrapped, filter_type


def dimension_types(
    config: ModuleConfig, prefix: str, removed: Removed
) -> tuple[dict[str, tuple[Any, Any]], dict[str, dict[str, str]]]:
    """Per dimension: the GraphQL type of its values and its filter input; per enum dimension, value -> enum value
    name. Built once per module (an enum is one named type)."""
    out: dict[str, tuple[Any, Any]] = {}
    enums: dict[str, dict[str, str]] = {}
    for dim in config.dimensions:
        allowed = allowed_values(config, dim)
        if not allowed:
            out[dim] = dimension_scalar(config, dim)
            continue
        gone = tuple(v for v in removed.values.get(dim, ()) if v not in allowed)
        enums[dim] = value_names([*allowed, *gone])
        out[dim] = _allowed_enum(config, dim, prefix, enums[dim], gone)
    return out, enums


def dimension_scalar(config: ModuleConfig, dim: str) -> tuple[Any, type]:
    """The scalar and filter of a dimension typed by its field."""
    scalar = config.event.fields[config.dimension_field(dim)].type_spec.graphql
    return SCALARS[scalar], FILTERS[scalar]


@dataclasses.dataclass(frozen=True)
class ModuleTypes:
    """The generated GraphQL types of one module."""

    config: ModuleConfig
    dimensions: dict[str, tuple[Any, Any]]  # dimension -> (GraphQL type of its values, its filter input)
    value_names: dict[str, dict[str, str]]  # enum dimension -> {value: GraphQL enum value name}
    dimension_enum: Any
    metric_enum: Any
    where: Any
    order: Any
    top: Any
    values: Any
    row: Any
    result: Any


def _field(description: str, default: Any = dataclasses.MISSING, name: str | None = None) -> Any:
    if default is dataclasses.MISSING:
        return strawberry.field(description=description, name=name)
    return strawberry.field(default=default, description=description, name=name)


def _where_type(config: ModuleConfig, prefix: str, dims: dict[str, tuple[Any, Any]]) -> Any:
    fields: dict[str, tuple[Any, Any]] = {}
    for dim in config.dimensions:
        _, filter_type = dims[dim]
        fields[dim] = (filter_type | None, _field(describe_dimension(config, dim), None, camel(dim)))
    name = f"{prefix}Where"
    cls: Any = type(
        name, (), {"__annotations__": {k: v[0] for k, v in fields.items()}, **{k: v[1] for k, v in fields.items()}}
    )
    # and/or refer to the type itself: added to the plain class before strawberry turns it into an input.
    cls.__annotations__["and_"] = list[cls] | None
    cls.__annotations__["or_"] = list[cls] | None
    cls.and_ = strawberry.field(default=None, name="and", description="All of these must hold.")
    cls.or_ = strawberry.field(default=None, name="or", description="At least one of these must hold.")
    return strawberry.input(cls, description=f"Filters on {config.module} dimensions; all given must hold.")


def values_type(config: ModuleConfig, prefix: str) -> Any:
    fields = {
        m: (metric_scalar(config, m) | None, _field(describe(spec, m) + " Null unless requested.", None, camel(m)))
        for m, spec in config.metrics.items()
    }
    FLAT_TYPES.add(f"{prefix}Values")
    return graphql_object(f"{prefix}Values", fields, f"Metric values of {config.module}.")


def ratios_type(config: ModuleConfig, prefix: str) -> Any:
    """Relative changes of the metrics: fractions (Float) whatever the metric's own type."""
    fields = {
        m: (float | None, _field(f"Relative change of {m} (0.25 = +25%); null when not requested.", None, camel(m)))
        for m in config.metrics
    }
    FLAT_TYPES.add(f"{prefix}Ratios")
    return graphql_object(f"{prefix}Ratios", fields, f"Relative changes of the metrics of {config.module}.")


def build_module_types(config: ModuleConfig, removed: Removed = Removed()) -> ModuleTypes:
    prefix = pascal(config.module)
    dims, names = dimension_types(config, prefix, removed)
    label = config.label or config.module
    dim_enum = graphql_enum(
        f"{prefix}Dimension",
        {d: describe_dimension(config, d) for d in config.dimensions},
        f"Dimensions of {label} one may filter and group by.",
        removed.dimensions,
    )
    metric_enum = graphql_enum(
        f"{prefix}Metric",
        {m: describe(spec, m) for m, spec in config.metrics.items()},
        f"Metrics of {label}.",
        removed.metrics,
    )
    sort_enum = graphql_enum(
        f"{prefix}SortField",
        {
            "bucket": "The start of the time bucket.",
            **{d: describe_dimension(config, d) for d in config.dimensions},
            **{m: describe(spec, m) for m, spec in config.metrics.items()},
        },
        "What a result can be ordered by: the time bucket, a group-by dimension or a requested metric.",
    )
    order = graphql_object(
        f"{prefix}Order",
        {
            "field": (sort_enum, _field("What to order by.")),
            "descending": (bool, _field("Largest first (default) or smallest first.", True)),
        },
        "One ordering key.",
        is_input=True,
    )
    top = graphql_object(
        f"{prefix}Top",
        {
            "n": (int, _field("How many groups to keep.")),
            "by": (metric_enum, _field("The metric that ranks groups over the whole window.")),
            "others": (bool, _field("Add one row (others: true) holding every other group, merged exactly.", True)),
        },
        "Keep the N largest groups; fold the rest into one others row.",
        is_input=True,
    )
    values = values_type(config, prefix)
    row_fields: dict[str, tuple[Any, Any]] = {
        "bucket": (datetime | None, _field("Start of the time bucket, in the query's time zone.", None)),
    }
    for dim in config.dimensions:
        scalar, _ = dims[dim]
        row_fields[dim] = (
            scalar | None,
            _field(describe_dimension(config, dim) + " Null unless grouped by.", None, camel(dim)),
        )
    for name, metric in config.metrics.items():
        row_fields[name] = (
            metric_scalar(config, name) | None,
            _field(describe(metric, name) + " Null unless requested.", None, camel(name)),
        )
    for name, kind in [*((d, str) for d in removed.dimensions), *((m, float) for m in removed.metrics)]:
        if name not in row_fields:
            row_fields[name] = (
                kind | None,
                strawberry.field(
                    default=None, name=camel(name), description=f"{name} (removed).", deprecation_reason=REMOVED
                ),
            )
    row_fields["others"] = (bool, _field("True on the row that holds every group outside the top N.", False))
    row_fields["previous"] = (values | None, _field("The same group in the comparison window.", None))
    row_fields["change"] = (values | None, _field("Value minus the comparison value.", None))
    row_fields["change_ratio"] = (
        ratios_type(config, prefix) | None,
        _field("Change relative to the comparison value (0.25 = +25%); null when that was 0 or missing.", None),
    )
    row = graphql_object(f"{prefix}Row", row_fields, f"One row of a {config.module} result.")
    FLAT_TYPES.add(f"{prefix}Row")
    result = graphql_object(f"{prefix}Result", result_fields(row), f"Answer to a {config.module} query.")
    where = _where_type(config, prefix, dims)
    return ModuleTypes(config, dims, names, dim_enum, metric_enum, where, order, top, values, row, result)


def result_fields(row: Any) -> dict[str, tuple[Any, Any]]:
    return {
        "rows": (list[row], _field("Result rows, ordered as asked (by bucket then groups by default).")),
        "source": (str, _field("Which table answered: rollup:<name> or raw.")),
        "source_reason": (str | None, _field("Why that table was chosen.", None)),
        "start": (datetime, _field("Effective window start, widened to whole buckets.")),
        "end": (datetime, _field("Effective window end (excluded).")),
        "granularity": (Granularity, _field("Bucket width of the rows.")),
        "time_zone": (str, _field("Time zone of the buckets.")),
        "compare_start": (datetime | None, _field("Start of the comparison window, when comparing.", None)),
        "compare_end": (datetime | None, _field("End of the comparison window, when comparing.", None)),
        "joined_source": (str | None, _field("Which table answered the joined module.", None)),
        "cached": (bool, _field("Answered from the cache (kept until a rollup commit touches the window).", False)),
        "reused_buckets": (
            int,
            _field("Buckets whose rows came from the bucket cache (a sliding window recomputes only new ones).", 0),
        ),
    }


@dataclasses.dataclass(frozen=True)
class JoinTypes:
    name: str
    other: ModuleTypes
    key_enum: Any
    row: Any
    result: Any


def build_join_types(types: ModuleTypes, join_name: str, other: ModuleTypes) -> JoinTypes:
    config = types.config
    spec = config.joins[join_name]
    prefix = pascal(config.module) + pascal(join_name)
    key_enum = graphql_enum(
        f"{prefix}Key",
        {d: describe_dimension(config, d) + f" Matches {spec.module}.{theirs}." for d, theirs in spec.match.items()},
        f"Dimensions {config.module} and {spec.module} share: what a join can group by.",
    )
    row_fields: dict[str, tuple[Any, Any]] = {
        "bucket": (datetime | None, _field("Start of the time bucket, in the query's time zone.", None)),
    }
    for dim in spec.match:
        scalar, _ = types.dimensions[dim]
        row_fields[dim] = (scalar | None, _field(describe_dimension(config, dim), None, camel(dim)))
    for name, metric in config.metrics.items():
        row_fields[name] = (metric_scalar(config, name) | None, _field(describe(metric, name), None, camel(name)))
    for name, derived in spec.metrics.items():
        inputs = " / ".join(derived.inputs())
        row_fields[name] = (
            SCALARS[FIELD_TYPES[derived.value_type(None)].graphql] | None,
            _field(
                f"{describe(derived, name)} Derived after the join from both sides' merged values ({inputs}); null "
                "when a side has no row or the denominator is 0.",
                None,
                camel(name),
            ),
        )
    row_fields["joined"] = (
        other.values | None,
        _field(f"Metrics of {spec.module} for the same bucket and keys.", None),
    )
    row = graphql_object(f"{prefix}Row", row_fields, f"One row of {config.module} joined with {spec.module}.")
    FLAT_TYPES.add(f"{prefix}Row")
    result = graphql_object(f"{prefix}Result", result_fields(row), f"{config.module} joined with {spec.module}.")
    return JoinTypes(join_name, other, key_enum, row, result)


@dataclasses.dataclass(frozen=True)
class RecordTypes:
    record: Any
    page: Any


def build_record_types(config: ModuleConfig) -> RecordTypes:
    prefix = pascal(config.module)
    fields = {
        name: (SCALARS[spec.type_spec.graphql] | None, _field(describe(spec, name), None, camel(name)))
        for name, spec in config.event.fields.items()
    }
    record = graphql_object(f"{prefix}Record", fields, f"One raw {config.module} event, as stored.")
    page = graphql_object(
        f"{prefix}RecordPage",
        {
            "records": (list[record], _field("Events, newest first.")),  # type: ignore[valid-type]
            "end_cursor": (str | None, _field("Pass as `after` for the next page.", None)),
            "has_next_page": (bool, _field("Whether older events match.")),
            "start": (datetime, _field("Effective window start.")),
            "end": (datetime, _field("Effective window end (excluded).")),
        },
        f"A page of raw {config.module} events.",
    )
    return RecordTypes(record, page)
