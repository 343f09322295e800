"""A microbatch: consecutive messages of one partition, inserted as one block under one token.

The token names the stream sequences the batch covers, so the same messages re-delivered after a crash form
the same token and ClickHouse drops the repeat in the raw table and in every rollup.

Its rows take one of two forms — the same rows in the same order either way, so a batch re-formed after a
crash stands for the same block under the same token whichever form it takes:
- Arrow columns, the fast path: each message (a JSON array of events, as ingestion wrote it) becomes one line
  `{"e": [...]}` and Arrow's JSON reader parses the whole batch in C++ into columns of the events table's types
  (strix_clickhouse.arrow), which ClickHouse takes as an Arrow block: no Python object per value;
- Python column lists (msgspec), whenever Arrow cannot read every payload into those types without a null: a
  value no column can hold (an integer past Int64, a decimal finer than its scale), which ClickHouse is then
  left to refuse event by event (isolation.py), or a payload no decoder reads (kept back, loudly).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias, cast

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from strix_clickhouse.arrow import event_schema, place_fields
from strix_clickhouse.columns import POSITION_COLUMN, SEQUENCE_COLUMN
from strix_config import ModuleConfig
from strix_contracts.events import to_columns, wire_decoder

Columns = dict[str, list[Any]]
Rows: TypeAlias = "pa.Table | Columns"  # Arrow columns (the fast path) or Python column lists

_WRAPPER = "e"


@dataclass(frozen=True)
class Microbatch:
    module: str
    partition: int
    first_seq: int
    last_seq: int
    columns: Rows
    events: int
    first_event: datetime | None
    last_event: datetime | None
    group: str | None = None  # a joint batch's token (joint.py): it stands for its members' sequences

    @property
    def token(self) -> str:
        return self.group or f"{self.module}:{self.partition}:{self.first_seq}-{self.last_seq}"


@dataclass(frozen=True)
class BatchReader:
    """How one module's messages become rows, built once per partition worker."""

    config: ModuleConfig
    decoder: msgspec.json.Decoder[Any]
    wrapped: pa.Schema  # one line per message: {"e": [event, ...]}
    schema: pa.Schema  # the rows: the event fields, then _seq and _pos

    @classmethod
    def of(cls, config: ModuleConfig) -> BatchReader:
        events = event_schema(config)
        wrapped = pa.schema([pa.field(_WRAPPER, pa.list_(pa.struct(list(events))))])
        return cls(config, wire_decoder(config), wrapped, pa.schema([*events, *place_fields()]))


