"""Values a column cannot store are refused at ingestion, naming the field: Int64 and Decimal(18, s) bounds, the
time range of 32-bit DateTime buckets and TTLs, and events older than every table's retention. Hostile bodies
(invalid UTF-8, deep nesting, empty, the wrong JSON type) are rejections, never exceptions — over HTTP and from
Kafka topics alike. Every bound below is written out by hand, not read from the code under test."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from strix_config import ModuleConfig
from strix_ingestion.topics import TopicMessage, decode_topic_batch
from strix_ingestion.validation import EventCodec, Rejection, build_codec, decode_events

# 2**32 - 1 seconds after the epoch: the largest 32-bit DateTime.
DATETIME_MAX = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=2**32 - 1)
NOW = datetime(2026, 6, 15, 12, 34, 56, tzinfo=UTC)


def module(raw: dict[str, Any] | None = None, rollups: dict[str, Any] | None = None, scale: int = 2) -> ModuleConfig:
    return ModuleConfig.model_validate(
        {
            "module": "orders",
            "event": {
                "time_field": "ts",
                "id_field": "id",
                "fields": {
                    "id": {"type": "string"},
                    "ts": {"type": "datetime"},
                    "customer": {"type": "string"},
                    "quantity": {"type": "int", "required": False, "default": 1},
                    "weight": {"type": "float", "required": False, "default": 0},
                    "amount": {"type": "decimal", "scale": scale, "required": False, "default": 0},
                    "shipped": {"type": "datetime", "required": False},
                },
            },
            "partition_by": "customer",
            "partitions": 2,
            "dimensions": {"customer": {}},
            "metrics": {"events": {"kind": "count"}, "items": {"kind": "sum", "field": "quantity"}},
            "rollups": rollups if rollups is not None else {"daily": {"granularity": "day"}},
            "raw": raw or {"keep": True},
        }
    )


@pytest.fixture(scope="module")
def forever() -> EventCodec:
    """Raw table and a daily rollup, both without retention."""
    return build_codec(module())


def order(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"id": "o1", "ts": "2026-06-15T10:00:00Z", "customer": "c1"}
    event.update(changes)
    return event


def rejections(codec: EventCodec, body: bytes, ndjson: bool = False, now: datetime | None = None) -> list[Rejection]:
    events, rejected = decode_events(codec, body, ndjson, now)
    assert events == [] or rejected == [], (events, rejected)
    return rejected


def only(codec: EventCodec, event: dict[str, Any], now: datetime | None = None) -> Rejection:
    """The one rejection of an event, the same whether sent alone, in an array or as NDJSON."""
    found = []
    for body, ndjson in ((json.dumps(event).encode(), False), (json.dumps([event]).encode(), False)):
        found.append(rejections(codec, body, ndjson, now))
    found.append(rejections(codec, json.dumps(event).encode() + b"\n", True, now))
    assert all(len(r) == 1 for r in found), found
    assert found[0] == found[1] == found[2]
    return found[0][0]


def accepted(codec: EventCodec, event: dict[str, Any], now: datetime | None = None) -> Any:
    events, rejected = decode_events(codec, json.dumps([event]).encode(), now=now)
    assert rejected == []
    [decoded] = events
    return decoded


# --- Int64 and Float64 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [2**63 - 1, -(2**63), 0])
def test_int64_bounds_are_accepted(forever: EventCodec, value: int) -> None:
    assert accepted(forever, order(quantity=value)).quantity == value


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("9223372036854775808", ["<= 9223372036854775807"]),
        ("-9223372036854775809", [">= -9223372036854775808"]),
        ("18446744073709551616", ["<= 9223372036854775807"]),
        ("1e30", ["int", "float"]),  # msgspec refuses a float for an int field
        ("1" + "0" * 5000, ["out of range"]),  # too long to parse as a number at all
    ],
)
def test_integers_an_int64_cannot_hold_are_refused(forever: EventCodec, text: str, words: list[str]) -> None:
    body = b'{"id": "o1", "ts": "2026-06-15T10:00:00Z", "customer": "c1", "quantity": ' + text.encode() + b"}"
    for payload in (body, b"[" + body + b"]"):
        [rejection] = rejections(forever, payload)
        assert (rejection.index, rejection.field) == (0, "quantity")
        for word in words:
            assert word in rejection.reason, rejection.reason


def test_config_bounds_narrow_int64_but_never_widen_it() -> None:
    config = module().model_copy(deep=True)
    fields = dict(config.event.fields)
    fields["quantity"] = fields["quantity"].model_copy(update={"min": -1e30, "max": 1e30})
    codec = build_codec(config.model_copy(update={"event": config.event.model_copy(update={"fields": fields})}))
    assert only(codec, order(quantity=2**63)).field == "quantity"
    assert accepted(codec, order(quantity=2**63 - 1)).quantity == 2**63 - 1


@pytest.mark.parametrize("text", ["1e400", "-1e400", "1e309"])
def test_floats_beyond_float64_are_refused(forever: EventCodec, text: str) -> None:
    body = b'{"id": "o1", "ts": "2026-06-15T10:00:00Z", "customer": "c1", "weight": ' + text.encode() + b"}"
    [rejection] = rejections(forever, body)
    assert rejection.field == "weight"
    assert accepted(forever, order(weight=1.7976931348623157e308)).weight == 1.7976931348623157e308


# --- Decimal(18, scale) --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scale", "largest", "refused"),
    [
        (0, "999999999999999999", "1000000000000000000"),
        (2, "9999999999999999.99", "10000000000000000"),
        (4, "99999999999999.9999", "100000000000000"),
        (9, "999999999.999999999", "1000000000"),
        (9, "-999999999.999999999", "-1000000000"),
    ],
)
def test_decimals_keep_to_the_precision_of_their_scale(scale: int, largest: str, refused: str) -> None:
    codec = build_codec(module(scale=scale))
    assert str(accepted(codec, order(amount=largest)).amount) == largest
    rejection = only(codec, order(amount=refused))
    assert rejection.field == "amount"
    assert f"1e{18 - scale}" in rejection.reason and f"Decimal(18, {scale})" in rejection.reason


@pytest.mark.parametrize("value", ["1e400", "NaN", "-Infinity", 1e300])
def test_huge_or_non_finite_decimals_are_refused(forever: EventCodec, value: Any) -> None:
    assert only(forever, order(amount=value)).field == "amount"


# --- the time range ------------------------------------------------------------------------------------------


def test_the_storable_time_range_without_retention(forever: EventCodec) -> None:
    assert accepted(forever, order(ts="1970-01-01T00:00:00Z"), NOW).ts == datetime(1970, 1, 1, tzinfo=UTC)
    last = DATETIME_MAX - timedelta(seconds=1)
    assert accepted(forever, order(ts="2106-02-07T06:28:14.999Z"), NOW).ts == last + timedelta(milliseconds=999)
    for text in ("1969-12-31T23:59:59.999Z", "2106-02-07T06:28:15Z", "2150-06-15T12:00:00Z", "1900-01-01T00:00:00Z"):
        rejection = only(forever, order(ts=text), NOW)
        assert rejection.field == "ts", text
        assert "[1970-01-01T00:00:00Z, 2106-02-07T06:28:15Z)" in rejection.reason, rejection.reason


def test_times_with_an_offset_are_compared_as_instants(forever: EventCodec) -> None:
    # 1970-01-01T00:30:00+01:00 is 1969-12-31T23:30:00Z: before the range.
    assert only(forever, order(ts="1970-01-01T00:30:00+01:00"), NOW).field == "ts"
    assert only(forever, order(ts="0001-01-01T00:00:00+01:00"), NOW).field == "ts"  # no UTC datetime exists
    assert accepted(forever, order(ts="1970-01-01T01:30:00+01:00"), NOW).ts == datetime(1970, 1, 1, 0, 30, tzinfo=UTC)


def test_the_range_ends_earlier_by_the_longest_retention() -> None:
    """TTL `toDateTime(t) + 30d` must not wrap past 2106: the last storable time moves back by 30 days."""
    codec = build_codec(module(raw={"keep": True, "retention": "30d"}, rollups={"d": {"granularity": "day"}}))
    end = DATETIME_MAX - timedelta(days=30)
    assert end == datetime(2106, 1, 8, 6, 28, 15, tzinfo=UTC)
    assert accepted(codec, order(ts="2106-01-08T06:28:14Z")).ts == end - timedelta(seconds=1)
    rejection = only(codec, order(ts="2106-01-08T06:28:15Z"))
    assert rejection.field == "ts"
    assert "[1970-01-01T00:00:00Z, 2106-01-08T06:28:15Z)" in rejection.reason
    assert "30d" in rejection.reason


def test_other_datetime_fields_keep_to_datetime64(forever: EventCodec) -> None:
    assert accepted(forever, order(shipped="2250-01-01T00:00:00Z")).shipped == datetime(2250, 1, 1, tzinfo=UTC)
    for text in ("1899-12-31T23:59:59Z", "2300-01-01T00:00:00Z"):
        rejection = only(forever, order(shipped=text))
        assert rejection.field == "shipped"
        assert "[1900-01-01T00:00:00Z, 2300-01-01T00:00:00Z)" in rejection.reason


# --- retention -----------------------------------------------------------------------------------------------


def test_an_event_no_table_keeps_is_refused_with_the_horizon() -> None:
    """Raw 30d, hourly 90d, daily 2w: the hourly rollup keeps the oldest events. At 2026-06-15T12:34:56Z its
    bucket 2026-03-17T12:00 expired at 12:00 + 90d = 2026-06-15T12:00 <= now; the 13:00 bucket is kept."""
    codec = build_codec(
        module(
            raw={"keep": True, "retention": "30d"},
            rollups={
                "hourly": {"granularity": "hour", "retention": "90d"},
                "daily": {"granularity": "day", "retention": "2w"},
            },
        )
    )
    assert accepted(codec, order(ts="2026-03-17T13:00:00Z"), NOW).ts == datetime(2026, 3, 17, 13, tzinfo=UTC)
    rejection = only(codec, order(ts="2026-03-17T12:59:59.999Z"), NOW)
    assert rejection.field == "ts"
    assert "2026-03-17T13:00:00Z" in rejection.reason and "90d" in rejection.reason
    assert only(codec, order(ts="2016-01-01T00:00:00Z"), NOW).field == "ts"
    # Without a clock (dead-letter listing, unit use) the horizon is not applied.
    assert accepted(codec, order(ts="2016-01-01T00:00:00Z")).ts.year == 2016


def test_the_raw_table_sets_the_horizon_to_the_second() -> None:
    """Raw 7d only (no rollups): kept while toDateTime(t) + 7d > now, so from 2026-06-08T12:34:57Z."""
    codec = build_codec(module(raw={"keep": True, "retention": "7d"}, rollups={}))
    assert accepted(codec, order(ts="2026-06-08T12:34:57Z"), NOW).ts == datetime(2026, 6, 8, 12, 34, 57, tzinfo=UTC)
    rejection = only(codec, order(ts="2026-06-08T12:34:56.999Z"), NOW)
    assert "2026-06-08T12:34:57Z" in rejection.reason


def test_one_table_without_retention_keeps_old_events(forever: EventCodec) -> None:
    codec = build_codec(
        module(raw={"keep": True, "retention": "30d"}, rollups={"daily": {"granularity": "day"}})  # daily forever
    )
    assert accepted(codec, order(ts="1970-01-01T00:00:00Z"), NOW).ts.year == 1970
    assert accepted(forever, order(ts="2016-01-01T00:00:00Z"), NOW).ts.year == 2016


def test_a_raw_table_not_kept_does_not_count() -> None:
    """raw.keep false: the raw table is a Null table; only the rollup's 2w decides (day buckets)."""
    codec = build_codec(module(raw={"keep": False}, rollups={"daily": {"granularity": "day", "retention": "2w"}}))
    # now - 2w = 2026-06-01T12:34:56 -> its day bucket 2026-06-01 expired at 2026-06-15T00:00 <= now.
    assert accepted(codec, order(ts="2026-06-02T00:00:00Z"), NOW).ts.day == 2
    assert "2026-06-02T00:00:00Z" in only(codec, order(ts="2026-06-01T23:59:59Z"), NOW).reason


