"""The query contract between the gateway and the query service."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from itertools import starmap
from typing import Annotated, Any, Literal, Union

import msgspec
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from strix_contracts.caller import Caller

QueryGranularity = Literal["minute", "hour", "day", "week", "month", "total"]
RelativeUnit = Literal["minute", "hour", "day", "week", "month"]
Preset = Literal["today", "yesterday", "this_week", "last_week", "this_month", "month_to_date", "last_month"]
Comparison = Literal["previous_period", "week_earlier", "year_earlier"]
JoinKind = Literal["inner", "left", "right", "full"]
FilterOp = Literal["eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "prefix", "contains"]
Value = str | int | float | bool


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeWindow(Model):
    """Absolute (`start`, `end`), relative (`last` whole `unit`s up to and including the current one), or a
    calendar `preset` (today, yesterday, this week, month to date, ...) in the query's time zone."""

    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    last: int | None = Field(default=None, ge=1, le=100_000)
    unit: RelativeUnit | None = None
    preset: Preset | None = None


class Condition(Model):
    """One test on one dimension."""

    dimension: str
    op: FilterOp
    value: Value | list[Value]


class AllOf(Model):
    all: list[Filter]


class AnyOf(Model):
    any: list[Filter]


Filter = Annotated[Union[Condition, AllOf, AnyOf], Field(union_mode="left_to_right")]  # noqa: UP007

# What one filter may hold: its cost (models built, SQL text, parameters) grows with each, and a caller could
# otherwise send an `or` of 50 000 branches or an `in` of 500 000 values. A GraphQL `where` nests two groups per
# level of and/or (an any of all-ofs), so 16 groups are 8 levels of `where`.
MAX_FILTER_DEPTH = 16  # all/any groups nested in one another
MAX_FILTER_BRANCHES = 100  # items of one all/any group
MAX_FILTER_CONDITIONS = 500  # conditions in the whole filter
MAX_FILTER_VALUES = 10_000  # values of every in/not_in list together


def _filter_limit(path: str, reason: str, hint: str) -> PydanticCustomError:
    where = path if len(path) <= 60 else path[:40] + "..." + path[-17:]
    return PydanticCustomError("filter_limit", "{reason}", {"reason": f"{where}: {reason}", "hint": hint})


def check_filter_size(filters: Any) -> Any:
    """Refuse a filter tree beyond the limits above, walking it without recursion (the walk must not fail on
    the very nesting it refuses) and before pydantic builds a model of it. Takes the raw data (dicts and lists)
    or built models; returns it unchanged."""
    if not isinstance(filters, list):
        return filters  # not a filter list: pydantic names the type error
    conditions = values = 0
    stack: list[tuple[Any, str, int]] = [(filters, "filters", 0)]
    while stack:
        items, path, depth = stack.pop()
        if depth > MAX_FILTER_DEPTH:
            raise _filter_limit(
                path,
                f"filters nest more than {MAX_FILTER_DEPTH} all/any groups deep",
                f"a `where` takes at most {MAX_FILTER_DEPTH // 2} levels of and/or; flatten the conditions",
            )
        if depth and len(items) > MAX_FILTER_BRANCHES:
            raise _filter_limit(
                path,
                f"{len(items)} branches in one group, at most {MAX_FILTER_BRANCHES}",
                "use `in` for many values of one dimension",
            )
        for i, item in enumerate(items):
            here = f"{path}[{i}]"
            group = _group(item)
            if group is not None:
                name, children = group
                if isinstance(children, list):
                    stack.append((children, f"{here}.{name}", depth + 1))
                continue
            conditions += 1
            value = item.get("value") if isinstance(item, dict) else getattr(item, "value", None)
            values += len(value) if isinstance(value, list) else 1
            if conditions > MAX_FILTER_CONDITIONS:
                raise _filter_limit(
                    here, f"more than {MAX_FILTER_CONDITIONS} conditions", "use `in` for many values of one dimension"
                )
            if values > MAX_FILTER_VALUES:
                raise _filter_limit(
                    here,
                    f"the filters hold more than {MAX_FILTER_VALUES} values",
                    "filter on a coarser dimension, or group by this one and keep the top N",
                )
    return filters


