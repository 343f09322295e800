"""Plan the ClickHouse objects of a module: data in (a config), statements out. No connection, no clock."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from strix_clickhouse.columns import (
    BUCKET_COLUMN,
    BUCKET_TYPE,
    POSITION_COLUMN,
    SEQUENCE_COLUMN,
    bucket_function,
    events_table,
    partition_key,
    rollup_table,
    rollup_view,
    state_expr,
    state_type,
)
from strix_clickhouse.event_ids import plan_event_ids
from strix_clickhouse.sql import qualified, quote_identifier
from strix_config import ModuleConfig
from strix_config.model import parse_duration

# Insert de-duplication keeps this many recent block tokens per table: a re-delivered batch within the window
# is dropped in the raw table and in every rollup fed by it.
DEDUPLICATION_WINDOW = 10_000

# Rollup rows carry aggregate states of a kilobyte or more (uniq, quantiles), and the newest buckets are read
# alone (a sliding dashboard asks for one new bucket at a time): a read costs a whole granule, so rollup
# granules hold at most 256 KiB, not ClickHouse's 10 MiB. Measured on a 59 k-row hourly rollup: one bucket
# 13.2 -> 5.5 ms, a 30-day scan unchanged (447 -> 441 ms). Fixed at creation (ClickHouse refuses to alter it).
ROLLUP_GRANULE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Statement:
    """One DDL statement and what it creates, so a plan can be shown before it is run."""

    kind: str  # database, table, view
    name: str
    sql: str


def _ttl_clause(column_sql: str, retention: str | None) -> str:
    if retention is None:
        return ""
    delta = parse_duration(retention)
    return f"\nTTL {column_sql} + INTERVAL {int(delta.total_seconds())} SECOND"


def _settings(*extra: str) -> str:
    return "\nSETTINGS " + ", ".join([f"non_replicated_deduplication_window = {DEDUPLICATION_WINDOW}", *extra])


def plan_events_table(config: ModuleConfig, database: str) -> Statement:
    dimension_fields = {config.dimension_field(d) for d in config.dimensions}
    columns = []
    for name, field in config.event.fields.items():
        low_cardinality = name in dimension_fields or bool(field.allowed)
        columns.append(f"    {quote_identifier(name)} {field.column_type(low_cardinality)}")
    columns.append(f"    {quote_identifier(SEQUENCE_COLUMN)} UInt64")
    columns.append(f"    {quote_identifier(POSITION_COLUMN)} UInt32")
    time_column = quote_identifier(config.event.time_field)
    table = events_table(config.module)
    body = ",\n".join(columns)
    if config.raw.keep:
        engine = (
            f"ENGINE = MergeTree\nPARTITION BY toYYYYMM({time_column})\n"
            f"ORDER BY (toStartOfHour({time_column}), {time_column})"
            + _ttl_clause(f"toDateTime({time_column})", config.raw.retention)
            + _settings()
        )
    else:
        engine = "ENGINE = Null"
    sql = f"CREATE TABLE IF NOT EXISTS {qualified(database, table)} (\n{body}\n)\n{engine}"
    return Statement("table", table, sql)


def plan_rollup(config: ModuleConfig, rollup_name: str, database: str) -> list[Statement]:
    rollup = config.rollups[rollup_name]
    metrics = config.rollup_metrics(rollup)
    dims = rollup.dimensions
    columns = [f"    {quote_identifier(BUCKET_COLUMN)} {BUCKET_TYPE}"]
    for dim in dims:
        field = config.event.fields[config.dimension_field(dim)]
        columns.append(f"    {quote_identifier(dim)} {field.column_type(low_cardinality=True)}")
    columns += [f"    {quote_identifier(m)} {state_type(config, m)}" for m in metrics]
    order = ", ".join([quote_identifier(BUCKET_COLUMN), *(quote_identifier(d) for d in dims)])
    bucket = quote_identifier(BUCKET_COLUMN)
    table = rollup_table(config.module, rollup_name)
    table_sql = (
        f"CREATE TABLE IF NOT EXISTS {qualified(database, table)} (\n" + ",\n".join(columns) + "\n)\n"
        f"ENGINE = AggregatingMergeTree\nPARTITION BY {partition_key(rollup.granularity)}({bucket})\n"
        f"ORDER BY ({order})"
        + _ttl_clause(bucket, rollup.retention)
        + _settings(f"index_granularity_bytes = {ROLLUP_GRANULE_BYTES}")
    )
    # Source columns are qualified with the table alias: an alias in this SELECT (a dimension or metric name)
    # would otherwise shadow an event field of the same name inside the other expressions.
    source = "e."
    time_column = source + quote_identifier(config.event.time_field)
    selects = [f"{bucket_function(rollup.granularity)}({time_column}) AS {bucket}"]
    selects += [f"{source}{quote_identifier(config.dimension_field(d))} AS {quote_identifier(d)}" for d in dims]
    selects += [f"{state_expr(config, m, source)} AS {quote_identifier(m)}" for m in metrics]
    group = ", ".join([bucket, *(quote_identifier(d) for d in dims)])
    view = rollup_view(config.module, rollup_name)
    view_sql = (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {qualified(database, view)}\n"
        f"TO {qualified(database, table)}\nAS SELECT\n    " + ",\n    ".join(selects) + "\n"
        f"FROM {qualified(database, events_table(config.module))} AS e\nGROUP BY {group}"
    )
    return [Statement("table", table, table_sql), Statement("view", view, view_sql)]


def plan_module(config: ModuleConfig, database: str) -> list[Statement]:
    """Every object a module needs, in creation order (tables before the views that feed them)."""
    statements = [
        Statement("database", database, f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}"),
        plan_events_table(config, database),
    ]
    for name in config.rollups:
        statements.extend(plan_rollup(config, name, database))
    statements.extend(Statement(kind, name, sql) for kind, name, sql in plan_event_ids(config, database, _settings()))
    return statements


# The columns of a database's tables as ClickHouse holds them: what `state_conflicts` compares a plan with.
EXISTING_COLUMNS_SQL = "SELECT table, name, type FROM system.columns WHERE database = {database:String}"


@dataclass(frozen=True)
class StateConflict:
    """A rollup table that already exists and does not hold a metric's state as the config now declares it
    (the kind, its precision, its field or its condition changed, or the metric joined the rollup later)."""

    module: str
    rollup: str
    metric: str
    table: str
    view: str
    stored: str | None  # the column's type in ClickHouse; None when the table has no such column
    wanted: str

    def message(self, database: str) -> str:
        held = f"holds it as {self.stored}" if self.stored else "has no column for it"
        return (
            f"module {self.module!r}, rollup {self.rollup!r}, metric {self.metric!r}: the config declares its state "
            f"as {self.wanted}, but the existing table {database}.{self.table} {held}; stored states cannot be converted. "
            f"Either restore the metric as it was, or drop the rollup (DROP VIEW {qualified(database, self.view)}; "
            f"DROP TABLE {qualified(database, self.table)}) so that the next start creates it again: empty, counting "
            "events from then on (Strix does not yet backfill a rollup from raw events)."
        )


class StateConflictError(Exception):
    """Rollups whose stored states no longer match the configs: refused at start-up, before any event is
    inserted through a view that would write the old state or any query merges it with the new function."""

    def __init__(self, conflicts: list[StateConflict], database: str) -> None:
        self.conflicts = conflicts
        super().__init__("\n".join(c.message(database) for c in conflicts))


def check_states(configs: list[ModuleConfig], existing: Mapping[str, Mapping[str, str]], database: str) -> None:
    """Raise StateConflictError naming every conflict of every module, or return when there is none."""
    conflicts = [conflict for config in configs for conflict in state_conflicts(config, existing)]
    if conflicts:
        raise StateConflictError(conflicts, database)


def _normal(column_type: str) -> str:
    return re.sub(r"\s+", "", column_type)


def state_conflicts(config: ModuleConfig, existing: Mapping[str, Mapping[str, str]]) -> list[StateConflict]:
    """Where `config`'s rollups differ from tables that already exist: `existing` maps each table of the
    database to its columns' types (`EXISTING_COLUMNS_SQL`). `CREATE ... IF NOT EXISTS` keeps an existing table
    as it is, so without this check a changed metric is merged with the wrong function at query time."""
    conflicts = []
    for rollup_name, rollup in config.rollups.items():
        table = rollup_table(config.module, rollup_name)
        columns = existing.get(table)
        if columns is None:
            continue  # created by this start
        for metric in config.rollup_metrics(rollup):
            wanted = state_type(config, metric)
            stored = columns.get(metric)
            if stored is None or _normal(stored) != _normal(wanted):
                view = rollup_view(config.module, rollup_name)
                conflicts.append(StateConflict(config.module, rollup_name, metric, table, view, stored, wanted))
    return conflicts


def existing_columns(rows: list[tuple[object, ...]]) -> dict[str, dict[str, str]]:
    """`EXISTING_COLUMNS_SQL`'s rows as {table: {column: type}}."""
    tables: dict[str, dict[str, str]] = {}
    for table, column, column_type in rows:
        tables.setdefault(str(table), {})[str(column)] = str(column_type)
    return tables
