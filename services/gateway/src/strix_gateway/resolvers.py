"""Resolvers: translate GraphQL arguments into one QueryRequest, make one request, type the answer.

Signatures are synthesised from the generated types (strawberry reads `__signature__`), so every module gets
typed arguments with descriptions without any per-module code.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

import strawberry
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode
from pydantic import ValidationError

from strix_config import ModuleConfig
from strix_config.model import PredefinedQuery
from strix_contracts.caller import Caller
from strix_contracts.errors import StrixError, Unauthorized, invalid_request
from strix_contracts.query import (
    MAX_FILTER_BRANCHES,
    MAX_FILTER_VALUES,
    QueryRequest,
    QueryResponse,
    RecordsRequest,
    RecordsResponse,
    RowField,
    encode_answer,
)
from strix_gateway.errors import resolver_error, to_graphql_error
from strix_gateway.fastrows import ColumnarRows, EncodedRows, decode_answer, rows_layout
from strix_gateway.limits import MAX_WHERE_DEPTH, too_many_branches, too_many_values, where_too_deep
from strix_gateway.live import LiveFeed, next_change
from strix_gateway.names import camel
from strix_gateway.types import (
    FILTER_OPS,
    FROM_JSON,
    Comparison,
    Granularity,
    JoinKind,
    JoinTypes,
    ModuleTypes,
    RecordTypes,
    WindowInput,
)

# A query answer: the QueryResponse model, or its JSON already decoded to plain data (the fast path the gateway
# uses: pydantic validation of a 7 920-row answer alone costs ~100 ms).
Answer = QueryResponse | dict[str, Any]
QueryRunner = Callable[[QueryRequest], Awaitable[Answer]]
_REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class Arg:
    name: str
    annotation: Any
    description: str
    default: Any = _REQUIRED


def _with_signature(function: Any, args: list[Arg], returns: Any) -> Any:
    """Give `function` (which takes **kwargs) these typed, documented keyword arguments, as strawberry reads them,
    and `info` (the selection, which decides the row layout)."""
    parameters = [
        inspect.Parameter("info", inspect.Parameter.KEYWORD_ONLY, annotation=strawberry.Info),
        *(
            inspect.Parameter(
                a.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=a.default,
                annotation=Annotated[a.annotation, strawberry.argument(description=a.description)],
            )
            for a in args
        ),
    ]
    function.__signature__ = inspect.Signature(parameters, return_annotation=returns)
    function.__annotations__ = {**{p.name: p.annotation for p in parameters}, "return": returns}
    return function


def synthesise(args: list[Arg], returns: Any, handler: Callable[[dict[str, Any]], Awaitable[Any]]) -> Any:
    """An async resolver with exactly these typed, documented keyword arguments (and `info`); a StrixError it
    meets becomes its GraphQL error here, in one place."""

    async def resolve(**kwargs: Any) -> Any:
        try:
            return await handler(kwargs)
        except StrixError as exc:
            raise resolver_error(exc) from exc

    return _with_signature(resolve, args, returns)


Contract = TypeVar("Contract", QueryRequest, RecordsRequest)


def validated(contract: type[Contract], payload: dict[str, Any]) -> Contract:
    """The request the query service expects, or a GraphQL error naming the argument that does not fit."""
    try:
        return contract.model_validate(payload)
    except ValidationError as exc:
        raise to_graphql_error(invalid_request(exc)) from exc


def where_to_filters(config: ModuleConfig, where: Any, path: str = "where", levels: int = 0) -> list[dict[str, Any]]:
    """A generated Where input to the QueryRequest filter tree (a list meaning all-of). A `where` written in the
    document (variables were checked before) is held to the same limits, refused before it is walked deeper."""
    if where is None:
        return []
    if levels > MAX_WHERE_DEPTH:
        raise where_too_deep(path)
    filters: list[dict[str, Any]] = []
    for dim in config.dimensions:
        tests = getattr(where, dim, None)
        if tests is None:
            continue
        for op in FILTER_OPS:
            value = getattr(tests, op, None)
            if isinstance(value, list) and len(value) > MAX_FILTER_VALUES:
                raise too_many_values(f"{path}.{dim}.{op}", len(value))
            if value is not None:
                filters.append({"dimension": dim, "op": op.rstrip("_"), "value": _plain(value)})
    for name, group, key in (("and", where.and_, "all"), ("or", where.or_, "any")):
        if not group:
            continue
        if len(group) > MAX_FILTER_BRANCHES:
            raise too_many_branches(f"{path}.{name}", len(group))
        branches = [where_to_filters(config, w, f"{path}.{name}[{i}]", levels + 1) for i, w in enumerate(group)]
        filters.append({key: [{"all": branch} for branch in branches]})
    return filters


def _plain(value: Any) -> Any:
    """A filter value as the query service takes it: an enum of allowed values as the value it stands for."""
    if isinstance(value, list):
        return [v.value if isinstance(v, enum.Enum) else v for v in value]
    return value.value if isinstance(value, enum.Enum) else value


def _window(window: WindowInput) -> dict[str, Any]:
    return {
        "start": window.start,
        "end": window.end,
        "last": window.last,
        "unit": window.unit.value if window.unit else None,
        "preset": window.preset.value if window.preset else None,
    }


def _selected_fields(selections: Any, fragments: dict[str, Any], seen: set[str]) -> Iterator[FieldNode]:
    """The fields of a selection set, through inline fragments and named fragment spreads."""
    for node in selections:
        if isinstance(node, FieldNode):
            yield node
        elif isinstance(node, InlineFragmentNode):
            yield from _selected_fields(node.selection_set.selections, fragments, seen)
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen and node.name.value in fragments:
            seen.add(node.name.value)
            yield from _selected_fields(fragments[node.name.value].selection_set.selections, fragments, seen)


COMPARED_GROUPS = ("previous", "change", "changeRatio")


def selected_metrics(
    metrics: Iterable[str], info: Any, groups: tuple[str, ...] = COMPARED_GROUPS, in_row: bool = True
) -> list[str]:
    """The `metrics` the selection asks for in `rows` (`in_row`) or in the rows' nested `groups`: selecting a
    metric is enough to compute it."""
    by_name = {camel(m): m for m in metrics}
    fragments = dict(info.fragments)
    found: dict[str, None] = {}
    for field_node in info.field_nodes:
        if field_node.selection_set is None:
            continue
        for rows in _selected_fields(field_node.selection_set.selections, fragments, set()):
            if rows.name.value != "rows" or rows.selection_set is None:
                continue
            for node in _selected_fields(rows.selection_set.selections, fragments, set()):
                if in_row and node.name.value in by_name:
                    found[by_name[node.name.value]] = None
                elif node.name.value in groups and node.selection_set is not None:
                    for inner in _selected_fields(node.selection_set.selections, fragments, set()):
                        if inner.name.value in by_name:
                            found[by_name[inner.name.value]] = None
    return list(found)


def requested_metrics(
    config: ModuleConfig, args: dict[str, Any], argument: str = "metrics", joined: bool = False
) -> list[str]:
    """The metrics listed in `argument`, then those selected in rows but not listed."""
    listed = [m.value for m in args.get(argument) or []]
    info = args.get("info")
    selected = []
    if info is not None:
        selected = (
            selected_metrics(config.metrics, info._raw_info, ("joined",), in_row=False)
            if joined
            else selected_metrics(config.metrics, info._raw_info)
        )
    return [*listed, *(m for m in selected if m not in listed)]


def caller_of(context: Any) -> Caller:
    """The verified caller the door put into the GraphQL context (app.py); a signed-out request reads nothing."""
    caller = context.get("caller") if isinstance(context, dict) else None
    if not isinstance(caller, Caller):
        raise Unauthorized(
            "sign in first: this request carries no credential",
            hint="send `Authorization: Bearer <access token or API key>` (over a websocket: in connection_init)",
        )
    return caller


def _caller(kwargs: dict[str, Any]) -> Caller:
    return caller_of(kwargs["info"].context)


def request_dict(config: ModuleConfig, args: dict[str, Any]) -> dict[str, Any]:
    top = args.get("top")
    return {
        "caller": _caller(args),
        "module": config.module,
        "window": _window(args["window"]),
        "granularity": args.get("granularity", Granularity.HOUR).value,
        "time_zone": args.get("time_zone", "UTC"),
        "filters": where_to_filters(config, args.get("where")),
        "group_by": [d.value for d in args.get("group_by") or []],
        "metrics": requested_metrics(config, args),
        "order_by": [{"field": o.field.value, "descending": o.descending} for o in args.get("order_by") or []],
        "limit": args.get("limit"),
        "fill": args.get("fill", False),
        "fresh": args.get("fresh", False),
        "top": {"n": top.n, "by": top.by.value, "others": top.others} if top else None,
        "compare": args["compare"].value if args.get("compare") else None,
    }


async def ask(run: QueryRunner, payload: dict[str, Any]) -> Answer:
    return await run(validated(QueryRequest, payload))


def _as_mapping(response: Answer, layout: list[RowField] | None) -> dict[str, Any]:
    if isinstance(response, dict):
        return response
    return decode_answer(encode_answer(response, layout), laid_out=layout is not None)


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def build_result(
    types: ModuleTypes, response: Answer, layout: list[RowField] | None, join: JoinTypes | None = None
) -> Any:
    data = _as_mapping(response, layout)
    result_type = join.result if join else types.result
    rows = data["rows"]
    return result_type(
        rows=rows if isinstance(rows, EncodedRows) else ColumnarRows(data.get("columns", []), rows),
        source=data["source"],
        source_reason=data.get("source_reason"),
        start=_time(data["start"]),
        end=_time(data["end"]),
        granularity=Granularity(data["granularity"]),
        time_zone=data["time_zone"],
        compare_start=_time(data.get("compare_start")),
        compare_end=_time(data.get("compare_end")),
        joined_source=data.get("joined_source"),
        cached=data.get("cached", False),
        reused_buckets=data.get("reused_buckets", 0),
    )


def _common_args(types: ModuleTypes) -> list[Arg]:
    return [
        Arg("window", WindowInput, "The time window."),
        Arg(
            "metrics",
            list[types.metric_enum] | None,  # type: ignore[name-defined]
            "Metrics to compute, in this order; metrics selected in `rows` are computed too, so this may be left out.",
            None,
        ),
        Arg("granularity", Granularity, "Bucket width; TOTAL for one row per group.", Granularity.HOUR),
        Arg("time_zone", str, "IANA time zone of the buckets and windows.", "UTC"),
        Arg("where", types.where | None, "Filters on dimensions.", None),
        Arg("fill", bool, "Return every bucket of the window for every group, empty ones included.", False),
        Arg("fresh", bool, "Compute from the store, reading no cache (the caches are refilled).", False),
    ]


def _module_args(types: ModuleTypes) -> list[Arg]:
    return [
        *_common_args(types),
        Arg("group_by", list[types.dimension_enum] | None, "Dimensions to group by.", None),  # type: ignore[name-defined]
        Arg("order_by", list[types.order] | None, "Ordering; by bucket then groups by default.", None),  # type: ignore[name-defined]
        Arg("limit", int | None, "Keep at most this many rows.", None),
        Arg("top", types.top | None, "Keep the N largest groups over the window, the rest as one others row.", None),
        Arg("compare", Comparison | None, "Compare every row with an earlier window.", None),
    ]


def _layout(kwargs: dict[str, Any]) -> list[RowField] | None:
    """The row layout of the selection under this field (strawberry passes `info` with the arguments)."""
    return rows_layout(kwargs["info"]._raw_info)


async def answer(
    types: ModuleTypes, run: QueryRunner, payload: dict[str, Any], kwargs: dict[str, Any], join: JoinTypes | None = None
) -> Any:
    """Ask for rows laid out as this field's selection wants them; the typed result."""
    layout = _layout(kwargs)
    return build_result(types, await ask(run, {**payload, "row_layout": layout}), layout, join)


