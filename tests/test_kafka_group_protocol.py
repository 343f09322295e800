"""Kafka group membership: the KIP-848 consumer protocol where the broker serves it, the classic one where it
does not — events counted either way."""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from strix.generators import clickstream_events
from strix_ingestion.app import Ingestion
from strix_testkit.kafka import KafkaBroker, start_kafka
from tests.conftest import EXAMPLE_CONFIGS, PlatformFactory
from tests.support import wait_for_count

pytestmark = pytest.mark.e2e


def configs_with_topic(directory: Path, bootstrap: str, topic: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for path in EXAMPLE_CONFIGS.glob("*.yaml"):
        shutil.copy(path, directory / path.name)
    text = (directory / "clickstream.yaml").read_text()
    text += f"\nsources:\n  - {{kind: kafka, bootstrap_servers: '{bootstrap}', topic: {topic}, format: json}}\n"
    (directory / "clickstream.yaml").write_text(text)
    return directory


def produce(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(0, len(events), 50):
        producer.produce(topic, json.dumps(events[i : i + 50]).encode(), key=str(i).encode())
    assert producer.flush(30) == 0


async def count_through(broker: KafkaBroker, tmp_path: Path, start_platform: PlatformFactory) -> str:
    """Produce events to a new topic, count them through a platform reading it; the pump's group protocol."""
    topic = f"clicks-{random.randrange(10**9)}"
    broker.create_topic(topic, partitions=2)
    now = datetime.now(UTC)
    events = clickstream_events(random.Random(7), 600, now - timedelta(hours=2), now)
    produce(broker.bootstrap_servers, topic, events)
    configs = configs_with_topic(tmp_path / "configs", broker.bootstrap_servers, topic)
    async with start_platform(configs) as (platform, client):
        await wait_for_count(client, "clickstream", "events", len(events), within=90)
        ingestion: Ingestion = platform.services["ingestion"]
        (pump,) = ingestion.pumps
        assert pump.stored_events == len(events)
        return pump.protocol


async def test_a_kafka_4_broker_serves_the_consumer_protocol(
    tmp_path: Path, kafka_broker: KafkaBroker, start_platform: PlatformFactory
) -> None:
    assert await count_through(kafka_broker, tmp_path, start_platform) == "consumer"


async def test_a_broker_without_the_consumer_protocol_gets_the_classic_one(
    tmp_path: Path, start_platform: PlatformFactory
) -> None:
    broker = start_kafka(tmp_path / "kafka")
    try:
        broker.stop()
        properties = broker.log_path.parent / "server.properties"
        properties.write_text(properties.read_text() + "group.coordinator.rebalance.protocols=classic\n")
        broker.restart()
        assert await count_through(broker, tmp_path, start_platform) == "classic"
    finally:
        broker.stop()
