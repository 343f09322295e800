"""The real Kafka broker of the test kit: 1000 JSON messages through a 3-partition topic and a consumer group."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter

from confluent_kafka import Consumer, KafkaError, Producer

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
    received: list[dict[str, object]] = []
    partitions: set[int] = set()
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 60
        while len(received) < MESSAGES and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=500, timeout=1.0):
                error = message.error()
                assert error is None, error
                value = message.value()
                assert value is not None
                received.append(json.loads(value))
                partition = message.partition()
                assert partition is not None
                partitions.add(partition)
        consumer.commit(asynchronous=False)
        # Nothing more arrives: every message exactly once, none twice.
        extra = consumer.consume(num_messages=10, timeout=1.0)
        assert [m.value() for m in extra if m.error() is None] == []
    finally:
        consumer.close()

    counts = Counter(int(str(event["id"])) for event in received)
    assert len(received) == MESSAGES
    assert sorted(counts) == list(range(MESSAGES))
    assert set(counts.values()) == {1}
    assert sorted(received, key=lambda e: int(str(e["id"]))) == sent
    assert partitions == set(range(PARTITIONS)), "keys spread over every partition"
