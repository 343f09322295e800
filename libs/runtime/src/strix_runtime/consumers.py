"""The rollup's partition consumers, declared in one place: ingestion creates them too.

The event streams keep a message only while a consumer still has to read it (interest retention), so a consumer
must exist before the first event is stored: otherwise an event sent before rollup ever ran would be dropped.
Ingestion creates missing consumers with these defaults; rollup creates or updates them with its settings.
Each consumer belongs to a priority group with the pinned_client policy, so with several rollup replicas one
reads each partition and another takes over after `priority_timeout` without pulls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS

from strix_contracts.subjects import event_stream, event_subject, rollup_consumer

GROUP = "rollup"
_NANOS = 1_000_000_000
_ALREADY_EXISTS = 10148


@dataclass(frozen=True)
class PinnedConsumerConfig:
    stream: str
    name: str
    filter_subject: str
    ack_wait: float = 30.0
    priority_timeout: float = 5.0


def partition_consumer(
    module: str, partition: int, ack_wait: float = 30.0, priority_timeout: float = 5.0
) -> PinnedConsumerConfig:
    return PinnedConsumerConfig(
        stream=event_stream(module),
        name=rollup_consumer(module, partition),
        filter_subject=event_subject(module, partition),
        ack_wait=ack_wait,
        priority_timeout=priority_timeout,
    )


class ConsumerError(RuntimeError):
    pass


async def ensure_pinned_consumer(nc: NATS, config: PinnedConsumerConfig, update: bool = True) -> None:
    """Create the durable consumer; with `update`, also bring an existing one to this configuration."""
    body: dict[str, object] = {
        "stream_name": config.stream,
        "config": {
            "durable_name": config.name,
            "ack_policy": "explicit",  # re-deliveries come out of order: see strix_rollup.boundaries
            "ack_wait": int(config.ack_wait * _NANOS),
            "deliver_policy": "all",
            "filter_subject": config.filter_subject,
            "max_ack_pending": -1,
            "priority_groups": [GROUP],
            "priority_policy": "pinned_client",
            "priority_timeout": int(config.priority_timeout * _NANOS),
        },
    }
    if not update:
        body["action"] = "create"
    subject = f"$JS.API.CONSUMER.CREATE.{config.stream}.{config.name}.{config.filter_subject}"
    reply = await nc.request(subject, json.dumps(body).encode(), timeout=10)
    answer = json.loads(reply.data)
    error = answer.get("error")
    if error and not (not update and error.get("err_code") == _ALREADY_EXISTS):
        raise ConsumerError(f"cannot create consumer {config.name}: {error.get('description')}")


async def consumer_info(nc: NATS, config: PinnedConsumerConfig) -> dict[str, Any]:
    """The server's view of a partition consumer: pending and unacked counts, ack floor, pinned client."""
    reply = await nc.request(f"$JS.API.CONSUMER.INFO.{config.stream}.{config.name}", b"", timeout=5)
    answer: dict[str, Any] = json.loads(reply.data)
    error = answer.get("error")
    if error:
        raise ConsumerError(f"no info for consumer {config.name}: {error.get('description')}")
    return answer


async def first_waiting_time(nc: NATS, config: PinnedConsumerConfig, after: int) -> str | None:
    """When the first message of the partition after stream sequence `after` (its ack floor) was stored, as the
    server writes it (RFC 3339, nanoseconds); None when there is none."""
    body = json.dumps({"seq": after + 1, "next_by_subj": config.filter_subject}).encode()
    reply = await nc.request(f"$JS.API.STREAM.MSG.GET.{config.stream}", body, timeout=5)
    message = json.loads(reply.data).get("message")
    return str(message["time"]) if isinstance(message, dict) and "time" in message else None