def _group(item: Any) -> tuple[str, Any] | None:
    """("all" | "any", its items) when `item` is a group, None for a condition."""
    if isinstance(item, AllOf):
        return "all", item.all
    if isinstance(item, AnyOf):
        return "any", item.any
    if isinstance(item, dict) and "dimension" not in item:
        for name in ("all", "any"):
            if name in item:
                return name, item[name]
    return None


class Order(Model):
    field: str
    descending: bool = True


class TopN(Model):
    """Keep the `n` groups with the largest `by` over the whole window; fold the rest into one "others" row."""

    n: int = Field(ge=1, le=1000)
    by: str
    others: bool = True


class Join(Model):
    """Join a module declared under `joins:` on its shared dimensions and the time bucket."""

    name: str
    kind: JoinKind = "inner"
    metrics: list[str]
    # The join's derived metrics (`joins.<name>.metrics` of the config) to compute after the join from each
    # row's merged values of both sides; they land among the row's metrics.
    derived: list[str] = Field(default_factory=list)


NestedGroup = Literal["previous", "change", "change_ratio", "joined"]


class RowField(Model):
    """One key of the row objects a caller asks for, and what goes under it: `value` names a value of the row
    (`bucket`, `others`, a dimension or a metric; null when the row has none), `group` one of the row's nested
    groups as an object of its own `fields` (null when the row has no such group), `constant` a fixed string."""

    key: str
    value: str | None = None
    group: NestedGroup | None = None
    fields: list[RowField] = Field(default_factory=list)
    constant: str | None = None
    # The caller's type of a value is a 64-bit integer (a count, an integer sum): written without a fraction.
    integer: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> RowField:
        if sum(x is not None for x in (self.value, self.group, self.constant)) != 1:
            raise ValueError(f"row field {self.key!r} needs exactly one of value, group or constant")
        if self.fields and self.group is None:
            raise ValueError(f"row field {self.key!r} has fields but no group")
        if any(f.group is not None for f in self.fields):
            raise ValueError(f"row field {self.key!r}: a group holds values and constants, not other groups")
        return self


class QueryRequest(Model):
    module: str
    window: TimeWindow
    granularity: QueryGranularity = "hour"
    time_zone: str = "UTC"
    filters: list[Filter] = Field(default_factory=list)
    group_by: list[str] = Field(default_factory=list)
    metrics: list[str]
    order_by: list[Order] = Field(default_factory=list)
    limit: int | None = Field(default=None, ge=1)
    fill: bool = False
    top: TopN | None = None
    compare: Comparison | None = None
    join: Join | None = None
    fresh: bool = False  # compute from the store, reading no cache (and refilling them), like Cube's renewQuery
    # Rows as JSON objects with these keys (the caller's names, in its order) instead of arrays under `columns`:
    # each row is encoded once and kept with the cached rows, so the gateway puts the rows into its GraphQL
    # answer as they are, with no per-row work on its side.
    row_layout: list[RowField] | None = None
    # Who asks, as verified by the door (gateway); the query service refuses a request without one and adds the
    # module's row filters for it before planning, so cache keys include what the caller may see.
    caller: Caller | None = None

    _filter_size = field_validator("filters", mode="before")(check_filter_size)


Values = dict[str, float | int | None]


class Row(msgspec.Struct, kw_only=True, gc=False):
    """One result row. A msgspec Struct, not a pydantic model: answers hold thousands of rows, built and encoded
    without per-row validation (the query service produced them from typed ClickHouse columns). Rows hold no
    cycles, so the garbage collector need not walk the thousands the caches keep (gc=False)."""

    bucket: datetime | None
    dimensions: dict[str, Value | None]
    metrics: Values
    others: bool = False
    previous: Values | None = None
    change: Values | None = None
    change_ratio: Values | None = None
    joined: Values | None = None
    # The row's JSON as `encode_answer` last wrote it (the layout's key, "" for the array form, and the bytes),
    # kept so rows the caches hold are encoded once (the float formatting is most of the cost). Rows are never
    # changed in place; a copy with other values (`msgspec.structs.replace`) must pass `wire=None`.
    wire: tuple[str, msgspec.Raw] | None = None


