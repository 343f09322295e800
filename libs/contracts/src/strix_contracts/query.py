"""The query contract between the gateway and the query service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

import msgspec
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

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
    # The row's JSON array as `encode_answer` writes it, kept so rows the caches hold are encoded once (the
    # float formatting is most of the cost). Rows are never changed in place; a copy with other values
    # (`msgspec.structs.replace`) must pass `wire=None`.
    wire: msgspec.Raw | None = None


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


class RecordsResponse(Model):
    module: str
    start: datetime
    end: datetime
    records: list[dict[str, Any]]
    end_cursor: str | None
    has_next_page: bool


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


def encode_answer(response: QueryResponse) -> bytes:
    """The answer with rows as arrays under `columns`: half the bytes of nested objects, decoded without
    building a dict per row, and turned into GraphQL rows by key mapping alone. Buckets are ISO 8601 strings
    (datetime.isoformat), metric values floats: exactly what the GraphQL scalars would serialise."""
    columns = answer_columns(response.rows)
    groups = [g for g in NESTED_GROUPS if response.rows and getattr(response.rows[0], g) is not None]
    iso: dict[datetime, str] = {}
    rows: list[msgspec.Raw] = []
    for row in response.rows:
        wire = row.wire
        if wire is None:
            bucket = row.bucket
            if bucket is not None:
                text = iso.get(bucket)
                if text is None:
                    text = iso[bucket] = bucket.isoformat()
            values = [text if bucket is not None else None, *row.dimensions.values()]
            values += [v if v is None or type(v) is float else float(v) for v in row.metrics.values()]
            values.append(row.others)
            for group in groups:
                values += [v if v is None or type(v) is float else float(v) for v in getattr(row, group).values()]
            wire = row.wire = msgspec.Raw(msgspec.json.encode(values))
        rows.append(wire)
    header = msgspec.structs.asdict(response)
    header["rows"] = rows
    header["columns"] = columns
    return msgspec.json.encode(header)