# --- a body is checked whole first: it must refuse exactly what each event alone refuses --------------------

ONE_BAD_AMONG_MANY = [
    {"amount": "1.234"},  # three places
    {"amount": "1.230"},  # three places, the last a zero: still finer than Decimal(18, 2) is written
    {"amount": "1E-7"},  # exponent notation
    {"amount": "0E-10"},
    {"amount": "10000000000000000"},
    {"amount": "-10000000000000000"},
    {"amount": "NaN"},
    {"amount": "-Infinity"},
    {"ts": "1969-12-31T23:59:59.999Z"},
    {"ts": "2106-02-07T06:28:15Z"},
    {"ts": "1970-01-01T00:30:00+01:00"},
    {"shipped": "1899-12-31T23:59:59Z"},
    {"shipped": "2300-01-01T00:00:00Z"},
    {"quantity": 9223372036854775808},
]


@pytest.mark.parametrize("changes", ONE_BAD_AMONG_MANY, ids=lambda c: str(c))
@pytest.mark.parametrize("ndjson", [False, True], ids=["array", "ndjson"])
def test_one_bad_event_among_many_is_named_as_when_sent_alone(
    forever: EventCodec, changes: dict[str, Any], ndjson: bool
) -> None:
    """Good events on both sides of the bad one, at the bounds' edges (the whole-body check compares the
    smallest and largest values): the rejection is the one the event gets alone, at its position."""
    good = [
        order(id="a", amount="9999999999999999.99", ts="1970-01-01T00:00:00Z", shipped="1900-01-01T00:00:00Z"),
        order(id="b", amount="-9999999999999999.99", ts="2106-02-07T06:28:14.999Z", shipped="2299-12-31T23:59:59Z"),
        order(id="c", amount="1E+2", ts="2026-06-15T12:00:00+02:00"),  # 100: exponent notation, no places
    ]
    events = [*good, order(id="bad", **changes), *good]
    body = "\n".join(json.dumps(e) for e in events) if ndjson else json.dumps(events)
    decoded, rejected = decode_events(forever, body.encode(), ndjson, NOW)
    alone = only(forever, order(id="bad", **changes), NOW)
    assert rejected == [Rejection(3, alone.field, alone.reason)]
    assert [e.id for e in decoded] == ["a", "b", "c", "a", "b", "c"]