def read_arrow(reader: BatchReader, payloads: list[tuple[int, bytes]]) -> pa.Table | None:
    """The batch as Arrow columns; None when a payload does not read into the column types without a null."""
    data = b"\n".join(b'{"' + _WRAPPER.encode() + b'":' + payload + b"}" for _, payload in payloads)
    try:
        parsed = pa_json.read_json(
            pa.BufferReader(data),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=len(data) + 1),
            parse_options=pa_json.ParseOptions(explicit_schema=reader.wrapped, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if parsed.num_rows != len(payloads):
        return None
    lists = parsed.column(_WRAPPER).combine_chunks()
    events = lists.flatten()
    columns = events.flatten()
    if lists.null_count or events.null_count or any(c.null_count for c in columns):
        return None  # a payload that is not an array, a null event, a field missing or null: msgspec decides
    parents = pc.list_parent_indices(lists).to_numpy()  # each event's message
    starts = lists.offsets.to_numpy()[:-1]
    sequences = np.array([sequence for sequence, _ in payloads], dtype=np.uint64)[parents]
    positions = (np.arange(len(events), dtype=np.int64) - starts[parents]).astype(np.uint32)
    return pa.Table.from_arrays([*columns, pa.array(sequences), pa.array(positions)], schema=reader.schema)


def read_lists(reader: BatchReader, payloads: list[tuple[int, bytes]]) -> Columns:
    """The batch as Python column lists (msgspec.ValidationError/DecodeError for a payload it cannot read)."""
    events: list[Any] = []
    sequences: list[int] = []
    positions: list[int] = []
    for sequence, payload in payloads:
        decoded = reader.decoder.decode(payload)
        events.extend(decoded)
        sequences.extend([sequence] * len(decoded))
        positions.extend(range(len(decoded)))
    columns = to_columns(reader.config, events)
    columns[SEQUENCE_COLUMN] = sequences
    columns[POSITION_COLUMN] = positions
    return columns


def build_microbatch(reader: BatchReader, partition: int, payloads: list[tuple[int, bytes]]) -> Microbatch:
    """Decode (sequence, payload) pairs into one columnar batch, Arrow when it reads."""
    rows: Rows | None = read_arrow(reader, payloads)
    if rows is None:
        rows = read_lists(reader, payloads)
    first, last = time_span(rows, reader.config.event.time_field)
    return Microbatch(
        module=reader.config.module,
        partition=partition,
        first_seq=payloads[0][0],
        last_seq=payloads[-1][0],
        columns=rows,
        events=row_count(rows),
        first_event=first,
        last_event=last,
    )


def row_count(rows: Rows) -> int:
    return rows.num_rows if isinstance(rows, pa.Table) else len(rows[SEQUENCE_COLUMN])


def values(rows: Rows, name: str) -> list[Any]:
    """One column as Python values."""
    return cast(list[Any], rows.column(name).to_pylist()) if isinstance(rows, pa.Table) else rows[name]


def as_lists(rows: Rows) -> Columns:
    """Every column as Python values (to cut a refused batch into slices, and name an event's fields)."""
    return cast(Columns, rows.to_pydict()) if isinstance(rows, pa.Table) else rows


def distinct(rows: Rows, name: str) -> bool:
    """Whether no value of the column repeats."""
    if isinstance(rows, pa.Table):
        return bool(pc.count_distinct(rows.column(name)).as_py() == rows.num_rows)
    return len(set(rows[name])) == len(rows[name])


def keep_rows(rows: Rows, keep: list[bool]) -> Rows:
    if isinstance(rows, pa.Table):
        return cast(Rows, rows.filter(pa.array(keep, pa.bool_())))
    return {name: [v for v, k in zip(column, keep, strict=True) if k] for name, column in rows.items()}


def time_span(rows: Rows, time_field: str) -> tuple[datetime | None, datetime | None]:
    """The earliest and latest event time of the rows (None, None when there are none)."""
    if isinstance(rows, pa.Table):
        span = pc.min_max(rows.column(time_field)).as_py()
        return span["min"], span["max"]
    times: list[datetime] = rows[time_field]
    return (min(times), max(times)) if times else (None, None)


def join_batches(members: list[Microbatch], group: str) -> Microbatch:
    """The members' rows as one batch, in the members' order (Arrow when every member is; else Python lists)."""
    parts = [m.columns for m in members]
    rows: Rows
    if all(isinstance(p, pa.Table) for p in parts):
        rows = pa.concat_tables(cast(list[pa.Table], parts))
    else:
        lists = [as_lists(p) for p in parts]
        rows = {name: [v for columns in lists for v in columns[name]] for name in lists[0]}
    firsts = [m.first_event for m in members if m.first_event is not None]
    lasts = [m.last_event for m in members if m.last_event is not None]
    return Microbatch(
        module=members[0].module,
        partition=members[0].partition,
        first_seq=min(m.first_seq for m in members),
        last_seq=max(m.last_seq for m in members),
        columns=rows,
        events=sum(m.events for m in members),
        first_event=min(firsts) if firsts else None,
        last_event=max(lasts) if lasts else None,
        group=group,
    )


def rows_between(rows: Rows, first: int, last: int) -> Rows:
    """The rows whose stream sequence lies in [first, last]: one member's part of a joint batch."""
    if isinstance(rows, pa.Table):
        sequence = rows.column(SEQUENCE_COLUMN)
        inside = pc.and_(pc.greater_equal(sequence, first), pc.less_equal(sequence, last))
        return cast(Rows, rows.filter(inside))
    keep = [first <= s <= last for s in rows[SEQUENCE_COLUMN]]
    return keep_rows(rows, keep)