def module_resolver(types: ModuleTypes, run: QueryRunner) -> Any:
    async def handle(kwargs: dict[str, Any]) -> Any:
        return await answer(types, run, request_dict(types.config, kwargs), kwargs)

    return synthesise(_module_args(types), types.result, handle)


def live_resolver(types: ModuleTypes, run: QueryRunner, feed: LiveFeed) -> Any:
    """The same arguments as the query field; a new result whenever a rollup commit touches the window."""

    async def stream(**kwargs: Any) -> AsyncGenerator[Any, None]:
        try:
            async for result in _results(kwargs):
                yield result
        except StrixError as exc:
            raise resolver_error(exc) from exc

    def _results(kwargs: dict[str, Any]) -> AsyncGenerator[Any, None]:
        return _live_results(types, run, feed, request_dict(types.config, kwargs), kwargs, (types.config.module,))

    return _with_signature(stream, _module_args(types), AsyncGenerator[types.result, None])  # type: ignore[name-defined]


async def _live_results(
    types: ModuleTypes,
    run: QueryRunner,
    feed: LiveFeed,
    request: dict[str, Any],
    kwargs: dict[str, Any],
    modules: tuple[str, ...],
    join: JoinTypes | None = None,
) -> AsyncGenerator[Any, None]:
    """The answer to `request`, then again whenever a commit of one of `modules` touches its window."""
    layout = _layout(kwargs)
    payload = {**request, "row_layout": layout}
    context = kwargs["info"].context
    # The door's check of the connection's credential, again before each re-run: a subscription outlives
    # tokens and keys, so one that expired or was revoked ends it (the client reconnects with a fresh one).
    recheck = context.get("recheck") if isinstance(context, dict) else None
    async with feed.listen(*modules) as queue:
        while True:
            data = _as_mapping(await ask(run, payload), layout)
            yield build_result(types, data, layout, join)
            await next_change(queue, _time(data["start"]), _time(data["end"]))  # type: ignore[arg-type]
            if recheck is not None:
                await recheck()