def test_a_body_of_good_events_is_accepted_whole_with_times_in_utc(forever: EventCodec) -> None:
    events = [order(id=str(i), ts=f"2026-06-15T1{i}:00:00+0{i}:00", amount=f"{i}.5") for i in range(8)]
    for ndjson in (False, True):
        body = "\n".join(json.dumps(e) for e in events) if ndjson else json.dumps(events)
        decoded, rejected = decode_events(forever, body.encode(), ndjson, NOW)
        assert rejected == []
        assert [(e.id, e.ts, str(e.amount)) for e in decoded] == [
            (str(i), datetime(2026, 6, 15, 10, tzinfo=UTC), f"{i}.5") for i in range(8)
        ]
        assert all(e.ts.tzinfo is UTC for e in decoded)


def test_ndjson_lines_hold_one_event_each(forever: EventCodec) -> None:
    """Two events on one line, or one spread over two, are refused by line, even when the counts add up."""
    line = json.dumps(order()).encode()
    spread = b'{"id": "o1", "ts": "2026-06-15T10:00:00Z",\n"customer": "c1"}'
    events, rejected = decode_events(forever, line + b"\n" + spread + b"\n" + line + b" " + line, True, NOW)
    assert len(events) == 1  # the first line; the caller decides whether to keep it
    assert [r.index for r in rejected] == [1, 2, 3]


