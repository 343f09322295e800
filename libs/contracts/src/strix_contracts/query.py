"""The query contract between the gateway and the query service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

QueryGranularity = Literal["minute", "hour", "day", "week", "month", "total"]
RelativeUnit = Literal["minute", "hour", "day", "week", "month"]
FilterOp = Literal["eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "prefix", "contains"]
Value = str | int | float | bool


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeWindow(Model):
    """Absolute (`start`, `end`) or relative (`last` whole `unit`s up to and including the current one)."""

    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    last: int | None = Field(default=None, ge=1, le=100_000)
    unit: RelativeUnit | None = None


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


class Row(Model):
    bucket: datetime | None
    dimensions: dict[str, Value | None]
    metrics: dict[str, float | int | None]


class QueryResponse(Model):
    module: str
    granularity: QueryGranularity
    time_zone: str
    start: datetime
    end: datetime
    source: str
    source_reason: str
    rows: list[Row]
    sql: str | None = None


AllOf.model_rebuild()
AnyOf.model_rebuild()