def predefined_resolver(types: ModuleTypes, query: PredefinedQuery, run: QueryRunner) -> Any:
    args = [
        Arg("window", WindowInput | None, "Overrides the query's default window.", None),
        Arg("time_zone", str | None, f"Overrides the default time zone ({query.time_zone}).", None),
    ]

    async def handle(kwargs: dict[str, Any]) -> Any:
        window = kwargs.get("window")
        payload: dict[str, Any] = {
            "caller": _caller(kwargs),
            "module": types.config.module,
            "window": _window(window) if window else query.window.model_dump(),
            "granularity": query.granularity,
            "time_zone": kwargs.get("time_zone") or query.time_zone,
            "filters": [f.model_dump() for f in query.filters],
            "group_by": query.group_by,
            "metrics": [
                *query.metrics,
                *(m for m in requested_metrics(types.config, kwargs) if m not in query.metrics),
            ],
            "order_by": [o.model_dump() for o in query.order_by],
            "limit": query.limit,
            "top": query.top.model_dump() if query.top else None,
            "compare": query.compare,
            "fill": query.fill,
        }
        return await answer(types, run, payload, kwargs)

    return synthesise(args, types.result, handle)


def _join_args(types: ModuleTypes, join: JoinTypes) -> list[Arg]:
    return [
        *_common_args(types),
        Arg(
            "joined_metrics",
            list[join.other.metric_enum] | None,  # type: ignore[name-defined]
            f"Metrics of {join.other.config.module}; those selected under `rows {{ joined }}` are computed too.",
            None,
        ),
        Arg("kind", JoinKind, "INNER keeps matched rows; LEFT, RIGHT and FULL keep the unmatched too.", JoinKind.INNER),
        Arg("group_by", list[join.key_enum] | None, "Shared dimensions to group by.", None),  # type: ignore[name-defined]
    ]


