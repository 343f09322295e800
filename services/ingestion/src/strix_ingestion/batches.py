"""Cut accepted events into JetStream messages: grouped by partition, bounded in size, with stable ids."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import msgspec

from strix_config import ModuleConfig
from strix_contracts.subjects import event_subject, partition_of

# 500-event messages publish at ~1.4 M events/s; single-event messages at 19 k/s (measured).
EVENTS_PER_MESSAGE = 500

_encoder = msgspec.json.Encoder(decimal_format="string")


@dataclass(frozen=True)
class OutgoingMessage:
    subject: str
    payload: bytes
    msg_id: str
    events: int


def partition_events(config: ModuleConfig, events: list[Any]) -> dict[int, list[Any]]:
    by_partition: dict[int, list[Any]] = defaultdict(list)
    for event in events:
        by_partition[partition_of(getattr(event, config.partition_by), config.partitions)].append(event)
    return dict(by_partition)


def build_messages(config: ModuleConfig, events: list[Any], idempotency_key: str | None) -> list[OutgoingMessage]:
    """Messages for one request. The message id makes a re-sent request a no-op in JetStream:
    the caller's Idempotency-Key when given, else a content hash when events carry their own ids,
    else a fresh id (distinct requests without ids are never merged)."""
    request_id = idempotency_key or (None if config.event.id_field else uuid.uuid4().hex)
    messages = []
    for partition, chunk_events in sorted(partition_events(config, events).items()):
        for start in range(0, len(chunk_events), EVENTS_PER_MESSAGE):
            chunk = chunk_events[start : start + EVENTS_PER_MESSAGE]
            payload = _encoder.encode(chunk)
            if request_id is None:
                msg_id = "sha256:" + hashlib.sha256(payload).hexdigest()
            else:
                msg_id = f"{request_id}:{partition}:{start // EVENTS_PER_MESSAGE}"
            messages.append(
                OutgoingMessage(
                    event_subject(config.module, partition), payload, f"{config.module}:{msg_id}", len(chunk)
                )
            )
    return messages
