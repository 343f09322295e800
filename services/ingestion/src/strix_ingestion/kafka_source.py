"""Consume a module's Kafka/Redpanda topics: validate, append to JetStream, and only then commit offsets.

Per topic partition, a batch of consecutive offsets is formed; its boundaries go to the KV bucket
`strix_kafka_batches` before anything is published, so after a crash (offsets not committed) the same offsets
form the same batch and the same JetStream message ids: JetStream drops what it had stored. Invalid events go
to the module's dead-letter stream with the reason, topic, partition and offset. confluent-kafka is blocking,
so its calls run in a worker thread; callbacks only touch plain dicts.

Group membership uses the KIP-848 consumer protocol (`group.protocol=consumer`, Apache Kafka 4.x with
librdkafka >= 2.4): partitions come in one heartbeat, with no join/sync round and no stop-the-world rebalance;
from a started platform to the first event counted 1.7 s instead of 6.1 s with the classic protocol (measured with
the pipeline bench). Its session timeout is the broker's (`group.consumer.session.timeout.ms`, 45 s by default),
so a crashed process's partitions move after that long; a clean stop leaves the group at once. A broker that
does not speak the protocol (Kafka before 4.0, or one that answers it as unsupported) gets the classic protocol
with a 6 s session instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from prometheus_client import Counter

from strix_config import ModuleConfig
from strix_config.model import KafkaSource
from strix_contracts.deadletters import DeadLetter
from strix_contracts.errors import StrixError
from strix_contracts.subjects import dead_letter_subject
from strix_ingestion.batches import HEADER_ALLOWANCE, build_messages
from strix_ingestion.publisher import EventPublisher
from strix_ingestion.topics import TopicMessage, decode_topic_batch, next_poll, plan_offsets
from strix_ingestion.validation import EventCodec
from strix_runtime.buckets import key_value
from strix_runtime.logs import get_logger

log = get_logger("ingestion")

BUCKET = "strix_kafka_batches"
TOPIC_EVENTS = Counter("strix_ingestion_topic_events", "Events stored from Kafka topics", ["module", "topic"])
DEAD_LETTERS = Counter("strix_ingestion_dead_letters", "Events dead-lettered", ["module"])
# Where a topic pump's time goes: `poll` (Kafka), `validate`, `publish` (JetStream), `commit` (offsets, records).
TOPIC_STAGE_SECONDS = Counter(
    "strix_ingestion_topic_stage_seconds", "Seconds a topic pump spends per stage", ["module", "stage"]
)


# What librdkafka reports when the broker lacks the consumer group protocol's API (checked against Kafka 4.4
# serving only `classic`: a fatal error naming ConsumerGroupHeartbeat, "API version not supported").
_UNSUPPORTED = frozenset({KafkaError.UNSUPPORTED_VERSION, KafkaError._UNSUPPORTED_FEATURE})


def consumer_protocol_refused(error: KafkaError) -> bool:
    fatal = error.code() == KafkaError._FATAL or error.fatal()
    return error.code() in _UNSUPPORTED or (fatal and "ConsumerGroupHeartbeat" in error.str())


class _Timer:
    def __init__(self, module: str) -> None:
        self.module = module
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        TOPIC_STAGE_SECONDS.labels(self.module, stage).inc(now - self.last)
        self.last = now


async def open_bucket(nc: NATS) -> KeyValue:
    return await key_value(nc.jetstream(), BUCKET, "Kafka batch boundaries")


@dataclass
class TopicPump:
    nc: NATS
    kv: KeyValue
    config: ModuleConfig
    codec: EventCodec
    source: KafkaSource
    max_messages: int = 500
    buffers: dict[int, list[TopicMessage]] = field(default_factory=lambda: defaultdict(list))
    recorded: dict[int, tuple[int, int] | None] = field(default_factory=dict)
    stored_events: int = 0
    protocol: str = "consumer"  # the group protocol; "classic" once the broker refused the consumer protocol
    publisher: EventPublisher = field(init=False)

    def __post_init__(self) -> None:
        self.publisher = EventPublisher(self.nc)

    def _key(self, partition: int) -> str:
        return f"{self.config.module}.{self.source.topic}.{partition}".replace("-", "_")

    async def _recorded(self, partition: int) -> tuple[int, int] | None:
        if partition not in self.recorded:
            try:
                entry = await self.kv.get(self._key(partition))
                data = json.loads(entry.value or b"null")
                self.recorded[partition] = (int(data["first"]), int(data["last"])) if data else None
            except KeyNotFoundError:
                self.recorded[partition] = None
        return self.recorded[partition]

    def _revoked(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        for tp in partitions:  # another ingestion process owns these now: forget what we buffered
            self.buffers.pop(tp.partition, None)
            self.recorded.pop(tp.partition, None)

    def consumer(self) -> Consumer:
        settings: dict[str, Any] = {
            "bootstrap.servers": self.source.bootstrap_servers,
            "group.id": self.source.group or f"strix-{self.config.module}",
            "enable.auto.commit": False,
            "auto.offset.reset": self.source.start,
            "enable.partition.eof": False,
            "group.protocol": self.protocol,
        }
        if self.protocol == "classic":
            # A crashed ingestion process holds its partitions until its session times out: keep that short
            # (6 s is the broker's default minimum) so a restarted or surviving process resumes quickly.
            settings |= {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1500}
        return Consumer(settings)

    def _subscribed(self) -> Consumer:
        consumer = self.consumer()
        consumer.subscribe([self.source.topic], on_revoke=self._revoked, on_lost=self._revoked)
        return consumer

    async def _classic(self, consumer: Consumer, error: KafkaError) -> Consumer:
        """The broker does not serve the consumer protocol: join again with the classic one."""
        log.warning("ingestion.kafka_classic_protocol", topic=self.source.topic, error=str(error))
        await asyncio.to_thread(consumer.close)
        self.protocol = "classic"
        self.buffers.clear()
        self.recorded.clear()
        return self._subscribed()

    async def run(self, stopping: asyncio.Event) -> None:
        consumer = self._subscribed()
        poll = next_poll(0, self.max_messages)
        try:
            while not stopping.is_set():
                try:
                    timer = _Timer(self.config.module)
                    polled = await asyncio.to_thread(consumer.consume, poll, 0.5)
                    timer.lap("poll")
                    if polled:
                        poll = next_poll(poll, self.max_messages)
                    for message in polled:
                        error = message.error()
                        if error is not None and self.protocol == "consumer" and consumer_protocol_refused(error):
                            consumer = await self._classic(consumer, error)
                            break
                        if error is not None:
                            if error.code() != KafkaError._PARTITION_EOF:
                                log.warning("ingestion.kafka_error", topic=self.source.topic, error=str(error))
                            continue
                        partition, offset = message.partition(), message.offset()
                        if partition is None or offset is None:
                            continue
                        self.buffers[partition].append(
                            TopicMessage(self.source.topic, partition, offset, message.value() or b"")
                        )
                    # Partitions are independent (each its own recorded batch, messages and offsets): their
                    # batches are published side by side; every one has finished before the next consume.
                    drained = await asyncio.gather(
                        *(self._drain(consumer, partition) for partition in list(self.buffers)),
                        return_exceptions=True,
                    )
                    for outcome in drained:
                        if isinstance(outcome, BaseException):
                            raise outcome
                except StrixError as exc:  # JetStream full or away: keep the offsets, retry shortly
                    log.warning("ingestion.kafka_backoff", topic=self.source.topic, error=exc.message)
                    await asyncio.sleep(1.0)
                except (TimeoutError, NatsError) as exc:  # the KV bucket or a dead letter not confirmed in time
                    log.warning("ingestion.kafka_backoff", topic=self.source.topic, error=str(exc))
                    await asyncio.sleep(1.0)
        finally:
            await asyncio.to_thread(consumer.close)

    async def _drain(self, consumer: Consumer, partition: int) -> None:
        while await self._flush(consumer, partition):
            pass

    async def _flush(self, consumer: Consumer, partition: int) -> bool:
        """Publish the next batch of a partition if it is complete; True when one was published."""
        buffer = self.buffers.get(partition)
        if not buffer:
            return False
        timer = _Timer(self.config.module)
        recorded = await self._recorded(partition)
        count = plan_offsets([m.offset for m in buffer], recorded, self.max_messages)
        if count == 0:
            return False
        chosen = buffer[:count]
        first, last = chosen[0].offset, chosen[-1].offset
        if recorded != (first, last):
            await self.kv.put(self._key(partition), json.dumps({"first": first, "last": last}).encode())
            self.recorded[partition] = (first, last)
        timer.lap("commit")
        now = datetime.now(UTC)
        limit = self.publisher.max_message_bytes
        batch = decode_topic_batch(
            self.codec, chosen, self.source.mapping, self.source.format == "ndjson", now, max_event_bytes=limit
        )
        timer.lap("validate")
        js = self.nc.jetstream()
        for letter in batch.dead:
            letter = _sendable(letter, limit)
            await js.publish(
                dead_letter_subject(self.config.module),
                letter.payload,
                headers={**letter.headers(), "Nats-Msg-Id": letter.msg_id},
            )
        DEAD_LETTERS.labels(self.config.module).inc(len(batch.dead))
        if batch.events:
            key = f"kafka:{self.source.topic}:{partition}:{first}-{last}"
            await self.publisher.publish_all(build_messages(self.config, batch.events, key, limit))
        timer.lap("publish")
        await asyncio.to_thread(
            consumer.commit, offsets=[TopicPartition(self.source.topic, partition, last + 1)], asynchronous=False
        )
        TOPIC_EVENTS.labels(self.config.module, self.source.topic).inc(len(batch.events))
        self.stored_events += len(batch.events)
        self.buffers[partition] = buffer[count:]
        timer.lap("commit")
        return True


def _one_line(text: str, longest: int = 2000) -> str:
    """Header values cannot hold line breaks (a reason may quote the event's own text)."""
    return " ".join(text.splitlines())[:longest]


def _sendable(letter: DeadLetter, limit: int) -> DeadLetter:
    """A dead letter must fit a NATS message too: headers on one line each, an over-large payload cut to its
    head (the reason says so)."""
    reason = _one_line(letter.reason)
    field = None if letter.field is None else _one_line(letter.field, 200)
    note = 100  # room for the note that the payload was cut
    room = limit - HEADER_ALLOWANCE - len(reason.encode()) - len((field or "").encode()) - note
    payload = letter.payload
    if len(payload) > room:
        reason = f"{reason} (payload cut to its first {room} of {len(payload)} bytes)"
        payload = payload[:room]
    return dataclasses.replace(letter, payload=payload, reason=reason, field=field)
