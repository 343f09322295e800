"""Raw record pages: newest first, keyset-paginated on (event time, stream sequence, position).

The cursor is opaque to callers (base64 of those three numbers), stable under concurrent inserts: a page never
repeats or skips an event that was already stored when the first page was read.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from strix_clickhouse.columns import POSITION_COLUMN, SEQUENCE_COLUMN, events_table
from strix_clickhouse.sql import qualified, quote_identifier
from strix_config import ModuleConfig
from strix_contracts.errors import QueryError
from strix_contracts.query import RecordsRequest
from strix_query.compiler import CompiledQuery, Params, filters_sql
from strix_query.planner import Source

_RAW = Source(None, "records are read from the raw events table")


def encode_cursor(millis: int, sequence: int, position: int) -> str:
    return base64.urlsafe_b64encode(f"{millis}:{sequence}:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        millis, sequence, position = (int(part) for part in text.split(":"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise QueryError("not a cursor this API returned", argument="after", hint="pass endCursor of a page") from exc
    return millis, sequence, position


def compile_records(
    request: RecordsRequest, config: ModuleConfig, start: datetime, end: datetime, database: str
) -> CompiledQuery:
    if not config.raw.keep:
        raise QueryError(f"{config.module} keeps no raw events", argument="module", hint="set raw.keep in its config")
    params = Params()
    time_column = quote_identifier(config.event.time_field)
    seq, pos = quote_identifier(SEQUENCE_COLUMN), quote_identifier(POSITION_COLUMN)
    fields = [quote_identifier(name) for name in config.event.fields]
    time_type = config.event.fields[config.event.time_field].type_spec.parameter_type()
    where = [
        f"{time_column} >= {params.add(start, time_type)}",
        f"{time_column} < {params.add(end, time_type)}",
    ]
    filters = filters_sql(config, request.filters, _RAW, params, " AND ", "filters")
    if filters:
        where.append(f"({filters})")
    if request.after is not None:
        millis, sequence, position = decode_cursor(request.after)
        where.append(
            f"(toUnixTimestamp64Milli({time_column}), {seq}, {pos}) < "
            f"({params.add(millis, 'Int64')}, {params.add(sequence, 'UInt64')}, {params.add(position, 'UInt32')})"
        )
    sql = (
        f"SELECT toUnixTimestamp64Milli({time_column}), {seq}, {pos}, {', '.join(fields)}\n"
        f"FROM {qualified(database, events_table(config.module))}\n"
        f"WHERE {' AND '.join(where)}\n"
        f"ORDER BY {time_column} DESC, {seq} DESC, {pos} DESC\n"
        f"LIMIT {params.add(request.first + 1, 'UInt64')}"
    )
    return CompiledQuery(sql, params.values, [], list(config.event.fields), False)


def _value(value: Any, tz: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(tz)
    return value


def page(
    rows: list[tuple[Any, ...]], fields: list[str], first: int, tz: ZoneInfo
) -> tuple[list[dict[str, Any]], str | None, bool]:
    """(records, end cursor, has next page) from up to first+1 rows."""
    kept = rows[:first]
    records = [{name: _value(v, tz) for name, v in zip(fields, row[3:], strict=True)} for row in kept]
    cursor = encode_cursor(int(kept[-1][0]), int(kept[-1][1]), int(kept[-1][2])) if kept else None
    return records, cursor, len(rows) > first
