"""A request's messages go to JetStream as one atomic batch, on a real nats-server: all stored or none, a re-sent
request recognised by its message ids, and the Idempotency-Key ledger replaying, refusing (409) or re-driving
a claim a crashed process left behind. Counts are read back from the stream itself."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client as NATS
from nats.js.api import StreamConfig
from nats.js.kv import KeyValue

from strix_config import ModuleConfig
from strix_contracts.errors import Conflict, Unavailable
from strix_contracts.subjects import event_stream
from strix_ingestion.batches import OutgoingMessage, build_messages
from strix_ingestion.publisher import EventPublisher, open_ledger, publish_request
from strix_ingestion.receipts import (
    PENDING_TIMEOUT,
    LedgerEntry,
    Receipt,
    encode_entry,
    ledger_key,
    request_digest,
)
from strix_ingestion.validation import build_codec, decode_events
from strix_runtime.consumers import ensure_pinned_consumer, partition_consumer
from strix_runtime.natsserver import NatsServer
from strix_runtime.streams import ensure_event_stream, event_stream_config

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
CONFIG = ModuleConfig.model_validate(
    {
        "module": "orders",
        "event": {
            "time_field": "ts",
            "id_field": "id",
            "fields": {"id": {"type": "string"}, "ts": {"type": "datetime"}, "customer": {"type": "string"}},
        },
        "partition_by": "customer",
        "partitions": 4,
        "dimensions": {"customer": {}},
        "metrics": {"events": {"kind": "count"}},
    }
)
CODEC = build_codec(CONFIG)


@pytest_asyncio.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[NATS]:
    connection = await nats.connect(nats_server.url)
    await ensure_event_stream(connection.jetstream(), "orders")
    for partition in range(CONFIG.partitions):  # interest retention: the stream keeps events for its consumers
        await ensure_pinned_consumer(connection, partition_consumer("orders", partition), update=False)
    try:
        yield connection
    finally:
        await connection.close()


@pytest_asyncio.fixture
async def ledger(nc: NATS) -> KeyValue:
    return await open_ledger(nc)


def body(n: int, first: int = 0) -> bytes:
    return json.dumps(
        [{"id": f"o{first + i}", "ts": "2026-06-15T10:00:00Z", "customer": f"c{(first + i) % 7}"} for i in range(n)]
    ).encode()


def messages_of(payload: bytes, key: str | None, max_bytes: int = 1_000_000) -> list[OutgoingMessage]:
    events, rejected = decode_events(CODEC, payload)
    assert rejected == []
    return build_messages(CONFIG, events, key, max_bytes)


async def stored(nc: NATS) -> tuple[int, int]:
    """(messages, events) the stream holds, read back from JetStream."""
    js = nc.jetstream()
    info = await js.stream_info(event_stream("orders"))
    if info.state.messages == 0:
        return 0, 0
    events = 0
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg(event_stream("orders"), sequence)
        events += len(json.loads(message.data or b"[]"))
    return info.state.messages, events


def receipt(n: int) -> Receipt:
    return Receipt("orders", n, False, [])


async def test_streams_allow_atomic_batches_even_when_made_before(nc: NATS) -> None:
    js = nc.jetstream()
    assert (await js.stream_info(event_stream("orders"))).config.allow_atomic is True
    old: StreamConfig = event_stream_config("legacy").evolve(allow_atomic=None)
    await js.add_stream(old)
    assert not (await js.stream_info(event_stream("legacy"))).config.allow_atomic
    await ensure_event_stream(js, "legacy")
    assert (await js.stream_info(event_stream("legacy"))).config.allow_atomic is True


async def test_a_batch_is_stored_whole_and_a_resent_one_is_known(nc: NATS) -> None:
    publisher = EventPublisher(nc)
    messages = messages_of(body(300), None, max_bytes=2000)  # many small messages over four partitions
    assert len(messages) > 8
    assert await publisher.publish_batch(messages) is False
    assert await stored(nc) == (len(messages), 300)
    assert await publisher.publish_batch(messages_of(body(300), None, max_bytes=2000)) is True
    assert await stored(nc) == (len(messages), 300)
    # A request sharing events (and even whole messages) with the first is another request: stored.
    assert await publisher.publish_batch(messages_of(body(301), None, max_bytes=2000)) is False
    assert (await stored(nc))[1] == 601


async def test_a_batch_the_stream_cannot_take_stores_nothing(nc: NATS) -> None:
    """The stream fills up in the middle of a batch: not one message of it is kept."""
    js = nc.jetstream()
    await ensure_event_stream(js, "orders", max_bytes=6000)
    publisher = EventPublisher(nc)
    messages = messages_of(body(200), None, max_bytes=1000)
    assert sum(len(m.payload) for m in messages) > 6000
    with pytest.raises(Unavailable) as caught:
        await publisher.publish_batch(messages)
    assert "maximum bytes" in caught.value.message
    assert await stored(nc) == (0, 0)
    assert await publisher.publish_batch(messages[:2]) is False  # what fits still goes in
    assert (await stored(nc))[0] == 2


async def test_a_reused_key_replays_or_conflicts_and_stores_nothing_more(nc: NATS, ledger: KeyValue) -> None:
    publisher = EventPublisher(nc)
    first = body(40)
    digest = request_digest("orders", first, False, False)
    answer = await publish_request(
        publisher, ledger, "order-7", digest, messages_of(first, "order-7"), receipt(40), NOW
    )
    assert (answer.status, answer.replayed) == (200, False)
    assert answer.body == {"module": "orders", "accepted": 40, "stored": 40, "already_stored": 0, "rejected": []}
    held = await stored(nc)
    assert held[1] == 40

    again = await publish_request(
        publisher, ledger, "order-7", digest, messages_of(first, "order-7"), receipt(40), NOW + timedelta(hours=1)
    )
    assert again.replayed and again.body == answer.body and again.status == 200
    assert await stored(nc) == held

    other = body(40, first=1)
    with pytest.raises(Conflict) as caught:
        await publish_request(
            publisher,
            ledger,
            "order-7",
            request_digest("orders", other, False, False),
            messages_of(other, "order-7"),
            receipt(40),
            NOW,
        )
    assert caught.value.status == 409 and caught.value.argument == "Idempotency-Key"
    assert await stored(nc) == held


async def _claim(ledger: KeyValue, key: str, digest: str, state: Any, since: datetime) -> None:
    await ledger.create(ledger_key(key), encode_entry(LedgerEntry(digest, state, since)))


async def test_a_claim_in_progress_asks_for_a_retry(nc: NATS, ledger: KeyValue) -> None:
    payload = body(10)
    digest = request_digest("orders", payload, False, False)
    await _claim(ledger, "busy", digest, "pending", NOW - PENDING_TIMEOUT / 2)
    with pytest.raises(Unavailable):
        await publish_request(
            EventPublisher(nc), ledger, "busy", digest, messages_of(payload, "busy"), receipt(10), NOW
        )
    assert await stored(nc) == (0, 0)


async def test_a_claim_left_by_a_crash_before_publishing_is_re_driven(nc: NATS, ledger: KeyValue) -> None:
    payload = body(10)
    digest = request_digest("orders", payload, False, False)
    await _claim(ledger, "crashed", digest, "pending", NOW - PENDING_TIMEOUT)
    answer = await publish_request(
        EventPublisher(nc), ledger, "crashed", digest, messages_of(payload, "crashed"), receipt(10), NOW
    )
    assert answer.body["stored"] == 10 and not answer.replayed
    assert (await stored(nc))[1] == 10


async def test_a_claim_left_by_a_crash_after_publishing_stores_nothing_twice(nc: NATS, ledger: KeyValue) -> None:
    payload = body(10)
    digest = request_digest("orders", payload, False, False)
    publisher = EventPublisher(nc)
    await _claim(ledger, "late", digest, "pending", NOW - PENDING_TIMEOUT)
    assert await publisher.publish_batch(messages_of(payload, "late")) is False  # then the process died
    answer = await publish_request(publisher, ledger, "late", digest, messages_of(payload, "late"), receipt(10), NOW)
    assert answer.body == {"module": "orders", "accepted": 10, "stored": 0, "already_stored": 10, "rejected": []}
    assert (await stored(nc))[1] == 10
    replay = await publish_request(publisher, ledger, "late", digest, messages_of(payload, "late"), receipt(10), NOW)
    assert replay.replayed and replay.body == answer.body


async def test_a_failed_attempt_is_retried_at_once(nc: NATS, ledger: KeyValue) -> None:
    js = nc.jetstream()
    await ensure_event_stream(js, "orders", max_bytes=500)
    payload = body(30)
    digest = request_digest("orders", payload, False, False)
    publisher = EventPublisher(nc)
    with pytest.raises(Unavailable):
        await publish_request(publisher, ledger, "full", digest, messages_of(payload, "full"), receipt(30), NOW)
    assert await stored(nc) == (0, 0)
    await ensure_event_stream(js, "orders", max_bytes=10**6)
    answer = await publish_request(publisher, ledger, "full", digest, messages_of(payload, "full"), receipt(30), NOW)
    assert answer.body["stored"] == 30
    assert (await stored(nc))[1] == 30
