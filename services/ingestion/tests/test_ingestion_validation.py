"""Decoding request bodies into events: single objects, arrays and NDJSON are accepted; every bad event is
rejected with its index, the field at fault and a reason a client can act on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from strix_config import ModuleConfig
from strix_config.loader import read_module
from strix_ingestion.validation import EventCodec, Rejection, build_codec, decode_events

REPO = Path(__file__).resolve().parents[3]


def load(path: Path) -> ModuleConfig:
    config, problems = read_module(path)
    assert problems == []
    assert config is not None
    return config


@pytest.fixture(scope="module")
def clicks() -> EventCodec:
    return build_codec(load(REPO / "configs" / "clickstream.yaml"))


@pytest.fixture(scope="module")
def fleet() -> EventCodec:
    return build_codec(load(REPO / "tests" / "fixtures" / "client-configs" / "fleet.yaml"))


def click(i: int = 0, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": f"e{i}",
        "ts": "2026-03-10T10:15:00Z",
        "customer_id": f"c{i}",
        "session_id": f"s{i}",
        "action": "view",
        "product_group": "shoes",
        "product_id": "p1",
        "country": "DE",
        "device": "mobile",
        "price": "59.90",
        "quantity": 2,
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not MISSING}


def trip(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "finished_at": "2026-03-10T10:15:00+01:00",
        "vehicle_id": "B-XY 12",
        "depot": "north",
        "fuel_type": "diesel",
        "zone": 3,
        "distance_km": 12.5,
        "load_kg": 800,
        "on_time": True,
        "toll": "2.50",
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not MISSING}


MISSING: Any = object()


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def ndjson(*events: dict[str, Any]) -> bytes:
    return "\n".join(json.dumps(e) for e in events).encode() + b"\n"


def only_rejection(codec: EventCodec, payload: bytes, ndjson: bool = False) -> Rejection:
    events, rejections = decode_events(codec, payload, ndjson)
    assert events == []
    assert len(rejections) == 1, rejections
    return rejections[0]


# --- accepted bodies -----------------------------------------------------------------------------------------


def test_a_single_object_decodes(clicks: EventCodec) -> None:
    events, rejections = decode_events(clicks, body(click()))
    assert rejections == []
    [event] = events
    assert event.event_id == "e0"
    assert event.ts == datetime(2026, 3, 10, 10, 15, tzinfo=UTC)
    assert event.price == Decimal("59.90")
    assert isinstance(event.price, Decimal)
    assert event.quantity == 2
    assert event.device == "mobile"


def test_an_array_decodes_in_order(clicks: EventCodec) -> None:
    events, rejections = decode_events(clicks, body([click(i) for i in range(5)]))
    assert rejections == []
    assert [e.event_id for e in events] == ["e0", "e1", "e2", "e3", "e4"]


def test_ndjson_decodes_and_skips_blank_lines(clicks: EventCodec) -> None:
    payload = ndjson(click(0), click(1)) + b"\n   \n" + ndjson(click(2))
    events, rejections = decode_events(clicks, payload, ndjson=True)
    assert rejections == []
    assert [e.event_id for e in events] == ["e0", "e1", "e2"]


def test_every_field_type_of_an_unseen_config_decodes(fleet: EventCodec) -> None:
    [event], rejections = decode_events(fleet, body(trip()))
    assert rejections == []
    assert event.zone == 3
    assert event.distance_km == 12.5
    assert event.on_time is True
    assert event.toll == Decimal("2.50")


def test_decimals_arrive_as_strings_or_numbers(clicks: EventCodec) -> None:
    events, rejections = decode_events(clicks, body([click(0, price="19.9"), click(1, price=19.9), click(2, price=7)]))
    assert rejections == []
    assert [e.price for e in events] == [Decimal("19.9"), Decimal("19.9"), Decimal("7")]


# --- defaults and time zones ---------------------------------------------------------------------------------


def test_optional_fields_get_their_defaults(clicks: EventCodec, fleet: EventCodec) -> None:
    [event], rejections = decode_events(clicks, body(click(device=MISSING, quantity=MISSING)))
    assert rejections == []
    assert event.device == "desktop"
    assert event.quantity == 1

    [trip_event], rejections = decode_events(fleet, body(trip(toll=MISSING)))
    assert rejections == []
    assert trip_event.toll == Decimal("0")
    assert isinstance(trip_event.toll, Decimal)


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-03-10T10:15:00Z", datetime(2026, 3, 10, 10, 15, tzinfo=UTC)),
        ("2026-03-10T10:15:00+00:00", datetime(2026, 3, 10, 10, 15, tzinfo=UTC)),
        ("2026-03-10T12:15:00+02:00", datetime(2026, 3, 10, 10, 15, tzinfo=UTC)),
        ("2026-03-10T01:45:00.250-08:30", datetime(2026, 3, 10, 10, 15, 0, 250000, tzinfo=UTC)),
        ("2026-03-11T00:30:00+14:00", datetime(2026, 3, 10, 10, 30, tzinfo=UTC)),  # across a date line
    ],
)
@pytest.mark.parametrize("shape", ["object", "array", "ndjson"])
def test_event_times_are_normalised_to_utc(clicks: EventCodec, text: str, utc: datetime, shape: str) -> None:
    event = click(ts=text)
    payload = {"object": body(event), "array": body([event]), "ndjson": ndjson(event)}[shape]
    [decoded], rejections = decode_events(clicks, payload, ndjson=shape == "ndjson")
    assert rejections == []
    assert decoded.ts == utc
    assert decoded.ts.utcoffset() == timedelta(0)
    assert decoded.ts.tzinfo is UTC


# --- rejections ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"customer_id": 42}, "customer_id", ["str", "int"]),
        ({"quantity": "2"}, "quantity", ["int", "str"]),
        ({"quantity": True}, "quantity", ["int", "bool"]),
        ({"colour": "red"}, "colour", ["unknown"]),
        ({"session_id": MISSING}, "session_id", ["missing", "required"]),
        ({"ts": "2026-03-10T10:15:00"}, "ts", ["timezone"]),
        ({"ts": "yesterday"}, "ts", ["datetime"]),
        ({"price": "59.999"}, "price", ["2 decimal places", "59.999"]),
        ({"price": "-0.01"}, "price", [">= 0"]),
        ({"quantity": -1}, "quantity", [">= 0"]),
        ({"country": "DEU"}, "country", ["length <= 2"]),
    ],
)
def test_each_kind_of_bad_event_is_rejected_with_field_and_reason(
    clicks: EventCodec, changes: dict[str, Any], field: str, words: list[str]
) -> None:
    event = click(**changes)
    for payload, is_ndjson in ((body(event), False), (body([event]), False), (ndjson(event), True)):
        rejection = only_rejection(clicks, payload, is_ndjson)
        assert rejection.index == 0
        assert rejection.field == field
        for word in words:
            assert word in rejection.reason, rejection.reason


def test_value_not_in_allowed_is_rejected_with_the_allowed_values(clicks: EventCodec) -> None:
    """The config promises "anything else is rejected with the list in the error": a client must learn what
    to send instead, not only that `refund` is wrong."""
    rejection = only_rejection(clicks, body(click(action="refund")))
    assert (rejection.index, rejection.field) == (0, "action")
    assert "refund" in rejection.reason
    for allowed in ("view", "add_to_cart", "purchase"):
        assert allowed in rejection.reason, rejection.reason


def test_numbers_outside_bounds_are_rejected_for_every_numeric_type(fleet: EventCodec) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"zone": 0}, "zone"),  # int, min 1
        ({"zone": 10}, "zone"),  # int, max 9
        ({"distance_km": -0.5}, "distance_km"),  # float, min 0
        ({"distance_km": 400.5}, "distance_km"),  # float, max 400
        ({"toll": "80.01"}, "toll"),  # decimal, max 80
        ({"toll": "-1"}, "toll"),  # decimal, min 0
        ({"on_time": "yes"}, "on_time"),  # bool
        ({"depot": "moon"}, "depot"),  # allowed
    ]
    for changes, field in cases:
        rejection = only_rejection(fleet, body(trip(**changes)))
        assert (rejection.index, rejection.field) == (0, field), (changes, rejection)
        assert rejection.reason


def test_huge_or_non_finite_decimals_are_rejected(clicks: EventCodec) -> None:
    for price in ("1e20", "NaN", "Infinity"):
        rejection = only_rejection(clicks, body(click(price=price)))
        assert (rejection.index, rejection.field) == (0, "price"), price


def test_broken_json_is_rejected(clicks: EventCodec) -> None:
    rejection = only_rejection(clicks, b'{"event_id": "e0", "ts": ')
    assert rejection.index == 0
    assert rejection.field is None
    assert rejection.reason

    rejection = only_rejection(clicks, b'[{"event_id": "e0"}, {oops}]')
    assert rejection.index == 0
    assert "JSON" in rejection.reason


def test_broken_ndjson_line_is_rejected_by_its_position(clicks: EventCodec) -> None:
    payload = ndjson(click(0)) + b"{not json\n" + ndjson(click(2))
    events, rejections = decode_events(clicks, payload, ndjson=True)
    assert [e.event_id for e in events] == ["e0", "e2"]
    assert [(r.index, r.field) for r in rejections] == [(1, None)]
    assert rejections[0].reason


def test_two_bad_events_among_five_report_both_indexes(clicks: EventCodec) -> None:
    batch = [click(0), click(1, action="refund"), click(2), click(3, price="1.999"), click(4)]
    events, rejections = decode_events(clicks, body(batch))
    assert [(r.index, r.field) for r in rejections] == [(1, "action"), (3, "price")]
    assert [e.event_id for e in events] == ["e0", "e2", "e4"]  # the caller decides whether to keep them


def test_two_bad_ndjson_lines_among_five_report_both_indexes(clicks: EventCodec) -> None:
    payload = ndjson(click(0), click(1, session_id=MISSING), click(2), click(3), click(4, ts="2026-03-10T10:15:00"))
    events, rejections = decode_events(clicks, payload, ndjson=True)
    assert [(r.index, r.field) for r in rejections] == [(1, "session_id"), (4, "ts")]
    assert [e.event_id for e in events] == ["e0", "e2", "e3"]


def test_one_event_with_several_decimal_problems_reports_each(fleet: EventCodec) -> None:
    events, rejections = decode_events(fleet, body([trip(), trip(toll="99.999")]))
    assert len(events) == 1  # the good event is returned; the caller decides whether to keep it
    assert {(r.index, r.field) for r in rejections} == {(1, "toll")}
    reasons = " | ".join(r.reason for r in rejections)
    assert "decimal places" in reasons
    assert "<= 80" in reasons


def test_an_empty_ndjson_body_is_rejected(clicks: EventCodec) -> None:
    rejection = only_rejection(clicks, b"\n\n", ndjson=True)
    assert rejection.index == 0
    assert "no events" in rejection.reason
