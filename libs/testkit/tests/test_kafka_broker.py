"""The real Kafka broker of the test kit: 1000 JSON messages through a 3-partition topic and a consumer group."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from strix_testkit.kafka import KafkaBroker

MESSAGES = 1000
PARTITIONS = 3


def test_messages_round_trip_exactly_once(kafka_broker: KafkaBroker) -> None:
    topic = f"events-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, PARTITIONS)

    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers, "enable.idempotence": True})
    failures: list[KafkaError] = []

    def delivered(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            failures.append(error)

    sent = [{"id": i, "customer": f"c{i % 37}", "amount": i * 3 / 7} for i in range(MESSAGES)]
    for event in sent:
        producer.produce(topic, json.dumps(event).encode(), key=str(event["customer"]).encode(), on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert failures == []

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_broker.bootstrap_servers,
            "group.id": f"group-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    received: list[dict[str, object]] = []
    per_partition: Counter[int] = Counter()
    try:
        # Before subscribing (queried while fetches are pending, each waits ~0.5 s behind them).
        ends = {p.partition: consumer.get_watermark_offsets(p, timeout=10) for p in partitions}
        consumer.subscribe([topic])
        deadline = time.monotonic() + 60  # the first group join on a fresh broker takes up to ~3 s
        while len(received) < MESSAGES and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=500, timeout=1.0):
                error = message.error()
                assert error is None, error
                value, partition = message.value(), message.partition()
                assert value is not None
                assert partition is not None
                received.append(json.loads(value))
                per_partition[partition] += 1
        consumer.commit(asynchronous=False)
        committed = {p.partition: p.offset for p in consumer.committed(partitions, timeout=10)}
    finally:
        consumer.close()

    # The topic holds exactly what was sent (no duplicate from a producer retry), and the group has read and
    # committed each partition to its end.
    assert sum(high - low for low, high in ends.values()) == MESSAGES
    assert committed == {p: high for p, (_low, high) in ends.items()}
    assert dict(per_partition) == {p: high - low for p, (low, high) in ends.items()}
    assert all(per_partition[p] > 0 for p in range(PARTITIONS)), "keys spread over every partition"

    counts = Counter(int(str(event["id"])) for event in received)
    assert len(received) == MESSAGES
    assert sorted(counts) == list(range(MESSAGES))
    assert set(counts.values()) == {1}
    assert sorted(received, key=lambda e: int(str(e["id"]))) == sent
