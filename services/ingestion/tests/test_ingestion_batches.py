"""Cutting accepted events into JetStream messages: one subject per partition (so one customer's events stay in
order on one partition), at most 500 events and at most the server's payload a message, and message ids that
make a re-sent request a no-op."""

from __future__ import annotations

import json
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from strix_config import ModuleConfig
from strix_config.loader import read_module
from strix_ingestion.batches import (
    EVENTS_PER_MESSAGE,
    MAX_BATCH_MESSAGES,
    EventTooLarge,
    OutgoingMessage,
    RequestTooLarge,
    build_messages,
    event_size,
    payload_limit,
    request_messages,
)
from strix_ingestion.validation import EventCodec, build_codec, decode_events

REPO = Path(__file__).resolve().parents[3]
LIMIT = payload_limit(8 * 1024 * 1024)  # the max payload of Strix's own NATS server


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


def click_events(codec: EventCodec, customers: list[str], first: int = 0) -> list[Any]:
    raw = [
        {
            "event_id": f"e{first + i}",
            "ts": "2026-03-10T10:15:00Z",
            "customer_id": customer,
            "session_id": "s",
            "action": "view",
            "product_group": "shoes",
            "product_id": "p1",
            "country": "DE",
            "price": "9.90",
        }
        for i, customer in enumerate(customers)
    ]
    events, rejections = decode_events(codec, json.dumps(raw).encode())
    assert rejections == []
    return events


def trip_events(codec: EventCodec, vehicles: list[str]) -> list[Any]:
    raw = [
        {
            "finished_at": "2026-03-10T10:15:00Z",
            "vehicle_id": vehicle,
            "depot": "north",
            "fuel_type": "diesel",
            "zone": 1,
            "distance_km": 5.0,
            "load_kg": 10,
            "on_time": True,
        }
        for vehicle in vehicles
    ]
    events, rejections = decode_events(codec, json.dumps(raw).encode())
    assert rejections == []
    return events


def crc_partition(value: str, partitions: int) -> int:
    """The documented partitioning, computed here on its own: CRC-32 of the value's UTF-8 text."""
    return zlib.crc32(value.encode("utf-8")) % partitions


def decoded(codec: EventCodec, message: OutgoingMessage) -> list[Any]:
    return list(codec.many.decode(message.payload))


CUSTOMERS = [f"customer-{i}" for i in range(12)]


def test_events_are_grouped_by_partition_and_keep_their_order(clicks: EventCodec) -> None:
    config = clicks.config
    customers = [CUSTOMERS[i % len(CUSTOMERS)] for i in range(60)]
    events = click_events(clicks, customers)
    messages = build_messages(config, events, "req-1", LIMIT)

    assert len({m.subject for m in messages}) > 1  # twelve customers spread over several partitions
    by_partition: dict[int, list[Any]] = defaultdict(list)
    for message in messages:
        contents = decoded(clicks, message)
        assert message.events == len(contents)
        partitions = {crc_partition(e.customer_id, config.partitions) for e in contents}
        assert len(partitions) == 1
        [partition] = partitions
        assert message.subject == f"events.clickstream.{partition}"
        by_partition[partition].extend(contents)

    assert sum(m.events for m in messages) == len(events)
    for partition, contents in by_partition.items():
        expected = [e for e in events if crc_partition(e.customer_id, config.partitions) == partition]
        assert contents == expected  # same events, same order, nothing lost or repeated


def test_one_customer_always_lands_on_one_subject(clicks: EventCodec) -> None:
    config = clicks.config
    subjects: dict[str, set[str]] = defaultdict(set)
    for request in range(5):
        events = click_events(clicks, CUSTOMERS[request:] + CUSTOMERS[:request], first=100 * request)
        for message in build_messages(config, events, f"req-{request}", LIMIT):
            for event in decoded(clicks, message):
                subjects[event.customer_id].add(message.subject)
    assert set(subjects) == set(CUSTOMERS)
    assert all(len(s) == 1 for s in subjects.values()), subjects


def test_messages_hold_at_most_500_events(clicks: EventCodec) -> None:
    assert EVENTS_PER_MESSAGE == 500
    events = click_events(clicks, ["big-spender"] * 1201)
    messages = build_messages(clicks.config, events, "bulk", LIMIT)
    assert [m.events for m in messages] == [500, 500, 201]
    assert len({m.subject for m in messages}) == 1
    assert [e for m in messages for e in decoded(clicks, m)] == events
    assert len({m.msg_id for m in messages}) == 3


def test_exactly_500_events_make_one_message(clicks: EventCodec) -> None:
    messages = build_messages(clicks.config, click_events(clicks, ["one"] * 500), "k", LIMIT)
    assert [m.events for m in messages] == [500]


def test_same_idempotency_key_gives_same_message_ids(clicks: EventCodec) -> None:
    events = click_events(clicks, CUSTOMERS * 50)
    first = build_messages(clicks.config, events, "order-42", LIMIT)
    again = build_messages(clicks.config, events, "order-42", LIMIT)
    other = build_messages(clicks.config, events, "order-43", LIMIT)
    assert [m.msg_id for m in first] == [m.msg_id for m in again]
    assert len({m.msg_id for m in first}) == len(first)  # distinct within a request
    assert not {m.msg_id for m in first} & {m.msg_id for m in other}
    assert all(m.msg_id.startswith("clickstream:") for m in first)