# --- hostile bodies ------------------------------------------------------------------------------------------

VALID = json.dumps(order()).encode()


@pytest.mark.parametrize(
    ("body", "ndjson", "words"),
    [
        (b"", False, ["empty"]),
        (b"  \n\t ", False, ["empty"]),
        (b"", True, ["no events"]),
        (b"[]", False, ["no events"]),
        (b'"hello"', False, ["a string"]),
        (b"42", False, ["a number"]),
        (b"null", False, ["null"]),
        (b"true", False, ["a boolean"]),
        (b"<xml/>", False, ["no JSON"]),
        (b"[" * 10_000 + b"]" * 10_000, False, ["nests"]),
        (b"[" + b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"]", False, ["nests"]),
        (b'{"id": "o\xff1", "ts": "2026-06-15T10:00:00Z", "customer": "c1"}', False, ["UTF-8"]),
        (b'[{"id": "o\xff1", "ts": "2026-06-15T10:00:00Z", "customer": "c1"}]', False, ["UTF-8"]),
        (b'{"id": "o\xc3\x281", "ts": "2026-06-15T10:00:00Z", "customer": "c1"}\n', True, ["UTF-8"]),
        (b'{"id": "o1", "ts": ', False, ["JSON"]),
    ],
)
def test_hostile_bodies_are_rejections_naming_the_problem(
    forever: EventCodec, body: bytes, ndjson: bool, words: list[str]
) -> None:
    [rejection] = rejections(forever, body, ndjson)
    assert rejection.index == 0
    for word in words:
        assert word in rejection.reason, rejection.reason


