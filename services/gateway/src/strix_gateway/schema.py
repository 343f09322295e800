"""The GraphQL schema, generated from the module configs at start-up.

Per module: enums of its dimensions and metrics, a typed filter input per dimension, a row type whose fields
are its dimensions and metrics, and one query field. Descriptions come from the config annotations, so the
playground documents the client's own vocabulary. Resolvers only translate GraphQL input to a QueryRequest
and make one NATS request; everything else happens in the query service.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, NewType

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from strix_config import Catalog, ModuleConfig
from strix_config.model import Annotated_
from strix_contracts.errors import StrixError
from strix_contracts.query import QueryRequest, QueryResponse
from strix_gateway.names import camel, enum_value, pascal

Long = NewType("Long", int)
LONG_SCALAR = strawberry.scalar(
    name="Long", serialize=int, parse_value=int, description="A 64-bit integer (GraphQL Int is 32-bit)."
)

# Limits that protect the query service: results are flat, so depth beyond a few levels is abuse.
MAX_DEPTH = 8
MAX_ALIASES = 20
MAX_TOKENS = 4000

QueryRunner = Callable[[QueryRequest], Awaitable[QueryResponse]]


@strawberry.enum(description="Width of the time buckets of a result; TOTAL gives one row per group.")
class Granularity(enum.Enum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    TOTAL = "total"


@strawberry.enum(description="Unit of a relative window.")
class TimeUnit(enum.Enum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@strawberry.input(
    description="Either an absolute window (start, end; end excluded) or a relative one: the last N whole units "
    "up to and including the current one, in the query's time zone (last: 24, unit: HOUR)."
)
class WindowInput:
    start: datetime | None = strawberry.field(default=None, description="Start, RFC 3339 with a zone.")
    end: datetime | None = strawberry.field(default=None, description="End (excluded), RFC 3339 with a zone.")
    last: int | None = strawberry.field(default=None, description="How many units back, counting the current one.")
    unit: TimeUnit | None = strawberry.field(default=None, description="Unit of `last`.")


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


@strawberry.input(description="Test on a boolean dimension.")
class BoolFilter:
    eq: bool | None = strawberry.field(default=None, description="Equal to.")


_FILTER_OPS = ("eq", "neq", "in_", "not_in", "prefix", "contains", "gt", "gte", "lt", "lte")


def describe(element: Annotated_, fallback: str, allowed: list[Any] | None = None) -> str:
    """API docs of an element: its label, description, unit, format and allowed values."""
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


@dataclasses.dataclass(frozen=True)
class ModuleTypes:
    """The generated GraphQL types of one module."""

    dimension_enum: type[enum.Enum]
    metric_enum: type[enum.Enum]
    where: type
    order: type
    row: type
    result: type


def _dimension_scalar(config: ModuleConfig, dim: str) -> tuple[Any, type]:
    kind = config.field_type(config.dimension_field(dim))
    if kind == "int":
        return Long, IntFilter
    if kind == "bool":
        return bool, BoolFilter
    return str, StringFilter


def _graphql_enum(name: str, values: dict[str, str], description: str) -> Any:
    """A GraphQL enum generated at run time: member NAME carries the config name as its value."""
    members = enum.Enum(name, {enum_value(v): v for v in values})  # type: ignore[misc]
    wrapped: Any = strawberry.enum(members, description=description)
    for definition in wrapped.__strawberry_definition__.values:
        definition.description = values[definition.value]
    return wrapped


def build_module_types(config: ModuleConfig) -> ModuleTypes:
    prefix = pascal(config.module)
    dim_enum = _graphql_enum(
        f"{prefix}Dimension",
        {d: describe_dimension(config, d) for d in config.dimensions},
        f"Dimensions of {config.label or config.module} one may filter and group by.",
    )
    metric_enum = _graphql_enum(
        f"{prefix}Metric",
        {m: describe(spec, m) for m, spec in config.metrics.items()},
        f"Metrics of {config.label or config.module}.",
    )
    sort_enum = _graphql_enum(
        f"{prefix}SortField",
        {
            "bucket": "The start of the time bucket.",
            **{d: describe_dimension(config, d) for d in config.dimensions},
            **{m: describe(spec, m) for m, spec in config.metrics.items() if m not in config.dimensions},
        },
        description="What a result can be ordered by: the time bucket, a group-by dimension or a requested metric.",
    )

    where_fields: dict[str, Any] = {}
    where_annotations: dict[str, Any] = {}
    for dim in config.dimensions:
        _, filter_type = _dimension_scalar(config, dim)
        where_annotations[dim] = filter_type | None
        where_fields[dim] = strawberry.field(default=None, name=camel(dim), description=describe_dimension(config, dim))
    where_name = f"{prefix}Where"
    where_cls: Any = type(where_name, (), {"__annotations__": where_annotations, **where_fields})
    where_cls.__annotations__["and_"] = list[where_cls] | None
    where_cls.__annotations__["or_"] = list[where_cls] | None
    where_cls.and_ = strawberry.field(default=None, name="and", description="All of these must hold.")
    where_cls.or_ = strawberry.field(default=None, name="or", description="At least one of these must hold.")
    where_type = strawberry.input(where_cls, description=f"Filters on {config.module} dimensions; all given must hold.")

    order_cls = type(
        f"{prefix}Order",
        (),
        {
            "__annotations__": {"field": sort_enum, "descending": bool},
            "field": strawberry.field(description="What to order by."),
            "descending": strawberry.field(default=True, description="Largest first (default) or smallest first."),
        },
    )
    order_type = strawberry.input(order_cls, description="One ordering key.")

    row_annotations: dict[str, Any] = {"bucket": datetime | None}
    row_fields: dict[str, Any] = {
        "bucket": strawberry.field(default=None, description="Start of the time bucket, in the query's time zone.")
    }
    for dim in config.dimensions:
        scalar, _ = _dimension_scalar(config, dim)
        row_annotations[dim] = scalar | None
        row_fields[dim] = strawberry.field(
            default=None,
            name=camel(dim),
            description=describe_dimension(config, dim) + " Null unless grouped by.",
        )
    for name, metric in config.metrics.items():
        if name in config.dimensions:
            continue
        row_annotations[name] = float | None
        row_fields[name] = strawberry.field(
            default=None, name=camel(name), description=describe(metric, name) + " Null unless requested."
        )
    row_type: Any = strawberry.type(
        type(f"{prefix}Row", (), {"__annotations__": row_annotations, **row_fields}),
        description=f"One row of a {config.module} result: a bucket, the grouped dimensions and the metrics.",
    )

    result_type = strawberry.type(
        type(
            f"{prefix}Result",
            (),
            {
                "__annotations__": {
                    "rows": list[row_type],
                    "source": str,
                    "source_reason": str | None,
                    "start": datetime,
                    "end": datetime,
                    "granularity": Granularity,
                    "time_zone": str,
                },
                "rows": strawberry.field(
                    description="Result rows, ordered as asked (by bucket then groups by default)."
                ),
                "source": strawberry.field(description="Which table answered: rollup:<name> or raw."),
                "source_reason": strawberry.field(default=None, description="Why that table was chosen."),
                "start": strawberry.field(description="Effective window start, widened to whole buckets."),
                "end": strawberry.field(description="Effective window end (excluded)."),
                "granularity": strawberry.field(description="Bucket width of the rows."),
                "time_zone": strawberry.field(description="Time zone of the buckets."),
            },
        ),
        description=f"Answer to a {config.module} query.",
    )
    return ModuleTypes(dim_enum, metric_enum, where_type, order_type, row_type, result_type)


def _where_to_filters(config: ModuleConfig, where: Any) -> list[dict[str, Any]]:
    """A generated Where input to the QueryRequest filter tree (a list meaning all-of)."""
    if where is None:
        return []
    filters: list[dict[str, Any]] = []
    for dim in config.dimensions:
        tests = getattr(where, dim, None)
        if tests is None:
            continue
        for op in _FILTER_OPS:
            value = getattr(tests, op, None)
            if value is not None:
                filters.append({"dimension": dim, "op": op.rstrip("_"), "value": value})
    if where.and_:
        filters.append({"all": [{"all": _where_to_filters(config, w)} for w in where.and_]})
    if where.or_:
        filters.append({"any": [{"all": _where_to_filters(config, w)} for w in where.or_]})
    return filters


def _to_graphql_error(exc: StrixError) -> GraphQLError:
    extensions: dict[str, Any] = {"code": exc.code.upper()}
    if exc.argument:
        extensions["argument"] = exc.argument
    if exc.hint:
        extensions["hint"] = exc.hint
    return GraphQLError(exc.describe(), extensions=extensions)


def _build_result(types: ModuleTypes, config: ModuleConfig, response: QueryResponse) -> Any:
    rows = []
    for row in response.rows:
        values: dict[str, Any] = {"bucket": row.bucket}
        values.update(row.dimensions)
        values.update({k: (None if v is None else float(v)) for k, v in row.metrics.items()})
        rows.append(types.row(**values))
    return types.result(
        rows=rows,
        source=response.source,
        source_reason=response.source_reason,
        start=response.start,
        end=response.end,
        granularity=Granularity(response.granularity),
        time_zone=response.time_zone,
    )


def _module_resolver(config: ModuleConfig, types: ModuleTypes, run: QueryRunner) -> Any:
    async def resolve(
        info: Info,
        window: WindowInput,
        metrics: list[Any],
        granularity: Granularity = Granularity.HOUR,
        time_zone: str = "UTC",
        where: Any = None,
        group_by: list[Any] | None = None,
        order_by: list[Any] | None = None,
        limit: int | None = None,
    ) -> Any:
        try:
            request = QueryRequest.model_validate(
                {
                    "module": config.module,
                    "window": {
                        "start": window.start,
                        "end": window.end,
                        "last": window.last,
                        "unit": window.unit.value if window.unit else None,
                    },
                    "granularity": granularity.value,
                    "time_zone": time_zone,
                    "filters": _where_to_filters(config, where),
                    "group_by": [d.value for d in group_by or []],
                    "metrics": [m.value for m in metrics],
                    "order_by": [{"field": o.field.value, "descending": o.descending} for o in order_by or []],
                    "limit": limit,
                }
            )
        except Exception as exc:  # pydantic: name the argument
            raise GraphQLError(f"invalid query: {exc}") from exc
        try:
            response = await run(request)
        except StrixError as exc:
            raise _to_graphql_error(exc) from exc
        return _build_result(types, config, response)

    annotations = {
        "info": Info,
        "window": Annotated_annotation(WindowInput, "The time window."),
        "metrics": Annotated_annotation(list[types.metric_enum], "Metrics to compute."),  # type: ignore[name-defined]
        "granularity": Annotated_annotation(Granularity, "Bucket width; TOTAL for one row per group."),
        "time_zone": Annotated_annotation(str, "IANA time zone of the buckets and relative windows."),
        "where": Annotated_annotation(types.where | None, "Filters on dimensions."),
        "group_by": Annotated_annotation(list[types.dimension_enum] | None, "Dimensions to group by."),  # type: ignore[name-defined]
        "order_by": Annotated_annotation(list[types.order] | None, "Ordering; by bucket then groups by default."),  # type: ignore[name-defined]
        "limit": Annotated_annotation(int | None, "Keep at most this many rows."),
        "return": types.result,
    }
    resolve.__annotations__ = annotations
    resolve.__signature__ = inspect.signature(resolve).replace(  # type: ignore[attr-defined]
        parameters=[p.replace(annotation=annotations[p.name]) for p in inspect.signature(resolve).parameters.values()],
        return_annotation=types.result,
    )
    return resolve


def Annotated_annotation(tp: Any, description: str) -> Any:
    from typing import Annotated

    return Annotated[tp, strawberry.argument(description=description)]


@strawberry.type(description="A module: a family of events and what can be asked of it.")
class ModuleInfo:
    name: str = strawberry.field(description="Module name; also the name of its query field.")
    label: str | None = strawberry.field(description="Human name.")
    description: str | None = strawberry.field(description="What the module holds.")
    dimensions: list[str] = strawberry.field(description="Dimension names.")
    metrics: list[str] = strawberry.field(description="Metric names.")


def build_schema(catalog: Catalog, run: QueryRunner) -> strawberry.Schema:
    """One query field per module, plus `modules` for discovery."""
    fields: dict[str, Any] = {}
    annotations: dict[str, Any] = {}

    def modules() -> list[ModuleInfo]:
        return [
            ModuleInfo(
                name=name,
                label=cfg.label,
                description=cfg.description,
                dimensions=list(cfg.dimensions),
                metrics=list(cfg.metrics),
            )
            for name, cfg in sorted(catalog.modules.items())
        ]

    fields["modules"] = strawberry.field(resolver=modules, description="The modules this deployment serves.")
    for name in catalog.names():
        config = catalog.modules[name]
        types = build_module_types(config)
        fields[name] = strawberry.field(
            resolver=_module_resolver(config, types, run),
            name=camel(name),
            description=describe(config, name),
        )
    query_type = strawberry.type(type("Query", (), {"__annotations__": annotations, **fields}))
    return strawberry.Schema(
        query=query_type,
        config=StrawberryConfig(scalar_map={Long: LONG_SCALAR}),
        extensions=[
            lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        ],
    )