def _join_request(types: ModuleTypes, join: JoinTypes, kwargs: dict[str, Any]) -> dict[str, Any]:
    payload = request_dict(types.config, kwargs)
    payload["join"] = {
        "name": join.name,
        "kind": kwargs.get("kind", JoinKind.INNER).value,
        "metrics": requested_metrics(join.other.config, kwargs, "joined_metrics", joined=True),
        # The join's derived metrics selected in rows: computed after the join, from both sides.
        "derived": selected_metrics(list(types.config.joins[join.name].metrics), kwargs["info"]._raw_info, ()),
    }
    return payload


def join_resolver(types: ModuleTypes, join: JoinTypes, run: QueryRunner) -> Any:
    async def handle(kwargs: dict[str, Any]) -> Any:
        return await answer(types, run, _join_request(types, join, kwargs), kwargs, join)

    return synthesise(_join_args(types, join), join.result, handle)


def live_join_resolver(types: ModuleTypes, join: JoinTypes, run: QueryRunner, feed: LiveFeed) -> Any:
    """The join field's arguments; a new result whenever a commit of either module touches the window."""
    modules = (types.config.module, join.other.config.module)

    async def stream(**kwargs: Any) -> AsyncGenerator[Any, None]:
        try:
            async for result in _live_results(
                types, run, feed, _join_request(types, join, kwargs), kwargs, modules, join
            ):
                yield result
        except StrixError as exc:
            raise resolver_error(exc) from exc

    return _with_signature(stream, _join_args(types, join), AsyncGenerator[join.result, None])  # type: ignore[name-defined]


