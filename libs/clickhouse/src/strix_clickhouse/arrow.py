"""Arrow types of a module's event columns, so events reach ClickHouse without a Python object per value.

The rollup's fast path has Arrow's JSON reader parse a whole batch of event messages in C++ into columns of
these types, and ClickHouse takes the Arrow block as it is (`ClickHouse.insert_arrow`): measured under chDB
26.9 with the clickstream example, parsing 0.2-0.5 M events/s and inserting into the raw table 0.5 M/s, where
msgspec into Python values and clickhouse-connect's Native serialisation managed 0.2 M/s each.
"""

from __future__ import annotations

import pyarrow as pa

from strix_clickhouse.columns import POSITION_COLUMN, SEQUENCE_COLUMN
from strix_config import EventField, ModuleConfig
from strix_config.fieldtypes import DECIMAL_PRECISION

# Per field type of strix_config.fieldtypes (test_arrow_types holds the two tables equal). Times arrive with
# microseconds (ingestion writes Python datetimes); the DateTime64(3) column keeps the milliseconds.
_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "datetime": pa.timestamp("us", tz="UTC"),
}


def arrow_type(field: EventField) -> pa.DataType:
    if field.type == "decimal":
        return pa.decimal128(DECIMAL_PRECISION, field.scale)
    return _ARROW_TYPES[field.type]


def event_schema(config: ModuleConfig) -> pa.Schema:
    """The events' fields, in config order, as Arrow fields."""
    return pa.schema([pa.field(name, arrow_type(f)) for name, f in config.event.fields.items()])


def place_fields() -> list[pa.Field]:
    """Where each event sits in its stream (`_seq`, `_pos`), as the events table types them."""
    return [pa.field(SEQUENCE_COLUMN, pa.uint64()), pa.field(POSITION_COLUMN, pa.uint32())]
