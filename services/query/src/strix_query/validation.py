"""Check a query against its module before any SQL exists: names must exist, with a hint when they don't."""

from __future__ import annotations

import difflib

from strix_config import Catalog, ModuleConfig
from strix_config.granularities import UNIT_SECONDS
from strix_config.model import JoinSpec
from strix_contracts.errors import NotFound, QueryError
from strix_contracts.query import AllOf, AnyOf, Condition, Filter, QueryRequest, RecordsRequest
from strix_query.compiler import MAX_ROWS, check_filters, filter_dimensions, order_alias

MAX_BUCKETS = 50_000


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    choices = ", ".join(sorted(known))
    return f"did you mean {close[0]!r}? known: {choices}" if close else f"known: {choices}"


def module_of(catalog: Catalog, request: QueryRequest | RecordsRequest) -> ModuleConfig:
    config = catalog.get(request.module)
    if config is None:
        raise NotFound(
            f"unknown module {request.module!r}", argument="module", hint=_suggest(request.module, catalog.names())
        )
    return config


def validate_request(config: ModuleConfig, request: QueryRequest) -> None:
    """Every name, filter value and ordering of a request: what compiling its SQL could refuse, refused first."""
    dims = list(config.dimensions)
    if not request.metrics:
        raise QueryError("ask for at least one metric", argument="metrics", hint=_suggest("", list(config.metrics)))
    for name in request.metrics:
        if name not in config.metrics:
            raise QueryError(f"unknown metric {name!r}", argument="metrics", hint=_suggest(name, list(config.metrics)))
    if len(set(request.metrics)) != len(request.metrics):
        raise QueryError("a metric is listed twice", argument="metrics")
    for name in request.group_by:
        if name not in config.dimensions:
            raise QueryError(f"unknown dimension {name!r}", argument="groupBy", hint=_suggest(name, dims))
    if len(set(request.group_by)) != len(request.group_by):
        raise QueryError("a dimension is listed twice", argument="groupBy")
    validate_filters(config, request.filters)
    if request.top is not None:
        if request.top.by not in config.metrics:
            raise QueryError(
                f"unknown metric {request.top.by!r}",
                argument="top.by",
                hint=_suggest(request.top.by, list(config.metrics)),
            )
        if not request.group_by:
            raise QueryError("top-N ranks groups: give groupBy", argument="top")
    for item in request.order_by:
        order_alias(request, item)


def validate_filters(config: ModuleConfig, filters: list[Filter]) -> None:
    for name in filter_dimensions(filters):
        if name not in config.dimensions:
            raise QueryError(
                f"unknown dimension {name!r}", argument="filters", hint=_suggest(name, list(config.dimensions))
            )
    check_filters(config, filters)


def validate_join(catalog: Catalog, config: ModuleConfig, request: QueryRequest) -> JoinSpec:
    assert request.join is not None
    spec = config.joins.get(request.join.name)
    if spec is None:
        raise QueryError(
            f"{config.module} declares no join {request.join.name!r}",
            argument="join",
            hint=_suggest(request.join.name, list(config.joins)) if config.joins else "declare one under `joins:`",
        )
    outside = [d for d in request.group_by if d not in spec.match]
    if outside:
        raise QueryError(
            f"cannot group a join by {', '.join(outside)}: the join matches on {', '.join(spec.match)} only",
            argument="groupBy",
        )
    other = catalog.modules[spec.module]
    for name in request.join.metrics:
        if name not in other.metrics:
            raise QueryError(
                f"unknown metric {name!r} of {spec.module}",
                argument="joinedMetrics",
                hint=_suggest(name, list(other.metrics)),
            )
    for name in request.join.derived:
        if name not in spec.metrics:
            raise QueryError(
                f"the join {request.join.name!r} derives no metric {name!r}",
                argument="join.derived",
                hint=_suggest(name, list(spec.metrics)) if spec.metrics else "declare one under the join's `metrics:`",
            )
    if len(set(request.join.derived)) != len(request.join.derived):
        raise QueryError("a derived metric is listed twice", argument="join.derived")
    if request.top is not None:
        raise QueryError("top-N and joins do not combine yet", argument="top", hint="order and limit the join instead")
    joined_filters(config, other, spec, request.filters)
    return spec


def joined_filters(config: ModuleConfig, other: ModuleConfig, spec: JoinSpec, filters: list[Filter]) -> list[Filter]:
    """The join's filters as the joined module reads them: both sides answer the same question, so every
    condition applies to both. A match key is renamed to its partner; a dimension the joined module has under
    the same name keeps it; a condition the joined module cannot apply is refused, naming the dimension (a
    filter on one side only would set filtered numbers beside unfiltered ones; a conditional metric in the
    config says "only these" for one side exactly)."""
    rename: dict[str, str] = {}
    for name in sorted(filter_dimensions(filters)):
        theirs = spec.match.get(name, name)
        if theirs not in other.dimensions:
            shared = [d for d in config.dimensions if spec.match.get(d, d) in other.dimensions]
            raise QueryError(
                f"{other.module} has no dimension {name!r}, so the joined side cannot apply this filter",
                argument="where",
                hint=f"a join filters both sides alike: filter on {' or '.join(shared)}, or ask {config.module} on its own",
            )
        rename[name] = theirs
    return [_renamed(item, rename) for item in filters]


def _renamed(item: Filter, rename: dict[str, str]) -> Filter:
    if isinstance(item, Condition):
        return item.model_copy(update={"dimension": rename[item.dimension]})
    if isinstance(item, AllOf):
        return AllOf(all=[_renamed(f, rename) for f in item.all])
    assert isinstance(item, AnyOf)
    return AnyOf(any=[_renamed(f, rename) for f in item.any])


def check_bucket_count(granularity: str, seconds: float) -> None:
    width = UNIT_SECONDS.get(granularity)
    if width is not None and seconds / width > MAX_BUCKETS:
        raise QueryError(
            f"the window holds over {MAX_BUCKETS} {granularity} buckets",
            argument="granularity",
            hint="choose a coarser granularity or a shorter window",
        )


_SMALLER = "ask for the top N groups, a limit, filters, a coarser granularity or a shorter window"


def check_row_count(rows: int) -> None:
    if rows > MAX_ROWS:
        raise QueryError(f"the answer would hold over {MAX_ROWS} rows", argument="groupBy", hint=_SMALLER)


def check_answer_size(size: int, most: int) -> None:
    """A reply larger than the message bus carries would never arrive: refuse it with what to change."""
    if size > most:
        raise QueryError(
            f"the answer is {size / 2**20:.1f} MiB, over the {most / 2**20:.0f} MiB a reply may carry",
            argument="groupBy",
            hint=_SMALLER + ", or fewer metrics",
        )