def test_without_a_key_ids_hash_the_request_when_events_carry_ids(clicks: EventCodec) -> None:
    """The request is the unit of de-duplication in the stream: the same events re-sent give the same ids (the
    stream refuses the batch as seen), any other request other ids — never a batch the stream half knows."""
    events = click_events(clicks, CUSTOMERS * 3)
    first = build_messages(clicks.config, events, None, LIMIT)
    again = build_messages(clicks.config, click_events(clicks, CUSTOMERS * 3), None, LIMIT)
    assert [m.msg_id for m in first] == [m.msg_id for m in again]
    assert all(m.msg_id.startswith("clickstream:") for m in first)
    assert len({m.msg_id for m in first}) == len(first)

    changed = click_events(clicks, CUSTOMERS * 3)
    changed[0] = click_events(clicks, [CUSTOMERS[0]], first=999)[0]  # one event with another id
    ids = {m.msg_id for m in build_messages(clicks.config, changed, None, LIMIT)}
    assert not ids & {m.msg_id for m in first}

    # A request holding a message of an earlier request is still another request.
    partition = crc_partition(CUSTOMERS[0], clicks.config.partitions)
    subset = [e for e in events if crc_partition(e.customer_id, clicks.config.partitions) == partition]
    alone = build_messages(clicks.config, subset, None, LIMIT)
    assert len(alone) == 1
    assert alone[0].payload in {m.payload for m in first}
    assert alone[0].msg_id not in {m.msg_id for m in first}


def test_without_a_key_or_event_ids_each_request_is_distinct(fleet: EventCodec) -> None:
    assert fleet.config.event.id_field is None
    events = trip_events(fleet, ["v1", "v2", "v3", "v4"])
    first = {m.msg_id for m in build_messages(fleet.config, events, None, LIMIT)}
    again = {m.msg_id for m in build_messages(fleet.config, events, None, LIMIT)}
    assert first
    assert not first & again  # identical trips sent twice are two sets of trips

    keyed = build_messages(fleet.config, events, "batch-7", LIMIT)
    assert [m.msg_id for m in keyed] == [m.msg_id for m in build_messages(fleet.config, events, "batch-7", LIMIT)]
    assert all(m.subject.startswith("events.fleet.") for m in keyed)


def test_payload_carries_decimals_as_strings_and_times_in_utc(clicks: EventCodec) -> None:
    events = click_events(clicks, ["c"])
    [message] = build_messages(clicks.config, events, "k", LIMIT)
    [event] = json.loads(message.payload)
    assert event["price"] == "9.90"
    assert event["ts"] in ("2026-03-10T10:15:00Z", "2026-03-10T10:15:00+00:00")
    assert event["device"] == "desktop"  # defaults are filled in before publishing


def test_no_events_make_no_messages(clicks: EventCodec) -> None:
    assert build_messages(clicks.config, [], "k", LIMIT) == []


def test_messages_are_cut_by_bytes_as_well_as_by_count(clicks: EventCodec) -> None:
    events = click_events(clicks, ["big-spender"] * 300)
    one = len(json.dumps(json.loads(build_messages(clicks.config, events[:1], "k", LIMIT)[0].payload)[0]).encode())
    limit = 10 * one  # room for about ten events a message
    messages = build_messages(clicks.config, events, "k", limit)
    assert all(len(m.payload) <= limit for m in messages)
    assert all(m.events >= 5 for m in messages[:-1])  # packed, not one event a message
    assert len(messages) >= 30
    assert [e for m in messages for e in decoded(clicks, m)] == events
    assert sum(m.events for m in messages) == 300
    assert len({m.msg_id for m in messages}) == len(messages)


def test_an_event_larger_than_a_message_is_named_by_its_position_in_the_body(clicks: EventCodec) -> None:
    raw = [
        {
            "event_id": f"e{i}",
            "ts": "2026-03-10T10:15:00Z",
            "customer_id": "c" if i != 7 else "c7",
            "session_id": "s" * (5000 if i == 7 else 1),
            "action": "view",
            "product_group": "shoes",
            "product_id": "p1",
            "country": "DE",
            "price": "9.90",
        }
        for i in range(10)
    ]
    events, rejections = decode_events(clicks, json.dumps(raw).encode())
    assert rejections == []
    kept = [e for i, e in enumerate(events) if i != 3]  # as if event 3 had been rejected (partial=true)
    positions = [i for i in range(10) if i != 3]
    with pytest.raises(EventTooLarge) as caught:
        build_messages(clicks.config, kept, "k", 4000, positions)
    assert caught.value.index == 7
    assert caught.value.limit == 4000
    assert caught.value.size > 5000
    assert "event 7" in caught.value.message


def test_a_request_needing_more_messages_than_one_atomic_batch_is_refused(clicks: EventCodec) -> None:
    events = click_events(clicks, ["one"] * 1001)
    one = max(event_size(e) for e in events)  # a message holds one event
    assert len(request_messages(clicks.config, events[:1000], "k", one, list(range(1000)))) == MAX_BATCH_MESSAGES
    with pytest.raises(RequestTooLarge) as caught:
        request_messages(clicks.config, events, "k", one, list(range(1001)))
    assert caught.value.index is None
    assert "1001 messages" in caught.value.message and "at most 1000" in caught.value.message