def test_deep_nesting_inside_an_event_names_the_event(forever: EventCodec) -> None:
    deep = b'{"id": "o1", "ts": "2026-06-15T10:00:00Z", "customer": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    events, rejected = decode_events(forever, VALID + b"\n" + deep + b"\n" + VALID, ndjson=True)
    assert len(events) == 2
    assert [(r.index, r.field) for r in rejected] == [(1, "customer")]


# --- Kafka topics: the same checks, dead letters instead of exceptions ---------------------------------------


def test_poison_records_from_a_topic_become_dead_letters(forever: EventCodec) -> None:
    values = [
        VALID,
        b"[" * 10_000 + b"]" * 10_000,
        b'{"id": "o\xff1", "ts": "2026-06-15T10:00:00Z", "customer": "c1"}',
        b'{"id": "o1", "ts": "2026-06-15T10:00:00Z", "customer": "c1", "quantity": 9223372036854775808}',
        b'{"id": "o1", "ts": "2026-06-15T10:00:00Z", "customer": "c1", "quantity": 1' + b"0" * 5000 + b"}",
        b'{"id": "o1", "ts": "2150-06-15T12:00:00Z", "customer": "c1"}',
        json.dumps(order(id="x" * 5000)).encode(),
        b"",
    ]
    messages = [TopicMessage("orders", 0, offset, value) for offset, value in enumerate(values)]
    for mapping in ({}, {"client": "customer"}):
        batch = decode_topic_batch(forever, messages, mapping, ndjson=False, now=NOW, max_event_bytes=4000)
        assert [e.id for e in batch.events] == ["o1"]
        dead = {letter.offset: letter for letter in batch.dead}
        assert sorted(dead) == [1, 2, 3, 4, 5, 6, 7], mapping
        assert dead[3].field == "quantity" and "9223372036854775807" in dead[3].reason
        assert "out of range" in dead[4].reason
        if not mapping:  # renaming reads the JSON first: the number fails before any field is known
            assert dead[4].field == "quantity"
        assert dead[5].field == "ts" and "2106-02-07T06:28:15Z" in dead[5].reason
        assert "4000" in dead[6].reason
        assert all(letter.reason for letter in batch.dead)


def test_a_dead_letter_always_fits_a_nats_message() -> None:
    """A reason may quote the event (line breaks break NATS headers); a payload may pass the max payload."""
    from strix_contracts.deadletters import DeadLetter
    from strix_ingestion.kafka_source import _sendable

    letter = DeadLetter(b"x" * 10_000, "Invalid enum value 'a\r\nb'", "f\nx", "kafka", "t", 0, 5, 0)
    sent = _sendable(letter, 4096)
    assert "\n" not in sent.reason and "\r" not in sent.reason and sent.field == "f x"
    assert len(sent.payload) + len(sent.reason) + 1024 <= 4096
    assert "cut to its first" in sent.reason and "10000 bytes" in sent.reason
    assert _sendable(DeadLetter(b"{}", "bad", None, "kafka"), 4096) == DeadLetter(b"{}", "bad", None, "kafka")
