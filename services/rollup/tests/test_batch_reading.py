"""Messages into rows: the Arrow fast path reads exactly what msgspec reads, and leaves what it cannot read to it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from strix_clickhouse.arrow import _ARROW_TYPES, arrow_type
from strix_config import EventField, ModuleConfig
from strix_config.fieldtypes import FIELD_TYPES
from strix_rollup.batches import BatchReader, as_lists, build_microbatch, read_arrow, read_lists

CONFIG = ModuleConfig.model_validate(
    {
        "module": "shop",
        "event": {
            "time_field": "ts",
            "fields": {
                "ts": {"type": "datetime"},
                "customer": {"type": "string"},
                "quantity": {"type": "int"},
                "amount": {"type": "decimal", "scale": 2},
                "score": {"type": "float"},
                "member": {"type": "bool"},
                "seen": {"type": "datetime"},
            },
        },
        "partition_by": "customer",
        "partitions": 1,
        "dimensions": {"customer": {}},
        "metrics": {"events": {"kind": "count"}},
        "rollups": {"hourly": {"granularity": "hour", "dimensions": ["customer"]}},
    }
)


def event(n: int, **overrides: Any) -> dict[str, Any]:
    base = {
        "ts": f"2026-12-0{1 + n % 3}T10:0{n % 10}:00.{n:03d}000Z",
        "customer": f"c{n}" + ' "quoted" },{" ünï\n',
        "quantity": n * 1000,
        "amount": f"{n}.{n % 100:02d}",
        "score": n / 7,
        "member": n % 2 == 0,
        "seen": "1999-01-01T00:00:00Z",
    }
    return {**base, **overrides}


def message(*events: dict[str, Any]) -> bytes:
    return json.dumps(list(events), ensure_ascii=False).encode()


def test_arrow_and_lists_read_the_same_rows() -> None:
    reader = BatchReader.of(CONFIG)
    payloads = [(7, message(event(1), event(2), event(3))), (9, message()), (12, message(event(4)))]
    arrow = read_arrow(reader, payloads)
    assert arrow is not None
    assert as_lists(arrow) == read_lists(reader, payloads)
    assert arrow.column("_seq").to_pylist() == [7, 7, 7, 12]
    assert arrow.column("_pos").to_pylist() == [0, 1, 2, 0]
    assert arrow.column("amount").to_pylist()[1] == Decimal("2.02")


def test_a_value_arrow_cannot_hold_leaves_the_batch_to_msgspec_and_clickhouse() -> None:
    """An integer past Int64 is ClickHouse's to refuse (isolation.py), so the batch is read as Python values."""
    reader = BatchReader.of(CONFIG)
    payloads = [(1, message(event(1))), (2, message(event(2, quantity=2**63)))]
    assert read_arrow(reader, payloads) is None
    batch = build_microbatch(reader, 0, payloads)
    assert isinstance(batch.columns, dict)
    assert batch.columns["quantity"] == [1000, 2**63]
    assert (batch.events, batch.token) == (2, "shop:0:1-2")


def test_a_missing_or_null_field_is_not_read_as_a_default() -> None:
    reader = BatchReader.of(CONFIG)
    missing = event(1)
    del missing["score"]
    assert read_arrow(reader, [(1, message(missing))]) is None
    assert read_arrow(reader, [(1, message(event(1, customer=None)))]) is None
    assert read_arrow(reader, [(1, b'{"not": "an array"}')]) is None


def test_the_time_span_of_an_arrow_batch() -> None:
    batch = build_microbatch(BatchReader.of(CONFIG), 0, [(3, message(event(5), event(1)))])
    assert isinstance(batch.columns, pa.Table)
    assert batch.first_event == datetime(2026, 12, 2, 10, 1, 0, 1000, tzinfo=UTC)
    assert batch.last_event == datetime(2026, 12, 3, 10, 5, 0, 5000, tzinfo=UTC)


def test_every_field_type_has_an_arrow_type() -> None:
    for name in FIELD_TYPES:
        assert name in _ARROW_TYPES or name == "decimal", f"field type {name} has no Arrow type"
        field = EventField.model_validate({"type": name, **({"scale": 3} if name == "decimal" else {})})
        assert arrow_type(field) is not None
    assert arrow_type(EventField.model_validate({"type": "decimal", "scale": 3})) == pa.decimal128(18, 3)
