"""Kafka messages to validated events and dead letters: plain functions, no broker in sight.

A batch is a run of consecutive offsets of one topic partition. Its boundaries are recorded before anything is
published (see kafka_source.py), so after a crash the same offsets form the same batch, the same JetStream
message ids, and JetStream drops what it already stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from strix_contracts.deadletters import DeadLetter
from strix_ingestion.batches import encoded_size, event_size
from strix_ingestion.validation import EventCodec, decode_body

# What a poison message can make msgspec raise while it is renamed or split (not only DecodeError: an integer of
# 5000 digits is a ValidationError, invalid UTF-8 a UnicodeDecodeError, deep nesting a RecursionError).
_POISON = (msgspec.MsgspecError, UnicodeDecodeError, RecursionError, ValueError)


@dataclass(frozen=True)
class TopicMessage:
    """What ingestion needs of one Kafka message."""

    topic: str
    partition: int
    offset: int
    value: bytes


@dataclass(frozen=True)
class TopicBatch:
    events: list[Any]
    dead: list[DeadLetter]


def plan_offsets(offsets: list[int], recorded: tuple[int, int] | None, max_messages: int) -> int:
    """How many buffered messages (ascending offsets) form the next batch; 0 to wait for more. A recorded batch
    starting at the first buffered offset is re-formed exactly; it is complete once its last offset is here."""
    if not offsets:
        return 0
    if recorded is not None and recorded[0] == offsets[0]:
        inside = sum(1 for o in offsets if o <= recorded[1])
        return inside if offsets[inside - 1] == recorded[1] else 0
    return min(len(offsets), max_messages)


# The first poll asks for this many messages; each poll that brings any asks for four times more, up to the
# pump's largest batch. A whole first poll (500 messages) made the first batch, and so the first event counted,
# wait until all of them were validated, stored and inserted.
FIRST_POLL = 16


def next_poll(size: int, largest: int) -> int:
    """Messages the next poll asks for after one of `size` brought messages (0: the first poll)."""
    return min(largest, FIRST_POLL if size == 0 else size * 4)


def _renamed(value: bytes, mapping: dict[str, str], ndjson: bool) -> bytes:
    """Apply the source's field mapping (source name -> event field) before validation."""
    if not mapping:
        return value

    def rename(item: Any) -> Any:
        if isinstance(item, dict):
            return {mapping.get(k, k): v for k, v in item.items()}
        return item

    if ndjson:
        lines = [msgspec.json.encode(rename(msgspec.json.decode(line))) for line in value.splitlines() if line.strip()]
        return b"\n".join(lines)
    decoded = msgspec.json.decode(value)
    return msgspec.json.encode([rename(i) for i in decoded] if isinstance(decoded, list) else rename(decoded))


def _split(value: bytes, ndjson: bool) -> list[bytes]:
    """One Kafka message's events as separate byte strings, so a dead letter holds just the bad event."""
    if ndjson:
        return [line for line in value.splitlines() if line.strip()]
    try:
        decoded = msgspec.json.decode(value)
    except _POISON:
        return [value]
    return [msgspec.json.encode(i) for i in decoded] if isinstance(decoded, list) else [value]


def decode_topic_batch(
    codec: EventCodec,
    messages: list[TopicMessage],
    mapping: dict[str, str],
    ndjson: bool,
    now: datetime | None = None,
    max_event_bytes: int | None = None,
) -> TopicBatch:
    """Validate every event of every message; invalid ones become dead letters with their reason and origin,
    as do events too large for a JetStream message on their own (`max_event_bytes`)."""
    events: list[Any] = []
    dead: list[DeadLetter] = []
    for message in messages:
        try:
            value = _renamed(message.value, mapping, ndjson)
        except _POISON as exc:
            dead.append(
                DeadLetter(
                    message.value,
                    f"not readable as JSON: {exc}",
                    None,
                    "kafka",
                    message.topic,
                    message.partition,
                    message.offset,
                    0,
                )
            )
            continue
        decoded = decode_body(codec, value, ndjson=ndjson, now=now)
        problems: dict[int, tuple[str, str | None]] = {}
        for rejection in decoded.rejections:
            problems.setdefault(rejection.index, (rejection.reason, rejection.field))
        # Each event fits a message alone when all of them together do (one encoding instead of one per event).
        every_fits = max_event_bytes is None or encoded_size(decoded.events) <= max_event_bytes
        for event, index in zip(decoded.events, decoded.positions, strict=True):
            size = 0 if every_fits else event_size(event)
            if max_event_bytes is not None and size > max_event_bytes:
                problems[index] = (f"Event is {size} bytes encoded; a message holds at most {max_event_bytes}", None)
            else:
                events.append(event)  # the valid neighbours of a bad event are kept
        if not problems:
            continue
        parts = _split(value, ndjson)
        for index, (reason, field) in sorted(problems.items()):
            part = parts[index] if index < len(parts) else value
            dead.append(
                DeadLetter(part, reason, field, "kafka", message.topic, message.partition, message.offset, index)
            )
    return TopicBatch(events, dead)