class QueryResponse(msgspec.Struct, kw_only=True):
    module: str
    granularity: str
    time_zone: str
    start: datetime
    end: datetime
    source: str
    source_reason: str
    rows: list[Row]
    sql: str | None = None
    compare_start: datetime | None = None
    compare_end: datetime | None = None
    joined_source: str | None = None
    cached: bool = False
    reused_buckets: int = 0  # buckets whose rows came from the bucket cache; the rest were computed


class RecordsRequest(Model):
    """A page of raw events, newest first, continuing after `after` (an opaque cursor from the last page)."""

    module: str
    window: TimeWindow
    time_zone: str = "UTC"
    filters: list[Filter] = Field(default_factory=list)
    first: int = Field(default=50, ge=1, le=1000)
    after: str | None = None
    caller: Caller | None = None  # as in QueryRequest

    _filter_size = field_validator("filters", mode="before")(check_filter_size)


class RecordsResponse(Model):
    module: str
    start: datetime
    end: datetime
    records: list[dict[str, Any]]
    end_cursor: str | None
    has_next_page: bool


RowField.model_rebuild()
AllOf.model_rebuild()
AnyOf.model_rebuild()


NESTED_GROUPS = ("previous", "change", "change_ratio", "joined")


def answer_columns(rows: list[Row]) -> list[str]:
    """Column names of the compact wire form: bucket, dimensions, metrics, others, then `group.metric` for each
    nested group present (comparison values and changes, joined metrics)."""
    if not rows:
        return []
    first = rows[0]
    columns = ["bucket", *first.dimensions, *first.metrics, "others"]
    for group in NESTED_GROUPS:
        values = getattr(first, group)
        if values is not None:
            columns.extend(f"{group}.{name}" for name in values)
    return columns


def encode_answer(response: QueryResponse, layout: list[RowField] | None = None) -> bytes:
    """The answer as JSON. Rows are arrays under `columns` (half the bytes of nested objects, decoded without a
    dict per row) or, with a `layout`, objects with the caller's keys. Buckets are ISO 8601 strings
    (datetime.isoformat), metric values integers where the layout says so and floats otherwise (integers as
    they are in the array form): exactly what the GraphQL scalars would serialise."""
    bucket_text = _bucket_texts()
    key = "" if layout is None else layout_key(layout)
    # Rows the caches hold keep their bytes: only rows not yet encoded with this layout are (an interned key:
    # the usual hit is an identity test).
    stale = [row for row in response.rows if row.wire is None or row.wire[0] != key]
    if stale:
        if layout is None:
            encode = _array_encoder(response.rows, bucket_text)
            values: list[Any] = [encode(row) for row in stale]
        else:
            values = _laid_out(layout, stale, bucket_text)
        for row, value in zip(stale, values, strict=True):
            row.wire = (key, msgspec.Raw(msgspec.json.encode(value)))
    rows = [row.wire[1] for row in response.rows if row.wire is not None]  # every row's, now
    header = msgspec.structs.asdict(response)
    header["rows"] = rows
    if layout is None:
        header["columns"] = answer_columns(response.rows)
    return msgspec.json.encode(header)


def layout_key(layout: list[RowField]) -> str:
    """The layout as one interned string: the memo key of rows encoded with it."""
    return sys.intern(msgspec.json.encode([f.model_dump(exclude_defaults=True) for f in layout]).decode())


def _as_float(value: Any) -> Any:
    return value if value is None or type(value) is float else float(value)


def _as_int(value: Any) -> Any:
    return value if value is None or type(value) is int else int(value)


