"""Events of any module from its config alone (strix.generators.config_events): a value drawn for every field type
of the field type table, each accepted by ingestion's own decoder, within the field's bounds."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from strix.generators import DRAWS, clickstream_history, config_events, daily_shape
from strix_config.fieldtypes import FIELD_TYPES
from strix_config.model import ModuleConfig
from strix_ingestion.validation import build_codec, decode_events

START = datetime(2026, 3, 9, tzinfo=UTC)


def test_every_field_type_has_a_draw() -> None:
    assert set(DRAWS) == set(FIELD_TYPES)


def test_events_of_every_field_type_are_accepted_by_ingestion_within_their_bounds() -> None:
    config = ModuleConfig.model_validate(
        {
            "module": "every_type",
            "event": {
                "time_field": "ts",
                "id_field": "id",
                "fields": {
                    "id": {"type": "string"},
                    "ts": {"type": "datetime"},
                    "seen": {"type": "datetime", "required": False, "default": "2026-01-01T00:00:00Z"},
                    "name": {"type": "string", "max_length": 4},
                    "kind": {"type": "string", "allowed": ["a", "b"]},
                    "count": {"type": "int", "min": -5, "max": 5},
                    "ratio": {"type": "float", "min": 0.5, "max": 0.75},
                    "price": {"type": "decimal", "scale": 3, "min": 1, "max": 2},
                    "flag": {"type": "bool"},
                },
            },
            "partition_by": "id",
            "dimensions": {"kind": {}},
            "metrics": {"events": {"kind": "count"}},
            "raw": {"keep": True},
        }
    )
    events = config_events(random.Random(5), config, 300, START, START + timedelta(hours=1))
    accepted, rejected = decode_events(build_codec(config), json.dumps(events).encode())
    assert not rejected and len(accepted) == len(events) == 300
    assert {type(v) for e in events for v in (e["count"], e["ratio"], e["price"], e["flag"])} == {int, float, str, bool}
    for event in events:
        assert START <= datetime.fromisoformat(event["ts"]) < START + timedelta(hours=1)
        assert len(event["name"]) <= 4 and event["kind"] in ("a", "b") and -5 <= event["count"] <= 5
        assert 0.5 <= event["ratio"] <= 0.75 and Decimal(1) <= Decimal(event["price"]) <= Decimal(2)
        assert -Decimal(event["price"]).as_tuple().exponent <= 3
    assert len({e["id"] for e in events}) == 300
    seen = [e for e in events if "seen" in e]  # an optional field: left out of about a fifth
    assert 0 < len(seen) < len(events) and all(datetime.fromisoformat(e["seen"]) >= START for e in seen)


def test_the_demo_history_is_the_live_rate_on_one_daily_curve_newest_hour_first() -> None:
    day = datetime(2026, 12, 1, tzinfo=UTC)
    # The curve averages 1 over a day (so a day holds rate * 86 400 events) and peaks in the afternoon.
    minutes = [daily_shape(day + timedelta(minutes=m)) for m in range(24 * 60)]
    assert abs(sum(minutes) / len(minutes) - 1) < 1e-9
    assert max(minutes) == daily_shape(day + timedelta(hours=16)) and min(minutes) == daily_shape(
        day + timedelta(hours=4)
    )
    hours = list(clickstream_history(random.Random(3), 2.0, day, day + timedelta(days=2)))
    starts = [min(e["ts"] for e in hour) for hour in hours]
    assert starts == sorted(starts, reverse=True) and len(hours) == 48
    first, second = sum(len(h) for h in hours[:24]), sum(len(h) for h in hours[24:])
    assert abs(first + second - 2.0 * 2 * 86_400) < 2 * 86_400 * 0.01  # the rate, within 1 %
    assert abs(first - second) / second < 0.02  # a day compares with the day before