RecordsReader = Callable[[RecordsRequest], Awaitable[RecordsResponse]]


def records_resolver(types: ModuleTypes, records: RecordTypes, read: RecordsReader) -> Any:
    config = types.config
    args = [
        Arg("window", WindowInput, "The time window."),
        Arg("time_zone", str, "IANA time zone of relative windows and of the returned times.", "UTC"),
        Arg("where", types.where | None, "Filters on dimensions.", None),
        Arg("first", int, "Page size (at most 1000).", 50),
        Arg("after", str | None, "endCursor of the previous page.", None),
    ]
    # Each field's value as its scalar (the field type table's `graphql`) takes it: decimals Float everywhere, as
    # in aggregates; instants DateTime.
    converters = {
        name: FROM_JSON[spec.type_spec.graphql]
        for name, spec in config.event.fields.items()
        if spec.type_spec.graphql in FROM_JSON
    }

    def typed(name: str, value: Any) -> Any:
        convert = converters.get(name)
        return value if value is None or convert is None else convert(value)

    async def handle(kwargs: dict[str, Any]) -> Any:
        payload = {
            "caller": _caller(kwargs),
            "module": config.module,
            "window": _window(kwargs["window"]),
            "time_zone": kwargs.get("time_zone", "UTC"),
            "filters": where_to_filters(config, kwargs.get("where")),
            "first": kwargs.get("first", 50),
            "after": kwargs.get("after"),
        }
        response = await read(validated(RecordsRequest, payload))
        return records.page(
            records=[records.record(**{k: typed(k, v) for k, v in r.items()}) for r in response.records],
            end_cursor=response.end_cursor,
            has_next_page=response.has_next_page,
            start=response.start,
            end=response.end,
        )

    return synthesise(args, records.page, handle)