def _as_number(value: Any) -> Any:
    """Integers as they are (a count stays exact past 2^53), anything else as a float."""
    return value if value is None or type(value) is int or type(value) is float else float(value)


BucketText = Callable[[Row], str | None]


def _bucket_texts() -> BucketText:
    """A row's bucket as ISO text, formatted once per bucket: an answer's rows share a few hundred buckets."""
    texts: dict[datetime, str] = {}

    def text(row: Row) -> str | None:
        bucket = row.bucket
        if bucket is None:
            return None
        found = texts.get(bucket)
        if found is None:
            found = texts[bucket] = bucket.isoformat()
        return found

    return text


def _array_encoder(rows: list[Row], bucket_text: BucketText) -> Callable[[Row], list[Any]]:
    groups = [g for g in NESTED_GROUPS if rows and getattr(rows[0], g) is not None]

    def encode(row: Row) -> list[Any]:
        values = [bucket_text(row), *row.dimensions.values()]
        values += [_as_number(v) for v in row.metrics.values()]
        values.append(row.others)
        for group in groups:
            values += [_as_number(v) for v in getattr(row, group).values()]
        return values

    return encode


def _laid_out(layout: list[RowField], rows: list[Row], bucket_text: BucketText) -> list[msgspec.Struct]:
    """Each row as the object `layout` describes. Built a field at a time over all rows (one comprehension per
    field, no call per value), then put together in C as Structs whose JSON is that object (a dict per row
    costs more than all the fields' values): answers run to thousands of rows of a dozen values."""
    columns = [_layout_column(f, rows, bucket_text) for f in layout]
    return _objects(layout, columns, len(rows))


def _objects(fields: list[RowField], columns: list[list[Any]], count: int) -> list[msgspec.Struct]:
    object_type = _object_type(tuple(f.key for f in fields))
    if not columns:
        return [object_type() for _ in range(count)]
    return list(starmap(object_type, zip(*columns, strict=True)))


@functools.lru_cache(maxsize=256)
def _object_type(keys: tuple[str, ...]) -> type[msgspec.Struct]:
    """A Struct encoded as a JSON object with these keys in this order (fields f0, f1... renamed to the keys: a
    caller's key may be any GraphQL name, a Python keyword too)."""
    names = [f"f{i}" for i in range(len(keys))]
    return msgspec.defstruct(
        "LaidOutRow", [(n, Any) for n in names], rename=dict(zip(names, keys, strict=True)), gc=False
    )


def _floats(values: list[Any]) -> list[Any]:
    return [v if v is None or type(v) is float else float(v) for v in values]


def _ints(values: list[Any]) -> list[Any]:
    return [v if v is None or type(v) is int else int(v) for v in values]


def _layout_column(f: RowField, rows: list[Row], bucket_text: BucketText) -> list[Any]:
    """The values of field `f` for every row, as the caller's type writes them."""
    if f.constant is not None:
        return [f.constant] * len(rows)
    if f.group is not None:
        groups: list[Values | None] = [getattr(row, f.group) for row in rows]
        present = [g for g in groups if g is not None]
        columns = [
            [g.constant] * len(present)
            if g.constant is not None
            else (_ints if g.integer else _floats)([values.get(g.value or "") for values in present])
            for g in f.fields
        ]
        objects = _objects(f.fields, columns, len(present))
        if len(present) == len(groups):
            return objects
        found = iter(objects)
        return [None if g is None else next(found) for g in groups]
    name = f.value or ""
    if name == "bucket":
        return [bucket_text(row) for row in rows]
    if name == "others":
        return [row.others for row in rows]
    metrics = (_ints if f.integer else _floats)([row.metrics.get(name) for row in rows])
    # A dimension of that name wins over a metric (a decimal dimension is a Float in GraphQL).
    values = [row.dimensions.get(name, m) for row, m in zip(rows, metrics, strict=True)]
    return [float(v) if type(v) is Decimal else v for v in values]
