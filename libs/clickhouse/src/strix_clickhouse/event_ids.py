"""The ids of counted events, so an event re-sent with the same id is counted once (ARCHITECTURE §5).

A module with an `id_field` keeps a table of the ids its events table received, filled by a materialized view
from the events table itself: the ids land in the same insert, under the same de-duplication token, as the
events they belong to. Each id keeps where it was first counted (stream sequence and position), so the rollup
worker can tell an earlier occurrence from the batch's own events after a crash re-formed the batch.

An id is remembered for the module's de-duplication window, counted from the later of its event time and its
arrival: a backfill of old events re-sent within the window still counts once, and with the window no shorter
than `max_lateness`, an event re-sent after its id was forgotten is refused as late anyway.

A probe reads the batch's ids (up to 50 000) with `IN (SELECT ...)`, which ClickHouse turns into a set probing
the table's primary key. Embedded, the ids come from an Arrow file in the same statement (`ids_from_sql` over
`ClickHouse.local_table`); a server cannot read our disk, so there they are first inserted into a per-partition
Memory table and read back by the batch's token: two statements. (As a query parameter or a literal, 50 000
strings cost seconds of parsing.) Measured under chDB 26.9 at load ~9: 20 000 ids 18 ms insert + 170 ms lookup
through the Memory table, 87 ms through the file; 200 ids 2.6 + 16 ms against 22 ms.
"""

from __future__ import annotations

from strix_clickhouse.columns import POSITION_COLUMN, SEQUENCE_COLUMN, events_table
from strix_clickhouse.sql import qualified, quote_identifier
from strix_config import ModuleConfig

ID_COLUMN = "id"
EVENT_TIME_COLUMN = "event_time"
SEEN_AT_COLUMN = "seen_at"
TOKEN_COLUMN = "token"


def event_ids_table(module: str) -> str:
    return f"{module}__event_ids"


def event_ids_view(module: str) -> str:
    return f"{module}__event_ids__mv"


def probe_table(module: str, partition: int) -> str:
    return f"{module}__id_probe_{partition}"


def plan_event_ids(config: ModuleConfig, database: str, settings: str) -> list[tuple[str, str, str]]:
    """(kind, name, sql) of the id table and the view that fills it; nothing when events carry no id."""
    window = config.dedup_window()
    id_field = config.event.id_field
    if window is None or id_field is None:
        return []
    table = event_ids_table(config.module)
    id_type = config.event.fields[id_field].column_type()
    seen_at = quote_identifier(SEEN_AT_COLUMN)
    event_time = quote_identifier(EVENT_TIME_COLUMN)
    table_sql = (
        f"CREATE TABLE IF NOT EXISTS {qualified(database, table)} (\n"
        f"    {quote_identifier(ID_COLUMN)} {id_type},\n"
        f"    {quote_identifier(SEQUENCE_COLUMN)} UInt64,\n"
        f"    {quote_identifier(POSITION_COLUMN)} UInt32,\n"
        f"    {event_time} DateTime('UTC'),\n"
        f"    {seen_at} DateTime('UTC') DEFAULT now()\n"
        ")\nENGINE = MergeTree\n"
        f"PARTITION BY toYYYYMMDD({seen_at})\n"
        f"ORDER BY {quote_identifier(ID_COLUMN)}\n"
        f"TTL greatest({event_time}, {seen_at}) + INTERVAL {int(window.total_seconds())} SECOND"
        f"{settings}"
    )
    view = event_ids_view(config.module)
    view_sql = (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {qualified(database, view)}\n"
        f"TO {qualified(database, table)}\nAS SELECT\n"
        f"    e.{quote_identifier(id_field)} AS {quote_identifier(ID_COLUMN)},\n"
        f"    e.{quote_identifier(SEQUENCE_COLUMN)} AS {quote_identifier(SEQUENCE_COLUMN)},\n"
        f"    e.{quote_identifier(POSITION_COLUMN)} AS {quote_identifier(POSITION_COLUMN)},\n"
        f"    toDateTime(e.{quote_identifier(config.event.time_field)}) AS {event_time}\n"
        f"FROM {qualified(database, events_table(config.module))} AS e"
    )
    return [("table", table, table_sql), ("view", view, view_sql)]


def create_probe_sql(config: ModuleConfig, database: str, partition: int) -> str:
    id_field = config.event.id_field
    assert id_field is not None
    id_type = config.event.fields[id_field].column_type()
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified(database, probe_table(config.module, partition))} "
        f"({quote_identifier(TOKEN_COLUMN)} String, {quote_identifier(ID_COLUMN)} {id_type}) ENGINE = Memory"
    )


def clear_probe_sql(module: str, database: str, partition: int) -> str:
    return f"TRUNCATE TABLE {qualified(database, probe_table(module, partition))}"


def probe_ids_sql(module: str, database: str, partition: int) -> str:
    """The ids of one batch in the partition's probe table. One parameter: `token`, the batch."""
    return (
        f"SELECT {quote_identifier(ID_COLUMN)} FROM {qualified(database, probe_table(module, partition))} "
        f"WHERE {quote_identifier(TOKEN_COLUMN)} = {{token:String}}"
    )


def ids_from_sql(table_expression: str) -> str:
    """The ids of a table expression with an `id` column (`ClickHouse.local_table`'s file)."""
    return f"SELECT {quote_identifier(ID_COLUMN)} FROM {table_expression}"


def earlier_occurrences_sql(module: str, database: str, ids: str) -> str:
    """Each id of the query `ids` (probe_ids_sql, ids_from_sql) that was counted before, with the (sequence,
    position) where it was first counted."""
    id_column = quote_identifier(ID_COLUMN)
    seq = quote_identifier(SEQUENCE_COLUMN)
    pos = quote_identifier(POSITION_COLUMN)
    return (
        f"SELECT {id_column}, min(({seq}, {pos}))\n"
        f"FROM {qualified(database, event_ids_table(module))}\n"
        f"WHERE {id_column} IN ({ids})\n"
        f"GROUP BY {id_column}"
    )
